"""The Machine detail read model (analytics.views.machine) on the lived hub and on hand-built frames.

Every answer of :func:`machine_detail` is checked against the stored tables read independently
(FactoryReader, the stores' ``read_*``) or a reference computed by hand, so the view cannot pass by
agreeing with itself. The lived hub (tests/conftest.py) is shared read-only; tests that add to it
work on ``lived_copy``.
"""

from __future__ import annotations

import json
from bisect import bisect_left
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from itertools import pairwise
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from analytics.config import get_settings
from analytics.errors import InvalidIdentifierError, NotFoundError
from analytics.features import MACHINE_HEALTH, FeatureStore
from analytics.ingest.pipeline import ingest_file
from analytics.models.anomaly.scoring import day_bounds, read_scores
from analytics.schemas import MachineSpec
from analytics.solutions.health import HEALTH_SCHEMA
from analytics.solutions.solve import read_health
from analytics.store.hub import Hub
from analytics.store.reader import FactoryReader
from analytics.views.downsample import m4
from analytics.views.machine import (
    ANOMALY_BANDS_SCHEMA,
    ANOMALY_WINDOWS_SCHEMA,
    DRIVERS_SCHEMA,
    ENVELOPE_SCHEMA,
    EVENTS_VIEW_SCHEMA,
    HEALTH_TREND_SCHEMA,
    RISK_TREND_SCHEMA,
    SENSORS_SCHEMA,
    SERIES_SCHEMA,
    TOP_DRIVERS,
    MachineDetail,
    anomaly_bands,
    anomaly_drivers,
    failure_drivers,
    machine_detail,
    normal_envelope,
)
from tests.conftest import LIVED_FACTORIES, NOW

HANBIT, DAEYANG = LIVED_FACTORIES
# The lived days: 2026-09-01 .. 2026-09-24 in Seoul (UTC+9).
FIRST_DAY, LAST_DAY = date(2026, 9, 1), date(2026, 9, 24)
START = day_bounds(FIRST_DAY, "Asia/Seoul")[0]
END = day_bounds(LAST_DAY, "Asia/Seoul")[1]
H = timedelta(hours=1)


@pytest.fixture(scope="module")
def lived(lived_dir: Path) -> Hub:
    """The shared lived hub, only read here."""
    return Hub.open(data_dir=lived_dir)


def raw_readings(hub: Hub, factory_id: str, machine_id: str, start: datetime, end: datetime) -> pl.DataFrame:
    return FactoryReader(hub, factory_id).readings(start, end, machines=[machine_id]).select("sensor", "ts", "value").collect().sort("sensor", "ts")


def check_schemas(detail: MachineDetail) -> None:
    assert detail.sensors.schema == pl.Schema(SENSORS_SCHEMA)
    assert detail.series.schema == pl.Schema(SERIES_SCHEMA)
    assert detail.envelope.schema == pl.Schema(ENVELOPE_SCHEMA)
    assert detail.anomaly.schema == pl.Schema(ANOMALY_WINDOWS_SCHEMA)
    assert detail.anomaly_bands.schema == pl.Schema(ANOMALY_BANDS_SCHEMA)
    assert detail.events.schema == pl.Schema(EVENTS_VIEW_SCHEMA)
    assert detail.health.schema == pl.Schema(HEALTH_TREND_SCHEMA)
    assert detail.risk.schema == pl.Schema(RISK_TREND_SCHEMA)
    assert detail.drivers.schema == pl.Schema(DRIVERS_SCHEMA)


# --- series -------------------------------------------------------------------------------------
@pytest.mark.parametrize(("factory_id", "machine_id"), [(HANBIT, "CMP-01"), (HANBIT, "CNC-01"), (DAEYANG, "CMP-01"), (DAEYANG, "INJ-02")])
def test_series_is_the_raw_readings_under_max_points(lived: Hub, factory_id: str, machine_id: str) -> None:
    detail = machine_detail(lived, factory_id, machine_id, START, END)  # 24 days of 20-minute samples: < 2000 per sensor
    raw = raw_readings(lived, factory_id, machine_id, START, END)
    assert raw.height > 10_000
    assert not detail.downsampled
    assert detail.raw_points == raw.height
    assert detail.series.equals(raw)
    registered = sorted((s.sensor, s.unit) for s in lived.registry.sensors(factory_id, machine_id))
    assert detail.sensors.select("sensor", "unit").rows() == registered
    assert (detail.factory_id, detail.machine_id, detail.timezone) == (factory_id, machine_id, "Asia/Seoul")
    assert detail.machine_type == lived.registry.machine(factory_id, machine_id).machine_type
    check_schemas(detail)


@pytest.mark.parametrize("max_points", [40, 43, 500])
def test_series_downsampled_keeps_extremes(lived: Hub, max_points: int) -> None:
    detail = machine_detail(lived, HANBIT, "PMP-01", START, END, max_points=max_points)
    raw = raw_readings(lived, HANBIT, "PMP-01", START, END)
    buckets = max_points // 4
    assert detail.downsampled
    assert detail.raw_points == raw.height
    series = detail.series
    assert series.equals(series.sort("sensor", "ts")) and not series.select("sensor", "ts").is_duplicated().any()
    assert series.join(raw, on=["sensor", "ts", "value"], how="anti").is_empty(), "every point is a real reading"
    per_sensor = series.group_by("sensor").len()
    assert per_sensor.height == raw.get_column("sensor").n_unique()
    assert per_sensor.get_column("len").max() <= 4 * buckets  # type: ignore[operator]
    extremes = raw.group_by("sensor").agg(pl.col("value").min().alias("lo"), pl.col("value").max().alias("hi")).sort("sensor")
    kept = series.group_by("sensor").agg(pl.col("value").min().alias("lo"), pl.col("value").max().alias("hi")).sort("sensor")
    assert kept.equals(extremes)
    assert series.equals(m4(raw, start=START, end=END, buckets=buckets))


def test_range_is_respected(lived: Hub) -> None:
    start, end = datetime(2026, 9, 10, 3, 17, tzinfo=UTC), datetime(2026, 9, 16, 21, 5, tzinfo=UTC)
    detail = machine_detail(lived, HANBIT, "CNC-01", start, end)
    raw = raw_readings(lived, HANBIT, "CNC-01", start, end)
    assert detail.series.equals(raw) and detail.raw_points == raw.height
    assert (detail.start, detail.end) == (start, end)
    ts = detail.series.get_column("ts")
    assert ts.min() >= start and ts.max() < end  # type: ignore[operator]
    env = detail.envelope.get_column("ts")
    assert env.len() and env.min() >= start and env.max() < end  # type: ignore[operator]
    assert detail.anomaly.height
    assert detail.anomaly.filter((pl.col("window_start") >= end) | (pl.col("window_end") <= start)).is_empty()
    assert detail.anomaly.equals(detail.anomaly.sort("window_start"))
    if detail.events.height:
        assert detail.events.get_column("ts").min() >= start and detail.events.get_column("ts").max() < end  # type: ignore[operator]
    # Health is per local date: the Seoul dates the range touches.
    assert detail.health.get_column("day").to_list() == [date(2026, 9, d) for d in range(10, 18)]
    # A naive range is UTC.
    naive = machine_detail(lived, HANBIT, "CNC-01", start.replace(tzinfo=None), end.replace(tzinfo=None))
    assert naive.series.equals(detail.series) and naive.start == start


def test_sensor_subset(lived: Hub) -> None:
    chosen = ["vibration_rms", "bearing_temp", "vibration_rms"]
    detail = machine_detail(lived, HANBIT, "CMP-01", START, END, sensors=chosen)
    whole = machine_detail(lived, HANBIT, "CMP-01", START, END)
    assert detail.sensors.get_column("sensor").to_list() == ["bearing_temp", "vibration_rms"]
    assert detail.series.equals(whole.series.filter(pl.col("sensor").is_in(chosen)))
    assert detail.envelope.equals(whole.envelope.filter(pl.col("sensor").is_in(chosen)))
    assert_drivers_equal(detail.drivers, whole.drivers)  # the drivers cover the whole machine
    with pytest.raises(NotFoundError, match="not_there"):
        machine_detail(lived, HANBIT, "CMP-01", START, END, sensors=["not_there"])


def test_full_range_with_500_points(lived: Hub) -> None:
    """A smoke run of the page's default view: every machine's 24 days at 500 points (not timed)."""
    for machine in lived.registry.machines(DAEYANG):
        detail = machine_detail(lived, DAEYANG, machine.machine_id, START, END, max_points=500)
        assert detail.downsampled and detail.series.height <= 500 * detail.sensors.height
        assert detail.envelope.group_by("sensor").len().get_column("len").max() <= 500  # type: ignore[operator]
        check_schemas(detail)


# --- normal envelope ----------------------------------------------------------------------------
def envelope_reference(hub: Hub, factory_id: str, machine_id: str, start: datetime, end: datetime, baseline_days: int, k: float) -> pl.DataFrame:
    """The envelope as the module doc defines it, computed hour by hour with numpy: median ± k ×
    max(IQR / 1.349, sd / 10) of the hourly means over [t − baseline_days, t) in which the machine
    ran at least half the hour and the monitor neither flagged nor excluded the hour; at least 12."""
    store = FeatureStore(hub, factory_id)
    sensor = store.read(MACHINE_HEALTH, "1h", "sensor").collect().filter(pl.col("machine_id") == machine_id)
    machine = store.read(MACHINE_HEALTH, "1h", "machine").collect().filter(pl.col("machine_id") == machine_id)
    scores = read_scores(hub, factory_id).collect().filter(pl.col("machine_id") == machine_id)
    running = set(machine.filter(pl.col("share_running") >= 0.5).get_column("window_start").to_list())
    flagged = set(scores.filter(pl.col("above") | pl.col("excluded")).get_column("window_start").to_list())
    assert flagged, "the lived machine has flagged hours to leave out"
    rows = []
    for (name,), hours in sensor.sort("window_start").group_by("sensor", maintain_order=True):
        good = [(t, m) for t, m in hours.select("window_start", "mean").iter_rows() if m is not None and t in running and t not in flagged]
        times = [t for t, _ in good]
        means = np.array([m for _, m in good])
        for t in hours.get_column("window_start"):
            if not start <= t < end:
                continue
            lo, hi = bisect_left(times, t - timedelta(days=baseline_days)), bisect_left(times, t)
            x = means[lo:hi]
            if len(x) < 12:
                continue
            q25, med, q75 = np.percentile(x, [25, 50, 75])
            scale = max((q75 - q25) / 1.349, 0.1 * np.std(x, ddof=1), 1e-9)
            rows.append((name, t, med - k * scale, med + k * scale))
    return pl.DataFrame(rows, schema=ENVELOPE_SCHEMA, orient="row").sort("sensor", "ts")


def test_envelope_matches_reference(lived: Hub) -> None:
    settings = get_settings().solutions.model_copy(update={"baseline_days": 3, "evidence_z": 2.5})
    start, end = datetime(2026, 9, 1, 7, 30, tzinfo=UTC), END
    detail = machine_detail(lived, HANBIT, "CMP-01", start, end, max_points=100_000, settings=settings)
    expected = envelope_reference(lived, HANBIT, "CMP-01", start, end, baseline_days=3, k=2.5)
    got = detail.envelope.sort("sensor", "ts")
    assert expected.height > 1000
    assert got.select("sensor", "ts").equals(expected.select("sensor", "ts")), "envelope hours (>= 12 good hours behind)"
    assert np.allclose(got.get_column("lower").to_numpy(), expected.get_column("lower").to_numpy(), rtol=1e-9, atol=1e-9)
    assert np.allclose(got.get_column("upper").to_numpy(), expected.get_column("upper").to_numpy(), rtol=1e-9, atol=1e-9)
    # The default: the hub's baseline days and threshold, and a thinned envelope for a small max_points.
    default = machine_detail(lived, HANBIT, "CMP-01", start, end, max_points=100_000)
    reference = envelope_reference(
        lived, HANBIT, "CMP-01", start, end, baseline_days=lived.settings.solutions.baseline_days, k=lived.settings.solutions.evidence_z
    )
    assert default.envelope.select("sensor", "ts").equals(reference.select("sensor", "ts"))
    thin = machine_detail(lived, HANBIT, "CMP-01", start, end, max_points=100).envelope
    assert 0 < thin.group_by("sensor").len().get_column("len").max() <= 100  # type: ignore[operator]
    assert thin.join(default.envelope, on=list(ENVELOPE_SCHEMA), how="anti").is_empty()


def hours(n: int, start: datetime = datetime(2026, 9, 1, tzinfo=UTC)) -> list[datetime]:
    return [start + i * H for i in range(n)]


def test_envelope_strictly_from_the_past() -> None:
    ts = hours(30)
    level = [10.0 + (i % 3) for i in range(30)]
    running = pl.DataFrame({"window_start": ts, "share_running": [1.0] * 30})
    flags = pl.DataFrame({"window_start": ts, "above": [i in (3, 4) for i in range(30)], "excluded": [i == 5 for i in range(30)]})
    none = flags.clear()

    def envelope(level: list[float], scores: pl.DataFrame = none, running: pl.DataFrame = running, baseline_days: int = 7) -> pl.DataFrame:
        features = pl.DataFrame({"sensor": "p", "window_start": ts, "mean": level})
        return normal_envelope(features, running, scores, ts[0], ts[-1] + H, baseline_days=baseline_days, k=2.0)

    def spiked(hour: int) -> list[float]:
        return [1e6 if i == hour else v for i, v in enumerate(level)]

    plain = envelope(level)
    assert plain.schema == pl.Schema(ENVELOPE_SCHEMA)
    assert plain.get_column("ts").to_list() == ts[12:], "12 good hours behind the first point"
    # A spike is not in its own hour's envelope, and in every later one.
    changed = plain.join(envelope(spiked(20)), on=["sensor", "ts"]).filter(pl.col("upper") != pl.col("upper_right"))
    assert changed.get_column("ts").to_list() == ts[21:]
    # The window is [t - baseline_days, t): the spike of hour 2 leaves it 24 hours later.
    day = envelope(level, baseline_days=1)
    changed = day.join(envelope(spiked(2), baseline_days=1), on=["sensor", "ts"]).filter(pl.col("upper") != pl.col("upper_right"))
    assert changed.get_column("ts").to_list() == ts[12:27]
    # Flagged (above or excluded) and idle hours are no baseline: more hours to wait.
    assert envelope(level, flags).get_column("ts").min() == ts[15]
    idle = running.with_columns(pl.when(pl.col("window_start") < ts[2]).then(0.4).otherwise(1.0).alias("share_running"))
    assert envelope(level, flags, idle).get_column("ts").min() == ts[17]
    assert envelope(level, none, running.head(20)).get_column("ts").to_list() == ts[12:], "hours without a running share are no baseline"
    assert envelope(level, none, running.filter(pl.col("window_start") != ts[0])).get_column("ts").min() == ts[13]
    # The band: median ± k × IQR / 1.349 (here 2 × 2 / 1.349 around 11 at hour 12: 0, 1, 2 repeated).
    first = plain.row(0, named=True)
    x = np.array(level[:12])
    q25, med, q75 = np.percentile(x, [25, 50, 75])
    assert first["lower"] == pytest.approx(med - 2 * (q75 - q25) / 1.349) and first["upper"] == pytest.approx(med + 2 * (q75 - q25) / 1.349)
    # A flat sensor gets a narrow band floored by a tenth of the sd, not a zero-width one.
    flat = envelope([5.0] * 29 + [5.5])
    assert (flat.get_column("upper") >= flat.get_column("lower")).all()
    nearly = envelope([5.0 + (0.01 if i % 7 == 0 else 0.0) for i in range(30)])
    assert (nearly.get_column("upper") > nearly.get_column("lower")).all()
    empty = normal_envelope(
        pl.DataFrame(schema={"sensor": pl.String(), "window_start": ENVELOPE_SCHEMA["ts"], "mean": pl.Float64()}),
        running,
        flags,
        ts[0],
        ts[-1],
        baseline_days=7,
        k=2.0,
    )
    assert empty.is_empty() and empty.schema == pl.Schema(ENVELOPE_SCHEMA)


# --- anomaly windows, bands and drivers -----------------------------------------------------------
def windows(alarm: list[bool], score: list[float], start: datetime = datetime(2026, 9, 1, tzinfo=UTC)) -> pl.DataFrame:
    ts = hours(len(alarm), start)
    return pl.DataFrame(
        {"window_start": ts, "window_end": [t + H for t in ts], "score": score, "above": alarm, "alarm": alarm, "excluded": [False] * len(alarm)},
        schema=ANOMALY_WINDOWS_SCHEMA,
    )


def test_anomaly_bands_merge_consecutive_alarms() -> None:
    t = hours(12)
    alarm = [False, True, True, True, False, True, False, False, True, True, False, True]
    score = [50.0, 2.0, 7.0, 3.0, 90.0, 1.5, 0.2, 0.1, 4.0, 5.0, 0.3, 6.0]
    frame = windows(alarm, score)
    # A longer window overlapping the last band's stretch and one touching it: merged as well.
    extra = pl.DataFrame(
        {
            "window_start": [t[8] - H / 2, t[10]],
            "window_end": [t[9], t[11]],
            "score": [8.0, 1.1],
            "above": [True, True],
            "alarm": [True, True],
            "excluded": [False, False],
        },
        schema=ANOMALY_WINDOWS_SCHEMA,
    )
    bands = anomaly_bands(pl.concat([frame, extra]).sample(fraction=1.0, shuffle=True, seed=1))
    assert bands.schema == pl.Schema(ANOMALY_BANDS_SCHEMA)
    assert bands.rows() == [(t[1], t[4], 7.0), (t[5], t[6], 1.5), (t[8] - H / 2, t[11] + H, 8.0)]
    assert anomaly_bands(windows([False] * 3, [9.0] * 3)).equals(pl.DataFrame(schema=ANOMALY_BANDS_SCHEMA))
    assert anomaly_bands(pl.DataFrame(schema=ANOMALY_WINDOWS_SCHEMA)).is_empty()


def test_lived_bands_cover_the_alarmed_windows(lived: Hub) -> None:
    detail = machine_detail(lived, HANBIT, "CMP-01", START, END)
    alarmed = detail.anomaly.filter(pl.col("alarm"))
    assert alarmed.height > 3 and detail.anomaly_bands.height
    bands = detail.anomaly_bands.rows()
    assert all(a[1] < b[0] for a, b in pairwise(bands)), "bands are sorted and apart"
    for ws, we, score in alarmed.select("window_start", "window_end", "score").iter_rows():
        assert sum(s <= ws and we <= e and score <= m for s, e, m in bands) == 1
    assert sum((e - s for s, e, _ in bands), timedelta()) == alarmed.height * H  # hourly windows: exactly their time


def assert_drivers_equal(got: pl.DataFrame, expected: pl.DataFrame) -> None:
    """Equal drivers: the shares are sums in whatever order the group-by added them."""
    assert got.select("source", "sensor").rows() == expected.select("source", "sensor").rows()
    assert np.allclose(got.get_column("share").to_numpy(), expected.get_column("share").to_numpy(), rtol=1e-12, atol=0)


def driver_scores() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "score": [2.0, 4.0, 1.5, 9.0],
            "above": [True, True, True, False],
            "alarm": [True, True, False, False],
            "drivers": [
                [{"sensor": "a", "share": 0.5}, {"sensor": "b", "share": 0.5}],
                [{"sensor": "b", "share": 0.75}, {"sensor": "c", "share": 0.25}],
                [{"sensor": "d", "share": 1.0}],
                [{"sensor": "e", "share": 1.0}],
            ],
        }
    )


def test_anomaly_drivers() -> None:
    scores = driver_scores()
    drivers = anomaly_drivers(scores)
    # Weights a 1, b 1 + 3 = 4, c 1 over a total of 6; the above-only and the below-threshold windows do not count.
    assert drivers.schema == pl.Schema(DRIVERS_SCHEMA)
    assert drivers.rows() == [("anomaly", "b", pytest.approx(4 / 6)), ("anomaly", "a", pytest.approx(1 / 6)), ("anomaly", "c", pytest.approx(1 / 6))]
    assert anomaly_drivers(scores, top=1).get_column("sensor").to_list() == ["b"]
    # Without alarms the above-threshold windows speak; without either, nothing.
    above = anomaly_drivers(scores.with_columns(pl.lit(False).alias("alarm")))
    assert above.get_column("sensor").to_list() == ["b", "d", "a", "c"]
    assert anomaly_drivers(scores.with_columns(pl.lit(False).alias("alarm"), pl.lit(False).alias("above"))).is_empty()
    no_shares = scores.with_columns(pl.lit([], dtype=scores.schema["drivers"]).alias("drivers"))
    assert anomaly_drivers(no_shares).equals(pl.DataFrame(schema=DRIVERS_SCHEMA))


def test_failure_drivers() -> None:
    end = datetime(2026, 9, 2, 1, tzinfo=UTC)  # 10:00 in Seoul
    risk = pl.DataFrame(
        {
            "window_end": [end, end - H],
            "sensors": [["x", "y", "z"], ["q"]],
            "shares": [[0.2, 0.7, None], [1.0]],
            "measured": [True, True],
        }
    )
    drivers = failure_drivers(risk.reverse(), "Asia/Seoul")
    assert drivers.schema == pl.Schema(DRIVERS_SCHEMA)
    assert drivers.rows() == [("failure", "y", 0.7), ("failure", "x", 0.2)], "the latest row, largest share first"
    assert failure_drivers(risk.head(0), "Asia/Seoul").equals(pl.DataFrame(schema=DRIVERS_SCHEMA))
    # The machine stopped after 09:00 Seoul time: the day's answer, and so its drivers, is the
    # 08:00-09:00 window.
    idle_last = risk.with_columns(measured=pl.Series([False, True]))
    assert failure_drivers(idle_last, "Asia/Seoul").rows() == [("failure", "q", 1.0)]
    # In UTC the last window (00:00-01:00 on 2 September) is alone on its day: the answer, idle.
    assert failure_drivers(idle_last, "UTC").rows() == [("failure", "y", 0.7), ("failure", "x", 0.2)]


def test_lived_drivers(lived: Hub) -> None:
    for machine in lived.registry.machines(HANBIT):
        detail = machine_detail(lived, HANBIT, machine.machine_id, START, END)
        drivers = detail.drivers
        assert set(drivers.get_column("source")) <= {"anomaly", "failure"}
        assert set(drivers.get_column("sensor")) <= set(detail.sensors.get_column("sensor"))
        for (source,), part in drivers.group_by("source"):
            shares = part.get_column("share")
            assert part.height <= TOP_DRIVERS
            assert shares.sum() <= 1 + 1e-9 and (shares > 0).all()
            assert shares.to_list() == sorted(shares.to_list(), reverse=True), source
        in_range = (
            read_scores(lived, HANBIT)
            .collect()
            .filter((pl.col("machine_id") == machine.machine_id) & (pl.col("window_start") < END) & (pl.col("window_end") > START))
        )
        assert_drivers_equal(drivers.filter(pl.col("source") == "anomaly"), anomaly_drivers(in_range))
        assert detail.risk.is_empty() == drivers.filter(pl.col("source") == "failure").is_empty()


# --- events, health, latest ---------------------------------------------------------------------
def test_events_of_the_machine_only(lived: Hub) -> None:
    everything = FactoryReader(lived, HANBIT).events(START, END).collect()
    assert everything.get_column("machine_id").n_unique() == 4
    for machine in lived.registry.machines(HANBIT):
        detail = machine_detail(lived, HANBIT, machine.machine_id, START, END)
        expected = everything.filter(pl.col("machine_id") == machine.machine_id).select(list(EVENTS_VIEW_SCHEMA)).sort("ts", "kind", "component")
        assert detail.events.height and detail.events.equals(expected)


def test_health_and_latest_are_the_stored_rows(lived: Hub) -> None:
    stored = read_health(lived, HANBIT).collect()
    with_evidence = stored.filter((pl.col("machine_id") == "CMP-01") & (pl.col("evidence_json") != "[]")).sort("day")
    assert with_evidence.height
    day = with_evidence.get_column("day")[-1]
    end = day_bounds(day, "Asia/Seoul")[1]
    detail = machine_detail(lived, HANBIT, "CMP-01", START, end)
    rows = stored.filter((pl.col("machine_id") == "CMP-01") & (pl.col("day") <= day)).sort("day")
    assert detail.health.equals(rows.select(list(HEALTH_TREND_SCHEMA)))
    latest = detail.latest
    assert latest is not None
    row = rows.row(-1, named=True)
    assert {k: latest[k] for k in HEALTH_SCHEMA} == row
    assert set(latest) == set(HEALTH_SCHEMA) | {"evidence"}
    assert isinstance(latest["evidence"], list) and latest["evidence"] == json.loads(row["evidence_json"])
    assert latest["evidence"] and all(isinstance(e, dict) for e in latest["evidence"])


# --- tenancy ------------------------------------------------------------------------------------
def test_tenancy(lived: Hub) -> None:
    with pytest.raises(NotFoundError):
        machine_detail(lived, HANBIT, "INJ-01", START, END)  # daeyang's machine
    with pytest.raises(NotFoundError):
        machine_detail(lived, DAEYANG, "CNC-01", START, END)  # hanbit's
    with pytest.raises(NotFoundError):
        machine_detail(lived, "nowhere-01", "CMP-01", START, END)
    for factory_id, machine_id in [("../daeyang-02", "CMP-01"), ("Hanbit-01", "CMP-01"), (HANBIT, "../CMP-01"), (HANBIT, "CMP 01"), (HANBIT, "")]:
        with pytest.raises(InvalidIdentifierError):
            machine_detail(lived, factory_id, machine_id, START, END)
    with pytest.raises(InvalidIdentifierError):
        machine_detail(lived, HANBIT, "CMP-01", START, END, sensors=["flow; drop"])
    # Both factories have a CMP-01: each sees only its own.
    ours, theirs = machine_detail(lived, HANBIT, "CMP-01", START, END), machine_detail(lived, DAEYANG, "CMP-01", START, END)
    assert ours.series.equals(raw_readings(lived, HANBIT, "CMP-01", START, END))
    assert not ours.series.equals(theirs.series)
    assert theirs.events.filter(pl.col("kind") == "failure").height and ours.events.filter(pl.col("kind") == "failure").is_empty()
    ours_scores = read_scores(lived, HANBIT).collect().filter(pl.col("machine_id") == "CMP-01")
    assert ours.anomaly.join(ours_scores, on=["window_start", "score"], how="anti").is_empty()
    assert not ours.health.equals(theirs.health)
    assert ours.latest is not None and ours.latest["machine_id"] == "CMP-01"


def test_rejects_bad_ranges(lived: Hub) -> None:
    with pytest.raises(ValueError, match="after start"):
        machine_detail(lived, HANBIT, "CMP-01", END, START)
    with pytest.raises(ValueError, match="max_points"):
        machine_detail(lived, HANBIT, "CMP-01", START, END, max_points=3)


# --- a machine (and a factory) with no history ----------------------------------------------------
def check_empty_history(detail: MachineDetail, points: int) -> None:
    check_schemas(detail)
    assert detail.series.height == points and detail.raw_points == points and not detail.downsampled
    for frame in (detail.envelope, detail.anomaly, detail.anomaly_bands, detail.events, detail.health, detail.risk, detail.drivers):
        assert frame.is_empty()
    assert detail.latest is None


def test_fresh_machine_in_a_lived_factory(lived_copy: Hub, write_file: Callable[..., Path]) -> None:
    spec = MachineSpec.model_validate({"id": "NEW-01", "type": "pump", "sensors": [{"name": "pressure", "unit": "bar", "min": 0, "max": 40}, {"name": "flow"}]})
    lived_copy.registry.add_machine(HANBIT, spec)
    csv = "machine_id,sensor,ts,value\n" + "".join(
        f"NEW-01,{s},2026-09-20 10:{m:02d}:00,{v}\n" for s in ("pressure", "flow") for m, v in ((0, 1.5), (10, 2.5), (20, 3.5))
    )
    assert ingest_file(lived_copy, HANBIT, write_file("new.csv", csv), now=NOW).accepted == 6
    detail = machine_detail(lived_copy, HANBIT, "NEW-01", START, END)
    check_empty_history(detail, 6)
    assert detail.sensors.rows() == [("flow", "", None, None), ("pressure", "bar", 0.0, 40.0)]
    # The neighbours' history is still there (and not the new machine's).
    assert machine_detail(lived_copy, HANBIT, "CMP-01", START, END).anomaly.height


def test_empty_factory(acme: Hub) -> None:
    """A factory with no stored table at all (no readings, scores, features or health yet)."""
    detail = machine_detail(acme, "acme", "PUMP-02", START, END)
    check_empty_history(detail, 0)
    assert detail.sensors.get_column("sensor").to_list() == ["flow", "pressure"]
