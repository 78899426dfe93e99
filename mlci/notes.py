"""`mlci record` and `mlci history`: store HEAD's run record as its note, and list the notes
along the base branch. The note's format is mlci.git.note_schema; the ref, mlci.git.notes.

Stdlib only at the top; git goes through mlci.git (reached via the Workspace).
"""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mlci import output
from mlci import record as records
from mlci.errors import GitError, UsageError
from mlci.git import notes as git_notes
from mlci.git.note_schema import compose, parse
from mlci.git.notes import NOTES_REF
from mlci.record import RunRecord

if TYPE_CHECKING:
    from mlci.git.repo import Repo
    from mlci.workspace import Workspace

HISTORY_COLUMNS = 8  # metric columns `mlci history` shows without --metric


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
    text, with_predictions = compose(rec)
    if push:
        git_notes.fetch(repo, remote)  # merge theirs first, so the push is a fast-forward
    git_notes.write(repo, sha, text)
    if push:
        git_notes.push(repo, remote)
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
    texts = git_notes.read_many(repo, walk)
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
