"""mlci.yaml: the schema, its defaults and its error messages, in one place.

The file is parsed into YAML nodes first so that every error can name the line of the
bad value; the result is a tree of frozen dataclasses that the stages downstream take
as they are.
"""

from __future__ import annotations

import difflib
import math
import re
import shlex
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, NoReturn

from mlci.errors import ConfigError
from mlci.sources import registry

CONFIG_NAME = "mlci.yaml"
REFERENCE_HINT = "see the mlci.yaml reference in README.md"
MAX_TIMEOUT = 30 * 24 * 3600  # 30 days: beyond it timers overflow, and no CI job runs that long
DATASETS = ("iris", "wine", "breast_cancer", "digits", "diabetes")
PLOT_KINDS = ("metrics", "confusion_matrix", "roc", "pr", "residuals", "history", "slices")
REPORT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")


@dataclass(frozen=True)
class SklearnSpec:
    dataset: str
    model: str
    params: Mapping[str, Any] = field(default_factory=dict)
    test_size: float = 0.25
    seed: int = 0
    where: str = field(default="", compare=False)  # mlci.yaml:line, for errors found later


# what feeds training when train.inputs is not given: every tracked file but these
DEFAULT_INPUT_EXCLUDES = ("*.md", "docs/**", ".github/**", "LICENSE*")
BASELINE_SOURCES = ("notes", "mlflow", "files", "retrain")


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


# --- loading -------------------------------------------------------------------------


def find(root: Path, config: Path | None = None, *, here: Path | None = None) -> Path:
    """The config file to use: --config as given, else mlci.yaml at the repository root.
    When there is none, the error lists the mlci.yaml files below `here` (projects in
    sub-folders)."""
    path = config if config is not None else root / CONFIG_NAME
    if not path.is_file():
        if config is not None:
            missing = "is a directory" if config.is_dir() else "not found"
            raise ConfigError(
                f"config file {config} {missing}", where="--config", hint="check the path"
            )
        start = here or root
        below = [display_path(p) for p in configs_below(start)]
        if below:
            raise ConfigError(
                f"no {CONFIG_NAME} here or above it; found below: " + ", ".join(below),
                where=str(start),
                hint="cd into that project's folder, or pass --config FILE",
            )
        raise ConfigError(
            f"no {CONFIG_NAME} here or above it",
            where=str(start),
            hint="run `mlci init` to write a starter, or pass --config FILE",
        )
    return path


SKIPPED_DIRS = {".git", ".mlci", ".venv", "venv", "node_modules", ".dvc", "__pycache__"}


def configs_below(start: Path, limit: int = 10) -> list[Path]:
    """The mlci.yaml files under start, nearest first (virtualenvs and .git skipped)."""
    import os

    found: list[Path] = []
    for folder, dirs, files in os.walk(start):
        dirs[:] = sorted(d for d in dirs if d not in SKIPPED_DIRS)
        if CONFIG_NAME in files and Path(folder) != start:
            found.append(Path(folder) / CONFIG_NAME)
    found.sort(key=lambda p: (len(p.parts), str(p)))
    return found[:limit]


def load(path: Path) -> Config:
    """Read and validate mlci.yaml; every error names the file, line and key path."""
    import yaml

    from mlci import bounded

    shown = display_path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise ConfigError(
            f"not UTF-8 text (byte {e.object[e.start]:#04x} at offset {e.start})",
            where=shown,
            hint="save mlci.yaml as UTF-8",
        ) from e
    except OSError as e:
        raise ConfigError(
            f"cannot read it: {e.strerror or e}", where=shown, hint="check the file"
        ) from e
    try:
        node = yaml.compose(text, Loader=bounded.yaml_loader())
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"{shown}:{mark.line + 1}" if mark is not None else shown
        problem = bounded.yaml_problem(e)
        raise ConfigError(
            f"YAML syntax error: {problem}", where=where, hint="fix the YAML syntax"
        ) from e
    doc = _Node.wrap(node, path, "", 1)
    return _build(doc, path)


def load_text(text: str, path: Path) -> Config:
    """Validate mlci.yaml as it was at another revision (the baseline's train section)."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / path.name
        copy.write_text(text, encoding="utf-8")
        config = load(copy)
    return Config(**{**config.__dict__, "path": path})


class _Node:
    """A YAML value with its file, line and key path, for errors that point at it."""

    def __init__(self, value: Any, file: Path, key: str, line: int) -> None:
        self.value, self.file, self.key, self.line = value, file, key, line

    @classmethod
    def wrap(cls, node: Any, file: Path, key: str, line: int) -> _Node:
        import yaml

        if node is None:
            return cls({}, file, key, line)
        if not isinstance(node, (yaml.MappingNode, yaml.SequenceNode)) or not key:
            line = node.start_mark.line + 1  # a block mapping or list starts below its key
        if isinstance(node, yaml.MappingNode):
            items: dict[str, _Node] = {}
            for k, v in node.value:
                name = str(yaml.SafeLoader(" ").construct_object(k))
                child = f"{key}.{name}" if key else name
                if name in items:
                    cls(None, file, child, k.start_mark.line + 1).fail("is given twice")
                items[name] = cls.wrap(v, file, child, k.start_mark.line + 1)
            return cls(items, file, key, line)
        if isinstance(node, yaml.SequenceNode):
            seq = [
                cls.wrap(v, file, f"{key}[{i}]", v.start_mark.line + 1)
                for i, v in enumerate(node.value)
            ]
            return cls(seq, file, key, line)
        loader = yaml.SafeLoader("")
        return cls(loader.construct_object(node), file, key, line)

    def where(self) -> str:
        return f"{display_path(self.file)}:{self.line}"

    def fail(self, problem: str, hint: str = REFERENCE_HINT) -> NoReturn:
        raise ConfigError(f"{self.key or 'the document'} {problem}", where=self.where(), hint=hint)

    def mapping(self, allowed: tuple[str, ...]) -> dict[str, _Node]:
        if not isinstance(self.value, dict):
            self.fail(f"must be a mapping, got {_kind(self.value)}")
        for name, child in self.value.items():
            if name not in allowed:
                child.fail("is not a known key", hint=suggest(name, allowed, "allowed"))
        return dict(self.value)

    def text(self) -> str:
        if not isinstance(self.value, str) or not self.value.strip():
            self.fail(f"must be a non-empty string, got {_kind(self.value)}")
        return str(self.value)

    def boolean(self) -> bool:
        if not isinstance(self.value, bool):
            self.fail(f"must be true or false, got {_kind(self.value)}")
        return bool(self.value)

    def number(self, low: float | None = None, high: float | None = None) -> float:
        v = self.value
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            self.fail(f"must be a number, got {_kind(v)}")
        if (low is not None and v < low) or (high is not None and v > high):
            self.fail(
                f"must be between {low:g} and {high:g}, got {v:g}"
                if high is not None
                else f"must be at least {low:g}, got {v:g}"
            )
        return float(v)

    def integer(self, low: int = 0) -> int:
        if isinstance(self.value, bool) or not isinstance(self.value, int):
            self.fail(f"must be a whole number, got {_kind(self.value)}")
        if self.value < low:
            self.fail(f"must be at least {low}, got {self.value}")
        return int(self.value)

    def strings(self) -> tuple[str, ...]:
        """A string or a list of strings."""
        if isinstance(self.value, str):
            return (self.text(),)
        if not isinstance(self.value, list):
            self.fail(f"must be a string or a list of strings, got {_kind(self.value)}")
        return tuple(item.text() for item in self.value)


def suggest(name: str, choices: tuple[str, ...], otherwise: str, n: int = 1) -> str:
    """A did-you-mean for a misspelt name, else the choices there are."""
    close = difflib.get_close_matches(name, choices, n=n)
    if close:
        return "did you mean " + " or ".join(f"'{c}'" for c in close) + "?"
    return f"{otherwise}: " + ", ".join(choices)


def display_path(path: Path) -> str:
    """A path as the user would type it: relative to the working directory when inside it."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except (ValueError, OSError):
        return str(path)


def _kind(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return f"{type(value).__name__} {value!r}"


def _build(doc: _Node, path: Path) -> Config:
    top = doc.mapping(
        ("train", "baseline", "metrics", "precision", "gates", "report", "github", "mlflow")
    )
    if "train" not in top:
        doc.fail("has no 'train' section", hint="add train.command or train.sklearn")
    parts: dict[str, Any] = {"path": path, "train": _train(top["train"])}
    builders: dict[str, Callable[[_Node], Any]] = {
        "baseline": _baseline,
        "metrics": _metrics,
        "gates": _gates,
        "report": _report,
        "github": _github,
        "precision": _precision,
        "mlflow": _mlflow,
    }
    for key, build in builders.items():
        if key in top:
            parts[key] = build(top[key])
    if "mlflow" in top and parts["mlflow"].register is not None and parts["train"].mlflow is None:
        top["mlflow"].value["register"].fail(
            "needs train.mlflow: only a run mlci made in MLflow can be registered",
            hint="add train.mlflow {experiment: NAME}, or remove mlflow.register",
        )
    return Config(**parts)


def _train(node: _Node) -> TrainConfig:
    m = node.mapping(
        (
            "command",
            "sklearn",
            "metrics",
            "params",
            "predictions",
            "plots",
            "data",
            "timeout",
            "env",
            "shell",
            "inputs",
            "cache",
            "mlflow",
        )
    )
    if ("command" in m) == ("sklearn" in m):
        node.fail(
            "must have exactly one of 'command' and 'sklearn'",
            hint="use train.command for your own script or train.sklearn for the built-in one",
        )
    out: dict[str, Any] = {}
    for key in ("shell", "cache"):
        if key in m:
            out[key] = m[key].boolean()
    if "command" in m:
        out["command"] = _command(m["command"], shell=out.get("shell", False))
        if "metrics" not in m and "mlflow" not in m:
            node.fail(
                "needs 'metrics': the file(s) your command writes",
                hint="add train.metrics (or train.mlflow when the command logs to MLflow)",
            )
    else:
        out["sklearn"] = _sklearn(m["sklearn"])
    for key in ("metrics", "params", "plots", "data", "inputs"):
        if key in m:
            out[key] = m[key].strings()
            _inside(m[key])
    if out.get("shell") and "command" not in m:
        m["shell"].fail("needs train.command: the built-in pipeline runs no shell")
    if "mlflow" in m:
        mm = m["mlflow"].mapping(("experiment", "tracking_uri"))
        if "experiment" not in mm:
            m["mlflow"].fail("needs 'experiment': the MLflow experiment the training logs to")
        out["mlflow"] = MlflowTrain(
            experiment=mm["experiment"].text(),
            tracking_uri=mm["tracking_uri"].text() if "tracking_uri" in mm else None,
        )
    if "predictions" in m:
        out["predictions"] = m["predictions"].text()
        _inside(m["predictions"])
    if "timeout" in m:
        out["timeout"] = m["timeout"].number(low=1, high=MAX_TIMEOUT)
    if "env" in m:
        env = m["env"]
        if not isinstance(env.value, dict):
            env.fail(f"must be a mapping of variable names to values, got {_kind(env.value)}")
        values = {}
        for k, v in env.value.items():
            if isinstance(v.value, bool) or not isinstance(v.value, (str, int, float)):
                v.fail(f"must be a string or a number, got {_kind(v.value)}")
            values[k] = str(v.value)
        out["env"] = values
    return TrainConfig(**out)


def _inside(node: _Node) -> None:
    """A path (or each of a list) must not lead out of the repository (mlci.paths)."""
    from mlci import paths

    for item in node.value if isinstance(node.value, list) else [node]:
        if paths.escapes(item.value, node.file.parent):
            item.fail(f"leads outside the repository: {item.value}", hint=paths.HINT)


def _command(node: _Node, *, shell: bool) -> tuple[str, ...]:
    """argv to run: a string split like a shell would (no shell runs it), a list as given,
    or with train.shell the text for `bash -c`."""
    if shell:
        if not isinstance(node.value, str):  # ["python a.py", "python b.py"] is no script
            node.fail(
                "must be one string when train.shell is true: bash runs it as a script",
                hint="write the steps as one string, such as `python a.py && python b.py`",
            )
        return ("bash", "-c", node.text())
    if isinstance(node.value, str):
        text = node.text()
        operator = shell_operator(text)
        if operator is not None:
            named = "a line break" if operator == "\n" else f"the shell operator `{operator}`"
            node.fail(
                f"has {named}, but no shell runs the command",
                hint="set `train.shell: true` to run it with bash -c, or write one command "
                "as a list of words",
            )
        try:  # a backslash at the end of a line continues it, as in a shell
            argv = tuple(shlex.split(text.replace("\\\n", "")))
        except ValueError as e:
            node.fail(f"cannot be split into words: {e}", hint="check the quotes")
        return argv
    argv = node.strings()
    if not argv:
        node.fail("must not be empty")
    return argv


SHELL_OPERATORS = ("&&", "||", "$(", "|", ";", ">", "<", "`", "&", "\n")


def shell_operator(text: str) -> str | None:
    """The first shell operator outside quotes (`&&`, `|`, `>`, `$(`...), else None: as
    arguments it would silently reach the program (`get_data.py && python train.py`), as
    would the second line of a YAML block of two commands."""
    text = text.strip()
    quote: str | None = None
    i = 0
    while i < len(text):
        char = text[i]
        if char == "\\" and quote != "'":
            i += 2
            continue
        if quote is not None:
            quote = None if char == quote else quote
        elif char in "'\"":
            quote = char
        else:
            found = next((op for op in SHELL_OPERATORS if text.startswith(op, i)), None)
            if found is not None:
                return found
        i += 1
    return None


def _sklearn(node: _Node) -> SklearnSpec:
    m = node.mapping(("dataset", "model", "params", "test_size", "seed"))
    for key in ("dataset", "model"):
        if key not in m:
            node.fail(f"needs '{key}'")
    dataset = m["dataset"].text()
    if dataset not in DATASETS:
        m["dataset"].fail(
            f"is not a dataset scikit-learn ships: '{dataset}'",
            hint=suggest(dataset, DATASETS, "choose one of", n=2),
        )
    model = m["model"].text()
    if not re.fullmatch(r"[A-Za-z_][\w]*(\.[A-Za-z_]\w*)+", model):
        m["model"].fail(
            f"must be an import path like sklearn.linear_model.LogisticRegression, got '{model}'"
        )
    params: dict[str, Any] = {}
    if "params" in m:
        pm = m["params"]
        if not isinstance(pm.value, dict):
            pm.fail(f"must be a mapping, got {_kind(pm.value)}")
        params = {k: _plain(v) for k, v in pm.value.items()}
    out: dict[str, Any] = {
        "dataset": dataset,
        "model": model,
        "params": params,
        "where": m["model"].where(),
    }
    if "test_size" in m:
        out["test_size"] = m["test_size"].number(low=0.05, high=0.95)
    if "seed" in m:
        out["seed"] = m["seed"].integer()
    return SklearnSpec(**out)


def _plain(node: _Node) -> Any:
    if isinstance(node.value, dict):
        return {k: _plain(v) for k, v in node.value.items()}
    if isinstance(node.value, list):
        return [_plain(v) for v in node.value]
    return node.value


def _precision(node: _Node) -> int:
    digits = node.integer(low=0)
    if digits > 12:
        node.fail(f"must be at most 12, got {digits}")
    return digits


def _baseline(node: _Node) -> BaselineConfig:
    m = node.mapping(("ref", "retrain", "sources"))
    sources = None
    if "sources" in m:
        sources = m["sources"].strings()
        for name in sources:
            if name not in BASELINE_SOURCES:
                m["sources"].fail(
                    f"'{name}' is not a baseline source",
                    hint=suggest(name, BASELINE_SOURCES, "choose from"),
                )
        if len(set(sources)) != len(sources):
            m["sources"].fail("names a source twice")
    return BaselineConfig(
        ref=m["ref"].text() if "ref" in m else None,
        retrain=m["retrain"].boolean() if "retrain" in m else True,
        sources=sources,
    )


def _metrics(node: _Node) -> dict[str, MetricSpec]:
    if not isinstance(node.value, dict):
        node.fail(f"must be a mapping of metric names, got {_kind(node.value)}")
    out = {}
    for name, spec in node.value.items():
        m = spec.mapping(("higher_is_better",))
        hib = m["higher_is_better"].boolean() if "higher_is_better" in m else None
        out[name] = MetricSpec(higher_is_better=hib)
    return out


def _bound(node: _Node) -> Bound:
    v = node.value
    if isinstance(v, str):
        match = re.fullmatch(r"(\d+(?:\.\d+)?)%", v.strip())
        if not match:
            node.fail(
                f"must be a number or a percentage like \"2%\", got '{v}'",
                hint='write 0.01 for an absolute bound or "2%" relative to the baseline',
            )
        return Bound(float(match.group(1)), relative=True)
    value = node.number()
    if value < 0:
        node.fail(f"must not be negative, got {value:g}", hint="bounds are sizes of a change")
    return Bound(value)


def _gates(node: _Node) -> tuple[GateRule, ...]:
    if not isinstance(node.value, list):
        node.fail(f"must be a list of rules, got {_kind(node.value)}")
    return tuple(_gate(item) for item in node.value)


def _gate(node: _Node) -> GateRule:
    m = node.mapping(
        ("metric", "min", "max", "max_drop", "max_rise", "noise", "slices", "min_slice_size")
    )
    if "metric" not in m:
        node.fail("needs 'metric': the name of the metric the rule checks")
    out: dict[str, Any] = {"metric": m["metric"].text(), "line": node.line}
    if not any(k in m for k in ("min", "max", "max_drop", "max_rise")):
        node.fail("needs a bound: min, max, max_drop or max_rise")
    for key in ("min", "max"):
        if key in m:
            out[key] = m[key].number()
    if out.get("min") is not None and out.get("max") is not None and out["min"] > out["max"]:
        m["min"].fail(f"({out['min']:g}) is greater than max ({out['max']:g})")
    for key in ("max_drop", "max_rise"):
        if key in m:
            out[key] = _bound(m[key])
    if "noise" in m:
        n = m["noise"]
        if isinstance(n.value, bool):
            out["noise"] = 0.95 if n.value else None
        else:
            conf = n.number()
            if not 0 < conf < 1:
                n.fail(f"must be true, false or a confidence in (0, 1), got {conf:g}")
            out["noise"] = conf
    if "slices" in m:
        out["slices"] = m["slices"].strings()
    if "min_slice_size" in m:
        out["min_slice_size"] = m["min_slice_size"].integer(low=1)
    return GateRule(**out)


def _report(node: _Node) -> ReportConfig:
    m = node.mapping(("name", "title", "plots"))
    out: dict[str, Any] = {}
    if "name" in m:
        name = m["name"].text()
        if not REPORT_NAME.fullmatch(name):
            m["name"].fail(
                f"'{name}' may hold only letters, digits, '-' and '_' (at most 64)",
                hint="it becomes the comment marker and the check name",
            )
        out["name"] = name
    if "title" in m:
        out["title"] = m["title"].text()
    if "plots" in m:
        plots = m["plots"].strings() if m["plots"].value != [] else ()
        for i, kind in enumerate(plots):
            if kind not in PLOT_KINDS:
                hint = suggest(kind, PLOT_KINDS, "choose from")
                item = m["plots"].value[i] if isinstance(m["plots"].value, list) else m["plots"]
                item.fail(f"'{kind}' is not a plot mlci makes", hint=hint)
        out["plots"] = plots
    return ReportConfig(**out)


def _github(node: _Node) -> GithubConfig:
    m = node.mapping(("comment", "check", "status", "summary", "assets_branch", "assets_keep_days"))
    out: dict[str, Any] = {
        k: m[k].boolean() for k in ("comment", "check", "status", "summary") if k in m
    }
    if "assets_branch" in m:
        out["assets_branch"] = m["assets_branch"].text()
    if "assets_keep_days" in m:
        out["assets_keep_days"] = m["assets_keep_days"].integer(low=1)
    return GithubConfig(**out)


def _mlflow(node: _Node) -> MlflowConfig:
    m = node.mapping(("register",))
    if "register" not in m:
        return MlflowConfig()
    r = m["register"].mapping(("model", "alias"))
    if "model" not in r:
        m["register"].fail("needs 'model': the registered model name")
    return MlflowConfig(
        register=RegisterConfig(
            model=r["model"].text(), alias=r["alias"].text() if "alias" in r else "champion"
        )
    )
