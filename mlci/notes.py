"""Baselines recorded on the base branch as git notes under `refs/notes/mlci`.

One JSON document per commit (DESIGN.md "Files and names"): the metrics, params and
fingerprints of its run record, plus its predictions gzip-compressed and base64-encoded,
so that a pull request's noise and slice gates work without training main again. A note
found for a PR is written back as an ordinary run record, so later stages never know.

Stdlib only at the top; git goes through mlci.git.repo (reached via the Workspace).
"""

from __future__ import annotations

import base64
import binascii
import difflib
import gzip
import json
import math
import os
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlci import __version__, bounded, output, redact
from mlci import record as records
from mlci.baseline import NOTE_WALK_LIMIT
from mlci.errors import GitError, MlciError, UsageError
from mlci.git.repo import NOTES_REF
from mlci.record import RunRecord

if TYPE_CHECKING:
    from mlci.baseline import Baseline, Context
    from mlci.git.repo import Repo
    from mlci.workspace import Workspace

SCHEMA = 1
MAX_NOTE_BYTES = 1_000_000  # notes are fetched by every PR job: predictions beyond are left out
MAX_PREDICTIONS = 64 * 1024 * 1024  # the inflated predictions of a note read back
HISTORY_COLUMNS = 8  # metric columns `mlci history` shows without --metric


# -- the document --------------------------------------------------------------------


def document(rec: RunRecord) -> str:
    """The note for a run record; its predictions are left out (with a warning) past the cap."""
    return _document(rec)[0]


def _document(rec: RunRecord) -> tuple[str, bool]:
    """(the note, whether the predictions are in it). Notes are pushed: no known token
    goes into one, not even as a param value (mlci.redact)."""
    doc: dict[str, Any] = {
        "schema": SCHEMA,
        "sha": rec.sha,
        "metrics": rec.metrics,
        "params": json.loads(redact.text(json.dumps(rec.params))),
        "fingerprints": rec.info.get("fingerprints") or {},
        "mlci": __version__,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    path = rec.predictions_path
    if path is None:
        return records.dump_json(doc), False
    raw = path.read_bytes()
    packed = base64.b64encode(gzip.compress(raw, compresslevel=9, mtime=0)).decode("ascii")
    text = records.dump_json({**doc, "predictions": packed})
    size = len(text.encode("utf-8"))
    if size <= MAX_NOTE_BYTES:
        return text, True
    output.warn(
        f"the note on {rec.sha[:7]} would be {size:,} bytes with its predictions "
        f"({len(raw):,} bytes of {records.PREDICTIONS}, compressed), over the cap of "
        f"{MAX_NOTE_BYTES:,} bytes: it is stored without them, so noise and slice gates "
        "against this commit will fall back to retraining or to the plain bound"
    )
    return records.dump_json(doc), False


@dataclass(frozen=True)
class Note:
    """A parsed note: the run record it describes and its predictions.csv bytes, if any."""

    record: RunRecord
    predictions: bytes | None
    size: int


def parse(sha: str, text: str) -> RunRecord | str:
    """The run record in a note (path=None), or why it cannot be read."""
    note = parse_note(sha, text)
    return note if isinstance(note, str) else note.record


def parse_note(sha: str, text: str) -> Note | str:
    """Like parse, with the predictions; a newer schema is an error, not a skip."""
    problem = f"note on {sha[:7]} cannot be read"
    if len(text) > 4 * MAX_NOTE_BYTES:
        return f"{problem}: {len(text):,} characters, more than mlci writes"
    try:
        doc = bounded.load_json(text)
    except ValueError as e:
        return f"{problem}: not JSON ({e})"
    if not isinstance(doc, dict):
        return f"{problem}: not a JSON object"
    schema = doc.get("schema")
    if not isinstance(schema, int) or isinstance(schema, bool) or schema < 1:
        return f"{problem}: no schema number"
    if schema > SCHEMA:
        raise MlciError(
            f"the note on {sha[:7]} has schema {schema}, newer than this mlci reads ({SCHEMA})",
            where=NOTES_REF,
            hint="upgrade mlci: pip install -U mlci",
        )
    if doc.get("sha") != sha:
        return f"{problem}: it names another commit ({str(doc.get('sha'))[:12]})"
    fields = _fields(doc)
    if isinstance(fields, str):
        return f"{problem}: {fields}"
    metrics, params, fingerprints = fields
    size = len(text.encode("utf-8"))
    predictions = _unpack(sha, doc.get("predictions"))
    info: dict[str, Any] = {
        "trained_by": "note",
        "dirty": False,
        "fingerprints": fingerprints,
        "mlci": str(doc.get("mlci", "")),
        "created": str(doc.get("created", "")),
        "note_bytes": size,
        "predictions_in_note": predictions is not None,
    }
    rec = RunRecord(sha=sha, metrics=metrics, params=params, info=info)
    return Note(record=rec, predictions=predictions, size=size)


def _fields(doc: dict[str, Any]) -> tuple[dict[str, float], dict[str, Any], dict[str, Any]] | str:
    metrics, params = doc.get("metrics"), doc.get("params", {})
    fingerprints = doc.get("fingerprints", {})
    if not isinstance(metrics, dict):
        return "no metrics mapping"
    if not isinstance(params, dict) or not isinstance(fingerprints, dict):
        return "params and fingerprints must be mappings"
    values: dict[str, float] = {}
    for name, value in metrics.items():
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            return f"metric {name} is not a number"
        try:
            values[str(name)] = float(value)  # "nan", "inf" as record.dump_json writes them
        except ValueError:
            return f"metric {name} is not a number ({value!r})"
    return values, params, fingerprints


def _unpack(sha: str, packed: Any) -> bytes | None:
    """predictions.csv from the note; a damaged copy is dropped, the metrics still count."""
    if packed is None:
        return None
    try:
        if not isinstance(packed, str):
            raise ValueError("not a string")
        return bounded.gunzip(base64.b64decode(packed, validate=True), MAX_PREDICTIONS)
    except (ValueError, binascii.Error, OSError, EOFError) as e:
        output.warn(
            f"the predictions in the note on {sha[:7]} cannot be read ({e}): using "
            "its metrics without them"
        )
        return None


# -- mlci record ---------------------------------------------------------------------


@dataclass(frozen=True)
class RecordResult:
    """What `mlci record` did."""

    sha: str
    size: int  # bytes of the note
    predictions: bool  # the predictions are in the note
    trained: bool  # HEAD had no run record, so it was trained first
    pushed: bool
    remote: str | None = None

    def summary(self) -> str:
        parts = "with predictions" if self.predictions else "without predictions"
        line = f"recorded {self.sha[:7]} in {NOTES_REF} ({self.size:,} bytes, {parts})"
        return line + (f"; pushed to {self.remote}" if self.pushed else "; not pushed")


def record(ws: Workspace, *, push: bool, remote: str = "origin") -> RecordResult:
    """`mlci record [--push]`: store HEAD's run record as its note, training first if needed."""
    repo = ws.repo
    if repo.is_dirty():
        raise UsageError(
            "the working tree has uncommitted changes",
            where=str(repo.root),
            hint="a note describes a commit: commit your changes, then run `mlci record` again",
        )
    if push and repo.remote_url(remote) is None:  # before training, which may take hours
        raise GitError(
            f"no git remote named {remote} to push the notes to",
            where=str(repo.root),
            hint=f"add one with `git remote add {remote} URL` (`mlci record` without --push "
            "keeps the note local)",
        )
    sha = repo.head_sha()
    _warn_off_base(ws, sha)
    rec, trained = _head_record(ws, sha)
    text, with_predictions = _document(rec)
    if push:
        repo.notes_fetch(remote)  # merge theirs first, so the push is a fast-forward
    repo.note_write(sha, text)
    if push:
        repo.notes_push(remote)
    return RecordResult(
        sha=sha,
        size=len(text.encode("utf-8")),
        predictions=with_predictions,
        trained=trained,
        pushed=push,
        remote=remote if push else None,
    )


def _head_record(ws: Workspace, sha: str) -> tuple[RunRecord, bool]:
    """HEAD's clean run record, or a new training (a dirty record does not describe HEAD)."""
    found = records.find(ws.root, sha)
    if found is not None and not found.dirty:
        return found, False
    from mlci.train.runner import train_checkout

    return train_checkout(ws), True


def _warn_off_base(ws: Workspace, sha: str) -> None:
    """A note off the base branch's history is never a PR's baseline: say so, do not refuse."""
    from mlci.baseline import base_branch

    base = base_branch(ws)
    if base is None:
        return
    try:
        on_base = ws.repo.is_ancestor(sha, base)
    except GitError:
        return
    if not on_base:
        output.warn(
            f"{sha[:7]} is not on {base}: pull requests only use notes on the history of {base}"
        )


# -- the baseline strategy -----------------------------------------------------------


def from_notes(ctx: Context) -> Baseline | str:
    """The note on the merge-base, or on its nearest noted first-parent ancestor.

    It never fetches: the caller (`mlci run`) fetches refs/notes/mlci once, before the
    strategies run, so `mlci diff` stays offline and a run makes one network call.
    """
    from mlci.baseline import Baseline

    repo = ctx.ws.repo
    walk = repo.first_parent_walk(ctx.merge_base, limit=NOTE_WALK_LIMIT)
    texts = repo.notes_read_many(walk)
    for sha in walk:  # newest first: the first that reads is the nearest
        if sha not in texts:
            continue
        note = parse_note(sha, texts[sha])
        if isinstance(note, str):
            output.warn(f"{note}; it is skipped")
            continue
        return Baseline(
            strategy="note",
            ref=ctx.ref,
            merge_base=ctx.merge_base,
            sha=sha,
            behind=repo.commits_between(sha, ctx.merge_base),
            record=materialise(ctx.ws.root, note),
            detail="recorded in git notes",
        )
    where = (
        "none on origin either"
        if ctx.fetched_notes
        else "only local notes were read; `git fetch origin refs/notes/mlci:refs/notes/mlci` "
        "brings the ones CI recorded"
    )
    return (
        f"notes: no note on the merge-base or its {NOTE_WALK_LIMIT} nearest first-parent "
        f"ancestors ({where})"
    )


def materialise(root: Path, note: Note) -> RunRecord:
    """Write the note as `.mlci/runs/<sha>/`, unless the record there already says the same."""
    rec = note.record
    target = records.run_dir(root, rec.sha)
    there = records.read(target)
    if there is not None and _same(there, note):
        return there
    scratch = target.parent / f".note-{rec.sha}-{os.getpid()}.csv"  # one per run
    if note.predictions is not None:
        target.parent.mkdir(parents=True, exist_ok=True)
        scratch.write_bytes(note.predictions)
    try:
        return records.write(
            target, rec, predictions=scratch if note.predictions is not None else None
        )
    finally:
        scratch.unlink(missing_ok=True)


def _same(there: RunRecord, note: Note) -> bool:
    """The record on disk is this note's (or its source): same metrics, same predictions."""
    if there.dirty or records.dump_json(there.metrics) != records.dump_json(note.record.metrics):
        return False
    path = there.predictions_path
    if note.predictions is None:
        return True
    return path is not None and path.read_bytes() == note.predictions


# -- mlci history --------------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    sha: str
    short: str
    created: str  # when the note was recorded (ISO 8601, UTC), "" when unknown
    metrics: dict[str, float]


@dataclass(frozen=True)
class History:
    """Noted commits along the base branch, oldest first, and the metric columns to show."""

    ref: str
    entries: tuple[Entry, ...]
    columns: tuple[str, ...]
    hidden: int = 0  # metric columns left out of the table (see --metric)
    metric: str | None = None  # the one metric asked for
    walked: int = 0  # first-parent commits looked at


def history(ws: Workspace, *, ref: str, limit: int = 50, metric: str | None = None) -> History:
    """The newest `limit` noted commits on ref's first-parent line, from one batch read.

    The walk goes ten times deeper than `limit` (at least 1,000 commits), so a branch where
    only some commits are noted still fills the table.
    """
    if limit < 1:
        raise UsageError(
            f"--limit must be at least 1, not {limit}", where="--limit", hint="give e.g. --limit 50"
        )
    repo: Repo = ws.repo
    walk = repo.first_parent_walk(repo.resolve(ref), limit=max(limit * 10, 1000))
    texts = repo.notes_read_many(walk)
    entries: list[Entry] = []
    skipped: list[str] = []
    for sha in walk:
        if len(entries) == limit:
            break
        if sha in texts:
            parsed = parse(sha, texts[sha])
            if isinstance(parsed, str):
                skipped.append(parsed)
                continue
            entries.append(Entry(sha, sha[:7], str(parsed.info.get("created", "")), parsed.metrics))
    if skipped:
        output.warn(
            f"{len(skipped)} note(s) skipped: "
            + "; ".join(skipped[:5])
            + (" ..." if len(skipped) > 5 else "")
        )
    entries.reverse()
    columns, hidden = _columns(entries, metric)
    return History(
        ref=ref,
        entries=tuple(entries),
        columns=columns,
        hidden=hidden,
        metric=metric,
        walked=len(walk),
    )


def _columns(entries: list[Entry], metric: str | None) -> tuple[tuple[str, ...], int]:
    """The metric columns: the one asked for, else the newest commit's first, at most 8."""
    names = sorted({name for e in entries for name in e.metrics})
    if metric is not None:
        if metric not in names:
            close = difflib.get_close_matches(metric, names, n=1)
            raise UsageError(
                f"no metric {metric} in the recorded notes",
                where="--metric",
                hint=(
                    f"did you mean {close[0]}?"
                    if close
                    else "known: " + (", ".join(names) or "none")
                ),
            )
        return (metric,), 0
    newest = set(entries[-1].metrics) if entries else set()
    ordered = sorted(names, key=lambda n: (n not in newest, n))
    return tuple(ordered[:HISTORY_COLUMNS]), max(len(ordered) - HISTORY_COLUMNS, 0)


def history_table(h: History, precision: int) -> str:
    """One row per noted commit, oldest first; a line says what was left out."""
    from mlci.report import tables

    if not h.entries:
        return (
            f"no notes on the last {h.walked} first-parent commits of {h.ref}: record "
            "some on the base branch with `mlci record --push`"
        )
    header = ["commit", "recorded", *h.columns]
    rows = [
        [
            e.short,
            e.created[:16].replace("T", " ") or "—",
            *[tables.number(e.metrics.get(c), precision) for c in h.columns],
        ]
        for e in h.entries
    ]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = [
        "  ".join(
            c.ljust(w) if i < 2 else c.rjust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ).rstrip()
        for row in [header, *rows]
    ]
    if h.hidden:
        lines.append(
            f"({h.hidden} more metric{'s' if h.hidden != 1 else ''} not shown: "
            "pick one with --metric NAME, or use --json)"
        )
    return "\n".join(lines)


def history_json(h: History) -> str:
    """The entries, oldest first; NaN and inf as strings, like the run records."""
    return records.dump_json(
        [
            {
                "sha": e.sha,
                "short": e.short,
                "created": e.created or None,
                "metrics": {k: v for k, v in e.metrics.items() if h.metric in (None, k)},
            }
            for e in h.entries
        ]
    )


def history_points(h: History, metric: str) -> list[tuple[str, float]]:
    """(sha, value) oldest first, for plots.history; commits without a finite value are left out."""
    return [
        (e.sha, e.metrics[metric])
        for e in h.entries
        if metric in e.metrics and math.isfinite(e.metrics[metric])
    ]
