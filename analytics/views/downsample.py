"""Downsampling time series for display: a chart a few thousand pixels wide never needs a year of
1-minute readings, but it must not lose the peak a technician is looking for.

Two algorithms:

- :func:`m4` — the M4 aggregation (Jugel, Jerzak, Hackenbroich and Markl, *M4: A
  Visualization-Oriented Time Series Data Aggregation*, VLDB 2014): per group (sensor) and time
  bucket (one pixel column) keep the first, the last, the smallest and the largest reading. A line
  chart drawn at ``buckets`` pixels wide from those at most four points per column is the same
  picture as the chart of every reading (the paper proves it for rasterised line charts), and no
  extreme is ever lost because the minimum and maximum of each column are kept. The output points
  are real readings with their own timestamps, never averages. It is a handful of Polars
  expressions (a ``group_by`` on an integer bucket index) and runs inside a lazy query, so the
  readings it reduces are never materialised.
- :func:`lttb` — Largest-Triangle-Three-Buckets (Steinarsson, *Downsampling Time Series for
  Visual Representation*, 2013): exactly ``n`` points chosen so that each keeps the largest
  triangle with its neighbours; for callers that need a fixed point count (a sparkline, an export)
  rather than a pixel-exact picture. It can miss an extreme that M4 would keep.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl

log = logging.getLogger(__name__)

_MAX_INT64 = 2**63 - 1
_ROW = "__m4_row"
_BUCKET = "__m4_bucket"
_COUNT = "__m4_n"


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def m4_plan(
    frame: pl.LazyFrame | pl.DataFrame,
    *,
    start: datetime,
    end: datetime,
    buckets: int,
    by: str = "sensor",
    ts: str = "ts",
    value: str = "value",
    count: str | None = None,
) -> pl.LazyFrame:
    """The lazy query behind :func:`m4` (same arguments), for callers that collect it together
    with other work or with another engine. ``count`` names an extra output column holding each
    row's group size in ``[start, end)`` before reduction (the raw point count per group), so a
    caller learns how many readings were reduced without a second scan."""
    if buckets < 1:
        raise ValueError(f"buckets must be at least 1, got {buckets}")
    start, end = _utc(start), _utc(end)
    if end <= start:
        raise ValueError(f"end {end.isoformat()} must be after start {start.isoformat()}")
    span_us = (end - start) // timedelta(microseconds=1)
    if span_us * buckets > _MAX_INT64:
        raise ValueError(f"{buckets} buckets over {end - start} overflow the integer bucket index")
    lf = frame.lazy()
    schema = lf.collect_schema()
    for name in (by, ts, value):
        if name not in schema:
            raise ValueError(f"column {name!r} not in the frame (columns: {', '.join(schema.names())})")
    columns = schema.names()
    t = pl.col(ts)
    # The bounds take the column's zone: Polars refuses to compare datetimes of two zones, and a
    # naive column is read as UTC.
    zone = schema[ts].time_zone if isinstance(schema[ts], pl.Datetime) else "UTC"  # type: ignore[union-attr]
    if zone is None:
        bounds = (pl.lit(start.replace(tzinfo=None)), pl.lit(end.replace(tzinfo=None)))
    else:
        bounds = (pl.lit(start).dt.convert_time_zone(zone), pl.lit(end).dt.convert_time_zone(zone))
    # Bucket b holds [start + b * span / buckets, start + (b + 1) * span / buckets): integer
    # arithmetic on microseconds, so a reading on a bucket edge always falls in the later bucket.
    offset = (t - bounds[0]).dt.total_microseconds().cast(pl.Int64)
    lf = (
        lf.filter((t >= bounds[0]) & (t < bounds[1]))
        .with_row_index(_ROW)
        .with_columns((offset * buckets // span_us).alias(_BUCKET), pl.len().over(by).alias(_COUNT))
    )
    small = lf.filter(pl.col(_COUNT) <= 4 * buckets)
    large = lf.filter(pl.col(_COUNT) > 4 * buckets)
    # Per group and bucket the row numbers of the first, last, smallest and largest reading, then
    # those rows themselves. Of readings tied on value the earliest is taken (ties on time: the
    # first in the frame): the frame's row order is the order of the lake's files, and a choice
    # made by it would change with a compaction and often add a point the first/last already
    # give. NaN is no extreme (Polars would rank it above every number), nor is a missing value.
    row = pl.col(_ROW)
    v = pl.col(value).fill_nan(None)

    def earliest(mask: pl.Expr) -> pl.Expr:
        return row.filter(mask).get(t.filter(mask).arg_min())

    picks = (
        large.group_by(by, _BUCKET)
        .agg(pl.concat_list(row.get(t.arg_min()), row.get(t.arg_max()), earliest(v == v.min()), earliest(v == v.max())).alias(_ROW))
        .select(pl.col(_ROW).explode().drop_nulls())
    )
    kept = large.join(picks.unique(), on=_ROW, how="semi")
    keep = columns + ([pl.col(_COUNT).alias(count)] if count else [])
    return pl.concat([small, kept]).sort(by, ts, _ROW).select(keep)


def m4(
    frame: pl.LazyFrame | pl.DataFrame,
    *,
    start: datetime,
    end: datetime,
    buckets: int,
    by: str = "sensor",
    ts: str = "ts",
    value: str = "value",
) -> pl.DataFrame:
    """Reduce each group's readings in ``[start, end)`` to at most ``4 × buckets`` points (M4, see
    the module doc), sorted by group and time.

    ``[start, end)`` is cut into ``buckets`` equal time buckets (the chart's pixel columns); per
    group (``by``) and bucket the first and last reading by time and the smallest and largest by
    value are kept, each once, with all the frame's columns (of tied values the earliest reading;
    NaN and missing values are never the extremes). Groups with at most ``4 × buckets``
    readings are returned whole. Readings outside ``[start, end)`` are not on the chart and are
    left out; timezone-naive datetimes are read as UTC, like ``start`` and ``end``."""
    return m4_plan(frame, start=start, end=end, buckets=buckets, by=by, ts=ts, value=value).collect()


_LTTB: Callable[[np.ndarray, np.ndarray, int], np.ndarray] | None = None


def _compiled_lttb() -> Callable[[np.ndarray, np.ndarray, int], np.ndarray]:
    """The LTTB kernel, compiled by Numba on first use (or loaded from its on-disk cache): importing
    Numba costs about a second, which a caller of :func:`m4` alone should not pay."""
    global _LTTB
    if _LTTB is None:
        import numba as nb

        _LTTB = nb.njit(cache=True)(_lttb_kernel)
    return _LTTB


def _lttb_kernel(x: np.ndarray, y: np.ndarray, n: int) -> np.ndarray:
    size = x.shape[0]
    out = np.empty(n, dtype=np.int64)
    out[0] = 0
    every = (size - 2) / (n - 2)
    a = 0
    for i in range(n - 2):
        # The average of the next bucket is the third corner of the triangles.
        lo = int(np.floor((i + 1) * every)) + 1
        hi = min(int(np.floor((i + 2) * every)) + 1, size)
        avg_x = 0.0
        avg_y = 0.0
        for j in range(lo, hi):
            avg_x += x[j]
            avg_y += y[j]
        count = hi - lo
        avg_x /= count
        avg_y /= count
        # This bucket's point with the largest triangle against the point kept last.
        start = int(np.floor(i * every)) + 1
        stop = int(np.floor((i + 1) * every)) + 1
        best = -1.0
        pick = start
        ax = x[a]
        ay = y[a]
        for j in range(start, stop):
            area = abs((ax - avg_x) * (y[j] - ay) - (ax - x[j]) * (avg_y - ay)) * 0.5
            if area > best:
                best = area
                pick = j
        out[i + 1] = pick
        a = pick
    out[n - 1] = size - 1
    return out


def lttb(ts: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    """Indices of the ``n`` points Largest-Triangle-Three-Buckets keeps (see the module doc), in
    increasing order; always the first and the last point. Every index when the series has at most
    ``n`` points.

    ``ts`` are increasing times (numbers or ``datetime64``), ``values`` finite numbers of the same
    length. The series is cut into ``n - 2`` buckets between its first and last point; from each,
    the point forming the largest triangle with the point kept before it and the average of the
    next bucket is kept (Steinarsson 2013, compiled with Numba)."""
    x = np.asarray(ts)
    y = np.asarray(values, dtype=np.float64)
    if x.ndim != 1 or y.ndim != 1 or x.shape[0] != y.shape[0]:
        raise ValueError(f"ts and values must be 1-D of one length, got shapes {x.shape} and {y.shape}")
    if n < 2:
        raise ValueError(f"n must be at least 2 (the first and the last point), got {n}")
    size = x.shape[0]
    if size <= n:
        return np.arange(size, dtype=np.int64)
    if np.issubdtype(x.dtype, np.datetime64):
        # NaT would turn into the smallest int64 below, a finite number that passes every check.
        if np.isnat(x).any():
            raise ValueError("ts and values must be finite (ts holds NaT)")
        # Microseconds from the first point: exact in float64 for spans of centuries.
        x = (x - x[0]).astype("timedelta64[us]").astype(np.int64).astype(np.float64)
    else:
        x = x.astype(np.float64)
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise ValueError("ts and values must be finite")
    if np.any(np.diff(x) < 0):
        raise ValueError("ts must be in increasing order")
    if n == 2:
        return np.array([0, size - 1], dtype=np.int64)
    return _compiled_lttb()(x, y, n)
