"""The last comparison, kept in `.mlci/last.json` so `mlci gate` and `mlci report` can follow
`mlci diff` (or `mlci run`) without training or asking git again.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlci import atomic
from mlci import record as records
from mlci.baseline import Baseline
from mlci.errors import UsageError
from mlci.record import RunRecord

NAME = "last.json"


@dataclass(frozen=True)
class Last:
    head: RunRecord
    baseline: Baseline
    timings: dict[str, float]
    evidence: dict[str, Any] | None = None  # noise and slice results, keyed by the rules


def _record_dict(rec: RunRecord) -> dict[str, Any]:
    return {
        "sha": rec.sha,
        "metrics": rec.metrics,
        "params": rec.params,
        "info": rec.info,
        "path": str(rec.path) if rec.path else None,
    }


def _record(data: dict[str, Any]) -> RunRecord:
    path = Path(data["path"]) if data.get("path") else None
    return RunRecord(
        sha=data["sha"],
        metrics={k: float(v) for k, v in data["metrics"].items()},
        params=data.get("params", {}),
        info=data.get("info", {}),
        path=path,
    )


def save(
    root: Path,
    head: RunRecord,
    baseline: Baseline,
    timings: dict[str, float] | None = None,
    evidence: dict[str, Any] | None = None,
) -> Path:
    base = baseline.to_dict()
    base["record"] = _record_dict(baseline.record) if baseline.record else None
    pairs = list((timings or {}).items())  # pairs keep their order through sort_keys
    doc = {
        "schema": 1,
        "head": _record_dict(head),
        "baseline": base,
        "timings": pairs,
        "evidence": evidence,
    }
    path = records.state_dir(root) / NAME
    # mlci's own state: compact, and NaN as JSON's NaN token, which Python reads back;
    # written whole, so that `mlci gate` never reads a comparison half written by another run
    atomic.write_text(path, json.dumps(doc, sort_keys=True))
    return path


def load(root: Path) -> Last:
    path = records.state_dir(root) / NAME
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        head = _record(doc["head"])
        b = doc["baseline"]
        baseline = Baseline(
            strategy=b["strategy"],
            ref=b["ref"],
            merge_base=b.get("merge_base"),
            sha=b.get("sha"),
            behind=int(b.get("behind", 0)),
            detail=b.get("detail", ""),
            tried=tuple(b.get("tried", ())),
            record=_record(b["record"]) if b.get("record") else None,
        )
    except FileNotFoundError:
        raise UsageError(
            "no comparison to use yet",
            where=str(path),
            hint="run `mlci diff` or `mlci run --dry-run` first",
        ) from None
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise UsageError(
            f"the last comparison cannot be read: {e}",
            where=str(path),
            hint="run `mlci diff` again to write it anew",
        ) from e
    timings = {str(k): float(v) for k, v in doc.get("timings", [])}
    return Last(head=head, baseline=baseline, timings=timings, evidence=doc.get("evidence"))
