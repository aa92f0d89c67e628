"""Per-window statistics of sorted sensor series, in one compiled pass.

Why a compiled kernel and not a Polars or DuckDB group-by: the lake stores every partition sorted
by (machine, sensor, ts), so each sensor's windows are contiguous runs and need no hashing; and
order statistics (quantiles) per group cost Polars about four times the rest of the feature set
(measured: 20 M readings, 1-hour windows, 2 cores: Polars group-by with 3 quantiles 2.0 s, DuckDB
with string keys 1.7 s, this kernel 0.45 s for every statistic). Numba compiles it once (cached
on disk). The kernels release the GIL (``nogil``): the pipeline runs partitions on several
threads, which parallelises every stage, not only this one, and avoids the second or so that
starting Numba's own parallel runtime costs each process.

Inputs are plain arrays of one partition: ``ts`` (int64 µs, UTC), ``value`` (float64, NaN =
missing), ``series_start`` (start index of each (machine, sensor) series, plus the length at the
end), and per sample ``use`` (1 where the sample counts for the health statistics: the machine was
running, or it has no load sensor to tell). Windows are ``floor((ts + offset) / width)``.
"""

from __future__ import annotations

import numba as nb
import numpy as np

# Columns of the float output, in order.
STAT_COLUMNS = (
    "n", "n_used", "mean", "std", "min", "max", "first", "last", "q10", "q50", "q90",
    "slope_per_h", "roc_per_h", "rms", "peak", "kurtosis",
)
_US_PER_H = 3_600_000_000.0


@nb.njit(cache=True, inline="always")
def _quantile(sorted_values: np.ndarray, n: int, q: float) -> float:
    """Linear interpolation between order statistics (NumPy's default, Hyndman-Fan type 7)."""
    pos = q * (n - 1)
    lo = int(np.floor(pos))
    hi = min(lo + 1, n - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


@nb.njit(cache=True)
def _window_stats(ts, value, use, i, j, out, k, buf):
    """Statistics of samples i..j-1 (one window of one series) into ``out[k]``."""
    n_all = 0
    n = 0
    total = 0.0
    for q in range(i, j):
        x = value[q]
        if not np.isnan(x):
            n_all += 1
            if use[q]:
                buf[n] = x
                total += x
                n += 1
    out[k, 0] = n_all
    out[k, 1] = n
    for c in range(2, out.shape[1]):
        out[k, c] = np.nan
    if n == 0:
        return
    mean = total / n
    # Second pass over the (cached) window for central moments and the time regression.
    t0 = ts[i]
    m2 = 0.0
    m4 = 0.0
    sq = 0.0
    peak = 0.0
    lo = np.inf
    hi = -np.inf
    tsum = 0.0
    first_t = -1.0
    last_t = 0.0
    first_v = 0.0
    last_v = 0.0
    for q in range(i, j):
        x = value[q]
        if np.isnan(x) or not use[q]:
            continue
        t = (ts[q] - t0) / _US_PER_H
        if first_t < 0:
            first_t = t
            first_v = x
        last_t = t
        last_v = x
        tsum += t
        d = x - mean
        m2 += d * d
        m4 += d * d * d * d
        sq += x * x
        if x < lo:
            lo = x
        if x > hi:
            hi = x
        if abs(x) > peak:
            peak = abs(x)
    tmean = tsum / n
    stt = 0.0
    stv = 0.0
    for q in range(i, j):
        x = value[q]
        if np.isnan(x) or not use[q]:
            continue
        dt = (ts[q] - t0) / _US_PER_H - tmean
        stt += dt * dt
        stv += dt * (x - mean)
    out[k, 2] = mean
    if n > 1:
        out[k, 3] = np.sqrt(m2 / (n - 1))
    out[k, 4] = lo
    out[k, 5] = hi
    out[k, 6] = first_v
    out[k, 7] = last_v
    srt = np.sort(buf[:n])
    out[k, 8] = _quantile(srt, n, 0.1)
    out[k, 9] = _quantile(srt, n, 0.5)
    out[k, 10] = _quantile(srt, n, 0.9)
    if stt > 0.0:
        out[k, 11] = stv / stt
    if last_t > first_t:
        out[k, 12] = (last_v - first_v) / (last_t - first_t)
    rms = np.sqrt(sq / n)
    out[k, 13] = rms
    out[k, 14] = peak
    # A variance at rounding level is no variance (SciPy's test): a flat line has no kurtosis.
    if m2 > 0.0 and m2 / n > (2.220446049250313e-16 * mean) ** 2:
        # Excess kurtosis, biased (Fisher): scipy.stats.kurtosis's default.
        out[k, 15] = (m4 / n) / (m2 / n) ** 2 - 3.0


@nb.njit(cache=True, nogil=True)
def window_statistics(ts, value, use, series_start, width, offset):
    """(stats [windows x STAT_COLUMNS], series index, window id) of every non-empty window."""
    n_series = len(series_start) - 1
    counts = np.zeros(n_series, np.int64)
    for s in range(n_series):
        previous = np.int64(-(2**62))
        c = 0
        for q in range(series_start[s], series_start[s + 1]):
            w = (ts[q] + offset) // width
            if w != previous:
                c += 1
                previous = w
        counts[s] = c
    offsets = np.zeros(n_series + 1, np.int64)
    offsets[1:] = np.cumsum(counts)
    total = offsets[-1]
    out = np.empty((total, len(STAT_COLUMNS)))
    series = np.empty(total, np.int64)
    window = np.empty(total, np.int64)
    for s in range(n_series):
        a = series_start[s]
        e = series_start[s + 1]
        buf = np.empty(e - a)
        k = offsets[s]
        i = a
        while i < e:
            w = (ts[i] + offset) // width
            j = i + 1
            while j < e and (ts[j] + offset) // width == w:
                j += 1
            _window_stats(ts, value, use, i, j, out, k, buf)
            series[k] = s
            window[k] = w
            k += 1
            i = j
    return out, series, window


@nb.njit(cache=True, nogil=True)
def as_of_state(ts, series_start, series_machine, state_ts, state, machine_start, tolerance):
    """The operating state of each sample: that of its machine's latest state sample at or before
    it, no older than ``tolerance[machine]`` µs; -1 where there is none (state unknown).

    Each series and each machine's state samples are sorted by time, so this is a merge, not a
    join: one forward walk per series.
    """
    out = np.full(len(ts), -1, np.int8)
    for s in range(len(series_start) - 1):
        m = series_machine[s]
        if m < 0:
            continue
        p = machine_start[m]
        end = machine_start[m + 1]
        if p == end:
            continue
        limit = tolerance[m]
        for q in range(series_start[s], series_start[s + 1]):
            t = ts[q]
            while p + 1 < end and state_ts[p + 1] <= t:
                p += 1
            if state_ts[p] <= t and t - state_ts[p] <= limit:
                out[q] = state[p]
    return out


def warm_up() -> None:
    """Load the compiled kernels (from Numba's on-disk cache, or compile them) and start Numba's
    runtime, so the first real call does not pay for it."""
    ts = np.arange(4, dtype=np.int64)
    bounds = np.array([0, 4], dtype=np.int64)
    window_statistics(ts, np.ones(4), np.ones(4, dtype=np.bool_), bounds, np.int64(2), np.int64(0))
    as_of_state(ts, bounds, np.zeros(1, dtype=np.int64), ts, np.zeros(4, dtype=np.int8), bounds, np.ones(1, dtype=np.int64))
