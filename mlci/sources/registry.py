"""The metric names mlci knows, and which way each is better, in one place.

The built-in scikit-learn pipeline writes these metrics and the noise tests recompute
them from the predictions, so both take the names (and the scikit-learn call behind a
label or regression metric) from here. Stdlib only at the top: config.py asks for a
metric's direction on every command.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable
from typing import Any

LABEL_METRICS = ("accuracy", "balanced_accuracy", "f1_macro", "precision_macro", "recall_macro")
ROC_AUC = "roc_auc"
LOG_LOSS = "log_loss"
SCORE_METRICS = (ROC_AUC, LOG_LOSS)  # from class scores: y_score or score_<class>
REGRESSION_METRICS = ("rmse", "mae", "r2")
METRICS = LABEL_METRICS + SCORE_METRICS + REGRESSION_METRICS
PROPORTIONS = frozenset((*LABEL_METRICS, ROC_AUC))  # bounded in [0, 1]: shown in pp
LOWER_IS_BETTER = ("loss", "error", "rmse", "mae", "mse", "latency", "time")

_WORDS = re.compile(r"[^a-z0-9]+")


def infer_higher_is_better(metric: str) -> bool:
    """The direction of a metric mlci.yaml does not set, from the words of its name."""
    return not any(_lower_word(w) for w in _WORDS.split(metric.lower()))


@functools.lru_cache(maxsize=4096)
def _lower_word(word: str) -> bool:
    """A name part that means lower is better: val_loss, rmse, latency_ms, train_time."""
    return word.startswith(LOWER_IS_BETTER) or word.endswith(LOWER_IS_BETTER)


def sklearn_score(metric: str, y_true: Any, y_pred: Any) -> float:
    """A label or regression metric from true and predicted values, as scikit-learn
    computes it: one call per name, so training and the noise tests agree."""
    from sklearn import metrics as skm

    if metric == "rmse":
        return math.sqrt(float(skm.mean_squared_error(y_true, y_pred)))
    simple: dict[str, Callable[..., float]] = {
        "accuracy": skm.accuracy_score,
        "balanced_accuracy": skm.balanced_accuracy_score,
        "mae": skm.mean_absolute_error,
        "r2": skm.r2_score,
    }
    if metric in simple:
        return float(simple[metric](y_true, y_pred))
    macro = {
        "f1_macro": skm.f1_score,
        "precision_macro": skm.precision_score,
        "recall_macro": skm.recall_score,
    }[metric]
    return float(macro(y_true, y_pred, average="macro", zero_division=0))
