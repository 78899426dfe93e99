"""`mlci record`: store this commit's metrics as a git note; and what a push to the base
branch does in `mlci run` (record, push, then judge the commit against its parent)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from mlci import output
from mlci import record as records
from mlci.commands import Done
from mlci.commands import publish as publishing
from mlci.commands.loop import default_out, find_baseline, summary_lines, write_report
from mlci.errors import GitError, UsageError
from mlci.git import notes as git_notes
from mlci.git.note_schema import compose
from mlci.git.notes import NOTES_REF
from mlci.record import RunRecord
from mlci.workspace import Workspace, open_workspace

if TYPE_CHECKING:
    from mlci.ci import CIContext


def main(config: Path | None, *, push: bool, remote: str) -> int:
    """`mlci record [--push] [--remote R]`."""
    ws = open_workspace(config)
    output.result(record(ws, push=push, remote=remote).summary())
    return 0


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


def on_push(ws: Workspace, ctx: CIContext, out: Path | None) -> Done:
    """A push to the base branch: train, record the note and push it to origin; then judge
    the commit against its parent's note, so `blessed` can gate a deploy job."""
    from mlci.baseline import Baseline
    from mlci.report import build as assemble

    result = record(ws, push=True)
    head = records.find(ws.root, result.sha)
    assert head is not None  # record trains when there is no record
    parents = ws.repo.first_parent_walk(result.sha, 2)
    if len(parents) == 2:
        found = find_baseline(ws, base="HEAD~1", head_sha=result.sha, allow_retrain=False)
    else:
        found = Baseline(
            strategy="none",
            ref="(none)",
            merge_base=None,
            detail="the first commit has no parent to compare with",
        )
    out_dir = assemble.prepare_out_dir(out or default_out(ws))
    outcome = write_report(ws, head, found, out_dir, run_url=ctx.run_url)
    publishing.after_verdict(ws, outcome, pr=None, push=True)
    publishing.local_publish(ws, ctx, outcome.paths["md"])
    return Done(
        exit_code=outcome.exit_code,
        text=result.summary() + "\n" + summary_lines(outcome, ws.config.precision),
    )
