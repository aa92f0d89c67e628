"""M4 and LTTB downsampling (analytics.views.downsample) against naive reference implementations.

The references are written the obvious way (Python loops over buckets and points) so that a
mistake in the vectorised Polars query or the compiled LTTB kernel shows up as a disagreement;
hypothesis draws the awkward series (missing and NaN values, empty buckets, ties, a single point,
readings outside the range, many sensors).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analytics.views.downsample import lttb, m4, m4_plan

T0 = datetime(2026, 9, 1, tzinfo=UTC)
US = timedelta(microseconds=1)


# --- M4 reference -------------------------------------------------------------------------------
def _finite(value: float | None) -> bool:
    return value is not None and not math.isnan(value)


def m4_reference(rows: list[dict], start: datetime, end: datetime, buckets: int) -> set[int]:
    """Row ids M4 keeps of rows ``{"rid", "sensor", "ts", "value"}``.

    Bucket ``b`` is ``[start + ceil(b * span / buckets), start + ceil((b + 1) * span / buckets))``
    in microseconds (a reading on an edge belongs to the later bucket). Per sensor with more than
    ``4 × buckets`` readings in range, each bucket keeps its first and last reading by time and
    its smallest and largest value; NaN and None are no extremes. Ties on value go to the earliest
    reading, ties on time to the first row."""
    span = (end - start) // US
    keep: set[int] = set()
    for sensor in sorted({r["sensor"] for r in rows}):
        inside = [r for r in rows if r["sensor"] == sensor and start <= r["ts"] < end]
        if len(inside) <= 4 * buckets:
            keep |= {r["rid"] for r in inside}
            continue
        for b in range(buckets):
            lo = start + (-(-b * span // buckets)) * US
            hi = start + (-(-(b + 1) * span // buckets)) * US
            bucket = [r for r in inside if lo <= r["ts"] < hi]  # rows keep their input order
            if not bucket:
                continue
            # min() and max() return the first of equal keys.
            keep.add(min(bucket, key=lambda r: r["ts"])["rid"])
            keep.add(max(bucket, key=lambda r: (r["ts"], -r["rid"]))["rid"])
            finite = [r for r in bucket if _finite(r["value"])]
            if finite:
                keep.add(min(finite, key=lambda r: (r["value"], r["ts"]))["rid"])
                keep.add(min(finite, key=lambda r: (-r["value"], r["ts"]))["rid"])
    return keep


values = st.one_of(
    st.none(),
    st.just(float("nan")),
    st.sampled_from([-1.0, 0.0, 1.0, 2.5]),  # ties
    st.floats(min_value=-1e6, max_value=1e6, allow_nan=False),
)


@st.composite
def series(draw: st.DrawFn) -> tuple[pl.DataFrame, datetime, datetime, int]:
    """A long frame of readings over a few sensors, a range [start, end) that cuts some of them
    off, and a bucket count small enough that most sensors get reduced."""
    span_us = draw(st.integers(min_value=1, max_value=10**12))
    n_sensors = draw(st.integers(min_value=1, max_value=6))
    # Offsets from a small pool make equal timestamps (ties by time) likely.
    pool = draw(st.lists(st.integers(min_value=-span_us // 4, max_value=span_us + span_us // 4), min_size=1, max_size=40))
    offset = st.one_of(st.sampled_from(pool), st.integers(min_value=-span_us // 4, max_value=span_us + span_us // 4))
    n = draw(st.integers(min_value=0, max_value=160))
    rows = draw(st.lists(st.tuples(st.integers(0, n_sensors - 1), offset, values), min_size=n, max_size=n))
    buckets = draw(st.integers(min_value=1, max_value=12))
    start = T0
    frame = pl.DataFrame(
        {
            "rid": list(range(len(rows))),
            "sensor": [f"s{s}" for s, _, _ in rows],
            "ts": [start + o * US for _, o, _ in rows],
            "value": [v for _, _, v in rows],
        },
        schema={"rid": pl.Int64(), "sensor": pl.String(), "ts": pl.Datetime("us", "UTC"), "value": pl.Float64()},
    )
    return frame, start, start + span_us * US, buckets


def _check_m4(frame: pl.DataFrame, out: pl.DataFrame, start: datetime, end: datetime, buckets: int) -> None:
    kept = out.get_column("rid").to_list()
    assert len(kept) == len(set(kept)), "a reading is kept twice"
    assert set(kept) == m4_reference(frame.to_dicts(), start, end, buckets)
    assert out.columns == frame.columns
    assert out.equals(out.sort("sensor", "ts", "rid")), "not sorted by sensor and time"
    assert out.equals(frame.filter(pl.col("rid").is_in(kept)).sort("sensor", "ts", "rid")), "rows changed"
    if out.height:
        assert out.group_by("sensor").len().get_column("len").max() <= 4 * buckets  # type: ignore[operator]
    # The peaks are never lost: every sensor's smallest and largest finite value in range is kept.
    inside = frame.filter((pl.col("ts") >= start) & (pl.col("ts") < end) & pl.col("value").is_not_nan())
    extremes = inside.group_by("sensor").agg(pl.col("value").min().alias("lo"), pl.col("value").max().alias("hi"))
    got = out.filter(pl.col("value").is_not_nan()).group_by("sensor").agg(pl.col("value").min().alias("lo"), pl.col("value").max().alias("hi"))
    assert (
        extremes.join(got, on="sensor", how="left", nulls_equal=True)
        .filter((pl.col("lo") != pl.col("lo_right")) | (pl.col("hi") != pl.col("hi_right")))
        .is_empty()
    )


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(series())
def test_m4_matches_reference(case: tuple[pl.DataFrame, datetime, datetime, int]) -> None:
    frame, start, end, buckets = case
    _check_m4(frame, m4(frame, start=start, end=end, buckets=buckets), start, end, buckets)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(series())
def test_m4_plan_streaming_and_count(case: tuple[pl.DataFrame, datetime, datetime, int]) -> None:
    """The lazy plan gives the same answer on the streaming engine (as the machine view collects
    it), from a LazyFrame, and ``count`` is each sensor's number of readings in range."""
    frame, start, end, buckets = case
    plan = m4_plan(frame.lazy(), start=start, end=end, buckets=buckets, count="n")
    assert isinstance(plan, pl.LazyFrame)
    out = plan.collect(engine="streaming")
    _check_m4(frame, out.drop("n"), start, end, buckets)
    expected = frame.filter((pl.col("ts") >= start) & (pl.col("ts") < end)).group_by("sensor").len()
    counts = out.group_by("sensor").agg(pl.col("n").unique())
    assert counts.get_column("n").list.len().max() in (None, 1)
    assert dict(counts.select("sensor", pl.col("n").list.first()).iter_rows()) == dict(expected.iter_rows())


def test_m4_keeps_first_last_min_max_of_each_bucket() -> None:
    # 3 buckets of 10 minutes, readings in the first two; the spike in the second is kept, the empty third bucket adds nothing.
    ts = [T0 + timedelta(minutes=i) for i in range(20)]
    value = [float(i % 5) for i in range(20)]
    value[13] = 99.0
    frame = pl.DataFrame({"sensor": "a", "ts": ts, "value": value})
    out = m4(frame, start=T0, end=T0 + timedelta(minutes=30), buckets=3)
    assert out.get_column("ts").to_list() == [ts[i] for i in (0, 4, 9, 10, 13, 19)]
    assert out.get_column("value").max() == 99.0


def test_m4_does_not_depend_on_row_order() -> None:
    """The lake hands readings over in file order; the picture must not change with it (ties on
    value, here the zeros of a machine standing still, go to the earliest reading)."""
    rng = np.random.default_rng(11)
    ts = [T0 + timedelta(minutes=20 * i) for i in range(2000)]
    value = np.where(rng.random(2000) < 0.4, 0.0, rng.normal(50, 5, 2000).round(1))
    frame = pl.DataFrame({"sensor": rng.choice(["a", "b", "c"], 2000), "ts": ts, "value": value})
    expected = m4(frame, start=T0, end=ts[-1], buckets=20)
    for seed in range(3):
        shuffled = frame.sample(fraction=1.0, shuffle=True, seed=seed)
        assert m4(shuffled, start=T0, end=ts[-1], buckets=20).equals(expected)
        assert m4_plan(shuffled.lazy(), start=T0, end=ts[-1], buckets=20).collect(engine="streaming").equals(expected)


def test_m4_small_groups_whole_and_out_of_range_dropped() -> None:
    frame = pl.DataFrame(
        {
            "sensor": ["a", "a", "b", "a", "b"],
            "ts": [T0 - US, T0, T0 + timedelta(hours=1), T0 + timedelta(hours=2), T0 + timedelta(days=1)],
            "value": [1.0, None, float("nan"), 3.0, 4.0],
        }
    )
    out = m4(frame, start=T0, end=T0 + timedelta(days=1), buckets=1)
    assert out.select("sensor", "ts").rows() == [("a", T0), ("a", T0 + timedelta(hours=2)), ("b", T0 + timedelta(hours=1))]


def test_m4_single_point_and_empty() -> None:
    one = pl.DataFrame({"sensor": ["a"], "ts": [T0 + timedelta(seconds=5)], "value": [1.5]})
    assert m4(one, start=T0, end=T0 + timedelta(minutes=1), buckets=1).equals(one)
    empty = one.clear()
    out = m4(empty, start=T0, end=T0 + timedelta(minutes=1), buckets=10)
    assert out.is_empty() and out.schema == empty.schema


def test_m4_time_zones() -> None:
    """Naive timestamps are UTC like the bounds; a column in another zone is compared as the
    same instants (not refused)."""
    ts = [T0 + timedelta(minutes=i) for i in range(100)]
    frame = pl.DataFrame({"sensor": "a", "ts": ts, "value": np.sin(np.arange(100) / 5.0)})
    start, end = T0 + timedelta(minutes=10), T0 + timedelta(minutes=90)
    expected = m4(frame, start=start, end=end, buckets=4)
    assert 0 < expected.height <= 16
    naive = frame.with_columns(pl.col("ts").dt.replace_time_zone(None))
    got = m4(naive, start=start.replace(tzinfo=None), end=end, buckets=4)
    assert got.schema == naive.schema
    assert got.with_columns(pl.col("ts").dt.replace_time_zone("UTC")).equals(expected)
    seoul = frame.with_columns(pl.col("ts").dt.convert_time_zone("Asia/Seoul"))
    got = m4(seoul, start=start, end=end, buckets=4)
    assert got.schema == seoul.schema
    assert got.with_columns(pl.col("ts").dt.convert_time_zone("UTC")).equals(expected)
    ms = frame.with_columns(pl.col("ts").dt.cast_time_unit("ms"))
    assert m4(ms, start=start, end=end, buckets=4).get_column("value").equals(expected.get_column("value"))


def test_m4_custom_columns() -> None:
    frame = pl.DataFrame(
        {"machine": ["x"] * 30, "time": [T0 + timedelta(seconds=i) for i in range(30)], "v": [float(i) for i in range(30)], "extra": list(range(30))}
    )
    out = m4(frame, start=T0, end=T0 + timedelta(seconds=30), buckets=2, by="machine", ts="time", value="v")
    assert out.columns == frame.columns
    assert out.get_column("extra").to_list() == [0, 14, 15, 29]


def test_m4_rejects_bad_arguments() -> None:
    frame = pl.DataFrame({"sensor": ["a"], "ts": [T0], "value": [1.0]})
    with pytest.raises(ValueError, match="buckets"):
        m4(frame, start=T0, end=T0 + timedelta(hours=1), buckets=0)
    with pytest.raises(ValueError, match="after start"):
        m4(frame, start=T0, end=T0, buckets=10)
    with pytest.raises(ValueError, match="not in the frame"):
        m4(frame, start=T0, end=T0 + timedelta(hours=1), buckets=10, value="nope")
    with pytest.raises(ValueError, match="overflow"):
        m4(frame, start=datetime(1, 1, 1, tzinfo=UTC), end=datetime(9999, 1, 1, tzinfo=UTC), buckets=10**6)


# --- LTTB reference -----------------------------------------------------------------------------
def lttb_reference(x: list[float], y: list[float], threshold: int) -> list[int]:
    """Steinarsson's Largest-Triangle-Three-Buckets as published (2013, the reference JavaScript
    transcribed): the first and last point kept, ``threshold - 2`` buckets in between."""
    size = len(x)
    if threshold >= size or threshold == 0:
        return list(range(size))
    sampled = [0]
    every = (size - 2) / (threshold - 2)
    a = 0
    for i in range(threshold - 2):
        avg_start = math.floor((i + 1) * every) + 1
        avg_end = min(math.floor((i + 2) * every) + 1, size)
        avg_x = 0.0
        avg_y = 0.0
        for j in range(avg_start, avg_end):
            avg_x += x[j]
            avg_y += y[j]
        avg_x /= avg_end - avg_start
        avg_y /= avg_end - avg_start
        range_offs = math.floor(i * every) + 1
        range_to = math.floor((i + 1) * every) + 1
        max_area = -1.0
        next_a = range_offs
        for j in range(range_offs, range_to):
            area = abs((x[a] - avg_x) * (y[j] - y[a]) - (x[a] - x[j]) * (avg_y - y[a])) * 0.5
            if area > max_area:
                max_area = area
                next_a = j
        sampled.append(next_a)
        a = next_a
    sampled.append(size - 1)
    return sampled


@st.composite
def lttb_cases(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, int]:
    size = draw(st.integers(min_value=0, max_value=200))
    steps = draw(st.lists(st.floats(min_value=0.0, max_value=1e3), min_size=size, max_size=size))
    y = draw(st.lists(st.one_of(st.floats(min_value=-1e6, max_value=1e6), st.sampled_from([0.0, 1.0])), min_size=size, max_size=size))
    n = draw(st.integers(min_value=2, max_value=max(2, size + 3)))
    return np.cumsum(np.asarray(steps, dtype=np.float64)), np.asarray(y, dtype=np.float64), n


@settings(max_examples=150, deadline=None)
@given(lttb_cases())
def test_lttb_matches_reference(case: tuple[np.ndarray, np.ndarray, int]) -> None:
    x, y, n = case
    got = lttb(x, y, n)
    assert got.dtype == np.int64
    if len(x) <= n:
        assert got.tolist() == list(range(len(x)))
        return
    assert len(got) == n
    assert got[0] == 0 and got[-1] == len(x) - 1
    assert np.all(np.diff(got) > 0)
    assert got.tolist() == (lttb_reference(x.tolist(), y.tolist(), n) if n > 2 else [0, len(x) - 1])


def test_lttb_random_walk() -> None:
    rng = np.random.default_rng(7)
    x = np.arange(20_000, dtype=np.float64)
    y = np.cumsum(rng.normal(size=x.size))
    for n in (3, 10, 500, 19_999):
        assert lttb(x, y, n).tolist() == lttb_reference(x.tolist(), y.tolist(), n)


def test_lttb_datetimes_and_integers() -> None:
    rng = np.random.default_rng(3)
    seconds = np.cumsum(rng.integers(1, 120, size=1000))
    y = rng.normal(size=1000)
    stamps = np.datetime64("2026-09-01T00:00:00", "us") + seconds.astype("timedelta64[s]")
    expected = lttb_reference((seconds - seconds[0]).astype(float).tolist(), y.tolist(), 50)
    assert lttb(stamps, y, 50).tolist() == expected
    assert lttb(seconds, y, 50).tolist() == lttb_reference(seconds.astype(float).tolist(), y.tolist(), 50)
    assert lttb(stamps, y, 2).tolist() == [0, 999]
    assert lttb(stamps, y, 1000).tolist() == list(range(1000))


def test_lttb_rejects_bad_input() -> None:
    x = np.arange(10.0)
    with pytest.raises(ValueError, match="at least 2"):
        lttb(x, x, 1)
    with pytest.raises(ValueError, match="one length"):
        lttb(x, x[:-1], 5)
    with pytest.raises(ValueError, match="finite"):
        lttb(x, np.where(x == 3, np.nan, x), 5)
    with pytest.raises(ValueError, match="increasing"):
        lttb(x[::-1], x, 5)
    stamps = np.datetime64("2026-09-01", "us") + np.arange(10).astype("timedelta64[m]")
    for i in (0, 4):
        holed = stamps.copy()
        holed[i] = np.datetime64("NaT")
        with pytest.raises(ValueError, match="finite"):
            lttb(holed, x, 5)
