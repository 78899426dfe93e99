"""Train once and leave a run record: the user's command or the built-in pipeline.

The same function trains the PR's head in the checkout and a baseline in a temporary
worktree; only `workdir` and the label differ.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlci import __version__, atomic, output, paths
from mlci import record as records
from mlci.config import TrainConfig, display_path
from mlci.errors import ConfigError, MlciError, TrainingError
from mlci.record import RunRecord
from mlci.sources.metrics import MetricValues

if TYPE_CHECKING:
    from mlci.workspace import Workspace


@dataclass(frozen=True)
class Where:
    """The commit being trained and where its files are."""

    sha: str
    workdir: Path  # the checkout or a worktree: the command runs here
    code: str  # fingerprint of the tracked files (a git tree id)
    inputs: str | None = None  # the input fingerprint (mlci.train.inputs): the run cache's key
    dirty: bool = False
    label: str = "training"  # "training" or "training baseline at 1a2b3c4 (main)"
    run_id: str = ""  # the run directory's name: sha, or sha+<diff hash> when dirty

    @property
    def key(self) -> str:
        return self.run_id or self.sha


def train_checkout(ws: Workspace) -> RunRecord:
    """Train the checkout as it is (uncommitted changes too, and the record says so), or
    reuse an earlier training whose inputs are identical (the run cache)."""
    from mlci.train import cache, inputs

    repo = ws.repo
    dirty = repo.is_dirty()
    if dirty:
        output.info("mlci: the working tree has uncommitted changes; the record says so")
    sha = repo.head_sha()
    fingerprint, code = inputs.of_checkout(ws), repo.code_fingerprint()
    run_id = checkout_run_id(ws, dirty=dirty)
    if cache.enabled(ws, ws.config.train):
        with records.claim(records.run_dir(ws.root, run_id)):  # one run writes the record
            found = cache.lookup(ws, fingerprint, sha)
            if found is not None:
                return cache.reuse(ws, found, sha=sha, dirty=dirty, code=code, run_id=run_id)
        output.debug(f"mlci: no earlier training has the inputs {fingerprint}")
    where = Where(
        sha=sha,
        workdir=ws.root,
        code=code,
        inputs=fingerprint,
        dirty=dirty,
        label=f"training at {sha[:7]}",
        run_id=run_id,
    )
    return train(ws.config.train, where, state_root=ws.root)


def checkout_run_id(ws: Workspace, *, dirty: bool | None = None) -> str:
    """The checkout's run directory name: HEAD's sha, plus the first 8 hex of the diff's
    hash when there are uncommitted changes, so that it never shares the commit's record
    (which may be the baseline's)."""
    sha = ws.repo.head_sha()
    if not (ws.repo.is_dirty() if dirty is None else dirty):
        return sha
    return f"{sha}+{ws.repo.diff_digest()[:8]}"


def train(config: TrainConfig, where: Where, *, state_root: Path) -> RunRecord:
    """Run the training of `config` at `where` and write `.mlci/runs/<sha>/` under state_root.

    A failed training leaves no record; its log is kept in `.mlci/logs/<sha>/train.log`.
    The record is claimed first: a run that finds another training the same commit waits
    and takes the record it writes instead of training again.
    """
    target = records.run_dir(state_root, where.key)
    before = records.stamp(target)
    try:
        with records.claim(target) as waited:
            fresh = records.read(target) if waited else None
            if (
                fresh is not None
                and records.stamp(target) != before
                and _same(fresh, config, where)
            ):
                output.info(
                    f"mlci: {where.sha[:7]} was just trained by another mlci run: its record reused"
                )
                return fresh
            return _train(config, where, state_root)
    except MlciError as e:
        if config.sklearn is not None and isinstance(e, ConfigError) and config.sklearn.where:
            e.where = f"{config.sklearn.where}, {e.where}" if e.where else config.sklearn.where
        raise


def _keep_log(log: Path, state_root: Path, sha: str) -> Path | None:
    if not log.is_file():
        return None
    kept = records.state_dir(state_root) / "logs" / sha / records.LOG
    atomic.copy_file(log, kept)
    return kept


def _same(rec: RunRecord, config: TrainConfig, where: Where) -> bool:
    """A record of this very training: same code, same train section, same dirtiness."""
    code = rec.info.get("fingerprints", {}).get("code")
    return (
        rec.info.get("train") == config.as_dict()
        and code == where.code
        and rec.dirty == where.dirty
    )


def _train(config: TrainConfig, where: Where, state_root: Path) -> RunRecord:
    target = records.run_dir(state_root, where.key)
    with records.scratch(target, "train") as scratch:
        tmp = Path(scratch)
        log = tmp / records.LOG
        started = datetime.now(timezone.utc)
        output.info(f"mlci: {where.label}")
        try:
            done = _execute(config, where, tmp, log)
        except MlciError as e:
            kept = _keep_log(log, state_root, where.key)
            if kept is not None and e.where == str(log):
                e.where = display_path(kept)
            raise
        for name, shown in done.values.non_numeric.items():
            output.warn(f"metric {name} is not a number ({shown}); it is not compared")
        output.debug(f"mlci: {where.label} took {done.duration:.1f}s; record in {target}")
        info = _info(config, where, done, started)
        rec = RunRecord(sha=where.sha, metrics=done.values.values, params=done.params, info=info)
        return records.write(target, rec, log=log, predictions=done.predictions, extra=done.extra)


@dataclass(frozen=True)
class _Done:
    """What a training left behind, before it becomes a record."""

    values: MetricValues
    params: dict[str, object]
    duration: float
    task: str | None
    predictions: Path | None
    metric_files: list[str]
    extra: dict[str, Path]
    mlflow: dict[str, str] | None = None  # the MLflow run it logged to


def _execute(config: TrainConfig, where: Where, tmp: Path, log: Path) -> _Done:
    from mlci.sources import metrics as metric_files
    from mlci.sources.params import read_params

    if config.sklearn is not None:
        from mlci.train.sklearn import run_sklearn

        with _time_limit(config.timeout, where.label):
            result = run_sklearn(config.sklearn, out_dir=tmp, log_path=log, label=where.label)
        model = tmp / "model.pkl"
        scores = metric_files.read_metrics([records.METRICS], tmp)
        logged = None
        if config.mlflow is not None:  # in-process: mlci logs the results into the run
            from mlci.train.mlflow_run import log_builtin

            outputs = [tmp / records.PREDICTIONS, model]
            logged = log_builtin(config.mlflow, where, scores.values, result.params, outputs)
        return _Done(
            values=scores,
            params=dict(result.params),
            duration=result.duration,
            task=result.task,
            predictions=tmp / records.PREDICTIONS,
            metric_files=["(built-in pipeline)"],
            extra={"model.pkl": model} if model.is_file() else {},
            mlflow=logged,
        )
    from mlci.train import mlflow_run
    from mlci.train.command import run_command

    assert config.command is not None
    session = mlflow_run.start(config.mlflow, where) if config.mlflow else None
    t0 = time.monotonic()
    try:
        run_command(
            config.command,
            cwd=where.workdir,
            env={**config.env, **(session.env if session else {})},
            timeout=config.timeout,
            log_path=log,
            label=where.label,
        )
        duration = time.monotonic() - t0
        _require_outputs(config, where)
        got = mlflow_run.finish(session, tmp, files=bool(config.metrics)) if session else None
    except BaseException:
        if session is not None:  # a failed training's run must never serve as a baseline
            session.fail()
        raise
    _warn_stale(config, where, time.time() - duration)
    params = read_params(config.params, where.workdir) if config.params else {}
    values = metric_files.read_metrics(config.metrics, where.workdir) if config.metrics else None
    predictions = (
        paths.inside(where.workdir, config.predictions, "train.predictions")
        if config.predictions
        else None
    )
    if got is not None:  # the run's metrics and params, then the files'
        values, params = mlflow_run.merge(got, values), {**got.params, **params}
        predictions = predictions or got.predictions
    assert values is not None  # mlci.config requires train.metrics without train.mlflow
    return _Done(
        values=values,
        params=params,
        duration=duration,
        task=None,
        predictions=predictions,
        metric_files=[*config.metrics, *([f"MLflow run {session.run_id}"] if session else [])],
        extra=_drawn_by_training(config, where.workdir, tmp),
        mlflow=session.info() if session else None,
    )


def _drawn_by_training(config: TrainConfig, workdir: Path, tmp: Path) -> dict[str, Path]:
    """dvclive's per-step series and the user's images, kept in the record so that a
    later report can draw this run beside another (base beside head)."""
    from mlci.sources import metrics as metric_files

    extra: dict[str, Path] = {}
    series: dict[str, list[tuple[float, float]]] = {}
    for name in config.metrics:
        live = metric_files.dvclive_dir(workdir / name)
        if live is not None:
            series.update(metric_files.dvclive_series(live))
    if series:
        extra["series.json"] = tmp / "series.json"
        extra["series.json"].write_text(json.dumps(series), encoding="utf-8")
    if config.plots:
        from mlci.report.plots import user as user_plots

        images, _ = user_plots.copy_user_plots(config.plots, workdir, tmp / "images")
        extra.update({f"user/{image.name}": image for image in images})
    return extra


def _info(config: TrainConfig, where: Where, done: _Done, started: datetime) -> dict[str, Any]:
    """record.json: how, when and how long it trained, and the fingerprints."""
    return {
        "dirty": where.dirty,
        "trained_by": "sklearn" if config.sklearn is not None else "command",
        "train": config.as_dict(),
        "label": where.label,
        "task": done.task,
        "started": started.isoformat(timespec="seconds"),
        "duration": round(done.duration, 3),
        "fingerprints": {
            "code": where.code,
            "inputs": where.inputs,
            "params": _digest(json.dumps(done.params, sort_keys=True, default=str).encode()),
            "train": _digest(json.dumps(config.as_dict(), sort_keys=True).encode()),
        },
        "mlci": __version__,
        "metric_files": done.metric_files,
        **records.sources_info(done.values.sources, done.metric_files),
        "non_numeric": done.values.non_numeric,
        **({"mlflow": done.mlflow} if done.mlflow else {}),
    }


@contextlib.contextmanager
def _time_limit(seconds: float, label: str) -> Iterator[None]:
    """train.timeout for the in-process pipeline: SIGALRM interrupts the fit (Unix, main
    thread; elsewhere the pipeline runs without a limit)."""
    if (
        not hasattr(signal, "setitimer")
        or threading.current_thread() is not threading.main_thread()
    ):
        yield
        return

    def expired(signum: int, frame: object) -> None:
        from mlci.train.command import TIMEOUT_HINT

        raise TrainingError(
            f"{label} timed out after {seconds:g}s", where="train.timeout", hint=TIMEOUT_HINT
        )

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _require_outputs(config: TrainConfig, where: Where) -> None:
    """A command that exits 0 but writes no metrics is a failed training, not a crash later."""
    missing = [m for m in config.metrics if not (where.workdir / m).exists()]
    if config.predictions and not (where.workdir / config.predictions).is_file():
        missing.append(config.predictions)
    if missing:
        raise TrainingError(
            f"{where.label} wrote no {', '.join(missing)}",
            where="train.metrics" if missing[0] in config.metrics else "train.predictions",
            hint="make the command write that file (paths are relative to the directory of "
            "mlci.yaml), or fix the path in mlci.yaml",
        )


def _warn_stale(config: TrainConfig, where: Where, started: float) -> None:
    """A metrics file older than the training was not written by it: say so (a cached
    pipeline stage, `dvc repro` with nothing to do, may leave it so on purpose)."""
    for name in (*config.metrics, *([config.predictions] if config.predictions else [])):
        path = where.workdir / name
        if path.is_file() and path.stat().st_mtime < started - 1:
            output.warn(
                f"{name} is older than this training: its values may be from an "
                "earlier run (did the command write it?)"
            )


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()[:16]
