"""The run cache: a training whose inputs are identical to an earlier one's is not run again.

`lookup` finds a run record in `.mlci/runs/` or a note in `refs/notes/mlci` carrying the
same input fingerprint (see mlci/inputs.py); `reuse` writes it as the run record of the
commit at hand, saying whose training it is. Notes and records written before the input
fingerprint existed carry none, so they never match. The runner (the head) and the
baseline (a retraining at the merge-base) call these two functions; nothing else does.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlci import __version__, output
from mlci import record as records
from mlci.config import TrainConfig
from mlci.record import RunRecord

if TYPE_CHECKING:
    from mlci.workspace import Workspace

# files of a run directory that travel with its metrics: the model, dvclive's series and
# the user's own images (train.plots), so a reused head still draws them
KEEP = ("model.pkl", "series.json", "user/*")


@dataclass(frozen=True)
class Found:
    """An earlier training with the same inputs: its record, and where it came from."""

    sha: str  # the run directory's name: a commit, or <sha>+<8 hex> for a dirty tree
    record: RunRecord
    source: str  # "run record" | "note"
    predictions: bytes | None = None  # from a note; a run record has its file


def enabled(ws: Workspace, train: TrainConfig) -> bool:
    """`--no-cache` (the workspace) or `train.cache: false` turn the cache off."""
    return ws.cache and train.cache


def lookup(ws: Workspace, fingerprint: str, sha: str) -> Found | None:
    """This commit's own record first, then any other run record, then the notes."""
    own = records.find(ws.root, sha)
    if own is not None and _fingerprint(own) == fingerprint:
        return Found(sha, own, "run record")
    runs = records.state_dir(ws.root) / "runs"
    folders = sorted(
        (p for p in runs.glob("*") if p.is_dir() and not p.name.startswith(".")),
        key=lambda p: p.stat().st_mtime,
        reverse=True,
    )
    for folder in folders:
        rec = records.read(folder)
        if rec is not None and _fingerprint(rec) == fingerprint:
            return Found(folder.name, rec, "run record")  # a dirty tree's: <sha>+<8 hex>
    return _from_notes(ws, fingerprint)


def _fingerprint(rec: RunRecord) -> str | None:
    prints = rec.info.get("fingerprints")
    return prints.get("inputs") if isinstance(prints, dict) else None


def _from_notes(ws: Workspace, fingerprint: str) -> Found | None:
    from mlci.git import notes
    from mlci.git.note_schema import parse_note

    for noted in notes.containing(ws.repo, fingerprint):
        text = notes.read(ws.repo, noted)
        note = parse_note(noted, text) if text is not None else "gone"
        if not isinstance(note, str) and _fingerprint(note.record) == fingerprint:
            return Found(noted, note.record, "note", note.predictions)
    return None


def reuse(
    ws: Workspace, found: Found, *, sha: str, dirty: bool, code: str, run_id: str | None = None
) -> RunRecord:
    """`found` as the run record of `sha` (in the run directory `run_id`, a dirty head's
    own): the same numbers, and whose training they are."""
    output.info(f"mlci: {records.reused_line(found.sha)} (its {found.source})")
    if found.sha == sha and found.record.path is not None and not dirty:
        return found.record
    src = found.record
    info: dict[str, Any] = {
        "dirty": dirty,
        "trained_by": "cache",
        "reused_from": found.sha,
        "reused_source": found.source,
        "train": src.info.get("train"),
        "task": src.info.get("task"),
        "duration": 0.0,
        "fingerprints": {**src.info.get("fingerprints", {}), "code": code},
        "mlci": __version__,
        "metric_files": src.metric_files,
        **({"metric_sources": src.info["metric_sources"]} if "metric_sources" in src.info else {}),
    }
    rec = RunRecord(sha=sha, metrics=src.metrics, params=src.params, info=info)
    target = records.run_dir(ws.root, run_id or sha)
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".reuse-", dir=target.parent) as tmp:
        predictions = src.predictions_path
        if found.predictions is not None:
            predictions = Path(tmp) / records.PREDICTIONS
            predictions.write_bytes(found.predictions)
        extra: dict[str, Path] = {}
        folder = src.path
        if folder is not None:
            for file in (f for p in KEEP for f in sorted(folder.glob(p)) if f.is_file()):
                name = file.relative_to(folder).as_posix()  # user/plot.png
                extra[name] = Path(tmp) / name
                extra[name].parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(file, extra[name])
        return records.write(target, rec, predictions=predictions, extra=extra)
