"""The committed-files source: the metric files as committed at the merge-base, read like
the ones on disk, unless an input changed after them (then they are stale)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlci import record as records
from mlci.baseline.value import Baseline, Context
from mlci.config import Config, TrainConfig
from mlci.errors import ConfigError, MetricsError
from mlci.record import RunRecord

if TYPE_CHECKING:
    from mlci.sources.files import AtCommit


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
