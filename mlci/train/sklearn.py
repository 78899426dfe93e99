"""The built-in pipeline: a dataset scikit-learn ships, one estimator, a seeded split.

It writes the same files a user's command would (metrics.json, predictions.csv, a model),
so every later stage treats both alike. numpy, pandas and scikit-learn are imported inside
the functions that use them, so importing this module stays cheap.
"""

from __future__ import annotations

import difflib
import importlib
import inspect
import json
import pickle
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from mlci import output
from mlci.config import SklearnSpec
from mlci.errors import ConfigError
from mlci.sources import registry

MODEL_KEY = "train.sklearn.model"
PARAMS_KEY = "train.sklearn.params"
MAX_CLASSES = 50  # more distinct integer targets than this is a regression


@dataclass(frozen=True)
class SklearnRun:
    metrics: dict[str, float]
    params: dict[str, object]
    task: str  # "classification" | "regression"
    duration: float


@dataclass(frozen=True)
class _Split:
    x_train: Any
    x_test: Any
    y_train: Any
    y_test: Any
    ids_test: Any


def run_sklearn(
    spec: SklearnSpec, *, out_dir: Path, log_path: Path, label: str = "training"
) -> SklearnRun:
    """Train and evaluate spec's estimator; write metrics.json, predictions.csv, model.pkl."""
    start = time.monotonic()
    out_dir.mkdir(parents=True, exist_ok=True)
    with _log_to(log_path, label) as log:
        cls = load_estimator_class(spec.model)
        x, y = _load_dataset(spec.dataset)
        task = infer_task(y)
        log(f"dataset {spec.dataset}: {x.shape[0]} rows x {x.shape[1]} features, {task}")
        estimator = _build(cls, spec, task)
        log(f"estimator {estimator!r}")
        split = _split(x, y, spec, task)
        log(f"split: {len(split.y_train)} train, {len(split.y_test)} test, seed {spec.seed}")
        log(f"fit took {_fit(estimator, split, spec.model, log):.2f}s")
        metrics, predictions = _evaluate(estimator, split, task)
        for name in sorted(metrics):
            log(f"{name} = {metrics[name]:.6g}")
        _write_outputs(out_dir, metrics, predictions, estimator)
    return SklearnRun(metrics, _flat_params(spec, estimator), task, time.monotonic() - start)


def load_estimator_class(path: str) -> type:
    """The class that `path` names; a ConfigError with a did-you-mean when there is none."""
    module_name, _, name = path.rpartition(".")
    if not module_name:
        raise ConfigError(
            f"'{path}' is not an import path",
            where=MODEL_KEY,
            hint="write it like sklearn.linear_model.LogisticRegression",
        )
    module = _import_module(module_name, name)
    obj = getattr(module, name, None)
    if obj is None:
        raise ConfigError(
            f"unknown estimator class {name} in {module_name}",
            where=MODEL_KEY,
            hint=_class_hint(module, name),
        )
    if not isinstance(obj, type) or not callable(getattr(obj, "fit", None)):
        raise ConfigError(
            f"{path} is not an estimator class (it has no fit method)",
            where=MODEL_KEY,
            hint="name a class such as sklearn.ensemble.RandomForestClassifier",
        )
    return obj


def infer_task(target: Any) -> str:
    """Classification for labels (few distinct integers or strings), else regression."""
    import numpy as np

    y = np.asarray(target)
    if y.dtype.kind == "f" and not np.all(np.mod(y, 1) == 0):
        return "regression"
    if y.dtype.kind in "OUSb" or len(np.unique(y)) <= MAX_CLASSES:
        return "classification"
    return "regression"


def _import_module(module_name: str, class_name: str) -> ModuleType:
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as e:
        if e.name and (module_name + ".").startswith(e.name + "."):
            raise ConfigError(
                f"unknown module {module_name}",
                where=MODEL_KEY,
                hint=_module_hint(module_name, class_name),
            ) from e
        raise ConfigError(
            f"cannot import {module_name}: {e}",
            where=MODEL_KEY,
            hint=f"install the package {e.name} into the environment mlci runs in",
        ) from e
    except ImportError as e:
        raise ConfigError(
            f"cannot import {module_name}: {e}",
            where=MODEL_KEY,
            hint="check that the module imports cleanly",
        ) from e


def _class_hint(module: ModuleType, name: str) -> str:
    elsewhere = _estimator_paths(name)
    if elsewhere:
        return "did you mean " + " or ".join(elsewhere) + "?"
    classes = [n for n, v in vars(module).items() if isinstance(v, type) and n[:1] != "_"]
    close = difflib.get_close_matches(name, classes, n=3)
    if close:
        return "did you mean " + " or ".join(f"{module.__name__}.{c}" for c in close) + "?"
    return f"check the class name; {module.__name__} has no class by that name"


def _module_hint(module_name: str, class_name: str) -> str:
    elsewhere = _estimator_paths(class_name)
    if elsewhere:
        return "did you mean " + " or ".join(elsewhere) + "?"
    import pkgutil

    import sklearn

    modules = [
        f"sklearn.{m.name}"
        for m in pkgutil.iter_modules(sklearn.__path__)
        if m.name[:1] != "_" and m.name not in ("tests", "conftest", "experimental")
    ]
    close = difflib.get_close_matches(module_name, modules, n=3)
    if close:
        return "did you mean " + " or ".join(close) + "?"
    return "check the module name; it must be importable in the environment mlci runs in"


def _estimator_paths(class_name: str) -> list[str]:
    """Where scikit-learn's public estimators of that exact name live (slow: error path only)."""
    from sklearn.utils import all_estimators

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        found = [cls for name, cls in all_estimators() if name == class_name]
    return [f"{_public_module(cls)}.{class_name}" for cls in found]


def _public_module(cls: type) -> str:
    """The shortest public module that exports cls (sklearn.ensemble, not ._forest)."""
    public = [p for p in cls.__module__.split(".") if p[:1] != "_"]
    for end in range(2, len(public) + 1):
        prefix = ".".join(public[:end])
        if getattr(importlib.import_module(prefix), cls.__name__, None) is cls:
            return prefix
    return cls.__module__


def _load_dataset(name: str) -> tuple[Any, Any]:
    import sklearn.datasets

    loader = getattr(sklearn.datasets, f"load_{name}", None)
    if loader is None:
        raise ConfigError(
            f"unknown dataset {name}",
            where="train.sklearn.dataset",
            hint="choose one of iris, wine, breast_cancer, digits, diabetes",
        )
    x, y = loader(return_X_y=True)
    return x, y


def _build(cls: type, spec: SklearnSpec, task: str) -> Any:
    from sklearn.base import is_classifier, is_regressor

    params = dict(spec.params)
    if "random_state" not in params and _accepts(cls, "random_state"):
        params["random_state"] = spec.seed
    try:
        estimator = cls(**params)
    except (TypeError, ValueError) as e:
        raise _params_error(spec.model, e) from e
    fits, wrong = (
        ("classifier", is_regressor) if task == "classification" else ("regressor", is_classifier)
    )
    if wrong(estimator):
        raise ConfigError(
            f"{spec.model} is not a {fits} but {spec.dataset} is a {task} dataset",
            where=MODEL_KEY,
            hint=f"choose a {fits}",
        )
    return estimator


def _accepts(cls: type, name: str) -> bool:
    try:
        return name in inspect.signature(cls).parameters
    except (TypeError, ValueError):
        return False


def _params_error(model: str, e: Exception) -> ConfigError:
    return ConfigError(
        f"{model} rejected its params: {str(e).rstrip('.')}",
        where=PARAMS_KEY,
        hint="fix train.sklearn.params in mlci.yaml",
    )


def _split(x: Any, y: Any, spec: SklearnSpec, task: str) -> _Split:
    import numpy as np
    from sklearn.model_selection import train_test_split

    ids = np.arange(len(y))
    x_tr, x_te, y_tr, y_te, _, ids_te = train_test_split(
        x,
        y,
        ids,
        test_size=spec.test_size,
        random_state=spec.seed,
        stratify=y if task == "classification" else None,
    )
    return _Split(x_tr, x_te, y_tr, y_te, ids_te)


def _fit(estimator: Any, split: _Split, model: str, log: Callable[[str], None]) -> float:
    """Fit and return the seconds it took; warnings go to the log, not straight to stderr."""
    start = time.monotonic()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")
        try:
            estimator.fit(split.x_train, split.y_train)
        except (TypeError, ValueError) as e:
            raise _params_error(model, e) from e
    for w in caught:
        log(f"warning: {w.category.__name__}: {w.message}")
    return time.monotonic() - start


def _evaluate(estimator: Any, split: _Split, task: str) -> tuple[dict[str, float], Any]:
    """The metrics and the per-example predictions table, rows in dataset order."""
    import pandas as pd

    y_pred = estimator.predict(split.x_test)
    table = pd.DataFrame({"id": split.ids_test, "y_true": split.y_test, "y_pred": y_pred})
    if task == "regression":
        metrics = _regression_metrics(split.y_test, y_pred)
    else:
        proba = estimator.predict_proba(split.x_test) if _has(estimator, "predict_proba") else None
        scores = proba
        if scores is None and _has(estimator, "decision_function"):
            scores = estimator.decision_function(split.x_test)
        classes = list(estimator.classes_)
        metrics = _classification_metrics(split.y_test, y_pred, proba, scores, classes)
        if proba is not None:
            table = _with_scores(table, proba, classes)
    return metrics, table.sort_values("id", kind="stable").reset_index(drop=True)


def _has(estimator: Any, method: str) -> bool:
    try:
        return callable(getattr(estimator, method, None))
    except AttributeError:  # sklearn's available_if raises for a method this config lacks
        return False


def _with_scores(table: Any, proba: Any, classes: list[Any]) -> Any:
    if len(classes) == 2:
        return table.assign(y_score=proba[:, 1])
    return table.assign(**{f"score_{c}": proba[:, i] for i, c in enumerate(classes)})


def _classification_metrics(
    y_true: Any, y_pred: Any, proba: Any, scores: Any, classes: list[Any]
) -> dict[str, float]:
    from sklearn import metrics as m

    out = {name: registry.sklearn_score(name, y_true, y_pred) for name in registry.LABEL_METRICS}
    if scores is not None:
        auc = _roc_auc(y_true, scores, classes)
        if auc is not None:
            out[registry.ROC_AUC] = auc
    if proba is not None:
        out[registry.LOG_LOSS] = m.log_loss(y_true, proba, labels=classes)
    return {k: float(v) for k, v in out.items()}


def _roc_auc(y_true: Any, scores: Any, classes: list[Any]) -> float | None:
    """Binary: on the positive class's score; multiclass: one-vs-rest, macro-averaged."""
    import numpy as np
    from sklearn.metrics import roc_auc_score
    from sklearn.preprocessing import label_binarize

    scores = np.asarray(scores)
    try:
        if len(classes) == 2:
            positive = scores[:, 1] if scores.ndim == 2 else scores
            return float(roc_auc_score(np.asarray(y_true) == classes[1], positive))
        onehot = label_binarize(y_true, classes=classes)
        return float(roc_auc_score(onehot, scores, average="macro"))
    except ValueError:  # a class absent from the test split: AUC is undefined
        return None


def _regression_metrics(y_true: Any, y_pred: Any) -> dict[str, float]:
    names = registry.REGRESSION_METRICS
    return {name: registry.sklearn_score(name, y_true, y_pred) for name in names}


def _write_outputs(
    out_dir: Path, metrics: dict[str, float], predictions: Any, estimator: Any
) -> None:
    text = json.dumps(metrics, sort_keys=True, indent=2) + "\n"
    (out_dir / "metrics.json").write_text(text, encoding="utf-8")
    # pandas writes floats as repr does: the shortest text that reads back the same number
    predictions.to_csv(out_dir / "predictions.csv", index=False, lineterminator="\n")
    with (out_dir / "model.pkl").open("wb") as f:
        pickle.dump(estimator, f, protocol=pickle.HIGHEST_PROTOCOL)


def _flat_params(spec: SklearnSpec, estimator: Any) -> dict[str, object]:
    out: dict[str, object] = {
        "dataset": spec.dataset,
        "model": spec.model,
        "test_size": spec.test_size,
        "seed": spec.seed,
    }
    for name, value in spec.params.items():
        out[f"model_params.{name}"] = value
    for name, value in sorted(estimator.get_params(deep=True).items()):
        plain = _json_value(value)
        if plain is not _SKIP:
            out[f"estimator.{name}"] = plain
    return out


_SKIP = object()


def _json_value(value: Any) -> Any:
    """value as plain JSON (tuples as lists, numpy scalars as numbers), or _SKIP."""
    try:
        return json.loads(json.dumps(value, allow_nan=False, default=_numpy_scalar))
    except (TypeError, ValueError):
        return _SKIP


def _numpy_scalar(value: Any) -> Any:
    import numpy as np

    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON: {type(value).__name__}")


@contextmanager
def _log_to(log_path: Path, label: str) -> Iterator[Callable[[str], None]]:
    """A log function that writes each line to train.log and shows it (unless -q)."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("w", encoding="utf-8") as f:

        def log(line: str) -> None:
            f.write(line + "\n")
            f.flush()
            output.info(f"{label}: {line}")

        yield log
