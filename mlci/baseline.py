"""Which record a pull request is judged against, and how it was found.

The sources of `baseline.sources` are tried in order and the first that answers wins: a
git note on the merge-base (or its nearest noted first-parent ancestor), the metric files
as committed at the merge-base (unless an input changed after them), retraining at the
merge-base in a temporary worktree (or the record of an earlier retraining), and none.
Each says why it did not answer, so the report can tell the reviewer what was tried. A
baseline that cannot be produced is an outcome, not an error: the PR is still reported.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlci import output
from mlci import record as records
from mlci.config import Config, TrainConfig
from mlci.errors import ConfigError, MetricsError, TrainingError, UsageError
from mlci.record import RunRecord
from mlci.workspace import Workspace

if TYPE_CHECKING:
    from mlci.sources.files import AtCommit

NOTE_WALK_LIMIT = 200


@dataclass(frozen=True)
class Baseline:
    """The baseline and its provenance, as the report shows it."""

    strategy: str  # "note" | "mlflow" | "file" | "retrain" | "none"
    ref: str  # the base ref as given: main, origin/main, a sha
    merge_base: str | None
    sha: str | None = None  # the commit whose metrics are used
    behind: int = 0  # how many first-parent commits sha is behind the merge-base
    record: RunRecord | None = None
    detail: str = ""  # how it was found, in words
    tried: tuple[str, ...] = ()  # why the earlier strategies did not answer
    log_tail: str = ""  # the end of a failed baseline training's log

    @property
    def found(self) -> bool:
        return self.record is not None

    def describe(self) -> str:
        if self.record is None or self.sha is None:
            return f"no baseline: {self.detail}"
        where = f"{self.sha[:7]} ({self.ref})"
        behind = (
            ""
            if self.behind == 0
            else (f", {self.behind} commit{'s' if self.behind != 1 else ''} behind the merge-base")
        )
        return f"{self.detail} at {where}{behind}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "strategy": self.strategy,
            "ref": self.ref,
            "merge_base": self.merge_base,
            "sha": self.sha,
            "behind": self.behind,
            "detail": self.detail,
            "tried": list(self.tried),
            "description": self.describe(),
            "run_dir": str(self.record.path) if self.record and self.record.path else None,
            "log_tail": self.log_tail,
        }


@dataclass(frozen=True)
class Context:
    """What every strategy needs to know."""

    ws: Workspace
    ref: str
    merge_base: str
    head_sha: str
    allow_retrain: bool
    fetched_notes: bool = False  # refs/notes/mlci came from origin just now
    notes: Callable[[Context], Baseline | str] | None = field(default=None)


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


def from_notes(ctx: Context) -> Baseline | str:
    """The note on the merge-base or its nearest noted ancestor (baseline_notes.from_notes)."""
    return ctx.notes(ctx) if ctx.notes is not None else "git notes: not read by this command"


def from_mlflow(ctx: Context) -> Baseline | str:
    """The latest finished MLflow run tagged with the merge-base."""
    if ctx.ws.config.train.mlflow is None:
        return "mlflow: train.mlflow is not set"
    from mlci.train.mlflow_run import mlflow_source

    return mlflow_source(ctx)


def train_config_at(ctx: Context, sha: str) -> tuple[TrainConfig | None, str]:
    """The train section of mlci.yaml as committed at sha (the model as it was trained then).

    None with the reason when that file is invalid: the baseline cannot be had from it,
    which is not an error of this branch (a PR may be the fix)."""
    from mlci import config as configs

    path = ctx.ws.config.path
    text = ctx.ws.repo.show(sha, ctx.ws.in_repo(path.name))
    if text is None:
        return (
            ctx.ws.config.train,
            f"{path.name} is not in {sha[:7]}: used this branch's train section",
        )
    try:
        old: Config = configs.load_text(text, path)
    except ConfigError as e:
        return None, f"{path.name} at {sha[:7]} is invalid: {e.what}"
    return old.train, ""


def from_files(ctx: Context) -> Baseline | str:
    """The metric files as they were committed at the merge-base (no training needed), read
    like the ones on disk (mlci.sources.metrics), dvclive output included."""
    from mlci.sources.files import AtCommit

    train, invalid = train_config_at(ctx, ctx.merge_base)
    if train is None:
        return f"committed files: {invalid}"
    if not train.metrics:
        return "committed files: the built-in pipeline writes no files to commit"
    repo, sha = ctx.ws.repo, ctx.merge_base
    files = AtCommit(repo, sha)
    found = _committed_metrics(ctx, files, train.metrics)
    if isinstance(found, str):
        return f"committed files: {found}"
    values, sources = found
    info = {
        "trained_by": "committed-files",
        "metric_files": list(train.metrics),
        **records.sources_info(sources, list(train.metrics)),
        "dirty": False,
    }
    params = _committed_params(ctx, files, train.params)
    rec = RunRecord(sha=sha, metrics=values, params=params, info=info)
    predictions = repo.show(sha, ctx.ws.in_repo(train.predictions)) if train.predictions else None
    return Baseline(
        strategy="file",
        ref=ctx.ref,
        merge_base=sha,
        sha=sha,
        record=_write_record(ctx.ws.root, rec, predictions),
        detail="metric files committed",
    )


def _write_record(root: Path, rec: RunRecord, predictions: str | None) -> RunRecord:
    """The record in `.mlci/runs/<sha>/`, with the committed predictions if there are any."""
    target = records.run_dir(root, rec.sha)
    extra = _write_text(target.parent / f".pred-{rec.sha}-{os.getpid()}.csv", predictions)
    try:
        return records.write(target, rec, predictions=extra)
    finally:
        if extra is not None:
            extra.unlink(missing_ok=True)


def _committed_metrics(
    ctx: Context, files: AtCommit, names: Sequence[str]
) -> tuple[dict[str, float], dict[str, str]] | str:
    """(values, the file of each) of the metric files at the merge-base, or why not."""
    from mlci.sources.formats import to_number
    from mlci.sources.metrics import read_file

    sha = ctx.merge_base
    values: dict[str, float] = {}
    sources: dict[str, str] = {}
    for name in names:
        path = Path(ctx.ws.in_repo(name))
        if files.kind(path) is None:
            return f"{name} is not tracked at {sha[:7]}"
        stale = _stale(ctx, name)
        if stale:
            return stale
        try:
            raw = read_file(path, display=name, files=files)
        except MetricsError as e:
            return f"{name} at {sha[:7]} cannot be read: {e.what}"
        for key, value in raw.items():
            number = to_number(value)
            if number is not None:
                values[key], sources[key] = number, name
    return values, sources


def _committed_params(ctx: Context, files: AtCommit, names: Sequence[str]) -> dict[str, Any]:
    """The params files committed at the merge-base, merged; the missing ones left out."""
    from mlci.sources.metrics import read_file

    params: dict[str, Any] = {}
    for name in names:
        path = Path(ctx.ws.in_repo(name))
        if files.kind(path) == "file":
            params.update(read_file(path, display=name, key="train.params", files=files))
    return params


def _stale(ctx: Context, name: str) -> str:
    """Why the committed `name` is not the model's, or '': an input (train.inputs) changed
    in a later commit than it, up to the merge-base."""
    from mlci.train.inputs import is_input

    repo, ws = ctx.ws.repo, ctx.ws
    written = repo.last_change(ctx.merge_base, ws.in_repo(name))
    if written is None:
        return ""
    prefix = f"{ws.subdir}/" if ws.subdir else ""
    for sha, paths in reversed(repo.changes_between(written, ctx.merge_base, ws.subdir)):
        changed = [p.removeprefix(prefix) for p in paths if p.startswith(prefix)]
        inputs = [p for p in changed if is_input(ws.config, p)]
        if inputs:
            return (
                f"{name} is stale: committed at {written[:7]}, but {inputs[0]} changed later "
                f"at {sha[:7]}"
            )
    return ""


def _write_text(path: Path, text: str | None) -> Path | None:
    if text is None:
        return None
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


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


SOURCES: dict[str, Callable[[Context], Baseline | str]] = {
    "notes": from_notes,
    "mlflow": from_mlflow,
    "files": from_files,
    "retrain": from_retraining,
}


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
