"""mlci.yaml: the schema, its defaults and its error messages, in one place.

The file is parsed into YAML nodes first so that every error can name the line of the
bad value; the result is a tree of frozen dataclasses that the stages downstream take
as they are. This package's public face is below; its modules are schema (the
dataclasses), load (finding and reading the file), node (values with their lines),
training and sections (each section built from its nodes).
"""

from mlci.config.load import find, load, load_text
from mlci.config.node import display_path
from mlci.config.schema import (
    CONFIG_NAME,
    DEFAULT_INPUT_EXCLUDES,
    PLOT_KINDS,
    BaselineConfig,
    Bound,
    Config,
    GateRule,
    GithubConfig,
    MetricSpec,
    MlflowConfig,
    MlflowTrain,
    RegisterConfig,
    ReportConfig,
    SklearnSpec,
    TrainConfig,
    with_report_name,
)
from mlci.config.training import shell_operator

__all__ = [
    "CONFIG_NAME",
    "DEFAULT_INPUT_EXCLUDES",
    "PLOT_KINDS",
    "BaselineConfig",
    "Bound",
    "Config",
    "GateRule",
    "GithubConfig",
    "MetricSpec",
    "MlflowConfig",
    "MlflowTrain",
    "RegisterConfig",
    "ReportConfig",
    "SklearnSpec",
    "TrainConfig",
    "display_path",
    "find",
    "load",
    "load_text",
    "shell_operator",
    "with_report_name",
]
