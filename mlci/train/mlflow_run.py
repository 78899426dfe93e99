"""train.mlflow: the run mlci creates before the user's command, and what it reads back.

mlci creates the run first and hands its id to the command (MLFLOW_RUN_ID), so the
user's `mlflow.start_run()` resumes it and everything the training logs lands in a run
mlci knows. Afterwards the run's metrics (latest value per key), params and a
`predictions.csv` artifact become the run record's. The same reading serves the
`mlflow` baseline source: the finished run tagged with the merge-base's sha.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlci import output
from mlci import record as records
from mlci.baseline import NOTE_WALK_LIMIT
from mlci.config import MlflowTrain
from mlci.errors import MlciError, TrainingError
from mlci.record import RunRecord
from mlci.sources.metrics import MetricValues

if TYPE_CHECKING:
    from mlci.baseline import Baseline, Context
    from mlci.tracking import RunData, Tracking
    from mlci.train.runner import Where

RESUME_HINT = (
    "call mlflow.start_run() without a run_id or experiment (mlci sets MLFLOW_RUN_ID, "
    "MLFLOW_EXPERIMENT_ID and MLFLOW_TRACKING_URI for it)"
)


def connect(cfg: MlflowTrain, root: Path) -> tuple[Tracking, str]:
    """The tracking server of train.mlflow and the experiment's id."""
    from mlci.tracking import Tracking, resolve_uri

    tracking = Tracking(resolve_uri(cfg.tracking_uri, root), where="train.mlflow", root=root)
    return tracking, tracking.experiment_id(cfg.experiment)


@dataclass(frozen=True)
class Session:
    """The run mlci created for one training."""

    tracking: Tracking
    experiment: str
    experiment_id: str
    run_id: str
    started: int  # ms since the epoch, as the server recorded it
    label: str
    sha: str  # the commit trained: the tags after the verdict go on this commit's run only

    @property
    def env(self) -> dict[str, str]:
        return {
            "MLFLOW_TRACKING_URI": self.tracking.uri,
            "MLFLOW_EXPERIMENT_ID": self.experiment_id,
            "MLFLOW_RUN_ID": self.run_id,
        }

    def info(self) -> dict[str, str]:
        """record.json's `mlflow`: what the tags and the registry need after the verdict."""
        return {
            "run_id": self.run_id,
            "experiment": self.experiment,
            "experiment_id": self.experiment_id,
            "tracking_uri": self.tracking.uri,
            "sha": self.sha,
        }

    def fail(self) -> None:
        """The command failed: its run is marked FAILED (MLflow's exit handler may have
        marked it FINISHED), so it never serves as a baseline. Best effort."""
        try:
            if self.tracking.get_run(self.run_id).status != "FAILED":
                self.tracking.end_run(self.run_id, "FAILED")
        except MlciError as e:
            output.warn(f"could not mark MLflow run {self.run_id} FAILED: {e.what}")


def start(cfg: MlflowTrain, where: Where) -> Session:
    """Create the run in the experiment, tagged with the commit it trains."""
    tracking, experiment_id = connect(cfg, where.workdir)
    sha, label = where.sha, where.label
    tags = {"mlci.sha": sha, **({"mlci.dirty": "true"} if where.dirty else {})}
    run = tracking.create_run(experiment_id, f"mlci {sha[:7]}", tags)
    output.info(f"mlci: MLflow run {run.run_id} in experiment {cfg.experiment} ({tracking.uri})")
    return Session(tracking, cfg.experiment, experiment_id, run.run_id, run.start_time, label, sha)


def log_builtin(
    cfg: MlflowTrain,
    where: Where,
    metrics: dict[str, float],
    params: Mapping[str, object],
    files: list[Path],
) -> dict[str, str]:
    """The built-in pipeline runs in-process: mlci logs its results into a new run."""
    session = start(cfg, where)
    flat = {name: str(value)[:6000] for name, value in params.items()}  # MLflow's limit
    session.tracking.log(session.run_id, metrics, flat, [f for f in files if f.is_file()])
    session.tracking.end_run(session.run_id, "FINISHED")
    return session.info()


@dataclass(frozen=True)
class Harvest:
    """What the run holds, ready to merge with the metric files."""

    values: MetricValues
    params: dict[str, object]
    predictions: Path | None


def finish(session: Session, scratch: Path, *, files: bool) -> Harvest:
    """After the command: check the run was resumed and finished, then read it back.

    `files`: train.metrics names files too, so a run without metrics is not an error."""
    tracking, run_id = session.tracking, session.run_id
    run = tracking.get_run(run_id)
    if run.status in ("FAILED", "KILLED"):
        raise TrainingError(
            f"{session.label} exited 0, but marked its MLflow run {run_id} {run.status}",
            where=tracking.uri,
            hint="see the run in MLflow and the training log; mlci takes only a FINISHED run",
        )
    if not run.metrics:
        # another job's run is tagged mlci.sha: an untagged one is the command's own
        since = tracking.runs_since(session.experiment_id, session.started)
        others = [r.run_id for r in since if "mlci.sha" not in r.tags]
        if others or not files:
            tracking.end_run(run_id, "FAILED")
        if others:
            raise TrainingError(
                f"{session.label} started its own MLflow run {others[0]} instead of resuming "
                f"mlci's run {run_id}",
                where=tracking.uri,
                hint=RESUME_HINT,
            )
        if not files:
            raise TrainingError(
                f"{session.label} logged no metrics to MLflow run {run_id}",
                where=tracking.uri,
                hint="log them inside mlflow.start_run() (mlflow.log_metric), or name the "
                "metrics file in train.metrics",
            )
    if run.status != "FINISHED":
        tracking.end_run(run_id, "FINISHED")
    return read_run(tracking, run, scratch)


def read_run(tracking: Tracking, run: RunData, scratch: Path) -> Harvest:
    """A run's metrics, params (numbers where they read as numbers) and predictions.csv."""
    label = f"MLflow run {run.run_id}"
    values = MetricValues(
        values=dict(run.metrics), sources=dict.fromkeys(run.metrics, label), non_numeric={}
    )
    params = {name: _scalar(value) for name, value in run.params.items()}
    predictions = tracking.download(run.run_id, records.PREDICTIONS, scratch / "mlflow-artifacts")
    return Harvest(values, params, predictions)


def merge(harvest: Harvest, files: MetricValues | None) -> MetricValues:
    """The run's metrics, then the metric files of train.metrics (a name in both: the file)."""
    if files is None:
        return harvest.values
    return MetricValues(
        values={**harvest.values.values, **files.values},
        sources={**harvest.values.sources, **files.sources},
        non_numeric={**harvest.values.non_numeric, **files.non_numeric},
    )


def _scalar(text: str) -> Any:
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            continue
    return text


# -- the `mlflow` baseline source ------------------------------------------------------


def mlflow_source(ctx: Context) -> Baseline | str:
    """The latest FINISHED run tagged mlci.sha = the merge-base, or its nearest first-parent
    ancestor that has one. A server that cannot answer is a skipped source, not an error."""
    cfg = ctx.ws.config.train.mlflow
    if cfg is None:
        return "mlflow: train.mlflow is not set in mlci.yaml"
    try:
        tracking, experiment_id = connect(cfg, ctx.ws.root)
        found = _tagged_run(ctx, tracking, experiment_id, cfg.experiment)
        if isinstance(found, str):
            return found
        sha, run = found
        rec = _materialise(ctx, tracking, run, sha)
    except MlciError as e:
        return f"mlflow: {e.sentence()}"
    from mlci.baseline import Baseline

    return Baseline(
        strategy="mlflow",
        ref=ctx.ref,
        merge_base=ctx.merge_base,
        sha=sha,
        behind=ctx.ws.repo.commits_between(sha, ctx.merge_base),
        record=rec,
        detail=f"MLflow run {run.run_id} of experiment {cfg.experiment}",
    )


def _tagged_run(
    ctx: Context, tracking: Tracking, experiment_id: str, experiment: str
) -> tuple[str, RunData] | str:
    def clean(runs: list[RunData]) -> list[RunData]:
        return [r for r in runs if r.tags.get("mlci.dirty") != "true"]

    exact = clean(tracking.finished_runs(experiment_id, ctx.merge_base))
    if exact:
        return ctx.merge_base, exact[0]
    newest: dict[str, RunData] = {}
    for run in clean(tracking.finished_runs(experiment_id)):  # newest first
        newest.setdefault(run.tags["mlci.sha"], run)
    for sha in ctx.ws.repo.first_parent_walk(ctx.merge_base, limit=NOTE_WALK_LIMIT):
        if sha in newest:
            return sha, newest[sha]
    return (
        f"mlflow: no FINISHED run tagged mlci.sha with the merge-base or its "
        f"{NOTE_WALK_LIMIT} nearest first-parent ancestors in experiment {experiment}"
    )


def _materialise(ctx: Context, tracking: Tracking, run: RunData, sha: str) -> RunRecord:
    """The run as `.mlci/runs/<sha>/`, so later stages read it like any record."""
    import tempfile

    target = records.run_dir(ctx.ws.root, sha)
    with tempfile.TemporaryDirectory(prefix=".mlflow-", dir=target.parent.parent) as scratch:
        harvest = read_run(tracking, run, Path(scratch))
        info = {
            "trained_by": "mlflow",
            "dirty": False,
            "metric_files": [f"MLflow run {run.run_id}"],
            "mlflow": {
                "run_id": run.run_id,
                "experiment_id": run.experiment_id,
                "tracking_uri": tracking.uri,
            },
            "created": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(run.start_time / 1000)),
        }
        rec = RunRecord(sha=sha, metrics=harvest.values.values, params=harvest.params, info=info)
        return records.write(target, rec, predictions=harvest.predictions)
