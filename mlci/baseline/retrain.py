"""The retraining source: the merge-base trained in a temporary worktree, or an earlier
training of it (its record, or the run cache) reused."""

from __future__ import annotations

from mlci import output
from mlci import record as records
from mlci.baseline.files import train_config_at
from mlci.baseline.value import Baseline, Context
from mlci.config import TrainConfig
from mlci.errors import MetricsError, TrainingError
from mlci.record import RunRecord


def from_retraining(ctx: Context) -> Baseline | str:
    """Retrain at the merge-base in a temporary worktree, or reuse an earlier retraining.

    The record is claimed while it is looked for and made: a run that finds another one
    retraining the same merge-base waits and reuses its record (one worktree, one training).
    """
    sha = ctx.merge_base
    with records.claim(records.run_dir(ctx.ws.root, sha)):
        return _retrain(ctx, sha)


def _retrain(ctx: Context, sha: str) -> Baseline | str:
    repo = ctx.ws.repo
    train, note = train_config_at(ctx, sha)
    if train is None:
        return f"retraining: {note}"
    earlier = records.read(records.run_dir(ctx.ws.root, sha))
    if earlier is not None and _reusable(earlier, train):
        return Baseline(
            strategy="retrain",
            ref=ctx.ref,
            merge_base=sha,
            sha=sha,
            record=earlier,
            detail="trained earlier (its record reused)",
        )
    if not ctx.allow_retrain:
        return "retraining: not allowed (baseline.retrain is false)"
    reused = _from_cache(ctx, sha, train)  # stands in for a retraining, where one may run
    if reused is not None:
        return reused
    from mlci.train import inputs
    from mlci.train.runner import Where
    from mlci.train.runner import train as run_training

    label = f"training baseline at {sha[:7]} ({ctx.ref})"
    if note:
        output.info(f"mlci: {note}")
    with repo.worktree(sha) as tree:
        output.debug(f"mlci: temporary worktree of {sha[:7]} at {tree}")
        workdir = tree / ctx.ws.subdir if ctx.ws.subdir else tree
        where = Where(
            sha=sha,
            workdir=workdir,
            code=repo.tree_of(sha),
            inputs=inputs.at_commit(ctx.ws, sha, train),
            label=label,
        )
        try:
            rec = run_training(train, where, state_root=ctx.ws.root)
        except (TrainingError, MetricsError) as e:
            output.warn(f"the baseline could not be trained: {e.sentence()}")
            return Baseline(
                strategy="none",
                ref=ctx.ref,
                merge_base=sha,
                detail=f"retraining at {sha[:7]} failed: {e.what}",
                log_tail=e.detail,
            )
    return Baseline(
        strategy="retrain", ref=ctx.ref, merge_base=sha, sha=sha, record=rec, detail="retrained"
    )


def _from_cache(ctx: Context, sha: str, train: TrainConfig) -> Baseline | None:
    """The run cache: a training of the same inputs stands for retraining the merge-base."""
    from mlci.train import cache, inputs

    if not cache.enabled(ctx.ws, train):
        return None
    found = cache.lookup(ctx.ws, inputs.at_commit(ctx.ws, sha, train), sha)
    if found is None:
        return None
    rec = cache.reuse(ctx.ws, found, sha=sha, dirty=False, code=ctx.ws.repo.tree_of(sha))
    return Baseline(
        strategy="retrain",
        ref=ctx.ref,
        merge_base=sha,
        sha=sha,
        record=rec,
        detail=records.reused_line(found.sha),
    )


def _reusable(rec: RunRecord, train: TrainConfig) -> bool:
    """An earlier clean training of the same commit with the same train section."""
    if rec.dirty or rec.info.get("trained_by") not in ("command", "sklearn"):
        return False
    return bool(rec.info.get("train") == train.as_dict())
