"""Per-example predictions (predictions.csv): load, check the columns, tell the task.

Plots and the noise and slice gates read predictions through here, so a file that does
not fit the task fails once, with the columns it should have.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from mlci.errors import MetricsError

if TYPE_CHECKING:
    import pandas as pd

# the columns of predictions.csv; every other column describes the example (a slice)
ID, TRUTH, PREDICTED, SCORE = "id", "y_true", "y_pred", "y_score"
SCORE_PREFIX = "score_"  # score_<class>: one probability column per class
REQUIRED = (TRUTH, PREDICTED)
RESERVED = (ID, TRUTH, PREDICTED, SCORE)


def load(path: Path, *, side: str) -> pd.DataFrame:
    """Read a predictions file; `side` ("head", "base") names it in errors."""
    import pandas as pd

    try:
        df = pd.read_csv(path)
    except (OSError, ValueError) as e:
        raise MetricsError(
            f"cannot read the {side} predictions: {e}",
            where=str(path),
            hint="write a CSV with a header row: y_true, y_pred, and y_score or score_<class>",
        ) from e
    missing = [c for c in REQUIRED if c not in df.columns]
    if missing:
        raise MetricsError(
            f"the {side} predictions lack the column{'s' if len(missing) > 1 else ''} "
            f"{', '.join(missing)} ({_columns(df)})",
            where=str(path),
            hint="expected y_true, y_pred, and for classification y_score (binary) or "
            "score_<class> per class; other columns are slices",
        )
    return _checked(df, path)


SUM_TOLERANCE = 0.01  # class scores rounded when written still count as summing to 1


def _checked(df: pd.DataFrame, path: Path) -> pd.DataFrame:
    """Refuse what scikit-learn would refuse (or silently misrank), naming column and rows.

    Empty or infinite scores, infinite y_true/y_pred, score_<class> columns whose rows do
    not sum to 1. Rows that sum to 1 within SUM_TOLERANCE are rescaled to sum to 1 exactly.
    """
    import numpy as np
    import pandas as pd

    scores = score_columns(df)
    for column in [*REQUIRED, *scores]:
        values = df[column]
        if column in scores:
            numbers = pd.to_numeric(values, errors="coerce")
            bad = int((numbers.isna() & values.notna()).sum())
            if bad:
                _refuse(path, column, bad, len(df), "are not numbers")
            empty = int(values.isna().sum())
            if empty:
                _refuse(path, column, empty, len(df), "are empty")
        elif not pd.api.types.is_numeric_dtype(values):
            continue
        infinite = int(np.isinf(df[column].to_numpy(float)).sum())
        if infinite:
            _refuse(path, column, infinite, len(df), "are infinite")
    classes = [c for c in scores if c != "y_score"]
    if len(classes) >= 2:
        matrix = df[classes].to_numpy(float)
        total = matrix.sum(axis=1)
        off = np.abs(total - 1) > SUM_TOLERANCE + 1e-9
        if off.any():
            first = int(np.argmax(off))
            _refuse(
                path,
                ", ".join(classes),
                int(off.sum()),
                len(df),
                f"do not sum to 1 (row {first + 1}: {total[first]:.4g})",
                hint="write class probabilities (e.g. predict_proba), one score_<class> "
                "column per class",
            )
        df = df.copy()
        df[classes] = matrix / total[:, None]
    return df


def _refuse(
    path: Path,
    column: str,
    rows: int,
    total: int,
    what: str,
    hint: str = "write a number in every row (a score is a probability in [0, 1])",
) -> NoReturn:
    raise MetricsError(
        f"{rows} of {total} rows of {column} {what}",
        where=str(path),
        hint=hint,
    )


def _columns(df: pd.DataFrame) -> str:
    """The columns found, when they look like column names: a file that is no CSV (a
    path mistyped into train.predictions) must not have its first line echoed."""
    names = [str(c) for c in df.columns]
    if names and len(names) <= 20 and all(re.fullmatch(r"[\w .()-]{1,40}", n) for n in names):
        return "columns: " + ", ".join(names)
    return f"{len(names)} columns that are not y_true and y_pred"


def score_columns(df: pd.DataFrame) -> list[str]:
    return [c for c in df.columns if c == SCORE or str(c).startswith(SCORE_PREFIX)]


def class_columns(df: pd.DataFrame) -> dict[str, str]:
    """{class label: its score_<class> column}."""
    return {
        str(c)[len(SCORE_PREFIX) :]: str(c) for c in df.columns if str(c).startswith(SCORE_PREFIX)
    }


def slice_columns(df: pd.DataFrame) -> list[str]:
    """The columns that describe examples rather than predictions."""
    return [str(c) for c in df.columns if c not in RESERVED and not str(c).startswith(SCORE_PREFIX)]


def label(value: object) -> str:
    """How a class prints and names its score_<class> column: 1.0 (read from a CSV) -> '1'."""
    import numpy as np

    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value)


def task_of(df: pd.DataFrame, hint: str | None = None) -> str:
    """classification or regression: from the record when it says, else from the values."""
    if hint in ("classification", "regression"):
        return hint
    if score_columns(df):
        return "classification"
    import pandas as pd

    y = df["y_true"]
    if not pd.api.types.is_numeric_dtype(y):
        return "classification"
    integral = bool((y.dropna() % 1 == 0).all())
    return "classification" if integral and y.nunique() <= 50 else "regression"


def check_task(df: pd.DataFrame, task: str, path: Path) -> None:
    """Regression predictions must be numbers; say which columns a task expects."""
    import pandas as pd

    if task == "regression":
        bad = [c for c in REQUIRED if not pd.api.types.is_numeric_dtype(df[c])]
        if bad:
            raise MetricsError(
                f"regression predictions need numeric {', '.join(bad)}",
                where=str(path),
                hint="write numbers in y_true and y_pred (the target and the prediction)",
            )
