"""Per-example predictions (predictions.csv): load, check the columns, tell the task.

Plots and the noise and slice gates read predictions through here, so a file that does
not fit the task fails once, with the columns it should have.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from mlci.errors import MetricsError

if TYPE_CHECKING:
    import pandas as pd

REQUIRED = ("y_true", "y_pred")


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
    return df


def _columns(df: pd.DataFrame) -> str:
    """The columns found, when they look like column names: a file that is no CSV (a
    path mistyped into train.predictions) must not have its first line echoed."""
    names = [str(c) for c in df.columns]
    if names and len(names) <= 20 and all(re.fullmatch(r"[\w .()-]{1,40}", n) for n in names):
        return "columns: " + ", ".join(names)
    return f"{len(names)} columns that are not y_true and y_pred"


def score_columns(df: pd.DataFrame) -> list[str]:
    return [c for c in df.columns if c == "y_score" or str(c).startswith("score_")]


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
