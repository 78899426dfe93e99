"""The notes baseline source: the note on the merge-base (or its nearest noted first-parent
ancestor), written back as an ordinary run record, so later stages never know.
"""

from __future__ import annotations

import os
from pathlib import Path

from mlci import output
from mlci import record as records
from mlci.baseline.value import NOTE_WALK_LIMIT, Baseline, Context
from mlci.git import notes
from mlci.git.note_schema import Note, parse_note
from mlci.record import RunRecord


def from_notes(ctx: Context) -> Baseline | str:
    """The note on the merge-base, or on its nearest noted first-parent ancestor.

    It never fetches: the caller (`mlci run`) fetches refs/notes/mlci once, before the
    strategies run, so `mlci diff` stays offline and a run makes one network call.
    """
    repo = ctx.ws.repo
    walk = repo.first_parent_walk(ctx.merge_base, limit=NOTE_WALK_LIMIT)
    texts = notes.read_many(repo, walk)
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
