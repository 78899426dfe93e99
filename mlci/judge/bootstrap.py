"""The paired bootstrap: resampling weights, the stratified shortcut for sums of many
rows, and the percentile interval and p-values of the resampled deltas.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

    from mlci.judge.arrays import FloatArray, IntArray
    from mlci.judge.kernels import Kernel, Stat

_CHUNK = 1 << 22  # elements of one block of resampling weights (~32 MB)
_MULTINOMIAL_CELLS = 4096
_TAIL = 128  # extreme rows resampled one by one in the stratified bootstrap
_STRATA = 1024


def _weights(
    kernel: Kernel, n: int, resamples: int, rng: np.random.Generator
) -> Iterator[FloatArray]:
    """Blocks of bootstrap counts per cell: n rows drawn with replacement, per resample."""
    import numpy as np

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
    kernel: Kernel, n: int, resamples: int, rng: np.random.Generator
) -> FloatArray:
    """Bootstrap column sums of many rows without drawing every row of every resample.

    Rows are sorted by their influence on the delta and cut into strata: the most extreme
    rows one per stratum, the rest in ~1,000 equal strata. How many draws fall in each
    stratum is multinomial (exact); the sum of a stratum's draws is taken as normal with
    that stratum's own mean and covariance (exact in the first two moments). The sum of
    those normals is one normal per resample, drawn at once.
    """
    import numpy as np

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
    import numpy as np

    tail = min(_TAIL, n // 8)
    inner = np.linspace(tail, n - tail, _STRATA + 1).round().astype(np.int64)[:-1]
    return np.unique(np.concatenate([np.arange(tail), inner, np.arange(n - tail, n)]))


def _influence(sums: FloatArray, finish: Stat) -> FloatArray:
    """Each row's first-order effect on head - base (numerical gradient at the full sums)."""
    import numpy as np

    total = sums.sum(axis=0)
    step = 1e-6 * np.maximum(np.abs(total), 1.0)
    probe = np.concatenate([total + np.diag(step), total - np.diag(step)])
    values = finish(probe)
    delta = values[:, 1] - values[:, 0]
    q = len(total)
    return np.asarray(sums @ ((delta[:q] - delta[q:]) / (2 * step)))


def bootstrap_deltas(
    kernel: Kernel, n: int, resamples: int, seed: int, exact_limit: int
) -> FloatArray:
    import numpy as np

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


def percentile_interval(deltas: FloatArray, confidence: float) -> tuple[float, float]:
    import numpy as np

    finite = deltas[np.isfinite(deltas)]
    if not len(finite):
        return math.nan, math.nan
    alpha = 1 - confidence
    low, high = np.quantile(finite, [alpha / 2, 1 - alpha / 2])
    return float(low), float(high)


def bootstrap_p(deltas: FloatArray) -> tuple[float, float]:
    """One-sided p-values (less, greater): the share of resamples on the other side of 0."""
    import numpy as np

    finite = deltas[np.isfinite(deltas)]
    if not len(finite):
        return 1.0, 1.0
    floor = 1 / len(finite)
    return max(float(np.mean(finite >= 0)), floor), max(float(np.mean(finite <= 0)), floor)
