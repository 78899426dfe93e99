"""The metric per value of each slice column, with Holm's correction across the slices
of a column when noise is asked.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mlci.errors import MetricsError
from mlci.judge.paired import MIN_EXAMPLES, Paired, PairedEvidence, holm, paired_evidence
from mlci.judge.values import metric_value
from mlci.sources.predictions import slice_columns

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    from numpy.typing import NDArray

    from mlci.judge.arrays import IntArray

MISSING = "(missing)"


@dataclass(frozen=True)
class SliceResult:
    """One value of one slice column: the metric on those examples, base and head."""

    column: str
    value: str
    n: int
    base: float
    head: float
    delta: float
    paired: Paired | None  # when noise was asked and n >= min_size
    adjusted_p: float | None  # Holm over all gated slices of the rule
    gated: bool  # n >= min_size

    def worse(self, higher_is_better: bool) -> bool:
        """Significantly worse after Holm (the interval is at the Holm-adjusted level)."""
        return self.paired is not None and self.paired.worse(higher_is_better)


def slice_table(
    metric: str,
    base: pd.DataFrame | None,
    head: pd.DataFrame,
    columns: Sequence[str],
    *,
    min_size: int = 30,
    confidence: float | None = None,
    alternative: str = "two-sided",
    seed: int = 0,
    higher_is_better: bool = True,
    resamples: int = 2000,
    base_name: str = "base predictions",
    head_name: str = "head predictions",
) -> list[SliceResult]:
    """The metric per value of each slice column, worst first; aligned inputs.

    With `confidence`, every slice of at least `min_size` (and MIN_EXAMPLES) examples gets
    a paired test in the direction of `alternative`, and Holm's correction runs across the
    slices of each column: a slice is significant when its adjusted p is below
    1 - confidence, and its interval is widened to match (docs/noise.md). Without `base`
    (no baseline predictions) only the head's values are given, for absolute bounds.
    """
    groups = _slice_groups(base, head, columns, base_name, head_name)
    evidence: list[PairedEvidence | None] = []
    for i, (_, _, rows) in enumerate(groups):
        tested = (
            base is not None and confidence is not None and len(rows) >= max(min_size, MIN_EXAMPLES)
        )
        evidence.append(
            _slice_evidence(metric, base.iloc[rows], head.iloc[rows], seed + i, resamples)
            if tested and base is not None
            else None
        )
    adjusted = _holm_by_column(groups, evidence, columns, alternative)
    results = []
    for (column, value, rows), ev, adj in zip(groups, evidence, adjusted, strict=True):
        results.append(
            _slice_result(
                metric,
                column,
                value,
                None if base is None else base.iloc[rows],
                head.iloc[rows],
                ev,
                adj,
                confidence,
                alternative,
                len(rows) >= min_size,
            )
        )
    return _worst_first(results, higher_is_better, by_delta=base is not None)


def _holm_by_column(
    groups: Sequence[tuple[str, str, IntArray]],
    evidence: Sequence[PairedEvidence | None],
    columns: Sequence[str],
    alternative: str,
) -> list[float | None]:
    """Holm-adjusted p per tested slice, within a column: its slices partition the examples."""
    adjusted: list[float | None] = [None] * len(groups)
    for column in columns:
        members = [
            i for i, (c, _, _) in enumerate(groups) if c == column and evidence[i] is not None
        ]
        found = [e for i in members if (e := evidence[i]) is not None]
        for i, p in zip(members, holm([e.p(alternative) for e in found]), strict=True):
            adjusted[i] = p
    return adjusted


def _worst_first(
    results: list[SliceResult], higher_is_better: bool, *, by_delta: bool
) -> list[SliceResult]:
    """By head - base (by head alone without a baseline), undefined values last."""
    sign = 1.0 if higher_is_better else -1.0
    key = [r.delta if by_delta else r.head for r in results]
    order = sorted(
        range(len(results)),
        key=lambda i: (math.isnan(key[i]), sign * key[i] if not math.isnan(key[i]) else 0.0),
    )
    return [results[i] for i in order]


def _slice_evidence(
    metric: str, base: pd.DataFrame, head: pd.DataFrame, seed: int, resamples: int
) -> PairedEvidence | None:
    try:
        return paired_evidence(metric, base, head, seed=seed, resamples=resamples)
    except MetricsError:  # e.g. roc_auc on a slice with one class: shown, not tested
        return None


def _slice_result(
    metric: str,
    column: str,
    value: str,
    base: pd.DataFrame | None,
    head: pd.DataFrame,
    ev: PairedEvidence | None,
    adjusted: float | None,
    confidence: float | None,
    alternative: str,
    gated: bool,
) -> SliceResult:
    if ev is not None and adjusted is not None and confidence is not None:
        # widen by Holm's factor, so the interval excludes 0 exactly when adjusted p < alpha
        p = ev.p(alternative)
        level = 1 - (1 - confidence) * p / adjusted if adjusted > 0 else confidence
        return SliceResult(
            column,
            value,
            ev.n,
            ev.base,
            ev.head,
            ev.delta,
            ev.at(level, alternative),
            adjusted,
            gated,
        )
    b = math.nan if base is None else _value_or_nan(metric, base)
    h = _value_or_nan(metric, head)
    return SliceResult(column, value, len(head), b, h, h - b, None, None, gated)


def _value_or_nan(metric: str, df: pd.DataFrame) -> float:
    try:
        return metric_value(metric, df)
    except MetricsError:
        return math.nan


def _slice_groups(
    base: pd.DataFrame | None,
    head: pd.DataFrame,
    columns: Sequence[str],
    base_name: str,
    head_name: str,
) -> list[tuple[str, str, IntArray]]:
    """(column, value, row positions) for every value of every slice column, in value order."""
    import numpy as np
    import pandas as pd

    groups = []
    for column in columns:
        labels = _slice_labels(head, column, head_name)
        if base is not None and not np.array_equal(labels, _slice_labels(base, column, base_name)):
            differ = int(np.sum(labels != _slice_labels(base, column, base_name)))
            raise MetricsError(
                f"slice column {column!r} differs between {base_name} and {head_name} in "
                f"{differ} rows",
                where="train.predictions",
                hint="a slice column describes the examples, so both runs must write the "
                "same values",
            )
        codes, uniques = pd.factorize(labels, sort=True)
        order = np.argsort(codes, kind="stable")
        bounds = np.searchsorted(codes[order], np.arange(len(uniques) + 1))
        for i, value in enumerate(uniques):
            groups.append((column, str(value), order[bounds[i] : bounds[i + 1]].astype(np.int64)))
    return groups


def _slice_labels(frame: pd.DataFrame, column: str, name: str) -> NDArray[np.str_]:
    import numpy as np

    if column not in frame.columns:
        existing = slice_columns(frame) or [str(c) for c in frame.columns]
        close = difflib.get_close_matches(column, existing, n=1)
        raise MetricsError(
            f"no slice column {column!r} in the predictions (columns: {', '.join(existing)})",
            where=name,
            hint=f"did you mean {close[0]!r}?"
            if close
            else "write the column into predictions.csv, or fix `slices` in mlci.yaml",
        )
    values = frame[column]
    return np.where(values.isna(), MISSING, values.astype(str)).astype(str)
