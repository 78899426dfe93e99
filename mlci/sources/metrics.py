"""Metric and params files: json, yaml, csv/tsv (last row), text and dvclive output, flattened.

Users write metrics in whatever shape their training already produces; this module turns
every one of them into one flat ``name -> value`` mapping (nested keys joined with '.'),
so that compare and gates see a single shape. Only stdlib and PyYAML (imported lazily):
``mlci gate`` imports this and must start fast.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from mlci import output
from mlci.errors import MetricsError
from mlci.paths import inside, is_inside

SUPPORTED = (".json", ".yaml", ".yml", ".csv", ".tsv", ".txt", ".log")
DVCLIVE_TSV_DIR = Path("plots") / "metrics"
_DVCLIVE_INDEX = ("timestamp", "step")
# `Accuracy: 0.844`, `Mean Absolute Error = 41.99` (CML's metrics.txt), `acc: 93%`
_TEXT_PAIR = re.compile(
    r"^\s*(?P<name>[^:=]*?[^\s:=])\s*[:=]\s*"
    r"(?P<number>[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?|[-+]?inf|nan)"
    r"\s*%?\.?\s*$",
    re.IGNORECASE,
)


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


def flatten(obj: object, prefix: str = "") -> dict[str, object]:
    """Nested dicts and lists -> one level: {'a': {'b': [1]}} -> {'a.b.0': 1}."""
    if isinstance(obj, dict):
        items: Iterable[tuple[object, object]] = obj.items()
    elif isinstance(obj, (list, tuple)):
        items = enumerate(obj)
    else:
        return {prefix: obj}
    flat: dict[str, object] = {}
    for key, value in items:
        flat.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    return flat


def to_number(value: object) -> float | None:
    """A metric value as a float, or None when it is not a number (bools are not)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        try:
            return float(value)
        except OverflowError:
            return math.inf if value > 0 else -math.inf
    if isinstance(value, float):
        return value
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None


def parse_text(text: str, name: str) -> dict[str, object]:
    """Parse by the extension of name; csv/tsv give their header and last data row."""
    suffix = Path(name).suffix.lower()
    if suffix not in SUPPORTED:
        kind = f"'{suffix}'" if suffix else "(no extension)"
        raise MetricsError(
            f"unknown file format {kind}",
            where=name,
            hint="use a .json, .yaml, .yml, .csv, .tsv, .txt or .log file, or a dvclive directory",
        )
    if not text.strip():
        raise MetricsError(
            "the file is empty", where=name, hint="check that the training writes its values"
        )
    if suffix == ".json":
        data = _parse_json(text, name)
    elif suffix in (".yaml", ".yml"):
        data = _parse_yaml(text, name)
    elif suffix in (".txt", ".log"):
        return _parse_pairs(text, name)
    else:
        return _parse_table(text, name, delimiter="\t" if suffix == ".tsv" else ",")
    if not isinstance(data, dict):
        raise MetricsError(
            f"the top level is a {_type_name(data)}, not a mapping of names to values",
            where=name,
            hint='write a mapping such as {"accuracy": 0.93}',
        )
    return flatten(data)


FLAT_HINT = "write a flat mapping of metric names to numbers"


def _parse_json(text: str, name: str) -> object:
    from mlci import bounded

    try:
        return bounded.load_json(text)  # accepts NaN and Infinity, as Python and dvclive write
    except json.JSONDecodeError as e:
        raise MetricsError(
            f"invalid JSON: {e.msg}",
            where=f"{name}:{e.lineno}:{e.colno}",
            hint="fix the JSON at that line and column",
        ) from e
    except bounded.TooLarge as e:
        raise MetricsError(f"too deep to read: {e}", where=name, hint=FLAT_HINT) from e


def _parse_yaml(text: str, name: str) -> object:
    import yaml

    from mlci import bounded

    try:
        return yaml.load(text, Loader=bounded.yaml_loader())  # a SafeLoader
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"{name}:{mark.line + 1}:{mark.column + 1}" if mark is not None else name
        problem = bounded.yaml_problem(e)
        hint = "fix the YAML at that position" if mark is not None else FLAT_HINT
        raise MetricsError(f"invalid YAML: {problem}", where=where, hint=hint) from e


def _parse_pairs(text: str, name: str) -> dict[str, object]:
    """Every `NAME: NUMBER` / `NAME = NUMBER`, several per line split by ',' or ';'; lines
    of prose around them are skipped. A name seen twice keeps its last value (a log)."""
    values: dict[str, object] = {}
    for line in text.splitlines():
        for part in re.split(r"[,;]", line):
            match = _TEXT_PAIR.match(part)
            if match:
                values[match["name"]] = float(match["number"])
    if not values:
        raise MetricsError(
            "no `NAME: NUMBER` or `NAME = NUMBER` in this text file",
            where=name,
            hint="write one value per line, such as `Accuracy: 0.93`",
        )
    return values


def _parse_table(text: str, name: str, delimiter: str) -> dict[str, object]:
    """Header row + the last data row: a per-epoch log ends with the final values."""
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    header: list[str] | None = None
    last: list[str] | None = None
    last_line = 0
    try:
        for row in reader:
            if not any(cell.strip() for cell in row):
                continue
            if header is None:
                header = [cell.strip() for cell in row]
            else:
                last, last_line = row, reader.line_num
    except csv.Error as e:
        raise MetricsError(
            f"invalid {Path(name).suffix[1:]}: {e}", where=f"{name}:{reader.line_num}"
        ) from e
    if header is None or last is None:
        raise MetricsError(
            "no data row below the header",
            where=name,
            hint="write a header row of names and at least one row of values",
        )
    if len(last) != len(header):
        raise MetricsError(
            f"the last row has {len(last)} fields but the header has {len(header)}",
            where=f"{name}:{last_line}",
            hint="write one value per column",
        )
    return {key: _cell(cell) for key, cell in zip(header, last, strict=True)}


def _cell(cell: str) -> object:
    text = cell.strip()
    if not text:
        return None
    number = to_number(text)
    return text if number is None else number


def _type_name(value: object) -> str:
    if value is None or isinstance(value, bool):
        return "null" if value is None else "boolean"
    if isinstance(value, (int, float)):
        return "number"
    names = {"list": "list", "str": "string"}
    return names.get(type(value).__name__, type(value).__name__)


def read_file(
    path: Path, *, display: str | None = None, key: str = "train.metrics"
) -> dict[str, object]:
    """One metrics/params file, or a dvclive output directory, flattened."""
    shown = display if display is not None else str(path)
    if path.is_dir():
        return _read_dvclive(path, shown)
    if not path.exists():
        kind = "params" if key.endswith("params") else "metrics"
        raise MissingMetricsFile(
            f"{kind} file not found",
            where=shown,
            hint=f"check {key} in mlci.yaml and that the training writes this file",
        )
    values = parse_text(_read_text(path, shown), shown)
    if dvclive_dir(path) is not None:
        values.pop("step", None)  # dvclive/metrics.json named directly
    return values


def dvclive_dir(path: Path) -> Path | None:
    """The dvclive output directory that a train.metrics entry is, or is the summary of."""
    folder = path if path.is_dir() else path.parent
    if path.is_file() and path.name != "metrics.json":
        return None
    return folder if (folder / DVCLIVE_TSV_DIR).is_dir() else None


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


def _read_text(path: Path, shown: str) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")  # tolerate the BOM spreadsheets write
    except UnicodeDecodeError as e:
        raise MetricsError(
            "not UTF-8 text", where=shown, hint="write the file as UTF-8 text"
        ) from e
    except OSError as e:
        raise MetricsError(
            f"cannot read the file: {e.strerror}", where=shown, hint="check its permissions"
        ) from e


def _read_dvclive(directory: Path, shown: str) -> dict[str, object]:
    """dvclive's summary metrics.json, else the last step of each plots/metrics tsv."""
    summary = directory / "metrics.json"
    if summary.is_file() and is_inside(summary, directory):
        return read_file(summary, display=f"{shown}/metrics.json")  # without its step
    found = (directory / DVCLIVE_TSV_DIR).rglob("*.tsv")
    tsvs = sorted(t for t in found if is_inside(t, directory))
    if not tsvs:
        raise MetricsError(
            "neither metrics.json nor plots/metrics/*.tsv in this directory",
            where=shown,
            hint="point train.metrics at a metrics file or at dvclive's output directory",
        )
    values: dict[str, object] = {}
    for tsv in tsvs:
        rel = tsv.relative_to(directory / DVCLIVE_TSV_DIR).with_suffix("")
        row = read_file(tsv, display=f"{shown}/{tsv.relative_to(directory).as_posix()}")
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
    for name, raw, source in _merged(paths, root, "train.metrics"):
        values.pop(name, None)
        non_numeric.pop(name, None)
        number = to_number(raw)
        if number is None:
            non_numeric[name] = repr(raw)
        else:
            values[name] = number
        sources[name] = source
    return MetricValues(values=values, sources=sources, non_numeric=non_numeric)


def read_params(paths: Sequence[str], root: Path) -> dict[str, object]:
    """Params files merged like metrics; values stay JSON scalars (str, int, float, bool, null)."""
    return {name: _json_scalar(raw) for name, raw, _ in _merged(paths, root, "train.params")}


def _json_scalar(value: object) -> object:
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, (date, datetime)):
        return value.isoformat()  # YAML turns 2024-01-31 into a date
    return str(value)


def _merged(paths: Sequence[str], root: Path, key: str) -> list[tuple[str, object, str]]:
    """(name, raw value, source) in file order; warns once per pair of files that overlap."""
    seen: dict[str, str] = {}
    merged: list[tuple[str, object, str]] = []
    for given in paths:
        raw = read_file(inside(root, given, key), display=given, key=key)
        _warn_overlap(seen, raw, given)
        for name, value in raw.items():
            seen[name] = given
            merged.append((name, value, given))
    return merged


def _warn_overlap(seen: dict[str, str], raw: dict[str, Any], given: str) -> None:
    clashes: dict[str, list[str]] = {}
    for name in raw:
        if name in seen:
            clashes.setdefault(seen[name], []).append(name)
    for earlier, names in clashes.items():
        output.warn(
            f"{', '.join(names)} in both {earlier} and {given}: using the values of {given}"
        )
