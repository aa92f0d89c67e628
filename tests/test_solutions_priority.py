"""Working calendars, production stops and the maintenance priority list, against hand-computed cases."""

from __future__ import annotations

import copy
import itertools
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from analytics.errors import InvalidIdentifierError, NotFoundError
from analytics.schemas import PlantDescription
from analytics.simulate.calendar import SHIFT_PATTERNS
from analytics.solutions import (
    DEFAULT_CALENDAR,
    Consequence,
    WorkingCalendar,
    calendar_from_pattern,
    describe_window,
    free_windows,
    get_calendar,
    get_consequences,
    priority_list,
    production_intervals,
    set_calendar,
    set_consequence,
)
from analytics.store.hub import Hub
from tests.conftest import PLANT

SEOUL = ZoneInfo("Asia/Seoul")
BERLIN = ZoneInfo("Europe/Berlin")


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


# --- working calendar ------------------------------------------------------------------------


def test_chuseok_week_in_seoul() -> None:
    # 2026-09-21 is a Monday; Chuseok is Thu 24 to Sat 26; 08:00 KST is 23:00 UTC the day before.
    start, end = (
        datetime(2026, 9, 21, tzinfo=SEOUL),
        datetime(2026, 9, 28, tzinfo=SEOUL),
    )
    assert production_intervals(DEFAULT_CALENDAR, start, end, "Asia/Seoul") == [
        (utc(2026, 9, 20, 23), utc(2026, 9, 21, 9)),
        (utc(2026, 9, 21, 23), utc(2026, 9, 22, 9)),
        (utc(2026, 9, 22, 23), utc(2026, 9, 23, 9)),
    ]
    # From Wednesday 18:00 the plant stands until the end of the week: holiday, then weekend.
    assert free_windows(DEFAULT_CALENDAR, start, end, "Asia/Seoul", min_hours=24) == [
        (utc(2026, 9, 23, 9), utc(2026, 9, 27, 15))
    ]
    # Nights are 14 h; Monday 00:00-08:00 (cut by the start) is only 8 h.
    nights = free_windows(DEFAULT_CALENDAR, start, end, "Asia/Seoul", min_hours=10)
    assert nights == [
        (utc(2026, 9, 21, 9), utc(2026, 9, 21, 23)),
        (utc(2026, 9, 22, 9), utc(2026, 9, 22, 23)),
        (utc(2026, 9, 23, 9), utc(2026, 9, 27, 15)),
    ]
    assert free_windows(DEFAULT_CALENDAR, start, end, "Asia/Seoul", min_hours=0)[0] == (
        utc(2026, 9, 20, 15),
        utc(2026, 9, 20, 23),
    )


def test_labour_day_closed_and_exceptional_days() -> None:
    # Fri 2026-05-01 is Labour Day: factories close.
    start, end = datetime(2026, 4, 27, tzinfo=SEOUL), datetime(2026, 5, 2, tzinfo=SEOUL)
    worked = production_intervals(DEFAULT_CALENDAR, start, end, "Asia/Seoul")
    assert [lo.astimezone(SEOUL).date() for lo, _ in worked] == [
        date(2026, 4, d) for d in (27, 28, 29, 30)
    ]

    # A shutdown on Monday and Labour Day worked as an exceptional working day.
    calendar = WorkingCalendar(
        shifts=(("08:00", "18:00"),),
        closed_days=(date(2026, 4, 27),),
        worked_days=(date(2026, 5, 1),),
    )
    worked = production_intervals(calendar, start, end, "Asia/Seoul")
    assert [lo.astimezone(SEOUL).date() for lo, _ in worked] == [
        date(2026, 4, 28), date(2026, 4, 29), date(2026, 4, 30), date(2026, 5, 1)
    ]  # fmt: skip


def test_night_shift_crosses_midnight() -> None:
    calendar = WorkingCalendar(shifts=(("22:00", "06:00"),), holidays_country=None)
    # Fri 2026-11-27 00:00 to Mon 2026-11-30 12:00 KST: Thursday's shift runs into Friday, Friday's
    # into Saturday; none starts at the weekend, and Monday's starts after the end.
    start, end = (
        datetime(2026, 11, 27, tzinfo=SEOUL),
        datetime(2026, 11, 30, 12, tzinfo=SEOUL),
    )
    assert production_intervals(calendar, start, end, "Asia/Seoul") == [
        (utc(2026, 11, 26, 15), utc(2026, 11, 26, 21)),
        (utc(2026, 11, 27, 13), utc(2026, 11, 27, 21)),
    ]


def test_three_shift_pattern_merges_days_and_day_evening_works_saturday() -> None:
    three = calendar_from_pattern(SHIFT_PATTERNS["three_shift"])
    assert three.shifts == (("00:00", "24:00"),) and three.saturday == ()
    start, end = (
        datetime(2026, 11, 23, tzinfo=SEOUL),
        datetime(2026, 11, 30, tzinfo=SEOUL),
    )
    # Monday 00:00 to Saturday 00:00 KST without a break: one merged interval.
    assert production_intervals(three, start, end, "Asia/Seoul") == [
        (utc(2026, 11, 22, 15), utc(2026, 11, 27, 15))
    ]

    day_evening = calendar_from_pattern(SHIFT_PATTERNS["day_evening"])
    assert day_evening.shifts == (("08:00", "22:00"),)
    assert day_evening.saturday == (("08:00", "13:00"),)
    assert calendar_from_pattern(SHIFT_PATTERNS["day_only"]).shifts == (
        ("08:30", "17:30"),
    )


def test_daylight_saving_changes_in_berlin() -> None:
    calendar = WorkingCalendar(
        shifts=(("08:00", "18:00"),),
        saturday=(("22:00", "06:00"),),
        holidays_country="DE",
    )
    # Clocks go forward on Sun 2026-03-29: the Saturday night shift lasts 7 h, and 08:00 is 07:00 UTC
    # on Friday (CET) but 06:00 UTC on Monday (CEST).
    start, end = (
        datetime(2026, 3, 27, tzinfo=BERLIN),
        datetime(2026, 3, 31, tzinfo=BERLIN),
    )
    assert production_intervals(calendar, start, end, "Europe/Berlin") == [
        (utc(2026, 3, 27, 7), utc(2026, 3, 27, 17)),
        (utc(2026, 3, 28, 21), utc(2026, 3, 29, 4)),
        (utc(2026, 3, 30, 6), utc(2026, 3, 30, 16)),
    ]
    # Clocks go back on Sun 2026-10-25: that Saturday night shift lasts 9 h.
    start, end = (
        datetime(2026, 10, 24, tzinfo=BERLIN),
        datetime(2026, 10, 27, tzinfo=BERLIN),
    )
    assert production_intervals(calendar, start, end, "Europe/Berlin") == [
        (utc(2026, 10, 24, 20), utc(2026, 10, 25, 5)),
        (utc(2026, 10, 26, 7), utc(2026, 10, 26, 17)),
    ]


def test_window_descriptions() -> None:
    start, end = (
        datetime(2026, 11, 28, 8, tzinfo=SEOUL),
        datetime(2026, 11, 28, 16, tzinfo=SEOUL),
    )
    assert (
        describe_window(DEFAULT_CALENDAR, start, end, "Asia/Seoul", "en")
        == "Sat 2026-11-28 08:00–16:00 (weekend)"
    )
    assert (
        describe_window(DEFAULT_CALENDAR, start, end, "Asia/Seoul", "ko")
        == "11월 28일(토) 08:00–16:00 (주말)"
    )
    start, end = (
        datetime(2026, 9, 23, 18, tzinfo=SEOUL),
        datetime(2026, 9, 28, 8, tzinfo=SEOUL),
    )
    assert describe_window(DEFAULT_CALENDAR, start, end, "Asia/Seoul", "en") == (
        "Wed 2026-09-23 18:00 – Mon 2026-09-28 08:00 "
        "(holiday: The day preceding Chuseok, Chuseok, The second day of Chuseok, weekend)"
    )
    assert describe_window(DEFAULT_CALENDAR, start, end, "Asia/Seoul", "ko") == (
        "9월 23일(수) 18:00 – 9월 28일(월) 08:00 (공휴일: 추석 전날, 추석, 추석 다음날, 주말)"
    )
    start = datetime(2026, 11, 24, 20, tzinfo=SEOUL)
    assert describe_window(
        DEFAULT_CALENDAR, start, start + timedelta(hours=4), "Asia/Seoul", "en"
    ) == ("Tue 2026-11-24 20:00–24:00 (outside shift hours)")


@pytest.mark.parametrize(
    ("ranges", "bad"),
    [
        ((("8:00", "18:00"),), "'8:00'"),
        ((("08:00", "25:00"),), "'25:00'"),
        ((("08:60", "18:00"),), "'08:60'"),
        ((("24:00", "06:00"),), "'24:00'"),
        ((("08:00", "08:00"),), "empty"),
    ],
)
def test_invalid_times_are_named(ranges: tuple[tuple[str, str], ...], bad: str) -> None:
    with pytest.raises(ValidationError, match=bad):
        WorkingCalendar(shifts=ranges)


def test_invalid_calendars() -> None:
    with pytest.raises(ValidationError, match="'XX'"):
        WorkingCalendar(shifts=(("08:00", "18:00"),), holidays_country="XX")
    with pytest.raises(ValidationError, match="2026-05-01"):
        WorkingCalendar(
            shifts=(), closed_days=(date(2026, 5, 1),), worked_days=(date(2026, 5, 1),)
        )
    with pytest.raises(ValidationError, match="extra"):
        WorkingCalendar.model_validate({"shifts": [], "sundays": []})
    with pytest.raises(ValueError, match="time zone"):
        production_intervals(
            DEFAULT_CALENDAR, datetime(2026, 1, 1), datetime(2026, 1, 2), "Asia/Seoul"
        )


@st.composite
def calendars(draw: st.DrawFn) -> WorkingCalendar:
    def hhmm(quarter: int) -> str:
        return f"{quarter // 4:02d}:{quarter % 4 * 15:02d}"

    def ranges(max_size: int) -> tuple[tuple[str, str], ...]:
        pairs = draw(
            st.lists(
                st.tuples(st.integers(0, 95), st.integers(1, 96)).filter(
                    lambda p: p[0] != p[1] % 96
                ),
                max_size=max_size,
            )
        )
        return tuple((hhmm(lo), hhmm(hi)) for lo, hi in pairs)

    return WorkingCalendar(
        shifts=ranges(3),
        saturday=ranges(1),
        sunday=ranges(1),
        holidays_country=draw(st.sampled_from(["KR", "DE", None])),
        closed_days=tuple(
            draw(
                st.lists(
                    st.dates(date(2026, 3, 1), date(2026, 3, 31)),
                    max_size=3,
                    unique=True,
                )
            )
        ),
    )


@settings(max_examples=60, deadline=None)
@given(
    calendar=calendars(),
    start=st.datetimes(datetime(2026, 3, 1), datetime(2026, 4, 5)),
    span_h=st.floats(0.5, 240),
    timezone=st.sampled_from(["Asia/Seoul", "Europe/Berlin", "America/New_York"]),
)
def test_production_and_free_windows_partition_the_period(
    calendar: WorkingCalendar, start: datetime, span_h: float, timezone: str
) -> None:
    begin = start.replace(tzinfo=UTC)
    end = begin + timedelta(hours=span_h)
    production = production_intervals(calendar, begin, end, timezone)
    free = free_windows(calendar, begin, end, timezone, min_hours=0)
    for intervals in (production, free):
        assert all(lo < hi for lo, hi in intervals)
        assert all(
            a[1] < b[0] for a, b in itertools.pairwise(intervals)
        )  # sorted, disjoint, merged
    pieces = sorted(production + free)
    assert pieces[0][0] == begin and pieces[-1][1] == end
    assert all(
        a[1] == b[0] for a, b in itertools.pairwise(pieces)
    )  # no gap, no overlap


# --- persistence and tenancy -----------------------------------------------------------------


def add_beta(hub: Hub) -> None:
    plant: dict[str, Any] = copy.deepcopy(PLANT)
    plant["factory"].update(id="beta", name_en="Beta", timezone="Europe/Berlin")
    plant["machines"][1]["id"] = "PRESS-09"
    hub.registry.register_plant(PlantDescription.model_validate(plant))


def test_calendar_round_trip(acme: Hub) -> None:
    assert get_calendar(acme, "acme") == DEFAULT_CALENDAR
    calendar = WorkingCalendar(
        shifts=(("06:00", "14:00"), ("14:00", "22:00")),
        saturday=(("08:00", "12:00"),),
        closed_days=(date(2026, 12, 28),),
        worked_days=(date(2026, 10, 3),),
    )
    set_calendar(acme, "acme", calendar)
    assert get_calendar(acme, "acme") == calendar
    night = WorkingCalendar(shifts=(("22:00", "06:00"),), holidays_country=None)
    set_calendar(acme, "acme", night)
    assert get_calendar(acme, "acme") == night


def test_calendar_of_unknown_factory(acme: Hub) -> None:
    with pytest.raises(NotFoundError, match="nowhere"):
        set_calendar(acme, "nowhere", DEFAULT_CALENDAR)
    with pytest.raises(NotFoundError, match="nowhere"):
        get_calendar(acme, "nowhere")
    with pytest.raises(InvalidIdentifierError):
        get_calendar(acme, "../acme")


def test_consequence_round_trip_and_tenancy(acme: Hub) -> None:
    add_beta(acme)
    assert get_consequences(acme, "acme") == {
        "CNC-01": Consequence(),
        "PUMP-02": Consequence(),
    }
    set_consequence(
        acme,
        "acme",
        "CNC-01",
        Consequence(criticality=5, downtime_cost_per_hour=250_000),
    )
    set_consequence(
        acme, "beta", "CNC-01", Consequence(criticality=2, downtime_cost_per_hour=80)
    )
    assert get_consequences(acme, "acme") == {
        "CNC-01": Consequence(criticality=5, downtime_cost_per_hour=250_000),
        "PUMP-02": Consequence(),
    }
    assert get_consequences(acme, "beta")["CNC-01"] == Consequence(
        criticality=2, downtime_cost_per_hour=80
    )
    # beta's PRESS-09 is not acme's machine: acme cannot set figures for it.
    with pytest.raises(NotFoundError, match="PRESS-09"):
        set_consequence(acme, "acme", "PRESS-09", Consequence())
    with pytest.raises(NotFoundError):
        get_consequences(acme, "nowhere")
    assert "PRESS-09" not in get_consequences(acme, "acme")
    with pytest.raises(ValidationError):
        Consequence(criticality=6)
    with pytest.raises(ValidationError):
        Consequence(downtime_cost_per_hour=-1)


# --- priority list ---------------------------------------------------------------------------

# Mon 2026-11-23 10:30 KST, during the default day shift (08:00-18:00).
NOW = datetime(2026, 11, 23, 1, 30, tzinfo=UTC)
ROWS = [
    # machine, status, probability, ttf_p10_h, urgency, downtime min, max
    ("A-warn", "warning", 0.5, 100.0, "within_24h", 2.0, 4.0),
    ("B-crit", "critical", 0.1, None, None, None, None),
    ("C-watch", "watch", None, 5.0, "within_week", 1.0, 1.0),
    ("D-warn", "warning", 0.9, None, "within_week", 6.0, 10.0),
    ("E-long", "warning", None, None, "within_24h", 20.0, 30.0),
    ("F-long", "warning", None, None, "within_week", 20.0, 30.0),
    ("G-tie", "watch", 0.5, None, None, 4.0, 4.0),
    ("H-tie", "warning", 0.5, None, None, 4.0, 4.0),
    ("I-tie", "warning", 0.5, None, None, 4.0, 4.0),
    ("N-ok", "normal", 0.9, None, None, 1.0, 1.0),
]
CONSEQUENCES = {
    "A-warn": Consequence(criticality=5, downtime_cost_per_hour=2.0),
    "D-warn": Consequence(criticality=1, downtime_cost_per_hour=3.0),
    "F-long": Consequence(downtime_cost_per_hour=0.45),
    "G-tie": Consequence(downtime_cost_per_hour=2.0),
    "H-tie": Consequence(downtime_cost_per_hour=2.0),
    "I-tie": Consequence(downtime_cost_per_hour=2.0),
}


def health_frame(rows: list[tuple[Any, ...]] = ROWS) -> pl.DataFrame:
    columns = [
        "machine_id",
        "status",
        "probability",
        "ttf_p10_h",
        "urgency",
        "downtime_min_h",
        "downtime_max_h",
    ]
    frame = pl.DataFrame(rows, schema=columns, orient="row")
    return frame.with_columns(
        health_index=pl.lit(50.0), failure_mode=pl.lit(None, dtype=pl.String)
    )


@pytest.fixture(scope="module")
def ranked() -> pl.DataFrame:
    return priority_list(
        health_frame(), CONSEQUENCES, DEFAULT_CALENDAR, now=NOW, timezone="Asia/Seoul"
    )


def test_ranking_by_expected_loss(ranked: pl.DataFrame) -> None:
    # Hand-computed: risk x criticality/3 x cost per hour x mean downtime (8 h when unknown).
    expected = {
        "E-long": 0.4 * 1 * 1.0 * 25,  # no probability: warning floor
        "D-warn": 0.9 * (1 / 3) * 3.0 * 8,
        "B-crit": 0.8 * 1 * 1.0 * 8,  # probability 0.1 below the critical floor
        "A-warn": 0.5 * (5 / 3) * 2.0 * 3,
        "F-long": 0.4 * 1 * 0.45 * 25,
        "H-tie": 0.5 * 1 * 2.0 * 4,  # ties broken by status, then machine id
        "I-tie": 0.5 * 1 * 2.0 * 4,
        "G-tie": 0.5 * 1 * 2.0 * 4,
        "C-watch": 0.1 * 1 * 1.0 * 1,
    }
    assert ranked["machine_id"].to_list() == list(expected)
    assert ranked["rank"].to_list() == list(range(1, 10))
    assert ranked["expected_loss"].to_list() == pytest.approx(list(expected.values()))
    assert ranked["risk"].to_list() == pytest.approx(
        [0.4, 0.9, 0.8, 0.5, 0.4, 0.5, 0.5, 0.5, 0.1]
    )
    assert ranked["expected_downtime_h"].to_list() == pytest.approx(
        [25, 8, 8, 3, 25, 4, 4, 4, 1]
    )
    assert ranked.columns == [
        "rank", "machine_id", "status", "health_index", "risk", "criticality", "downtime_cost_per_hour",
        "expected_downtime_h", "expected_loss", "failure_mode", "urgency", "deadline", "window_start",
        "window_end", "window_kind", "window_note_en", "window_note_ko",
    ]  # fmt: skip


def test_deadlines_and_windows(ranked: pl.DataFrame) -> None:
    rows = {r["machine_id"]: r for r in ranked.iter_rows(named=True)}
    hours = {m: (r["deadline"] - NOW) / timedelta(hours=1) for m, r in rows.items()}
    # ttf_p10_h caps C's week to 5 h, not A's day (100 h); critical without urgency is immediate.
    assert hours == {
        "A-warn": 24, "B-crit": 0, "C-watch": 5, "D-warn": 168, "E-long": 24, "F-long": 168,
        "G-tie": 720, "H-tie": 168, "I-tie": 168,
    }  # fmt: skip
    assert (
        rows["B-crit"]["urgency"] == "immediate"
        and rows["G-tie"]["urgency"] == "next_planned_stop"
    )

    tonight = (
        utc(2026, 11, 23, 9),
        utc(2026, 11, 23, 23),
    )  # Mon 18:00 to Tue 08:00 KST
    for machine in ("A-warn", "D-warn", "G-tie"):
        assert (rows[machine]["window_start"], rows[machine]["window_end"]) == tonight
        assert rows[machine]["window_kind"] == "outside_production"
    assert (
        rows["D-warn"]["window_note_en"]
        == "Mon 2026-11-23 18:00 – Tue 2026-11-24 08:00 (outside shift hours)"
    )
    assert (
        rows["D-warn"]["window_note_ko"]
        == "11월 23일(월) 18:00 – 11월 24일(화) 08:00 (근무 시간 외)"
    )

    # 20 h of work does not fit a 14 h night: E (due within 24 h) stops production at 11:00 KST,
    # F (due within a week) waits for the weekend.
    assert rows["E-long"]["window_kind"] == "production_stop"
    assert (rows["E-long"]["window_start"], rows["E-long"]["window_end"]) == (
        utc(2026, 11, 23, 2),
        utc(2026, 11, 24, 3),
    )
    assert rows["E-long"]["window_note_en"].startswith(
        "Production stop: Mon 2026-11-23 11:00 – Tue 2026-11-24 12:00"
    )
    assert rows["E-long"]["window_note_ko"].startswith("생산 중단: 11월 23일(월) 11:00")
    assert rows["F-long"]["window_kind"] == "outside_production"
    assert (rows["F-long"]["window_start"], rows["F-long"]["window_end"]) == (
        utc(2026, 11, 27, 9),
        utc(2026, 11, 29, 23),
    )
    assert (
        rows["F-long"]["window_note_en"]
        == "Fri 2026-11-27 18:00 – Mon 2026-11-30 08:00 (weekend)"
    )

    # C's 5 h deadline falls before tonight's stop; B cannot wait at all.
    for machine, hours_of_work in (("C-watch", 1), ("B-crit", 8)):
        assert rows[machine]["window_kind"] == "production_stop"
        assert rows[machine]["window_start"] == utc(2026, 11, 23, 2)
        assert rows[machine]["window_end"] == utc(2026, 11, 23, 2 + hours_of_work)


def test_immediate_work_at_a_stop_is_done_in_it() -> None:
    # Mon 2026-11-23 20:00 KST, after the shift: the critical machine is repaired tonight.
    now = datetime(2026, 11, 23, 20, tzinfo=SEOUL)
    result = priority_list(
        health_frame([ROWS[1]]), {}, DEFAULT_CALENDAR, now=now, timezone="Asia/Seoul"
    )
    row = result.row(0, named=True)
    assert row["window_kind"] == "outside_production"
    assert (row["window_start"], row["window_end"]) == (
        utc(2026, 11, 23, 11),
        utc(2026, 11, 23, 23),
    )


def test_empty_and_invalid_health() -> None:
    healthy = priority_list(
        health_frame([ROWS[-1]]), {}, DEFAULT_CALENDAR, now=NOW, timezone="Asia/Seoul"
    )
    assert healthy.is_empty() and healthy.columns[0] == "rank"
    with pytest.raises(ValueError, match="ttf_p10_h"):
        priority_list(
            health_frame().drop("ttf_p10_h"),
            {},
            DEFAULT_CALENDAR,
            now=NOW,
            timezone="Asia/Seoul",
        )
    bad = health_frame().with_columns(status=pl.lit("broken"))
    with pytest.raises(ValueError, match="invalid status"):
        priority_list(bad, {}, DEFAULT_CALENDAR, now=NOW, timezone="Asia/Seoul")
    bad = health_frame().with_columns(urgency=pl.lit("tomorrow"))
    with pytest.raises(ValueError, match="invalid urgency"):
        priority_list(bad, {}, DEFAULT_CALENDAR, now=NOW, timezone="Asia/Seoul")
    bad = health_frame().with_columns(probability=pl.lit(1.5))
    with pytest.raises(ValueError, match="invalid probability"):
        priority_list(bad, {}, DEFAULT_CALENDAR, now=NOW, timezone="Asia/Seoul")
    with pytest.raises(ValueError, match="repeated"):
        priority_list(
            pl.concat([health_frame(), health_frame()]),
            {},
            DEFAULT_CALENDAR,
            now=NOW,
            timezone="Asia/Seoul",
        )
    with pytest.raises(ValueError, match="time zone"):
        priority_list(
            health_frame(),
            {},
            DEFAULT_CALENDAR,
            now=datetime(2026, 11, 23),
            timezone="Asia/Seoul",
        )
