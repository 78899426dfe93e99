"""A run record: one training's results in `.mlci/runs/<sha>/`, the same shape everywhere.

The PR's run, a retrained baseline and the records kept in git notes all read and write
these files, so every later stage takes a RunRecord and never a special case.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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
    ignore = path / ".gitignore"
    if not ignore.exists():
        path.mkdir(parents=True, exist_ok=True)
        ignore.write_text("# mlci's own state: never committed\n*\n", encoding="utf-8")
    return path


def run_dir(root: Path, sha: str) -> Path:
    return state_dir(root) / "runs" / sha


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
    """What the terminal and the report say when the run cache answered."""
    return f"reused the training of {sha[:7]}: its inputs are identical"


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
    """Write the record into `target` atomically: a failed write leaves the old one intact."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=target.parent))
    try:
        (tmp / METRICS).write_text(dump_json(record.metrics), encoding="utf-8")
        (tmp / PARAMS).write_text(dump_json(record.params), encoding="utf-8")
        info = {"schema": SCHEMA, "sha": record.sha, **record.info}
        (tmp / INFO).write_text(dump_json(info), encoding="utf-8")
        if log is not None and log.is_file():
            shutil.copyfile(log, tmp / LOG)
        if predictions is not None:
            shutil.copyfile(predictions, tmp / PREDICTIONS)
        for name, src in (extra or {}).items():
            shutil.copyfile(src, tmp / name)
        if target.exists():
            old = target.with_name(f".old-{target.name}-{os.getpid()}")
            target.rename(old)
            tmp.rename(target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.rename(target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
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
    return read(run_dir(root, sha))
