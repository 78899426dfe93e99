"""A run record: one training's results in `.mlci/runs/<sha>/`, the same shape everywhere.

The PR's run, a retrained baseline and the records kept in git notes all read and write
these files, so every later stage takes a RunRecord and never a special case.
"""

from __future__ import annotations

import contextlib
import json
import math
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlci import atomic, lock
from mlci.config import display_path
from mlci.errors import UsageError

SCHEMA = 1
STATE_DIR = ".mlci"
METRICS, PARAMS, PREDICTIONS, INFO, LOG = (
    "metrics.json",
    "params.json",
    "predictions.csv",
    "record.json",
    "train.log",
)


def state_dir(root: Path) -> Path:
    """`.mlci/`, created with a .gitignore of its own so git never shows what is inside,
    whether or not the project's .gitignore lists it."""
    path = root / STATE_DIR
    if path.exists() and not path.is_dir():
        raise UsageError(
            f"{STATE_DIR} is a file, not a directory",
            where=display_path(path),
            hint=f"move it away: mlci keeps its run records and reports in {STATE_DIR}/",
        )
    ignore = path / ".gitignore"
    if not ignore.exists():
        atomic.write_text(ignore, "# mlci's own state: never committed\n*\n")
    return path


def run_dir(root: Path, sha: str) -> Path:
    return state_dir(root) / "runs" / sha


@contextlib.contextmanager
def claim(path: Path) -> Iterator[bool]:
    """Hold the lock of a run directory (a file beside it, as the directory itself gets
    replaced): one run writes it, the others wait. True when another run held it first."""
    with lock.held(
        path.with_name(f".{path.name}.lock"), f"the run record {display_path(path)}"
    ) as waited:
        yield waited


@contextlib.contextmanager
def scratch(target: Path, kind: str) -> Iterator[Path]:
    """A scratch directory beside `target`, removed after. The caller holds target's
    claim, so an earlier one of the same kind was left by a killed run: it goes too."""
    target.parent.mkdir(parents=True, exist_ok=True)
    for stale in target.parent.glob(f".{kind}-{target.name}-*"):
        shutil.rmtree(stale, ignore_errors=True)
    path = Path(tempfile.mkdtemp(prefix=f".{kind}-{target.name}-", dir=target.parent))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def stamp(path: Path) -> tuple[int, int] | None:
    """Which version of a record is on disk (record.json's inode and mtime), to tell one
    written by another run while this one waited from one that was there before."""
    try:
        st = (path / INFO).stat()
    except OSError:
        return None
    return st.st_ino, st.st_mtime_ns


@dataclass(frozen=True)
class RunRecord:
    """What one training produced; `info` is record.json (how, when, fingerprints)."""

    sha: str
    metrics: dict[str, float]
    params: dict[str, Any] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None  # the run directory, when the record lives on disk

    @property
    def predictions_path(self) -> Path | None:
        if self.path is None:
            return None
        p = self.path / PREDICTIONS
        return p if p.is_file() else None

    @property
    def log_path(self) -> Path | None:
        return None if self.path is None else self.path / LOG

    @property
    def dirty(self) -> bool:
        return bool(self.info.get("dirty"))

    @property
    def sources(self) -> dict[str, str]:
        """Metric name -> the file it was read from (for 'loss is NaN in ...'); with a
        single metrics file the record does not repeat its name for every metric."""
        files = self.metric_files
        if "metric_sources" not in self.info and len(files) == 1:
            return dict.fromkeys(self.metrics, files[0])
        return dict(self.info.get("metric_sources", {}))

    @property
    def metric_files(self) -> list[str]:
        return list(self.info.get("metric_files", []))

    @property
    def reused_from(self) -> str | None:
        """The commit whose training this record reuses (the run cache), else None."""
        value = self.info.get("reused_from")
        return str(value) if value else None


def reused_line(sha: str) -> str:
    """What the terminal and the report say when the run cache answered; a dirty tree's
    training keeps its `+<8 hex>`, it was not the commit's."""
    commit, plus, diff = sha.partition("+")
    return f"reused the training of {commit[:7]}{plus}{diff}: its inputs are identical"


def sources_info(sources: dict[str, str], files: list[str]) -> dict[str, Any]:
    """record.json's metric_sources, kept only when there are several files to tell apart."""
    if len(files) == 1 and set(sources.values()) <= {files[0]}:
        return {}
    return {"metric_sources": sources}


def dump_json(data: Any) -> str:
    """JSON with NaN/inf kept as the strings a reader can turn back into floats; indented
    for people unless large (only json's C encoder, used without indent, is fast)."""
    big = isinstance(data, dict) and (
        len(data) > 1000 or sum(len(v) for v in data.values() if isinstance(v, dict)) > 1000
    )
    return json.dumps(json_safe(data), indent=None if big else 2, sort_keys=True) + "\n"


def json_safe(value: Any) -> Any:
    """For json.dumps(allow_nan=False): NaN and infinities become "nan", "inf", "-inf"."""
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def _numbers(data: dict[str, Any]) -> dict[str, float]:
    return {k: float(v) for k, v in data.items()}  # float("nan") reads our "nan" back


def write(
    target: Path,
    record: RunRecord,
    *,
    log: Path | None = None,
    predictions: Path | None = None,
    extra: dict[str, Path] | None = None,
) -> RunRecord:
    """Write the record into `target` atomically, under its lock: a failed write leaves
    the old one intact, and a reader sees the old record or the new one, never a mix."""
    with claim(target), scratch(target, "tmp") as tmp:
        (tmp / METRICS).write_text(dump_json(record.metrics), encoding="utf-8")
        (tmp / PARAMS).write_text(dump_json(record.params), encoding="utf-8")
        info = {"schema": SCHEMA, "sha": record.sha, **record.info}
        (tmp / INFO).write_text(dump_json(info), encoding="utf-8")
        if log is not None and log.is_file():
            shutil.copyfile(log, tmp / LOG)
        if predictions is not None:
            shutil.copyfile(predictions, tmp / PREDICTIONS)
        for name, src in (extra or {}).items():
            (tmp / name).parent.mkdir(parents=True, exist_ok=True)  # user/plot.png
            shutil.copyfile(src, tmp / name)
        atomic.replace_dir(tmp, target)
    return RunRecord(
        sha=record.sha, metrics=record.metrics, params=record.params, info=info, path=target
    )


def read(path: Path) -> RunRecord | None:
    """The record in a run directory, or None when there is none (or it is unreadable)."""
    try:
        metrics = json.loads((path / METRICS).read_text(encoding="utf-8"))
        info = json.loads((path / INFO).read_text(encoding="utf-8"))
        params_file = path / PARAMS
        params = (
            json.loads(params_file.read_text(encoding="utf-8")) if params_file.is_file() else {}
        )
    except (OSError, ValueError):
        return None
    if not isinstance(metrics, dict) or not isinstance(info, dict):
        return None
    try:
        values = _numbers(metrics)
    except (TypeError, ValueError):
        return None
    return RunRecord(
        sha=str(info.get("sha", path.name)), metrics=values, params=params, info=info, path=path
    )


def find(root: Path, sha: str) -> RunRecord | None:
    """The record of sha, read under its lock: a run writing it is waited for."""
    path = run_dir(root, sha)
    if not path.parent.is_dir():  # nothing trained here yet: create no lock either
        return None
    with claim(path):
        return read(path)
