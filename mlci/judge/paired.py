"""Noise-aware comparison of two models from their per-example predictions.

A rule with `noise` asks whether a change is real: base and head are compared on the
same examples (a paired test): Tango's score test and score interval for accuracy (a
difference of paired proportions), a paired bootstrap for the other metrics, each with
the confidence interval of head - base. A gate asks in one direction (is it worse?), so
its test is one-sided. docs/noise.md explains the method in plain words.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mlci.errors import MetricsError
from mlci.judge.bootstrap import bootstrap_deltas, bootstrap_p, percentile_interval
from mlci.judge.kernels import build_kernel
from mlci.judge.values import unsupported

if TYPE_CHECKING:
    import pandas as pd

    from mlci.judge.arrays import FloatArray, IntArray

SCORE_TESTS = frozenset({"accuracy"})  # a 0/1 score per example: Tango's score interval
EXACT_LIMIT = 50_000_000  # rows x resamples beyond which sums are resampled by strata
MIN_EXAMPLES = 10  # fewer examples than this: no test, the plain bound decides
ALTERNATIVES = ("two-sided", "less", "greater")  # what head - base is tested for


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


@dataclass(frozen=True, eq=False)
class PairedEvidence:
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
            low, high = percentile_interval(self.deltas, level)
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
    import numpy as np

    low, high = score_intervals(np.array([losses]), np.array([gains]), n, confidence)
    return float(low[0]), float(high[0])


def score_intervals(
    losses: IntArray, gains: IntArray, n: int, confidence: float
) -> tuple[FloatArray, FloatArray]:
    """`score_interval` for many tables of n examples at once (bisection to 1e-13)."""
    import numpy as np
    from scipy import stats as sps

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
    from scipy import stats as sps

    m = losses + gains
    z = 0.0 if m == 0 else (gains - losses) / math.sqrt(m)
    return float(sps.norm.cdf(z)), float(sps.norm.sf(z))


def _score(metric: str, base: pd.DataFrame, head: pd.DataFrame) -> PairedEvidence:
    import numpy as np

    y = head["y_true"].to_numpy()
    right_b = base["y_pred"].to_numpy() == y
    right_h = head["y_pred"].to_numpy() == y
    losses = int(np.sum(right_b & ~right_h))
    gains = int(np.sum(~right_b & right_h))
    n = len(y)
    return PairedEvidence(
        metric,
        n,
        float(right_b.mean()),
        float(right_h.mean()),
        (gains - losses) / n,
        *_score_p(losses, gains),
        discordant=(losses, gains),
    )


def paired_evidence(
    metric: str,
    base: pd.DataFrame,
    head: pd.DataFrame,
    *,
    seed: int,
    resamples: int,
    bootstrap: bool = False,
    exact_limit: int = EXACT_LIMIT,
    names: tuple[str, str] = ("base predictions", "head predictions"),
) -> PairedEvidence:
    import numpy as np

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
    kernel = build_kernel(metric, base, head, linear=len(head) * resamples > exact_limit)
    point = kernel.stat(kernel.freq[None, :].astype(np.float64))[0]
    if not np.all(np.isfinite(point)):
        raise MetricsError(
            f"{metric} is undefined on these predictions",
            where=f"{names[0]}, {names[1]}",
        )
    deltas = bootstrap_deltas(kernel, len(head), resamples, seed, exact_limit)
    return PairedEvidence(
        metric,
        len(head),
        float(point[0]),
        float(point[1]),
        float(point[1] - point[0]),
        *bootstrap_p(deltas),
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

    The inputs must be aligned (see `align.align`): row i of both is the same example. With
    `alternative` "less" (is head worse?) or "greater", the test is one-sided and the
    interval's ends are the one-sided bounds at `confidence`.
    """
    ev = paired_evidence(metric, base, head, seed=seed, resamples=resamples)
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
    resampled by strata (see `bootstrap._stratified_sums`); label metrics are always exact.
    """
    return paired_evidence(
        metric, base, head, seed=seed, resamples=resamples, bootstrap=True, exact_limit=exact_limit
    ).at(confidence)


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values: step-down, monotone, capped at 1."""
    import numpy as np

    p = np.asarray(p_values, dtype=np.float64)
    if np.any(~((p >= 0) & (p <= 1))):
        raise ValueError(f"p-values must lie in [0, 1]: {list(p_values)}")
    order = np.argsort(p, kind="stable")
    scaled = p[order] * (len(p) - np.arange(len(p)))
    adjusted = np.empty_like(p)
    adjusted[order] = np.minimum(np.maximum.accumulate(scaled), 1.0)
    return [float(x) for x in adjusted]
