"""A run's metric files: each file (parsed by mlci.sources.formats) or dvclive output
directory, merged into one flat mapping with where each value came from.

The same code reads the files on disk and the files committed at the merge-base
(mlci.sources.files), so both sides of a comparison are read alike.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlci import output
from mlci.errors import MetricsError
from mlci.paths import inside
from mlci.sources.files import DISK, Files
from mlci.sources.formats import parse_text, to_number

DVCLIVE_TSV_DIR = Path("plots") / "metrics"
_DVCLIVE_INDEX = ("timestamp", "step")


class MissingMetricsFile(MetricsError):
    """A configured metrics or params file does not exist (often: training never wrote it)."""


@dataclass(frozen=True)
class MetricValues:
    """The merged metrics of one run, with where each came from and what was not a number."""

    values: dict[str, float]
    sources: dict[str, str]
    non_numeric: dict[str, str]

    @property
    def non_finite(self) -> tuple[str, ...]:
        """Names whose value is NaN or infinite: gates fail them and say so."""
        return tuple(name for name, value in self.values.items() if not math.isfinite(value))


def read_file(
    path: Path, *, display: str | None = None, key: str = "train.metrics", files: Files = DISK
) -> dict[str, object]:
    """One metrics/params file, or a dvclive output directory, flattened: on disk, or in
    the files of a commit."""
    shown = display if display is not None else str(path)
    kind = files.kind(path)
    if kind == "dir":
        return _read_dvclive(path, shown, files)
    if kind is None:
        what = "params" if key.endswith("params") else "metrics"
        raise MissingMetricsFile(
            f"{what} file not found",
            where=shown,
            hint=f"check {key} in mlci.yaml and that the training writes this file",
        )
    values = parse_text(_read_text(path, shown, files), shown)
    if dvclive_dir(path, files) is not None:
        values.pop("step", None)  # dvclive/metrics.json named directly
    return values


def dvclive_dir(path: Path, files: Files = DISK) -> Path | None:
    """The dvclive output directory that a train.metrics entry is, or is the summary of."""
    kind = files.kind(path)
    folder = path if kind == "dir" else path.parent
    if kind == "file" and path.name != "metrics.json":
        return None
    return folder if files.kind(folder / DVCLIVE_TSV_DIR) == "dir" else None


def dvclive_series(directory: Path) -> dict[str, list[tuple[float, float]]]:
    """dvclive's per-step series, `name -> [(step, value)]`, from plots/metrics/**.tsv."""
    series: dict[str, list[tuple[float, float]]] = {}
    for tsv in sorted((directory / DVCLIVE_TSV_DIR).rglob("*.tsv")):
        name = ".".join(tsv.relative_to(directory / DVCLIVE_TSV_DIR).with_suffix("").parts)
        with tsv.open(encoding="utf-8", newline="") as f:
            rows = list(csv.DictReader(f, delimiter="\t"))
        points = []
        for i, row in enumerate(rows):
            step = to_number(row.get("step", i))
            value = to_number(row.get(tsv.stem))
            if step is not None and value is not None:
                points.append((step, value))
        if points:
            series[name] = points
    return series


def _read_text(path: Path, shown: str, files: Files) -> str:
    """The text as Path.read_text gives it: universal newlines, a spreadsheet's BOM dropped."""
    try:
        data = files.read(path)
    except OSError as e:
        raise MetricsError(
            f"cannot read the file: {e.strerror}", where=shown, hint="check its permissions"
        ) from e
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise MetricsError(
            "not UTF-8 text", where=shown, hint="write the file as UTF-8 text"
        ) from e
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _read_dvclive(directory: Path, shown: str, files: Files) -> dict[str, object]:
    """dvclive's summary metrics.json, else the last step of each plots/metrics tsv."""
    summary = directory / "metrics.json"
    if files.is_file(summary, within=directory):
        return read_file(summary, display=f"{shown}/metrics.json", files=files)  # without step
    tsvs = files.glob(directory / DVCLIVE_TSV_DIR, ".tsv", within=directory)
    if not tsvs:
        raise MetricsError(
            "neither metrics.json nor plots/metrics/*.tsv in this directory",
            where=shown,
            hint="point train.metrics at a metrics file or at dvclive's output directory",
        )
    values: dict[str, object] = {}
    for tsv in tsvs:
        rel = tsv.relative_to(directory / DVCLIVE_TSV_DIR).with_suffix("")
        inner = f"{shown}/{tsv.relative_to(directory).as_posix()}"
        row = read_file(tsv, display=inner, files=files)
        values[".".join(rel.parts)] = _dvclive_value(row, tsv.stem)  # as in its metrics.json
    return values


def _dvclive_value(row: dict[str, object], stem: str) -> object:
    """The metric column of a dvclive tsv: named like the file, beside timestamp and step."""
    if stem in row:
        return row[stem]
    rest = [value for column, value in row.items() if column not in _DVCLIVE_INDEX]
    return rest[-1] if rest else None


def read_metrics(paths: Sequence[str], root: Path) -> MetricValues:
    """All metric files of a run, merged in order: a name in two files takes the later one."""
    values: dict[str, float] = {}
    non_numeric: dict[str, str] = {}
    sources: dict[str, str] = {}
    for name, raw, source in merged(paths, root, "train.metrics"):
        values.pop(name, None)
        non_numeric.pop(name, None)
        number = to_number(raw)
        if number is None:
            non_numeric[name] = repr(raw)
        else:
            values[name] = number
        sources[name] = source
    return MetricValues(values=values, sources=sources, non_numeric=non_numeric)


def merged(paths: Sequence[str], root: Path, key: str) -> list[tuple[str, object, str]]:
    """(name, raw value, source) in file order; warns once per pair of files that overlap."""
    seen: dict[str, str] = {}
    found: list[tuple[str, object, str]] = []
    for given in paths:
        raw = read_file(inside(root, given, key), display=given, key=key)
        _warn_overlap(seen, raw, given)
        for name, value in raw.items():
            seen[name] = given
            found.append((name, value, given))
    return found


def _warn_overlap(seen: dict[str, str], raw: dict[str, Any], given: str) -> None:
    clashes: dict[str, list[str]] = {}
    for name in raw:
        if name in seen:
            clashes.setdefault(seen[name], []).append(name)
    for earlier, names in clashes.items():
        output.warn(
            f"{', '.join(names)} in both {earlier} and {given}: using the values of {given}"
        )
