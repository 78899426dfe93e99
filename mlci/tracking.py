"""The one module that talks to an MLflow tracking server (and its model registry).

It returns plain values, never MLflow objects, and turns MLflow's exceptions into one
message each. `mlflow` is an optional extra: it is imported inside `connect` only, so
nothing of mlci loads it unless mlci.yaml asks for MLflow.
"""

from __future__ import annotations

import contextlib
import os
import socket
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from mlci.errors import ConfigError, TrainingError

INSTALL_HINT = "install it with: pip install 'mlci[mlflow]'"
PROBE_TIMEOUT = 5.0  # seconds to reach the tracking server before giving up on it
SEARCH_LIMIT = 1000  # runs read at once when looking for a tagged ancestor


class TrackingError(TrainingError):
    """The tracking server could not answer, or answered with a problem: the training's
    results cannot be had, so it fails like a training (a baseline's is skipped)."""


@dataclass(frozen=True)
class RunData:
    """A run as mlci reads it: latest value per metric, params, tags, status."""

    run_id: str
    experiment_id: str
    status: str  # RUNNING, FINISHED, FAILED, KILLED, SCHEDULED
    start_time: int  # ms since the epoch
    metrics: dict[str, float] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)


@contextlib.contextmanager
def _no_progress_bar() -> Iterator[None]:
    """MLflow draws a progress bar on stderr for every download: noise among mlci's lines."""
    name = "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"
    before = os.environ.get(name)
    os.environ[name] = "false"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = before


def resolve_uri(uri: str | None, root: Path) -> str | None:
    """train.mlflow.tracking_uri with local paths made absolute against mlci.yaml's folder,
    so the command, a worktree and mlci itself all reach the same store."""
    uri = uri or os.environ.get("MLFLOW_TRACKING_URI") or None
    if uri is None:
        return None
    if uri.startswith("sqlite:///") and not uri.startswith("sqlite:////"):
        return "sqlite:///" + str((root / uri[len("sqlite:///") :]).resolve())
    if "://" not in uri and not uri.startswith(("file:", "databricks")):
        return (root / uri).resolve().as_uri()
    return uri


class Tracking:
    """A connection to one tracking server; every call raises TrackingError on failure."""

    def __init__(self, uri: str | None, *, where: str, root: Path | None = None) -> None:
        self.where = where
        try:
            from mlflow import get_tracking_uri
            from mlflow.tracking import MlflowClient
        except ImportError as e:
            raise ConfigError(
                f"{where} needs the mlflow package, which is not installed",
                where=where,
                hint=INSTALL_HINT,
            ) from e
        # MLflow's default store is a relative path: pin it to the project for the command
        self.uri: str = uri or resolve_uri(str(get_tracking_uri()), root or Path.cwd()) or ""
        _probe(self.uri, where)
        self.client = MlflowClient(tracking_uri=self.uri, registry_uri=self.uri)

    def _call(self, what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        from mlflow.exceptions import MlflowException

        try:  # MLflow prints run links on stdout, which is mlci's machine output
            with contextlib.redirect_stdout(sys.stderr):
                return fn(*args, **kwargs)
        except (MlflowException, OSError) as e:
            message = str(getattr(e, "message", e)).splitlines()[0][:300]
            raise TrackingError(
                f"MLflow could not {what}: {message}",
                where=self.uri,
                hint="check that the tracking server is up and tracking_uri is right",
            ) from e

    def experiment_id(self, name: str) -> str:
        """The id of an active experiment, or a TrackingError that says how to create it."""
        exp = self._call("read the experiments", self.client.get_experiment_by_name, name)
        if exp is None or exp.lifecycle_stage != "active":
            state = "is deleted" if exp is not None else "does not exist"
            raise TrackingError(
                f"the MLflow experiment '{name}' {state} on {self.uri}",
                where=f"{self.where}.experiment",
                hint=f"create it with `mlflow experiments create -n {name}` (with "
                "MLFLOW_TRACKING_URI set) or fix the name in mlci.yaml",
            )
        return str(exp.experiment_id)

    def create_run(self, experiment_id: str, name: str, tags: dict[str, str]) -> RunData:
        run = self._call(
            "create a run", self.client.create_run, experiment_id, tags=tags, run_name=name
        )
        return _data(run)

    def get_run(self, run_id: str) -> RunData:
        return _data(self._call(f"read run {run_id}", self.client.get_run, run_id))

    def end_run(self, run_id: str, status: str) -> None:
        self._call(f"end run {run_id}", self.client.set_terminated, run_id, status)

    def set_tags(self, run_id: str, tags: dict[str, str]) -> None:
        for key, value in tags.items():
            self._call(f"tag run {run_id}", self.client.set_tag, run_id, key, value)

    def log(
        self, run_id: str, metrics: dict[str, float], params: dict[str, str], files: list[Path]
    ) -> None:
        """Log what mlci's built-in pipeline produced into the run."""
        from mlflow.entities import Metric, Param

        now = int(time.time() * 1000)
        batch = [Metric(k, v, now, 0) for k, v in metrics.items()]
        pairs = [Param(k, v) for k, v in params.items()]
        self._call(f"log to run {run_id}", self.client.log_batch, run_id, batch, pairs)
        for path in files:
            self._call(f"upload {path.name}", self.client.log_artifact, run_id, str(path))

    def runs_since(self, experiment_id: str, start_time: int) -> list[RunData]:
        """Runs of the experiment started at or after start_time (ms), newest first."""
        found = self._call(
            "search runs",
            self.client.search_runs,
            [experiment_id],
            filter_string=f"attributes.start_time >= {start_time}",
            order_by=["attributes.start_time DESC"],
            max_results=100,
        )
        return [_data(r) for r in found]

    def finished_runs(self, experiment_id: str, sha: str | None = None) -> list[RunData]:
        """FINISHED runs tagged mlci.sha (= sha when given), newest first."""
        where = "attributes.status = 'FINISHED'"
        if sha is not None:
            where += f" and tags.`mlci.sha` = '{sha}'"
        found = self._call(
            "search runs",
            self.client.search_runs,
            [experiment_id],
            filter_string=where,
            order_by=["attributes.start_time DESC"],
            max_results=SEARCH_LIMIT,
        )
        return [_data(r) for r in found if "mlci.sha" in r.data.tags]

    def download(self, run_id: str, name: str, dst: Path) -> Path | None:
        """The run's artifact `name` (at the artifact root) copied into dst, or None."""
        listed = self._call(
            f"list the artifacts of run {run_id}", self.client.list_artifacts, run_id
        )
        if not any(f.path == name and not f.is_dir for f in listed):
            return None
        dst.mkdir(parents=True, exist_ok=True)
        with _no_progress_bar():
            got = self._call(
                f"download {name} of run {run_id}",
                self.client.download_artifacts,
                run_id,
                name,
                str(dst),
            )
        return Path(got)

    def logged_model(self, run_id: str, experiment_id: str) -> tuple[str, str | None] | None:
        """(source URI, model id) of the model the run logged, or None when it logged none."""
        if hasattr(self.client, "search_logged_models"):  # MLflow 3: models are entities
            models = self._call(
                "search logged models",
                self.client.search_logged_models,
                experiment_ids=[experiment_id],
                filter_string=f"source_run_id = '{run_id}'",
            )
            if models:
                newest = max(models, key=lambda m: m.creation_timestamp)
                return f"models:/{newest.model_id}", str(newest.model_id)
        for info in self._call("list artifacts", self.client.list_artifacts, run_id):
            if info.is_dir:
                inner = self._call("list artifacts", self.client.list_artifacts, run_id, info.path)
                if any(f.path.endswith("/MLmodel") for f in inner):
                    return f"runs:/{run_id}/{info.path}", None
        return None

    def version_of_run(self, model: str, run_id: str) -> str | None:
        """The registered version of `model` made from this run, if there is one."""
        found = self._call(
            "search model versions",
            self.client.search_model_versions,
            f"name = '{model}' and run_id = '{run_id}'",
        )
        return max((str(v.version) for v in found), key=int, default=None)

    def register(self, model: str, source: str, run_id: str, model_id: str | None) -> str:
        from mlflow.exceptions import MlflowException

        try:
            with contextlib.redirect_stdout(sys.stderr):
                self.client.get_registered_model(model)
        except MlflowException:
            self._call(f"create model {model}", self.client.create_registered_model, model)
        extra = {"model_id": model_id} if model_id else {}
        version = self._call(
            f"register a version of {model}",
            self.client.create_model_version,
            model,
            source,
            run_id=run_id,
            **extra,
        )
        return str(version.version)

    def alias_version(self, model: str, alias: str) -> str | None:
        from mlflow.exceptions import MlflowException

        try:
            with contextlib.redirect_stdout(sys.stderr):
                return str(self.client.get_model_version_by_alias(model, alias).version)
        except MlflowException:
            return None

    def set_alias(self, model: str, alias: str, version: str) -> None:
        self._call(
            f"set alias {alias} of {model}",
            self.client.set_registered_model_alias,
            model,
            alias,
            version,
        )


def _data(run: Any) -> RunData:
    return RunData(
        run_id=str(run.info.run_id),
        experiment_id=str(run.info.experiment_id),
        status=str(run.info.status),
        start_time=int(run.info.start_time or 0),
        metrics={str(k): float(v) for k, v in run.data.metrics.items()},
        params={str(k): str(v) for k, v in run.data.params.items()},
        tags={str(k): str(v) for k, v in run.data.tags.items()},
    )


def _probe(uri: str, where: str) -> None:
    """An HTTP server that does not answer fails in seconds, not after MLflow's retries."""
    if not uri.startswith(("http://", "https://")):
        return
    parts = urlsplit(uri)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((parts.hostname or "", port), timeout=PROBE_TIMEOUT):
            pass
    except OSError as e:
        raise TrackingError(
            f"the MLflow tracking server {uri} cannot be reached ({e.strerror or e})",
            where=f"{where}.tracking_uri",
            hint="start the server, or fix tracking_uri in mlci.yaml (or MLFLOW_TRACKING_URI)",
        ) from e
