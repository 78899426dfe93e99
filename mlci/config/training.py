"""The train section of mlci.yaml: the user's command or the built-in scikit-learn
pipeline, and the files, environment and limits of the training."""

from __future__ import annotations

import re
import shlex
from typing import Any

from mlci.config.node import Node, kind, suggest
from mlci.config.schema import DATASETS, MAX_TIMEOUT, MlflowTrain, SklearnSpec, TrainConfig


def train(node: Node) -> TrainConfig:
    """The train section: exactly one of command and sklearn, and what the training reads."""
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
            env.fail(f"must be a mapping of variable names to values, got {kind(env.value)}")
        values = {}
        for k, v in env.value.items():
            if isinstance(v.value, bool) or not isinstance(v.value, (str, int, float)):
                v.fail(f"must be a string or a number, got {kind(v.value)}")
            values[k] = str(v.value)
        out["env"] = values
    return TrainConfig(**out)


def _inside(node: Node) -> None:
    """A path (or each of a list) must not lead out of the repository (mlci.paths)."""
    from mlci import paths

    for item in node.value if isinstance(node.value, list) else [node]:
        if paths.escapes(item.value, node.file.parent):
            item.fail(f"leads outside the repository: {item.value}", hint=paths.HINT)


def _command(node: Node, *, shell: bool) -> tuple[str, ...]:
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


def _sklearn(node: Node) -> SklearnSpec:
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
            pm.fail(f"must be a mapping, got {kind(pm.value)}")
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


def _plain(node: Node) -> Any:
    if isinstance(node.value, dict):
        return {k: _plain(v) for k, v in node.value.items()}
    if isinstance(node.value, list):
        return [_plain(v) for v in node.value]
    return node.value
