"""The metrics along the base branch, read from the notes of its first-parent commits:
what `mlci history` shows and the report's trend plot draws."""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mlci import output
from mlci.errors import UsageError
from mlci.git import notes as git_notes
from mlci.git.note_schema import parse

if TYPE_CHECKING:
    from mlci.git.repo import Repo
    from mlci.workspace import Workspace

COLUMNS = 8  # metric columns `mlci history` shows without --metric


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
    return tuple(ordered[:COLUMNS]), max(len(ordered) - COLUMNS, 0)


def points(h: History, metric: str) -> list[tuple[str, float]]:
    """(sha, value) oldest first, for plots.history; commits without a finite value are left out."""
    return [
        (e.sha, e.metrics[metric])
        for e in h.entries
        if metric in e.metrics and math.isfinite(e.metrics[metric])
    ]
