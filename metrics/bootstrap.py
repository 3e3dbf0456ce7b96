"""Bootstrap replicates of a mean or a median, vectorised.

Resampling n values with replacement is the same, in distribution, as drawing how many times
each *distinct* value is picked: multinomial counts with probabilities (its count ÷ n). A
resample is then a row of counts over the sorted distinct values, so a mean is a dot product
and a median a search in the row's running count, for every resample at once. KPI values per
application are few distinct numbers (0/1 for rates, whole working days, trips, materials),
so the cost does not grow with n; continuous values still work, in chunks that bound memory.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import numpy.typing as npt

Stat = Literal["mean", "median"]
Floats = npt.NDArray[np.float64]

CELLS_PER_CHUNK = 4_000_000  # resamples × distinct values held at once (32 MB of counts)


def statistic(values: Floats, stat: Stat) -> float:
    """The point estimate; the median interpolates two middle values, as DuckDB's does."""
    if len(values) == 0:
        return float("nan")
    return float(np.mean(values) if stat == "mean" else np.median(values))


def replicates(values: Floats, stat: Stat, resamples: int, rng: np.random.Generator) -> Floats:
    """`resamples` bootstrap replicates of the statistic (all NaN for no values)."""
    n = len(values)
    if n == 0:
        return np.full(resamples, np.nan)
    distinct, counts = np.unique(values, return_counts=True)
    p = counts / n
    chunk = max(1, CELLS_PER_CHUNK // len(distinct))
    out = np.empty(resamples)
    for start in range(0, resamples, chunk):
        size = min(chunk, resamples - start)
        drawn = rng.multinomial(n, p, size=size)
        out[start : start + size] = _apply(drawn, distinct, n, stat)
    return out


def _apply(drawn: npt.NDArray[np.int64], distinct: Floats, n: int, stat: Stat) -> Floats:
    if stat == "mean":
        means: Floats = drawn @ distinct / n
        return means
    running = np.cumsum(drawn, axis=1)
    # The k-th smallest value (1-based) is the first distinct value whose running count
    # reaches k; the median is the mean of the ((n+1)//2)-th and the (n//2+1)-th.
    low = (running < (n + 1) // 2).sum(axis=1)
    high = (running < n // 2 + 1).sum(axis=1)
    medians: Floats = (distinct[low] + distinct[high]) / 2
    return medians


def interval(replicated: Floats, level: float = 0.95) -> tuple[float, float]:
    """Percentile interval; NaN when any replicate is."""
    if len(replicated) == 0 or np.isnan(replicated).any():
        return float("nan"), float("nan")
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(replicated, [tail, 100 - tail])
    return float(low), float(high)
