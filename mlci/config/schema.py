"""What mlci.yaml holds once read: frozen dataclasses with their defaults, and the
names and limits the file is checked against."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from mlci.errors import ConfigError
from mlci.sources import registry

CONFIG_NAME = "mlci.yaml"

REFERENCE_HINT = "see the mlci.yaml reference in README.md"

MAX_TIMEOUT = 30 * 24 * 3600  # 30 days: beyond it timers overflow, and no CI job runs that long

DATASETS = ("iris", "wine", "breast_cancer", "digits", "diabetes")

PLOT_KINDS = ("metrics", "confusion_matrix", "roc", "pr", "residuals", "history", "slices")

REPORT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")

# what feeds training when train.inputs is not given: every tracked file but these
DEFAULT_INPUT_EXCLUDES = ("*.md", "docs/**", ".github/**", "LICENSE*")

BASELINE_SOURCES = ("notes", "mlflow", "files", "retrain")


@dataclass(frozen=True)
class SklearnSpec:
    dataset: str
    model: str
    params: Mapping[str, Any] = field(default_factory=dict)
    test_size: float = 0.25
    seed: int = 0
    where: str = field(default="", compare=False)  # mlci.yaml:line, for errors found later


@dataclass(frozen=True)
class MlflowTrain:
    """train.mlflow: the experiment the training logs to, on the user's tracking server."""

    experiment: str
    tracking_uri: str | None = None  # None: $MLFLOW_TRACKING_URI, else MLflow's default


@dataclass(frozen=True)
class TrainConfig:
    command: tuple[str, ...] | None = None
    sklearn: SklearnSpec | None = None
    metrics: tuple[str, ...] = ()
    params: tuple[str, ...] = ()
    predictions: str | None = None
    plots: tuple[str, ...] = ()
    data: tuple[str, ...] = ()  # files the training reads, fingerprinted in the record
    timeout: float = 3600.0
    env: Mapping[str, str] = field(default_factory=dict)
    shell: bool = False  # run a command string with bash -c (for `a && b`, pipes)
    inputs: tuple[str, ...] = ()  # globs of what feeds training; () means DEFAULT_INPUTS
    cache: bool = True  # reuse a training whose input fingerprint is identical
    mlflow: MlflowTrain | None = None

    def as_dict(self) -> dict[str, Any]:
        """A plain form for record.json and for comparing two trainings."""
        return {
            "command": list(self.command) if self.command else None,
            "sklearn": None
            if self.sklearn is None
            else {
                "dataset": self.sklearn.dataset,
                "model": self.sklearn.model,
                "params": dict(self.sklearn.params),
                "test_size": self.sklearn.test_size,
                "seed": self.sklearn.seed,
            },
            "metrics": list(self.metrics),
            "params": list(self.params),
            "predictions": self.predictions,
            "data": list(self.data),
            "env": dict(self.env),
            "shell": self.shell,
            "inputs": list(self.inputs),
            "mlflow": None
            if self.mlflow is None
            else {"experiment": self.mlflow.experiment, "tracking_uri": self.mlflow.tracking_uri},
        }


@dataclass(frozen=True)
class BaselineConfig:
    ref: str | None = None
    retrain: bool = True
    sources: tuple[str, ...] | None = None  # None: notes, [mlflow,] files, retrain

    def source_order(self, mlflow: bool) -> tuple[str, ...]:
        """The sources to try, in order; mlflow joins after notes when train.mlflow is set."""
        if self.sources is not None:
            return self.sources
        return ("notes", "mlflow", "files", "retrain") if mlflow else ("notes", "files", "retrain")


@dataclass(frozen=True)
class MetricSpec:
    higher_is_better: bool | None = None


@dataclass(frozen=True)
class Bound:
    """A tolerance against the baseline: absolute, or relative to the base value."""

    value: float
    relative: bool = False

    def amount(self, base: float) -> float:
        return abs(base) * self.value / 100 if self.relative else self.value

    def __str__(self) -> str:
        return f"{self.value:g}%" if self.relative else f"{self.value:g}"


@dataclass(frozen=True)
class GateRule:
    metric: str
    min: float | None = None
    max: float | None = None
    max_drop: Bound | None = None
    max_rise: Bound | None = None
    noise: float | None = None  # confidence level of the paired test, None when off
    slices: tuple[str, ...] = ()
    min_slice_size: int = 30
    line: int = 0  # where the rule starts in mlci.yaml, for annotations


@dataclass(frozen=True)
class ReportConfig:
    name: str = "default"
    title: str = "Model report"
    plots: tuple[str, ...] | None = None  # None: what fits the task


@dataclass(frozen=True)
class GithubConfig:
    comment: bool = True
    check: bool = True
    status: bool = True
    summary: bool = True
    assets_branch: str = "mlci-assets"
    assets_keep_days: int = 90  # older images leave the assets branch


@dataclass(frozen=True)
class RegisterConfig:
    """mlflow.register: the registered model and the alias a blessed push moves."""

    model: str
    alias: str = "champion"


@dataclass(frozen=True)
class MlflowConfig:
    register: RegisterConfig | None = None


@dataclass(frozen=True)
class Config:
    path: Path
    train: TrainConfig
    baseline: BaselineConfig = BaselineConfig()
    metrics: Mapping[str, MetricSpec] = field(default_factory=dict)
    precision: int = 4
    gates: tuple[GateRule, ...] = ()
    report: ReportConfig = ReportConfig()
    github: GithubConfig = GithubConfig()
    mlflow: MlflowConfig = MlflowConfig()

    @property
    def root(self) -> Path:
        return self.path.parent

    def higher_is_better(self, metric: str) -> bool:
        """Set in mlci.yaml, else inferred from the name (loss, error, rmse...: lower)."""
        spec = self.metrics.get(metric)
        if spec is not None and spec.higher_is_better is not None:
            return spec.higher_is_better
        return registry.infer_higher_is_better(metric)


def with_report_name(config: Config, name: str | None) -> Config:
    """The config with report.name replaced (--name or MLCI_REPORT_NAME), validated alike."""
    if not name:
        return config
    if not REPORT_NAME.fullmatch(name):
        raise ConfigError(
            f"report name '{name}' may hold only letters, digits, '-' and '_' (at most 64)",
            where="--name / MLCI_REPORT_NAME",
            hint="it becomes the comment marker and the check name",
        )
    return replace(config, report=replace(config.report, name=name))
