"""Metrics vectorised over resampling weights: the examples as weighted cells, and the
metric of base and head for any block of weights at once.

Every built-in metric has a kernel: confusion counts for label metrics, sums for the
regression metrics and log loss, the Mann-Whitney statistic (or its first-order sum for
many rows) for ROC AUC.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mlci.errors import MetricsError
from mlci.judge.values import probabilities
from mlci.sources.registry import LABEL_METRICS, LOG_LOSS, REGRESSION_METRICS

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    from numpy.typing import NDArray

    from mlci.judge.arrays import FloatArray, IntArray

    Stat = Callable[[FloatArray], FloatArray]  # weights (R, cells) -> (R, 2): base, head


@dataclass(frozen=True, eq=False)
class Kernel:
    """The examples as weighted cells, and the metric of base and head for any weights."""

    freq: IntArray  # how many rows each cell stands for
    rows: IntArray | None  # the cell of each row; None when cell i is row i
    stat: Stat
    sums: FloatArray | None = None  # (cells, q) when stat(w) == finish(w @ sums)
    finish: Stat | None = None


def build_kernel(metric: str, base: pd.DataFrame, head: pd.DataFrame, *, linear: bool) -> Kernel:
    """`linear`: many rows, so roc_auc may be taken to first order (see `_auc_linear`)."""
    import numpy as np

    y = head["y_true"].to_numpy()
    if metric in LABEL_METRICS:
        return _label_kernel(metric, y, base["y_pred"].to_numpy(), head["y_pred"].to_numpy())
    if metric in REGRESSION_METRICS:
        yf = y.astype(float)
        return _regression_kernel(
            metric, yf, base["y_pred"].to_numpy(float) - yf, head["y_pred"].to_numpy(float) - yf
        )
    probs_b, probs_h = probabilities(base), probabilities(head)
    assert probs_b is not None and probs_h is not None
    if not np.array_equal(probs_b[0], probs_h[0]):
        raise MetricsError(
            f"base and head score different classes: {list(probs_b[0])} vs {list(probs_h[0])}",
            where="train.predictions",
            hint="write a score_<class> column per class",
        )
    truth = y[:, None] == probs_h[0][None, :]
    if metric == LOG_LOSS:
        return _sum_kernel(
            np.column_stack([_losses(truth, probs_b[1]), _losses(truth, probs_h[1])]),
            _mean_finish(len(y)),
        )
    if linear:
        return _auc_linear(truth, probs_b[1], probs_h[1])
    return _auc_kernel(truth, probs_b[1], probs_h[1])


def _sum_kernel(sums: FloatArray, finish: Stat) -> Kernel:
    import numpy as np

    return Kernel(
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
    import numpy as np

    eps = np.finfo(np.float64).eps
    return np.asarray(-np.log(np.clip(probs[truth], eps, 1 - eps)), dtype=np.float64)


def _regression_kernel(metric: str, y: FloatArray, err_b: FloatArray, err_h: FloatArray) -> Kernel:
    import numpy as np

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
) -> Kernel:
    """Cells are the distinct (y_true, base y_pred, head y_pred) triples: exact and small."""
    import numpy as np
    import pandas as pd
    from scipy import sparse

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
    return Kernel(
        freq=freq.astype(np.int64),
        rows=rows.astype(np.int64).ravel(),
        stat=lambda w: finish(np.asarray(w @ sums)),
    )


def _confusion_finish(metric: str, k: int, n: int) -> Stat:
    """Macro metrics from summed counts: support, predicted and true positives per class."""
    import numpy as np

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


def _auc_kernel(truth: NDArray[np.bool_], probs_b: FloatArray, probs_h: FloatArray) -> Kernel:
    """ROC AUC as the weighted Mann-Whitney statistic; one-vs-rest macro for multiclass.

    A resample without any example of a class (or without any other) has no AUC, as in
    scikit-learn: it is NaN, and left out of the interval and the p-value."""
    import numpy as np

    classes = _auc_classes(truth)
    parts = [[_auc_part(truth[:, c], probs[:, c]) for c in classes] for probs in (probs_b, probs_h)]

    def stat(w: FloatArray) -> FloatArray:
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.column_stack(
                [np.mean(np.column_stack([auc(w) for auc in model]), axis=1) for model in parts]
            )

    return Kernel(freq=np.ones(len(truth), np.int64), rows=None, stat=stat)


def _auc_linear(truth: NDArray[np.bool_], probs_b: FloatArray, probs_h: FloatArray) -> Kernel:
    """ROC AUC to first order in the resampling weights, for many rows: a sum per row.

    AUC(w) = sum_ij w_i w_j [s_i > s_j] / (W_pos W_neg) has the derivative
    (V_i - AUC) / n_pos at a positive i, V_i the share of negatives it outranks (ties
    half), and (U_j - AUC) / n_neg at a negative j, U_j the share of positives that
    outrank it. Its error is O(1/n) against a spread of O(1/sqrt(n)), so with a million
    rows the bootstrap of this sum is the bootstrap of the AUC; sums resample fast by
    strata (see `bootstrap._stratified_sums`).
    """
    import numpy as np

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
    import numpy as np

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
    import numpy as np

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
