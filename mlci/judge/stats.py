"""Noise-aware comparison of two models from their per-example predictions.

A rule with `noise` asks whether a change is real: base and head are compared on the
same examples (a paired test): Tango's score test and score interval for accuracy (a
difference of paired proportions), a paired bootstrap for the other metrics, each with
the confidence interval of head - base. A gate asks in one direction (is it worse?), so
its test is one-sided. A rule with `slices` repeats the comparison per value of a column,
with Holm's correction across the slices of a column. docs/noise.md explains the method
in plain words.

This module is imported lazily, only when a rule has `noise` or `slices`, so it imports
numpy, pandas and scipy at the top (scikit-learn stays inside `metric_value`).
"""

from __future__ import annotations

import difflib
import math
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy import sparse
from scipy import stats as sps

from mlci.errors import MetricsError

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
Stat = Callable[[FloatArray], FloatArray]  # weights (R, cells) -> (R, 2): base, head

LABEL_METRICS = ("accuracy", "balanced_accuracy", "f1_macro", "precision_macro", "recall_macro")
SCORE_METRICS = ("roc_auc", "log_loss")
REGRESSION_METRICS = ("rmse", "mae", "r2")
METRICS = LABEL_METRICS + SCORE_METRICS + REGRESSION_METRICS
PROPORTIONS = frozenset((*LABEL_METRICS, "roc_auc"))  # bounded in [0, 1]: shown in pp
SCORE_TESTS = frozenset({"accuracy"})  # a 0/1 score per example: Tango's score interval
RESERVED = ("id", "y_true", "y_pred", "y_score")
EXACT_LIMIT = 50_000_000  # rows x resamples beyond which sums are resampled by strata
MISSING = "(missing)"
MIN_EXAMPLES = 10  # fewer examples than this: no test, the plain bound decides
ALTERNATIVES = ("two-sided", "less", "greater")  # what head - base is tested for

_CHUNK = 1 << 22  # elements of one block of resampling weights (~32 MB)
_MULTINOMIAL_CELLS = 4096
_TAIL = 128  # extreme rows resampled one by one in the stratified bootstrap
_STRATA = 1024


@dataclass(frozen=True)
class Paired:
    """A paired comparison of one metric between base and head on the same examples."""

    metric: str
    n: int
    base: float
    head: float
    delta: float  # head - base
    low: float
    high: float
    p_value: float
    confidence: float
    method: str  # "score" | "paired-bootstrap"
    alternative: str = "two-sided"  # one-sided: [low, high] bounds each side at `confidence`

    def significant(self) -> bool:
        """The interval excludes 0."""
        return self.low > 0 or self.high < 0

    def worse(self, higher_is_better: bool) -> bool:
        """A real change, in the bad direction."""
        return self.significant() and (self.delta < 0 if higher_is_better else self.delta > 0)

    def describe(self, higher_is_better: bool, percent_points: bool, precision: int = 4) -> str:
        """One line for a report: 'within noise: -0.80 pp [-2.10, +0.40]'.

        `precision` digits after the point on the metric's own scale (two fewer in pp)."""

        def num(x: float) -> str:
            if percent_points:
                return f"{100 * x:+.{max(precision - 2, 0)}f}"
            return f"{x:+.{precision}f}"

        unit = " pp" if percent_points else ""
        text = f"{num(self.delta)}{unit} [{num(self.low)}, {num(self.high)}]"
        if not self.significant():
            return f"within noise: {text}"
        return f"significant: {text}, {'worse' if self.worse(higher_is_better) else 'better'}"


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


# -- matching the two prediction files ------------------------------------------------


def align(
    base: pd.DataFrame, head: pd.DataFrame, *, base_name: str, head_name: str
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Put base and head rows on the same examples: by `id` when both have it, else by order."""
    for frame, name in ((base, base_name), (head, head_name)):
        if "y_true" not in frame.columns:
            raise MetricsError(
                f"predictions have no y_true column (columns: {', '.join(map(str, frame))})",
                where=name,
                hint="write y_true, y_pred and an id per example",
            )
    by_id = "id" in base.columns and "id" in head.columns
    if by_id:
        base, head = _align_by_id(base, head, base_name, head_name)
    elif len(base) != len(head):
        raise MetricsError(
            f"base and head predictions differ in length: {len(base)} rows in {base_name}, "
            f"{len(head)} in {head_name}",
            where="train.predictions",
            hint="write an `id` column in both files, or evaluate both models on the same test set",
        )
    base, head = base.reset_index(drop=True), head.reset_index(drop=True)
    _check_same_truth(base, head, base_name, head_name, by_id)
    return base, head


def _align_by_id(
    base: pd.DataFrame, head: pd.DataFrame, base_name: str, head_name: str
) -> tuple[pd.DataFrame, pd.DataFrame]:
    base_ids, head_ids = _ids(base, base_name), _ids(head, head_name)
    only_head = head_ids.difference(base_ids)
    only_base = base_ids.difference(head_ids)
    if len(only_head) or len(only_base):
        sample = ", ".join(map(str, list(only_head[:3]) + list(only_base[:3])))
        raise MetricsError(
            f"the ids do not match: {len(only_head)} of {len(head)} ids in {head_name} are "
            f"not in {base_name}, {len(only_base)} of {len(base)} ids in {base_name} are not "
            f"in {head_name} (e.g. {sample})",
            where="train.predictions",
            hint="evaluate both models on the same test set, with the same `id` per example",
        )
    return base.iloc[base_ids.get_indexer(head_ids)], head


def _ids(frame: pd.DataFrame, name: str) -> pd.Index:
    ids = pd.Index(_id_text(frame["id"]))
    if not ids.is_unique:
        dup = ids[ids.duplicated()].unique()
        raise MetricsError(
            f"{len(dup)} ids appear more than once (e.g. {', '.join(dup[:3])})",
            where=name,
            hint="give every example its own `id`",
        )
    return ids


def _id_text(ids: pd.Series) -> pd.Series:
    """Ids as text, numbers written one way: 7, 7.0 and "7" are the same example."""
    numeric = pd.to_numeric(ids, errors="coerce")
    if numeric.notna().all() and bool(np.all(np.isfinite(numeric))):
        whole = numeric.to_numpy(float) == np.round(numeric.to_numpy(float))
        if whole.all():
            return numeric.astype(np.int64).astype(str)
        return numeric.map(repr)
    return ids.astype(str)


def _check_same_truth(
    base: pd.DataFrame, head: pd.DataFrame, base_name: str, head_name: str, by_id: bool
) -> None:
    b, h = base["y_true"], head["y_true"]
    numeric = pd.api.types.is_numeric_dtype(b) and pd.api.types.is_numeric_dtype(h)
    if numeric:
        same = np.isclose(b.to_numpy(float), h.to_numpy(float), equal_nan=True)
    else:
        same = (b.astype(str) == h.astype(str)).to_numpy()
    if same.all():
        return
    first = int(np.argmin(same))
    at = f"id {head['id'].iloc[first]}" if by_id else f"row {first + 1}"
    raise MetricsError(
        f"y_true differs in {int((~same).sum())} of {len(same)} examples between {base_name} "
        f"and {head_name} (first at {at})",
        where="train.predictions",
        hint="compare models on the same test set with the same labels"
        + ("" if by_id else "; if the rows are in another order, write an `id` column"),
    )


def slice_columns(df: pd.DataFrame) -> list[str]:
    """The columns that describe examples rather than predictions."""
    return [str(c) for c in df.columns if c not in RESERVED and not str(c).startswith("score_")]


# -- metrics from prediction columns ----------------------------------------------------


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
    probs = _probabilities(df)
    if probs is None:
        present = [_key(v) for v in np.unique(df["y_true"].to_numpy())]
        have = {str(c)[6:] for c in df.columns if str(c).startswith("score_")}
        lacking = [f"score_{k}" for k in present if k not in have]
        if "y_score" in df.columns or not have or not lacking:
            return "needs y_score (binary) or a score_<class> column for every class of y_true"
        return f"no {', '.join(lacking)} column for a class of y_true"
    labels, matrix = probs
    if not np.all(np.isfinite(matrix)):
        return "the scores hold empty or infinite values"
    if metric == "roc_auc":
        y = df["y_true"].to_numpy()
        counts = [int(np.sum(y == label)) for label in labels]
        absent = [_key(v) for v, c in zip(labels, counts, strict=True) if c == 0]
        if absent or len(labels) < 2:
            return f"class {', '.join(absent) or _key(labels[0])} has no example in y_true"
        if len(labels) == 2 and min(counts) == len(y):
            return "only one class in y_true"
    return None


def _continuous(values: pd.Series) -> bool:
    if not pd.api.types.is_float_dtype(values):
        return False
    array = values.to_numpy(float)
    return bool(np.any(array != np.round(array)))


def _probabilities(df: pd.DataFrame) -> tuple[NDArray[np.generic], FloatArray] | None:
    """The classes (sorted, y_true's type) and a probability column per class."""
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
    columns = {str(c)[6:]: str(c) for c in df.columns if str(c).startswith("score_")}
    classes = {_key(v): v for v in present}
    if len(columns) < 2 or not set(classes) <= set(columns):
        return None
    try:
        labels = np.array(sorted(_typed(k, y) for k in columns))
    except ValueError:
        return None
    matrix = df[[columns[_key(v)] for v in labels]].to_numpy(float)
    return labels, matrix


def _key(value: object) -> str:
    """How a class appears in a score_<class> column name."""
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value)


def _typed(key: str, y: NDArray[np.generic]) -> Any:
    if np.issubdtype(y.dtype, np.integer):
        return int(key)
    if np.issubdtype(y.dtype, np.floating):
        return float(key)
    return key


def _sklearn_value(metric: str, df: pd.DataFrame) -> float:
    from sklearn import metrics as skm

    y = df["y_true"].to_numpy()
    if metric in SCORE_METRICS:
        probs = _probabilities(df)
        assert probs is not None
        labels, matrix = probs
        if metric == "log_loss":
            return float(skm.log_loss(y, matrix, labels=labels))
        if len(labels) == 2:
            return float(skm.roc_auc_score(y == labels[1], matrix[:, 1]))
        return float(
            skm.roc_auc_score(y, matrix, multi_class="ovr", average="macro", labels=labels)
        )
    pred = df["y_pred"].to_numpy()
    if metric == "rmse":
        return math.sqrt(float(skm.mean_squared_error(y, pred)))
    simple: dict[str, Callable[..., float]] = {
        "accuracy": skm.accuracy_score,
        "balanced_accuracy": skm.balanced_accuracy_score,
        "mae": skm.mean_absolute_error,
        "r2": skm.r2_score,
    }
    if metric in simple:
        return float(simple[metric](y, pred))
    macro = {
        "f1_macro": skm.f1_score,
        "precision_macro": skm.precision_score,
        "recall_macro": skm.recall_score,
    }[metric]
    return float(macro(y, pred, average="macro", zero_division=0))


# -- vectorised metrics over resampling weights --------------------------------------


@dataclass(frozen=True, eq=False)
class _Kernel:
    """The examples as weighted cells, and the metric of base and head for any weights."""

    freq: IntArray  # how many rows each cell stands for
    rows: IntArray | None  # the cell of each row; None when cell i is row i
    stat: Stat
    sums: FloatArray | None = None  # (cells, q) when stat(w) == finish(w @ sums)
    finish: Stat | None = None


def _kernel(metric: str, base: pd.DataFrame, head: pd.DataFrame, *, linear: bool) -> _Kernel:
    """`linear`: many rows, so roc_auc may be taken to first order (see `_auc_linear`)."""
    y = head["y_true"].to_numpy()
    if metric in LABEL_METRICS:
        return _label_kernel(metric, y, base["y_pred"].to_numpy(), head["y_pred"].to_numpy())
    if metric in REGRESSION_METRICS:
        yf = y.astype(float)
        return _regression_kernel(
            metric, yf, base["y_pred"].to_numpy(float) - yf, head["y_pred"].to_numpy(float) - yf
        )
    probs_b, probs_h = _probabilities(base), _probabilities(head)
    assert probs_b is not None and probs_h is not None
    if not np.array_equal(probs_b[0], probs_h[0]):
        raise MetricsError(
            f"base and head score different classes: {list(probs_b[0])} vs {list(probs_h[0])}",
            where="train.predictions",
            hint="write a score_<class> column per class",
        )
    truth = y[:, None] == probs_h[0][None, :]
    if metric == "log_loss":
        return _sum_kernel(
            np.column_stack([_losses(truth, probs_b[1]), _losses(truth, probs_h[1])]),
            _mean_finish(len(y)),
        )
    if linear:
        return _auc_linear(truth, probs_b[1], probs_h[1])
    return _auc_kernel(truth, probs_b[1], probs_h[1])


def _sum_kernel(sums: FloatArray, finish: Stat) -> _Kernel:
    return _Kernel(
        freq=np.ones(len(sums), np.int64),
        rows=None,
        stat=lambda w: finish(w @ sums),
        sums=sums,
        finish=finish,
    )


def _mean_finish(n: int) -> Stat:
    return lambda s: s / n


def _losses(truth: NDArray[np.bool_], probs: FloatArray) -> FloatArray:
    """Per-example log loss, clipped like sklearn.metrics.log_loss."""
    eps = np.finfo(np.float64).eps
    return np.asarray(-np.log(np.clip(probs[truth], eps, 1 - eps)), dtype=np.float64)


def _regression_kernel(metric: str, y: FloatArray, err_b: FloatArray, err_h: FloatArray) -> _Kernel:
    n = len(y)
    if metric == "mae":
        return _sum_kernel(np.column_stack([np.abs(err_b), np.abs(err_h)]), _mean_finish(n))
    squares = np.column_stack([err_b**2, err_h**2])
    if metric == "rmse":
        return _sum_kernel(squares, lambda s: np.sqrt(np.clip(s, 0, None) / n))
    centred = y - y.mean()  # r2 is shift-invariant; centring avoids cancellation

    def r2(s: FloatArray) -> FloatArray:
        total = (s[:, 3] - s[:, 2] ** 2 / n)[:, None]
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = 1 - s[:, :2] / total
        return np.where(total > 0, ratio, np.where(s[:, :2] == 0, 1.0, 0.0))

    return _sum_kernel(np.column_stack([squares, centred, centred**2]), r2)


def _label_kernel(
    metric: str, y: NDArray[np.generic], pred_b: NDArray[np.generic], pred_h: NDArray[np.generic]
) -> _Kernel:
    """Cells are the distinct (y_true, base y_pred, head y_pred) triples: exact and small."""
    n = len(y)
    codes, uniques = pd.factorize(np.concatenate([y, pred_b, pred_h]))
    k = len(uniques)
    t, b, h = (c.astype(np.int64) for c in np.split(codes, 3))
    cells, rows, freq = np.unique((t * k + b) * k + h, return_inverse=True, return_counts=True)
    ct, cb, ch = cells // (k * k), (cells // k) % k, cells % k
    columns = [
        ct,
        cb + k,
        np.where(cb == ct, cb + 2 * k, -1),
        ch + 3 * k,
        np.where(ch == ct, ch + 4 * k, -1),
    ]
    rows_idx = np.repeat(np.arange(len(cells)), 5)
    cols = np.column_stack(columns).ravel()
    keep = cols >= 0
    sums = sparse.csr_array(
        (np.ones(int(keep.sum())), (rows_idx[keep], cols[keep])), shape=(len(cells), 5 * k)
    )
    finish = _confusion_finish(metric, k, n)
    return _Kernel(
        freq=freq.astype(np.int64),
        rows=rows.astype(np.int64).ravel(),
        stat=lambda w: finish(np.asarray(w @ sums)),
    )


def _confusion_finish(metric: str, k: int, n: int) -> Stat:
    """Macro metrics from summed counts: support, predicted and true positives per class."""

    def one(truth: FloatArray, pred: FloatArray, hits: FloatArray) -> FloatArray:
        with np.errstate(divide="ignore", invalid="ignore"):
            if metric == "accuracy":
                return np.asarray(hits.sum(axis=1) / n)
            if metric == "balanced_accuracy":  # classes absent from y_true are left out
                return np.asarray(np.nanmean(np.where(truth > 0, hits / truth, np.nan), axis=1))
            present = (truth + pred) > 0  # the labels sklearn averages over
            per_class = {
                "recall_macro": np.where(truth > 0, hits / truth, 0.0),
                "precision_macro": np.where(pred > 0, hits / pred, 0.0),
                "f1_macro": np.where(present, 2 * hits / (truth + pred), 0.0),
            }[metric]
            return np.asarray((per_class * present).sum(axis=1) / present.sum(axis=1))

    def finish(s: FloatArray) -> FloatArray:
        truth = s[:, :k]
        base = one(truth, s[:, k : 2 * k], s[:, 2 * k : 3 * k])
        head = one(truth, s[:, 3 * k : 4 * k], s[:, 4 * k :])
        return np.column_stack([base, head])

    return finish


def _auc_classes(truth: NDArray[np.bool_]) -> list[int]:
    """The columns ROC AUC averages over: the positive class, or every class (one-vs-rest)."""
    return [truth.shape[1] - 1] if truth.shape[1] == 2 else list(range(truth.shape[1]))


def _auc_kernel(truth: NDArray[np.bool_], probs_b: FloatArray, probs_h: FloatArray) -> _Kernel:
    """ROC AUC as the weighted Mann-Whitney statistic; one-vs-rest macro for multiclass.

    A resample without any example of a class (or without any other) has no AUC, as in
    scikit-learn: it is NaN, and left out of the interval and the p-value."""
    classes = _auc_classes(truth)
    parts = [[_auc_part(truth[:, c], probs[:, c]) for c in classes] for probs in (probs_b, probs_h)]

    def stat(w: FloatArray) -> FloatArray:
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.column_stack(
                [np.mean(np.column_stack([auc(w) for auc in model]), axis=1) for model in parts]
            )

    return _Kernel(freq=np.ones(len(truth), np.int64), rows=None, stat=stat)


def _auc_linear(truth: NDArray[np.bool_], probs_b: FloatArray, probs_h: FloatArray) -> _Kernel:
    """ROC AUC to first order in the resampling weights, for many rows: a sum per row.

    AUC(w) = sum_ij w_i w_j [s_i > s_j] / (W_pos W_neg) has the derivative
    (V_i - AUC) / n_pos at a positive i, V_i the share of negatives it outranks (ties
    half), and (U_j - AUC) / n_neg at a negative j, U_j the share of positives that
    outrank it. Its error is O(1/n) against a spread of O(1/sqrt(n)), so with a million
    rows the bootstrap of this sum is the bootstrap of the AUC; sums resample fast by
    strata (see `_stratified_sums`).
    """
    classes = _auc_classes(truth)
    point = np.zeros(2)
    slope = np.zeros((len(truth), 2))
    for m, probs in enumerate((probs_b, probs_h)):
        for c in classes:
            auc, grad = _auc_gradient(truth[:, c], probs[:, c])
            point[m] += auc / len(classes)
            slope[:, m] += grad / len(classes)
    return _sum_kernel(slope, lambda s: point + s)


def _auc_gradient(positive: NDArray[np.bool_], score: FloatArray) -> tuple[float, FloatArray]:
    """The AUC and its derivative in each row's weight (one sort, then in score order)."""
    order = np.argsort(np.ascontiguousarray(score))
    ordered, hit = score[order], positive[order]
    group = np.cumsum(np.r_[True, ordered[1:] != ordered[:-1]]) - 1  # tie groups, ascending
    pos = np.bincount(group, weights=hit)
    neg = np.bincount(group, weights=~hit)
    n_pos, n_neg = pos.sum(), neg.sum()
    below = (np.cumsum(neg) - neg / 2) / n_neg  # negatives a positive outranks, ties half
    above = (n_pos - np.cumsum(pos) + pos / 2) / n_pos  # positives that outrank a negative
    auc = float(pos @ below / n_pos)
    grad = np.empty(len(score))
    grad[order] = np.where(hit, (below[group] - auc) / n_pos, (above[group] - auc) / n_neg)
    return auc, grad


def _auc_part(positive: NDArray[np.bool_], score: FloatArray) -> Stat:
    order = np.argsort(score, kind="stable")
    ordered = score[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])  # ties share a group
    pos = positive[order]

    def auc(w: FloatArray) -> FloatArray:
        sorted_w = w[:, order]
        p = np.add.reduceat(sorted_w * pos, starts, axis=1)
        q = np.add.reduceat(sorted_w * ~pos, starts, axis=1)
        below = np.cumsum(q, axis=1) - q
        pairs = p.sum(axis=1) * q.sum(axis=1)
        return np.asarray((p * (below + q / 2)).sum(axis=1) / pairs)

    return auc


# -- resampling -------------------------------------------------------------------------


def _weights(
    kernel: _Kernel, n: int, resamples: int, rng: np.random.Generator
) -> Iterator[FloatArray]:
    """Blocks of bootstrap counts per cell: n rows drawn with replacement, per resample."""
    cells = len(kernel.freq)
    compressed = kernel.rows is not None
    if compressed and (cells <= _MULTINOMIAL_CELLS or cells * 16 <= n):  # draw counts per cell
        per = max(1, _CHUNK // cells)
        for start in range(0, resamples, per):
            size = min(per, resamples - start)
            yield rng.multinomial(n, kernel.freq / n, size=size).astype(np.float64)
        return
    per = max(1, _CHUNK // n)
    for start in range(0, resamples, per):
        size = min(per, resamples - start)
        drawn = rng.integers(0, n, size=(size, n))
        if kernel.rows is not None:
            drawn = kernel.rows[drawn]
        drawn += (np.arange(size) * cells)[:, None]
        counts = np.bincount(drawn.ravel(), minlength=size * cells)
        yield counts.reshape(size, cells).astype(np.float64)


def _stratified_sums(
    kernel: _Kernel, n: int, resamples: int, rng: np.random.Generator
) -> FloatArray:
    """Bootstrap column sums of many rows without drawing every row of every resample.

    Rows are sorted by their influence on the delta and cut into strata: the most extreme
    rows one per stratum, the rest in ~1,000 equal strata. How many draws fall in each
    stratum is multinomial (exact); the sum of a stratum's draws is taken as normal with
    that stratum's own mean and covariance (exact in the first two moments). The sum of
    those normals is one normal per resample, drawn at once.
    """
    assert kernel.sums is not None and kernel.finish is not None
    order = np.argsort(_influence(kernel.sums, kernel.finish))
    values = np.column_stack([column[order] for column in kernel.sums.T])
    starts = _strata(n)
    size = np.diff(np.append(starts, n))
    mean = np.add.reduceat(values, starts, axis=0) / size[:, None]
    dev = values - np.repeat(mean, size, axis=0)
    q = values.shape[1]
    cov = np.empty((len(starts), q, q))
    for i in range(q):
        for j in range(i, q):
            cov[:, i, j] = cov[:, j, i] = np.add.reduceat(dev[:, i] * dev[:, j], starts) / size
    flat = cov.reshape(len(starts), q * q)
    out = []
    for start in range(0, resamples, 256):
        count = min(256, resamples - start)
        drawn = rng.multinomial(n, size / n, size=count).astype(np.float64)
        lam, vec = np.linalg.eigh((drawn @ flat).reshape(count, q, q))
        z = rng.standard_normal((count, q, 1))
        noise = (vec * np.sqrt(np.clip(lam, 0, None))[:, None, :]) @ z
        out.append(drawn @ mean + noise[:, :, 0])
    return np.concatenate(out)


def _strata(n: int) -> IntArray:
    """Start rows of the strata: _TAIL singletons at each end, _STRATA equal ones between."""
    tail = min(_TAIL, n // 8)
    inner = np.linspace(tail, n - tail, _STRATA + 1).round().astype(np.int64)[:-1]
    return np.unique(np.concatenate([np.arange(tail), inner, np.arange(n - tail, n)]))


def _influence(sums: FloatArray, finish: Stat) -> FloatArray:
    """Each row's first-order effect on head - base (numerical gradient at the full sums)."""
    total = sums.sum(axis=0)
    step = 1e-6 * np.maximum(np.abs(total), 1.0)
    probe = np.concatenate([total + np.diag(step), total - np.diag(step)])
    values = finish(probe)
    delta = values[:, 1] - values[:, 0]
    q = len(total)
    return np.asarray(sums @ ((delta[:q] - delta[q:]) / (2 * step)))


def _bootstrap_deltas(
    kernel: _Kernel, n: int, resamples: int, seed: int, exact_limit: int
) -> FloatArray:
    rng = np.random.default_rng(seed)
    stratify = (
        kernel.sums is not None
        and kernel.finish is not None
        and kernel.rows is None
        and n * resamples > exact_limit
        and n >= 64
    )
    if stratify:
        assert kernel.finish is not None
        values = kernel.finish(_stratified_sums(kernel, n, resamples, rng))
    else:
        values = np.concatenate([kernel.stat(w) for w in _weights(kernel, n, resamples, rng)])
    return np.asarray(values[:, 1] - values[:, 0])


# -- the paired tests -----------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class _Evidence:
    """What a paired test found, before choosing the confidence level of its interval."""

    metric: str
    n: int
    base: float
    head: float
    delta: float
    p_less: float  # one-sided p-value against head - base >= 0
    p_greater: float  # one-sided p-value against head - base <= 0
    discordant: tuple[int, int] | None = None  # score test: (losses, gains)
    deltas: FloatArray | None = None  # bootstrap: head - base per resample

    def p(self, alternative: str) -> float:
        if alternative == "less":
            return self.p_less
        if alternative == "greater":
            return self.p_greater
        return min(1.0, 2 * min(self.p_less, self.p_greater))

    def at(self, confidence: float, alternative: str = "two-sided") -> Paired:
        """The interval whose ends are the one-sided bounds at `confidence` when one-sided."""
        if not 0 < confidence < 1:
            raise ValueError(f"confidence must be between 0 and 1, not {confidence}")
        if alternative not in ALTERNATIVES:
            raise ValueError(f"alternative must be one of {', '.join(ALTERNATIVES)}")
        level = confidence if alternative == "two-sided" else 2 * confidence - 1
        if self.discordant is not None:
            low, high = score_interval(*self.discordant, self.n, level)
            method = "score"
        else:
            assert self.deltas is not None
            low, high = _percentile_interval(self.deltas, level)
            method = "paired-bootstrap"
        return Paired(
            self.metric,
            self.n,
            self.base,
            self.head,
            self.delta,
            low,
            high,
            self.p(alternative),
            confidence,
            method,
            alternative,
        )


def score_interval(losses: int, gains: int, n: int, confidence: float) -> tuple[float, float]:
    """Tango's score interval for head - base, a difference of paired proportions.

    Tango (1998), Stat Med 17:891-908: the values d where |T(d)| <= z, with
    T(d) = (g - l - n d) / sqrt(n (2 p(d) + d (1 - d))) and p(d) the maximum-likelihood
    share of losses given d (a quadratic's root). T(0) = (g - l) / sqrt(g + l) is the
    score test, so the interval excludes 0 exactly when that test rejects.
    """
    low, high = score_intervals(np.array([losses]), np.array([gains]), n, confidence)
    return float(low[0]), float(high[0])


def score_intervals(
    losses: IntArray, gains: IntArray, n: int, confidence: float
) -> tuple[FloatArray, FloatArray]:
    """`score_interval` for many tables of n examples at once (bisection to 1e-13)."""
    if n < 1:
        raise ValueError("the score interval needs at least one example")
    z = float(sps.norm.ppf(0.5 + confidence / 2))
    g = np.concatenate([gains, gains]).astype(np.float64)
    l_ = np.concatenate([losses, losses]).astype(np.float64)
    estimate = (g - l_) / n
    half = len(gains)

    def stat(d: FloatArray) -> FloatArray:
        b = -g - l_ + (2 * n - g + l_) * d
        c = -l_ * d * (1 - d)
        p21 = (np.sqrt(np.clip(b * b - 8 * n * c, 0, None)) - b) / (4 * n)
        t = (g - l_ - n * d) / np.sqrt(n * (2 * p21 + d * (1 - d)))
        return np.where(np.isnan(t), 0.0, t)  # 0/0: no change and no evidence

    # T falls as d rises: bisect for T = z below the estimate and T = -z above it
    first = np.arange(2 * half) < half
    lo, hi = np.where(first, -1.0, estimate), np.where(first, estimate, 1.0)
    target = np.where(first, z, -z)
    with np.errstate(divide="ignore", invalid="ignore"):
        for _ in range(45):
            mid = (lo + hi) / 2
            above = stat(mid) > target
            lo, hi = np.where(above, mid, lo), np.where(above, hi, mid)
    ends = (lo + hi) / 2
    return ends[:half], ends[half:]


def _score_p(losses: int, gains: int) -> tuple[float, float]:
    """One-sided p-values of the score test (T(0), McNemar's statistic): less, greater."""
    m = losses + gains
    z = 0.0 if m == 0 else (gains - losses) / math.sqrt(m)
    return float(sps.norm.cdf(z)), float(sps.norm.sf(z))


def _percentile_interval(deltas: FloatArray, confidence: float) -> tuple[float, float]:
    finite = deltas[np.isfinite(deltas)]
    if not len(finite):
        return math.nan, math.nan
    alpha = 1 - confidence
    low, high = np.quantile(finite, [alpha / 2, 1 - alpha / 2])
    return float(low), float(high)


def _bootstrap_p(deltas: FloatArray) -> tuple[float, float]:
    """One-sided p-values (less, greater): the share of resamples on the other side of 0."""
    finite = deltas[np.isfinite(deltas)]
    if not len(finite):
        return 1.0, 1.0
    floor = 1 / len(finite)
    return max(float(np.mean(finite >= 0)), floor), max(float(np.mean(finite <= 0)), floor)


def _score(metric: str, base: pd.DataFrame, head: pd.DataFrame) -> _Evidence:
    y = head["y_true"].to_numpy()
    right_b = base["y_pred"].to_numpy() == y
    right_h = head["y_pred"].to_numpy() == y
    losses = int(np.sum(right_b & ~right_h))
    gains = int(np.sum(~right_b & right_h))
    n = len(y)
    return _Evidence(
        metric,
        n,
        float(right_b.mean()),
        float(right_h.mean()),
        (gains - losses) / n,
        *_score_p(losses, gains),
        discordant=(losses, gains),
    )


def _evidence(
    metric: str,
    base: pd.DataFrame,
    head: pd.DataFrame,
    *,
    seed: int,
    resamples: int,
    bootstrap: bool = False,
    exact_limit: int = EXACT_LIMIT,
    names: tuple[str, str] = ("base predictions", "head predictions"),
) -> _Evidence:
    if len(base) != len(head):
        raise ValueError("paired tests need aligned predictions: call align() first")
    if resamples < 1:
        raise ValueError(f"resamples must be at least 1, not {resamples}")
    for frame, name in ((base, names[0]), (head, names[1])):
        reason = unsupported(metric, frame)
        if reason is not None:
            raise MetricsError(
                f"cannot test {metric} on the predictions: {reason}",
                where=name,
                hint="write y_true, y_pred and, for roc_auc/log_loss, "
                "y_score or score_<class> per example",
            )
    if metric in SCORE_TESTS and not bootstrap:
        return _score(metric, base, head)
    kernel = _kernel(metric, base, head, linear=len(head) * resamples > exact_limit)
    point = kernel.stat(kernel.freq[None, :].astype(np.float64))[0]
    if not np.all(np.isfinite(point)):
        raise MetricsError(
            f"{metric} is undefined on these predictions",
            where=f"{names[0]}, {names[1]}",
        )
    deltas = _bootstrap_deltas(kernel, len(head), resamples, seed, exact_limit)
    return _Evidence(
        metric,
        len(head),
        float(point[0]),
        float(point[1]),
        float(point[1] - point[0]),
        *_bootstrap_p(deltas),
        deltas=deltas,
    )


def paired_test(
    metric: str,
    base: pd.DataFrame,
    head: pd.DataFrame,
    *,
    confidence: float = 0.95,
    alternative: str = "two-sided",
    seed: int = 0,
    resamples: int = 2000,
) -> Paired:
    """Is head - base real? Tango's score test for accuracy, a paired bootstrap otherwise.

    The inputs must be aligned (see `align`): row i of both is the same example. With
    `alternative` "less" (is head worse?) or "greater", the test is one-sided and the
    interval's ends are the one-sided bounds at `confidence`.
    """
    ev = _evidence(metric, base, head, seed=seed, resamples=resamples)
    return ev.at(confidence, alternative)


def paired_bootstrap(
    metric: str,
    base: pd.DataFrame,
    head: pd.DataFrame,
    *,
    confidence: float = 0.95,
    seed: int = 0,
    resamples: int = 2000,
    exact_limit: int = EXACT_LIMIT,
) -> Paired:
    """The paired percentile bootstrap for any metric, accuracy included (for comparison).

    Beyond `exact_limit` rows x resamples, sum-based metrics (rmse, mae, r2, log_loss) are
    resampled by strata (see `_stratified_sums`); label metrics are always exact.
    """
    return _evidence(
        metric, base, head, seed=seed, resamples=resamples, bootstrap=True, exact_limit=exact_limit
    ).at(confidence)


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values: step-down, monotone, capped at 1."""
    p = np.asarray(p_values, dtype=np.float64)
    if np.any(~((p >= 0) & (p <= 1))):
        raise ValueError(f"p-values must lie in [0, 1]: {list(p_values)}")
    order = np.argsort(p, kind="stable")
    scaled = p[order] * (len(p) - np.arange(len(p)))
    adjusted = np.empty_like(p)
    adjusted[order] = np.minimum(np.maximum.accumulate(scaled), 1.0)
    return [float(x) for x in adjusted]


# -- slices -----------------------------------------------------------------------------


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
    evidence: list[_Evidence | None] = []
    for i, (_, _, rows) in enumerate(groups):
        tested = (
            base is not None and confidence is not None and len(rows) >= max(min_size, MIN_EXAMPLES)
        )
        evidence.append(
            _slice_evidence(metric, base.iloc[rows], head.iloc[rows], seed + i, resamples)
            if tested and base is not None
            else None
        )
    adjusted: list[float | None] = [None] * len(groups)
    for column in columns:  # Holm within a column: its slices partition the examples
        members = [
            i for i, (c, _, _) in enumerate(groups) if c == column and evidence[i] is not None
        ]
        found = [e for i in members if (e := evidence[i]) is not None]
        for i, p in zip(members, holm([e.p(alternative) for e in found]), strict=True):
            adjusted[i] = p
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
    sign = 1.0 if higher_is_better else -1.0
    key = [r.delta if base is not None else r.head for r in results]
    order = sorted(
        range(len(results)),
        key=lambda i: (math.isnan(key[i]), sign * key[i] if not math.isnan(key[i]) else 0.0),
    )
    return [results[i] for i in order]


def _slice_evidence(
    metric: str, base: pd.DataFrame, head: pd.DataFrame, seed: int, resamples: int
) -> _Evidence | None:
    try:
        return _evidence(metric, base, head, seed=seed, resamples=resamples)
    except MetricsError:  # e.g. roc_auc on a slice with one class: shown, not tested
        return None


def _slice_result(
    metric: str,
    column: str,
    value: str,
    base: pd.DataFrame | None,
    head: pd.DataFrame,
    ev: _Evidence | None,
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
