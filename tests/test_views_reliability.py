"""Reliability figures (analytics.views.reliability) against values computed by hand.

A tiny factory in Seoul (UTC+9) is built through the real registry and ingest: hourly readings from
2026-10-01 00:00 to 2026-11-10 12:00 local, and a maintenance log with a failure that spans the
October/November boundary, a machine that never fails, maintenance that overlaps a repair, a
failure still under repair, and a maintenance at 05:00 on 1 November local (still 31 October in
UTC). The expected figures below are worked out by hand in the comments. The interval arithmetic
(pairing, union, clipping) is also checked against a naive minute-by-minute loop on random logs.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analytics.errors import InvalidIdentifierError, NotFoundError
from analytics.ingest.mapping import ImportMapping
from analytics.ingest.pipeline import ingest_file
from analytics.schemas import PlantDescription
from analytics.store.hub import Hub
from analytics.views import RELIABILITY_SCHEMA, monthly_reliability, reliability
from analytics.views.reliability import (
    HOURS_SCHEMA,
    INTERVALS_SCHEMA,
    PLANNED_MAINTENANCE_HOURS,
    WINDOWS_SCHEMA,
    downtime_hours,
    downtime_intervals,
    month_bounds,
    reliability_figures,
)

SEOUL = ZoneInfo("Asia/Seoul")
FACTORY = "relia"
INGEST_NOW = datetime(2026, 12, 1, tzinfo=UTC)
PLANT = {
    "factory": {"id": FACTORY, "timezone": "Asia/Seoul"},
    "machines": [
        {"id": m, "type": "pump", "sensors": [{"name": "pressure", "unit": "bar", "min": 0, "max": 40, "interval": "1h"}]} for m in ("M-A", "M-B", "M-C")
    ],
}
FIRST_READING = datetime(2026, 10, 1, 0, 0)  # local
LATEST_READING = datetime(2026, 11, 10, 12, 0)  # local
EVENTS = [
    # M-A: fails 31 Oct 22:00, repaired 1 Nov 03:00 -> 2 h in October, 3 h in November.
    ("M-A", "2026-10-31 22:00:00", "failure", "bearing_wear"),
    ("M-A", "2026-11-01 03:00:00", "repair", "bearing_wear"),
    # M-A: maintenance 1 Nov 05:00 local (= 31 Oct 20:00 UTC): November locally, 3 h planned.
    ("M-A", "2026-11-01 05:00:00", "maintenance", "preventive"),
    # M-A: fails 5 Nov 10:00, repaired 11:30 -> 1.5 h.
    ("M-A", "2026-11-05 10:00:00", "failure", "clogging"),
    ("M-A", "2026-11-05 11:30:00", "repair", "clogging"),
    # M-B: never down (an alarm and an inspection stop nothing).
    ("M-B", "2026-10-15 09:00:00", "alarm", "vibration"),
    ("M-B", "2026-11-03 09:00:00", "inspection", "visual"),
    # M-C: maintenance 10 Oct 08:00-11:00 and a failure 10:00 repaired 14:00: repair 4 h,
    # maintenance 3 h, down 08:00-14:00 = 6 h (the overlap counted once).
    ("M-C", "2026-10-10 08:00:00", "maintenance", "preventive"),
    ("M-C", "2026-10-10 10:00:00", "failure", "overheating"),
    ("M-C", "2026-10-10 14:00:00", "repair", "overheating"),
    # M-C: fails 10 Nov 10:00, no repair logged yet: down until the latest reading, 12:00 -> 2 h.
    ("M-C", "2026-11-10 10:00:00", "failure", "clogging"),
]
THIS_MONTH_H = 9 * 24 + 12  # 1 Nov 00:00 .. 10 Nov 12:00 local (the latest reading)
LAST_MONTH_H = 31 * 24  # October, readings from its first hour


def local(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=SEOUL).astimezone(UTC)


@pytest.fixture(scope="module")
def plant(tmp_path_factory: pytest.TempPathFactory) -> Hub:
    """The tiny factory of the module doc (built once, only read)."""
    root = tmp_path_factory.mktemp("reliability")
    hub = Hub.open(data_dir=root / "hub")
    hub.registry.register_plant(PlantDescription.model_validate(PLANT))
    hours = int((LATEST_READING - FIRST_READING) / timedelta(hours=1)) + 1
    stamps = [(FIRST_READING + timedelta(hours=h)).strftime("%Y-%m-%d %H:%M:%S") for h in range(hours)]
    readings = root / "readings.csv"
    readings.write_text("machine_id,sensor,ts,value\n" + "".join(f"{m},pressure,{ts},5.0\n" for m in ("M-A", "M-B", "M-C") for ts in stamps), encoding="utf-8")
    assert ingest_file(hub, FACTORY, readings, now=INGEST_NOW).accepted == 3 * hours
    events = root / "events.csv"
    events.write_text("machine_id,ts,kind,component,text\n" + "".join(f"{m},{ts},{k},{c},\n" for m, ts, k, c in EVENTS), encoding="utf-8")
    assert ingest_file(hub, FACTORY, events, ImportMapping(table="events"), now=INGEST_NOW).accepted == len(EVENTS)
    return hub


def row(frame: pl.DataFrame, period: str | None, machine: str | None) -> dict:
    rows = frame.filter(pl.col("period").eq_missing(pl.lit(period, pl.String)) & pl.col("machine_id").eq_missing(pl.lit(machine, pl.String))).to_dicts()
    assert len(rows) == 1, (period, machine, rows)
    return rows[0]


def check(got: dict, **expected: float | None) -> None:
    for key, value in expected.items():
        if value is None or isinstance(value, int) and key == "failures":
            assert got[key] == value, (key, got[key], value)
        else:
            assert got[key] == pytest.approx(value, abs=1e-9), (key, got[key], value)


# --- the hand-built factory -------------------------------------------------------------------------
def test_monthly_figures_by_hand(plant: Hub) -> None:
    figures = monthly_reliability(plant, FACTORY, date(2026, 11, 10))
    assert figures.schema == pl.Schema(RELIABILITY_SCHEMA)
    # Per period the factory row first, then machines in id order; this month before last month.
    assert figures.select("period", "machine_id").rows() == [(p, m) for p in ("this_month", "last_month") for m in (None, "M-A", "M-B", "M-C")]

    this = THIS_MONTH_H
    check(
        row(figures, "this_month", "M-A"),
        failures=1,
        repair_h=4.5,
        maintenance_h=3.0,
        downtime_h=7.5,
        observed_h=this,
        mtbf_h=this - 7.5,
        mttr_h=4.5,
        availability=1 - 7.5 / this,
    )
    check(
        row(figures, "this_month", "M-B"),
        failures=0,
        repair_h=0.0,
        maintenance_h=0.0,
        downtime_h=0.0,
        observed_h=this,
        mtbf_h=None,
        mttr_h=None,
        availability=1.0,
    )
    check(
        row(figures, "this_month", "M-C"),
        failures=1,
        repair_h=2.0,
        maintenance_h=0.0,
        downtime_h=2.0,
        observed_h=this,
        mtbf_h=this - 2.0,
        mttr_h=2.0,
        availability=1 - 2.0 / this,
    )
    check(
        row(figures, "this_month", None),
        failures=2, repair_h=6.5, maintenance_h=3.0, downtime_h=9.5, observed_h=3 * this,
        mtbf_h=(3 * this - 9.5) / 2, mttr_h=6.5 / 2, availability=1 - 9.5 / (3 * this),
    )  # fmt: skip

    last = LAST_MONTH_H
    check(
        row(figures, "last_month", "M-A"),
        failures=1,
        repair_h=2.0,
        maintenance_h=0.0,
        downtime_h=2.0,
        observed_h=last,
        mtbf_h=last - 2.0,
        mttr_h=2.0,
        availability=1 - 2.0 / last,
    )
    check(row(figures, "last_month", "M-B"), failures=0, downtime_h=0.0, observed_h=last, mtbf_h=None, mttr_h=None, availability=1.0)
    check(
        row(figures, "last_month", "M-C"),
        failures=1,
        repair_h=4.0,
        maintenance_h=3.0,
        downtime_h=6.0,
        observed_h=last,
        mtbf_h=last - 6.0,
        mttr_h=4.0,
        availability=1 - 6.0 / last,
    )
    check(
        row(figures, "last_month", None),
        failures=2, repair_h=6.0, maintenance_h=3.0, downtime_h=8.0, observed_h=3 * last,
        mtbf_h=(3 * last - 8.0) / 2, mttr_h=3.0, availability=1 - 8.0 / (3 * last),
    )  # fmt: skip

    periods = figures.unique("period", maintain_order=True).select("period", "period_start", "period_end").rows()
    assert periods == [("this_month", date(2026, 11, 1), date(2026, 11, 30)), ("last_month", date(2026, 10, 1), date(2026, 10, 31))]


def test_this_month_is_observed_as_of_today(plant: Hub) -> None:
    # As of 3 Nov: observed to the end of that day (72 h); the 5 and 10 Nov failures have not happened.
    figures = monthly_reliability(plant, FACTORY, date(2026, 11, 3))
    check(
        row(figures, "this_month", "M-A"),
        failures=0,
        repair_h=3.0,
        maintenance_h=3.0,
        downtime_h=6.0,
        observed_h=72.0,
        mtbf_h=None,
        mttr_h=None,
        availability=1 - 6 / 72,
    )
    check(row(figures, "this_month", "M-C"), failures=0, downtime_h=0.0, observed_h=72.0, availability=1.0)
    # Last month does not depend on the day of this month.
    later = monthly_reliability(plant, FACTORY, date(2026, 11, 30))
    assert figures.filter(pl.col("period") == "last_month").equals(later.filter(pl.col("period") == "last_month"))
    # Past the latest reading, this month stops at the reading (10 Nov 12:00), not at the 30th.
    check(row(later, "this_month", None), observed_h=3 * THIS_MONTH_H)


def test_a_month_without_data_observes_nothing(plant: Hub) -> None:
    figures = monthly_reliability(plant, FACTORY, date(2026, 10, 20))  # last month: September, before any reading
    for machine in (None, "M-A", "M-B", "M-C"):
        check(row(figures, "last_month", machine), failures=0, downtime_h=0.0, observed_h=0.0, mtbf_h=None, mttr_h=None, availability=None)
    # This month (October, to the end of the 20th): the 10 Oct events, from the first reading on.
    check(row(figures, "this_month", "M-C"), failures=1, repair_h=4.0, maintenance_h=3.0, downtime_h=6.0, observed_h=20 * 24, mttr_h=4.0)


def test_reliability_of_a_range_is_clipped_to_the_data(plant: Hub) -> None:
    # From 1 Sep local (a month before the first reading) to 10 Oct 11:00 local: observed from the
    # first reading, 1 Oct 00:00, i.e. 9 days and 11 hours; M-C down 08:00-11:00 inside it.
    start, end = local("2026-09-01 00:00:00"), local("2026-10-10 11:00:00")
    figures = reliability(plant, FACTORY, start, end, period="custom")
    observed = 9 * 24 + 11
    check(row(figures, "custom", "M-C"), failures=1, repair_h=1.0, maintenance_h=3.0, downtime_h=3.0, observed_h=observed, mtbf_h=observed - 3.0, mttr_h=1.0)
    check(row(figures, "custom", "M-A"), failures=0, downtime_h=0.0, observed_h=observed, availability=1.0)
    assert row(figures, "custom", None)["period_start"] == date(2026, 9, 1)
    assert row(figures, "custom", None)["period_end"] == date(2026, 10, 10)  # inclusive
    # Naive datetimes are UTC; without a label the period is None.
    naive = reliability(plant, FACTORY, start.replace(tzinfo=None), end.replace(tzinfo=None))
    assert naive.get_column("period").is_null().all()
    assert naive.drop("period").equals(figures.drop("period"))


def test_month_boundary_is_local(plant: Hub) -> None:
    start, end = month_bounds(date(2026, 11, 17), "Asia/Seoul")
    assert (start, end) == (datetime(2026, 10, 31, 15, tzinfo=UTC), datetime(2026, 11, 30, 15, tzinfo=UTC))
    # DST: New York's November is one hour longer than 30 days.
    ny_start, ny_end = month_bounds(date(2026, 11, 1), "America/New_York")
    assert ny_end - ny_start == timedelta(days=30, hours=1)
    # A UTC month would put M-A's 1 Nov 05:00 local maintenance into October.
    utc_october = reliability(plant, FACTORY, datetime(2026, 10, 1, tzinfo=UTC), datetime(2026, 11, 1, tzinfo=UTC))
    assert row(utc_october, None, "M-A")["maintenance_h"] == pytest.approx(3.0)
    assert row(monthly_reliability(plant, FACTORY, date(2026, 11, 10)), "last_month", "M-A")["maintenance_h"] == 0.0


def test_ids_are_checked(plant: Hub) -> None:
    with pytest.raises(NotFoundError):
        monthly_reliability(plant, "nowhere", date(2026, 11, 10))
    with pytest.raises(InvalidIdentifierError):
        reliability(plant, "../relia", datetime(2026, 10, 1, tzinfo=UTC), datetime(2026, 11, 1, tzinfo=UTC))
    with pytest.raises(ValueError, match="after start"):
        reliability(plant, FACTORY, datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 11, 1, tzinfo=UTC))


def test_a_factory_without_readings(hub: Hub) -> None:
    hub.registry.register_plant(PlantDescription.model_validate({**PLANT, "factory": {"id": "empty-one", "timezone": "Asia/Seoul"}}))
    figures = monthly_reliability(hub, "empty-one", date(2026, 11, 10))
    assert figures.height == 8 and figures.get_column("observed_h").sum() == 0.0 and figures.get_column("availability").is_null().all()


# --- the intervals ---------------------------------------------------------------------------------
def ev(rows: list[tuple[str, str, str]]) -> pl.DataFrame:
    return pl.DataFrame(
        [(m, local(ts), k, "x") for m, ts, k in rows],
        schema={"machine_id": pl.String(), "ts": pl.Datetime("us", "UTC"), "kind": pl.String(), "component": pl.String()},
        orient="row",
    )


def test_downtime_intervals_pairing() -> None:
    events = ev(
        [
            ("A", "2026-11-01 10:00:00", "repair"),  # no failure before it: ignored
            ("A", "2026-11-01 12:00:00", "failure"),
            ("A", "2026-11-01 13:00:00", "failure"),  # a second failure before the repair: same repair
            ("B", "2026-11-01 13:30:00", "repair"),  # another machine's repair never closes A's failure
            ("A", "2026-11-01 14:00:00", "repair"),
            ("A", "2026-11-02 08:00:00", "maintenance"),
            ("A", "2026-11-03 08:00:00", "failure"),  # not repaired yet
            ("A", "2026-11-03 09:00:00", "alarm"),
            ("A", "2026-11-03 09:30:00", "inspection"),
        ]
    )
    got = downtime_intervals(events)
    assert got.schema == pl.Schema(INTERVALS_SCHEMA)
    assert got.select("machine_id", "kind", "start", "end").rows() == [
        ("A", "unplanned", local("2026-11-01 12:00:00"), local("2026-11-01 14:00:00")),
        ("A", "unplanned", local("2026-11-01 13:00:00"), local("2026-11-01 14:00:00")),
        ("A", "planned", local("2026-11-02 08:00:00"), local("2026-11-02 08:00:00") + timedelta(hours=PLANNED_MAINTENANCE_HOURS)),
        ("A", "unplanned", local("2026-11-03 08:00:00"), None),
    ]
    longer = downtime_intervals(events, maintenance_hours=8)
    assert longer.filter(pl.col("kind") == "planned").get_column("end").item() == local("2026-11-02 16:00:00")
    assert downtime_intervals(events.head(0)).height == 0
    with pytest.raises(ValueError):
        downtime_intervals(events, maintenance_hours=-1)


def test_downtime_hours_without_intervals() -> None:
    windows = pl.DataFrame(
        [("p", date(2026, 11, 1), date(2026, 11, 30), local("2026-11-01 00:00:00"), local("2026-11-02 00:00:00"))], schema=WINDOWS_SCHEMA, orient="row"
    )
    assert downtime_hours(pl.DataFrame(schema=INTERVALS_SCHEMA), windows).schema == pl.Schema(HOURS_SCHEMA)
    figures = reliability_figures(ev([]), ["A"], windows)
    check(row(figures, "p", "A"), failures=0, downtime_h=0.0, observed_h=24.0, availability=1.0, mtbf_h=None)


# --- a naive reference on random logs --------------------------------------------------------------
ORIGIN = datetime(2026, 11, 1, tzinfo=UTC)
SPAN_MIN = 3 * 24 * 60
MAINTENANCE_MIN = 90


@st.composite
def logs(draw: st.DrawFn) -> tuple[list[tuple[str, int, str]], list[tuple[int, int]]]:
    """Events (machine, minute, kind) on a 3-day span and 1-2 observation windows (minutes)."""
    n = draw(st.integers(0, 14))
    events = [
        (
            draw(st.sampled_from(["A", "B"])),
            draw(st.integers(0, SPAN_MIN)),
            draw(st.sampled_from(["failure", "failure", "repair", "repair", "maintenance", "alarm"])),
        )
        for _ in range(n)
    ]
    windows = []
    for _ in range(draw(st.integers(1, 2))):
        a, b = sorted((draw(st.integers(-60, SPAN_MIN + 60)), draw(st.integers(-60, SPAN_MIN + 60))))
        windows.append((a, b))
    return events, windows


def naive(events: list[tuple[str, int, str]], machine: str, window: tuple[int, int]) -> dict[str, float]:
    """Minute by minute: is the machine in repair, in maintenance, down at all."""
    mine = sorted((t, k) for m, t, k in events if m == machine)
    repairs = [t for t, k in mine if k == "repair"]
    unplanned = []
    for t, k in mine:
        if k == "failure":
            after = [r for r in repairs if r >= t]
            unplanned.append((t, after[0] if after else None))
    planned = [(t, t + MAINTENANCE_MIN) for t, k in mine if k == "maintenance"]
    start, end = window
    repair = maintenance = down = 0
    for minute in range(start, end):
        in_repair = any(s <= minute < (e if e is not None else end) for s, e in unplanned)
        in_maintenance = any(s <= minute < e for s, e in planned)
        repair += in_repair
        maintenance += in_maintenance
        down += in_repair or in_maintenance
    failures = sum(1 for t, k in mine if k == "failure" and start <= t < end)
    return {"repair_h": repair / 60, "maintenance_h": maintenance / 60, "downtime_h": down / 60, "failures": failures, "observed_h": (end - start) / 60}


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(logs())
def test_clipped_union_matches_a_minute_loop(case: tuple[list[tuple[str, int, str]], list[tuple[int, int]]]) -> None:
    events, windows = case
    frame = pl.DataFrame(
        [(m, ORIGIN + timedelta(minutes=t), k, None) for m, t, k in events],
        schema={"machine_id": pl.String(), "ts": pl.Datetime("us", "UTC"), "kind": pl.String(), "component": pl.String()},
        orient="row",
    )
    frame_windows = pl.DataFrame(
        [(f"w{i}", date(2026, 11, 1), date(2026, 11, 3), ORIGIN + timedelta(minutes=a), ORIGIN + timedelta(minutes=b)) for i, (a, b) in enumerate(windows)],
        schema=WINDOWS_SCHEMA,
        orient="row",
    )
    figures = reliability_figures(frame, ["A", "B"], frame_windows, maintenance_hours=MAINTENANCE_MIN / 60)
    for i, window in enumerate(windows):
        totals = {"repair_h": 0.0, "maintenance_h": 0.0, "downtime_h": 0.0, "failures": 0, "observed_h": 0.0}
        for machine in ("A", "B"):
            want = naive(events, machine, window)
            got = row(figures, f"w{i}", machine)
            for key, value in want.items():
                assert got[key] == pytest.approx(value, abs=1e-9), (machine, window, key)
                totals[key] += value
            observed, down, failures = want["observed_h"], want["downtime_h"], want["failures"]
            assert got["availability"] == (pytest.approx(1 - down / observed) if observed else None)
            assert got["mtbf_h"] == (pytest.approx((observed - down) / failures) if failures else None)
        factory = row(figures, f"w{i}", None)
        for key, value in totals.items():
            assert factory[key] == pytest.approx(value, abs=1e-9), ("factory", window, key)
