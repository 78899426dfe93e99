"""What the prediction figures need of a frame: its required columns, and class labels as
the text they print as and match score_<class> columns by."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from mlci.errors import MetricsError
from mlci.sources.predictions import label


def label_key(value: object) -> tuple[int, float, str]:
    """Numbers in numeric order, then strings: 2 < 10, and '2' < '10' too."""
    text = label(value)
    try:
        return (0, float(text), text)
    except ValueError:
        return (1, 0.0, text)


def require(df: pd.DataFrame, columns: Sequence[str], side: str) -> pd.DataFrame:
    """df without the rows missing a required column; a missing column is the user's error."""
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise MetricsError(
            f"{side} predictions have no {', '.join(missing)} column",
            where=f"predictions of {side}",
            hint="write one row per example with columns y_true and y_pred "
            "(optionally y_score or score_<class>)",
        )
    return df.dropna(subset=list(columns))
