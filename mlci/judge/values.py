"""A metric's value from prediction columns, as the built-in pipeline computes it, and why
it cannot be computed from a given file.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

from mlci.errors import MetricsError
from mlci.sources import predictions
from mlci.sources.registry import (
    LOG_LOSS,
    METRICS,
    REGRESSION_METRICS,
    ROC_AUC,
    SCORE_METRICS,
    sklearn_score,
)

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    from numpy.typing import NDArray

    from mlci.judge.arrays import FloatArray


def supported(metric: str, df: pd.DataFrame) -> bool:
    """Whether `metric_value` can compute `metric` from these columns."""
    return unsupported(metric, df) is None


def metric_value(metric: str, df: pd.DataFrame) -> float:
    """The metric as the built-in pipeline computes it (sklearn.metrics)."""
    reason = unsupported(metric, df)
    if reason is not None:
        raise MetricsError(
            f"cannot compute {metric} from the predictions: {reason}",
            where="train.predictions",
            hint="write y_true, y_pred and, for roc_auc/log_loss, y_score or score_<class>",
        )
    try:
        with warnings.catch_warnings():  # e.g. an absent class: the value is still defined
            warnings.simplefilter("ignore")
            return _sklearn_value(metric, df)
    except ValueError as e:
        raise MetricsError(
            f"cannot compute {metric} from the predictions: {e}", where="train.predictions"
        ) from e


def unsupported(metric: str, df: pd.DataFrame) -> str | None:
    """Why `metric_value` cannot compute `metric` from these columns, or None."""
    import numpy as np
    import pandas as pd

    if metric not in METRICS:
        return f"not a per-example metric mlci knows (known: {', '.join(METRICS)})"
    need = ("y_true",) if metric in SCORE_METRICS else ("y_true", "y_pred")
    for column in need:
        if column not in df.columns:
            return f"no {column} column"
        if df[column].isna().any():
            return f"{int(df[column].isna().sum())} empty cells in {column}"
    if not len(df):
        return "no rows"
    if metric in REGRESSION_METRICS:
        if not all(pd.api.types.is_numeric_dtype(df[c]) for c in need):
            return "y_true and y_pred must be numbers"
        for column in need:
            infinite = int(np.sum(~np.isfinite(df[column].to_numpy(float))))
            if infinite:
                return f"{infinite} infinite values in {column}"
        return None
    for column in need:
        if _continuous(df[column]):
            return f"{column} holds non-integer numbers (regression: use rmse, mae or r2)"
    if metric in SCORE_METRICS:
        return _score_problem(metric, df)
    return None


def _score_problem(metric: str, df: pd.DataFrame) -> str | None:
    """Why the class scores cannot give this metric, as scikit-learn would refuse it."""
    import numpy as np

    probs = probabilities(df)
    if probs is None:
        present = [predictions.label(v) for v in np.unique(df["y_true"].to_numpy())]
        have = set(predictions.class_columns(df))
        lacking = [f"score_{k}" for k in present if k not in have]
        if "y_score" in df.columns or not have or not lacking:
            return "needs y_score (binary) or a score_<class> column for every class of y_true"
        return f"no {', '.join(lacking)} column for a class of y_true"
    labels, matrix = probs
    if not np.all(np.isfinite(matrix)):
        return "the scores hold empty or infinite values"
    if metric == ROC_AUC:
        y = df["y_true"].to_numpy()
        counts = [int(np.sum(y == label)) for label in labels]
        absent = [predictions.label(v) for v, c in zip(labels, counts, strict=True) if c == 0]
        if absent or len(labels) < 2:
            named = ", ".join(absent) or predictions.label(labels[0])
            return f"class {named} has no example in y_true"
        if len(labels) == 2 and min(counts) == len(y):
            return "only one class in y_true"
    return None


def _continuous(values: pd.Series) -> bool:
    import numpy as np
    import pandas as pd

    if not pd.api.types.is_float_dtype(values):
        return False
    array = values.to_numpy(float)
    return bool(np.any(array != np.round(array)))


def probabilities(df: pd.DataFrame) -> tuple[NDArray[np.generic], FloatArray] | None:
    """The classes (sorted, y_true's type) and a probability column per class."""
    import numpy as np

    y = df["y_true"].to_numpy()
    present = np.unique(y)
    if "y_score" in df.columns and len(present) <= 2:
        labels = (
            np.unique(np.concatenate([y, df["y_pred"].to_numpy()]))
            if ("y_pred" in df.columns and len(present) < 2)
            else present
        )
        if len(labels) == 2:
            score = df["y_score"].to_numpy(float)
            return labels, np.column_stack([1 - score, score])
    columns = predictions.class_columns(df)
    classes = {predictions.label(v): v for v in present}
    if len(columns) < 2 or not set(classes) <= set(columns):
        return None
    try:
        labels = np.array(sorted(_typed(k, y) for k in columns))
    except ValueError:
        return None
    matrix = df[[columns[predictions.label(v)] for v in labels]].to_numpy(float)
    return labels, matrix


def _typed(key: str, y: NDArray[np.generic]) -> Any:
    import numpy as np

    if np.issubdtype(y.dtype, np.integer):
        return int(key)
    if np.issubdtype(y.dtype, np.floating):
        return float(key)
    return key


def _sklearn_value(metric: str, df: pd.DataFrame) -> float:
    from sklearn import metrics as skm

    y = df["y_true"].to_numpy()
    if metric in SCORE_METRICS:
        probs = probabilities(df)
        assert probs is not None
        labels, matrix = probs
        if metric == LOG_LOSS:
            return float(skm.log_loss(y, matrix, labels=labels))
        if len(labels) == 2:
            return float(skm.roc_auc_score(y == labels[1], matrix[:, 1]))
        return float(
            skm.roc_auc_score(y, matrix, multi_class="ovr", average="macro", labels=labels)
        )
    return sklearn_score(metric, y, df["y_pred"].to_numpy())
