"""Which record a pull request is judged against, and how it was found.

The sources of `baseline.sources` are tried in order and the first that answers wins: a
git note on the merge-base (or its nearest noted first-parent ancestor), the metric files
as committed at the merge-base (unless an input changed after them), retraining at the
merge-base in a temporary worktree (or the record of an earlier retraining), and none.
Each says why it did not answer, so the report can tell the reviewer what was tried. A
baseline that cannot be produced is an outcome, not an error: the PR is still reported.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from mlci import output
from mlci.baseline import files, notes, retrain
from mlci.baseline.value import NOTE_WALK_LIMIT, Baseline, Context
from mlci.errors import UsageError
from mlci.workspace import Workspace

__all__ = ["NOTE_WALK_LIMIT", "Baseline", "Context", "base_branch", "find", "resolve_ref"]


def base_branch(ws: Workspace, ci_base: str | None = None) -> str | None:
    """The one rule for the base branch: baseline.ref in mlci.yaml, else the branch CI names
    (a PR's base, or the repository's default), else the clone's default branch."""
    return ws.config.baseline.ref or ci_base or ws.repo.default_branch()


def resolve_ref(ws: Workspace, base: str | None, ci_base: str | None = None) -> str:
    """--base, else the base branch."""
    ref = base or base_branch(ws, ci_base)
    if not ref:
        raise UsageError(
            "no base branch to compare with: no origin/HEAD, main or master here",
            where=str(ws.repo.root),
            hint="pass the base revision (`mlci diff REV`, `mlci run --base REF`) or set "
            "baseline.ref in mlci.yaml",
        )
    return ref


def find(ctx: Context) -> Baseline:
    """Try each source of baseline.sources in order; the first that finds a record wins.

    A source answers a Baseline with a record, or why it has none: a string, or a Baseline
    without a record when it failed with a log worth showing (a retraining)."""
    config = ctx.ws.config
    tried: list[str] = []
    tail = ""
    for name in config.baseline.source_order(config.train.mlflow is not None):
        answer = SOURCES[name](ctx)
        if isinstance(answer, Baseline) and answer.found:
            return replace(answer, tried=tuple(tried))
        if isinstance(answer, Baseline):
            tail = answer.log_tail or tail
            answer = answer.detail
        tried.append(answer)
        output.debug(f"mlci: baseline: {answer}")
    return Baseline(
        strategy="none",
        ref=ctx.ref,
        merge_base=ctx.merge_base,
        detail="; ".join(tried),
        tried=tuple(tried),
        log_tail=tail,
    )


def from_mlflow(ctx: Context) -> Baseline | str:
    """The latest finished MLflow run tagged with the merge-base."""
    if ctx.ws.config.train.mlflow is None:
        return "mlflow: train.mlflow is not set"
    from mlci.train.mlflow_run import mlflow_source

    return mlflow_source(ctx)


SOURCES: dict[str, Callable[[Context], Baseline | str]] = {
    "notes": notes.from_notes,
    "mlflow": from_mlflow,
    "files": files.from_files,
    "retrain": retrain.from_retraining,
}
