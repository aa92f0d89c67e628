"""A factory's working calendar, for planning maintenance around production.

A :class:`WorkingCalendar` says when a factory produces, in local wall-clock time: shift ranges on
Monday to Friday, optional ranges on Saturday and Sunday, public holidays (from the ``holidays``
package) and the factory's own shutdowns and exceptional working days. From it,
:func:`production_intervals` gives the UTC intervals of production in a period and
:func:`free_windows` the stops in between, where maintenance costs no production.

Times are local wall-clock times, so a shift "08:00-18:00" starts at 08:00 local time on both sides
of a daylight-saving change; the UTC intervals are computed with :mod:`zoneinfo`. A shift belongs
to the day it starts on: a night shift "22:00-06:00" that starts on a working Friday runs until
06:00 on Saturday even if Saturday is not worked, and does not start on a holiday.

Each factory's calendar is kept in the registry (:func:`set_calendar`, :func:`get_calendar`); a
factory that has not set one is assumed to work :data:`DEFAULT_CALENDAR`.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Collection, Iterable
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Literal
from zoneinfo import ZoneInfo

import holidays
from pydantic import BaseModel, ConfigDict, field_validator, model_validator

from analytics.schemas import validate_factory_id, validate_timezone
from analytics.simulate.calendar import ShiftPattern, korean_holidays

if TYPE_CHECKING:
    from analytics.store.hub import Hub

log = logging.getLogger(__name__)

Language = Literal["ko", "en"]
TimeRange = tuple[str, str]
Interval = tuple[datetime, datetime]

_HHMM = re.compile(r"^(\d{2}):(\d{2})$")
_WEEKDAYS: dict[Language, tuple[str, ...]] = {
    "en": ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"),
    "ko": ("월", "화", "수", "목", "금", "토", "일"),
}


def _minutes(value: str, *, is_end: bool) -> int:
    """Minutes after local midnight of an "HH:MM" time; "24:00" only as the end of a range."""
    match = _HHMM.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise ValueError(f"time {value!r} is not in HH:MM form (e.g. '08:00')")
    hours, minutes = int(match.group(1)), int(match.group(2))
    if hours == 24 and minutes == 0:
        if not is_end:
            raise ValueError(
                f"time {value!r} may only end a range; start the range at '00:00'"
            )
        return 24 * 60
    if hours > 23 or minutes > 59:
        raise ValueError(
            f"time {value!r} is not a valid time of day (00:00 to 23:59, or 24:00 as an end)"
        )
    return hours * 60 + minutes


class WorkingCalendar(BaseModel):
    """When a factory produces, in local wall-clock time.

    ``shifts`` are the ("HH:MM", "HH:MM") ranges worked Monday to Friday; an end of "24:00" means
    midnight, and a range whose end is before its start (e.g. ("22:00", "06:00")) runs into the
    next day. ``saturday`` and ``sunday`` are the ranges worked on those days (none by default).
    Public holidays of ``holidays_country`` are not worked (for "KR" including Labour Day, when
    factories close); ``None`` ignores public holidays. ``closed_days`` are plant shutdowns;
    ``worked_days`` are exceptional working days (e.g. a Saturday worked to make up for a holiday),
    which are worked with the Monday-Friday ``shifts`` whatever the day.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    shifts: tuple[TimeRange, ...]
    saturday: tuple[TimeRange, ...] = ()
    sunday: tuple[TimeRange, ...] = ()
    holidays_country: str | None = "KR"
    closed_days: tuple[date, ...] = ()
    worked_days: tuple[date, ...] = ()

    @field_validator("shifts", "saturday", "sunday")
    @classmethod
    def _ranges(cls, value: tuple[TimeRange, ...]) -> tuple[TimeRange, ...]:
        for start, end in value:
            lo, hi = _minutes(start, is_end=False), _minutes(end, is_end=True)
            if lo == hi:
                raise ValueError(
                    f"range ({start!r}, {end!r}) is empty; use ('00:00', '24:00') for a whole day"
                )
        return value

    @field_validator("holidays_country")
    @classmethod
    def _country(cls, value: str | None) -> str | None:
        if value is not None and value not in holidays.list_supported_countries():
            raise ValueError(
                f"holidays_country {value!r} is not a country code the holidays package knows"
            )
        return value

    @model_validator(mode="after")
    def _days(self) -> WorkingCalendar:
        if both := sorted(set(self.closed_days) & set(self.worked_days)):
            listed = ", ".join(d.isoformat() for d in both)
            raise ValueError(f"days listed as both closed and worked: {listed}")
        return self

    def ranges_on(
        self, day: date, holiday_dates: Collection[date] = ()
    ) -> tuple[TimeRange, ...]:
        """The ranges worked starting on local ``day``; ``holiday_dates`` are the public holidays."""
        if day in self.closed_days:
            return ()
        if day in self.worked_days:
            return self.shifts
        if day in holiday_dates:
            return ()
        weekday = day.weekday()
        if weekday < 5:
            return self.shifts
        return self.saturday if weekday == 5 else self.sunday


# The assumption when a factory has not set its own calendar: a single day shift on weekdays, no
# weekend work, Korean public holidays off (most of the hub's factories are small Korean plants).
DEFAULT_CALENDAR = WorkingCalendar(shifts=(("08:00", "18:00"),))


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def calendar_from_pattern(pattern: ShiftPattern) -> WorkingCalendar:
    """The working calendar of one of the simulator's shift patterns (Korean holidays off).

    Breaks are ignored: machines stay powered during them and a break is too short for maintenance,
    so they are not maintenance windows.
    """
    return WorkingCalendar(
        shifts=tuple((_hhmm(lo), _hhmm(hi)) for lo, hi in pattern.shifts),
        saturday=((_hhmm(pattern.saturday[0]), _hhmm(pattern.saturday[1])),)
        if pattern.saturday
        else (),
        holidays_country="KR",
    )


def public_holidays(
    calendar: WorkingCalendar, years: Iterable[int], language: Language = "en"
) -> dict[date, str]:
    """The public holidays of ``calendar`` in ``years`` with their names (empty without a country)."""
    wanted = sorted(set(years))
    if calendar.holidays_country is None or not wanted:
        return {}
    if calendar.holidays_country == "KR":
        return korean_holidays(wanted, language=language)
    # The holidays package falls back to the country's own language when it has no translation.
    found = holidays.country_holidays(
        calendar.holidays_country,
        years=wanted,
        language="en_US" if language == "en" else language,
    )
    return dict(found.items())


def _aware(value: datetime, name: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(
            f"{name} {value.isoformat()} has no time zone; pass an aware datetime (e.g. UTC)"
        )
    return value.astimezone(UTC)


def _merge(intervals: list[Interval]) -> list[Interval]:
    merged: list[Interval] = []
    for lo, hi in sorted(intervals):
        if merged and lo <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], hi))
        else:
            merged.append((lo, hi))
    return merged


def _local_instant(day: date, minutes: int, zone: ZoneInfo) -> datetime:
    # A wall-clock time skipped by a spring-forward change (fold=0) resolves to the instant it
    # would have had before the change, i.e. the shift starts as soon as the clocks allow; a time
    # repeated in autumn resolves to its first occurrence.
    day = day + timedelta(days=minutes // (24 * 60))
    minutes %= 24 * 60
    return datetime.combine(day, time(minutes // 60, minutes % 60), zone).astimezone(
        UTC
    )


def production_intervals(
    calendar: WorkingCalendar, start: datetime, end: datetime, timezone: str
) -> list[Interval]:
    """UTC intervals of production within [``start``, ``end``), sorted and merged.

    ``start`` and ``end`` must be time-zone aware; ``timezone`` is the factory's IANA zone, in
    which the calendar's wall-clock times are read.
    """
    start, end = _aware(start, "start"), _aware(end, "end")
    if end <= start:
        return []
    zone = ZoneInfo(validate_timezone(timezone))
    # One day earlier than the first local day: a night shift started then may still be running.
    first = start.astimezone(zone).date() - timedelta(days=1)
    last = end.astimezone(zone).date()
    days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    holiday_dates = set(public_holidays(calendar, {d.year for d in days}))
    found: list[Interval] = []
    for day in days:
        for lo_text, hi_text in calendar.ranges_on(day, holiday_dates):
            lo, hi = _minutes(lo_text, is_end=False), _minutes(hi_text, is_end=True)
            if hi < lo:
                hi += 24 * 60
            begin, finish = (
                max(_local_instant(day, lo, zone), start),
                min(_local_instant(day, hi, zone), end),
            )
            if begin < finish:
                found.append((begin, finish))
    return _merge(found)


def free_windows(
    calendar: WorkingCalendar,
    start: datetime,
    end: datetime,
    timezone: str,
    min_hours: float = 0.0,
) -> list[Interval]:
    """UTC windows without production within [``start``, ``end``) lasting at least ``min_hours``.

    Together with :func:`production_intervals` they cover [``start``, ``end``) without overlap
    (with ``min_hours`` 0).
    """
    if min_hours < 0:
        raise ValueError(f"min_hours must be >= 0, got {min_hours}")
    start, end = _aware(start, "start"), _aware(end, "end")
    shortest = timedelta(hours=min_hours)
    windows: list[Interval] = []
    cursor = start
    for lo, hi in [*production_intervals(calendar, start, end, timezone), (end, end)]:
        if lo > cursor and lo - cursor >= shortest:
            windows.append((cursor, lo))
        cursor = max(cursor, hi)
    return windows


def _local_text(moment: datetime, language: Language, *, with_day: bool) -> str:
    clock = moment.strftime("%H:%M")
    if not with_day:
        return clock
    weekday = _WEEKDAYS[language][moment.weekday()]
    if language == "ko":
        return f"{moment.month}월 {moment.day}일({weekday}) {clock}"
    return f"{weekday} {moment.date().isoformat()} {clock}"


def describe_window(
    calendar: WorkingCalendar,
    start: datetime,
    end: datetime,
    timezone: str,
    language: Language = "en",
) -> str:
    """A window in plain words and local time, with why the plant is (not) producing then.

    E.g. "Sat 2026-11-28 08:00–16:00 (weekend)" or "9월 24일(목) 18:00 – 9월 28일(월) 08:00
    (공휴일: 추석 전날, 추석, 추석 다음날, 주말)".
    """
    start, end = _aware(start, "start"), _aware(end, "end")
    zone = ZoneInfo(validate_timezone(timezone))
    local_start, local_end = start.astimezone(zone), end.astimezone(zone)
    last_day = (
        (end - timedelta(microseconds=1)).astimezone(zone).date()
        if end > start
        else local_start.date()
    )
    if last_day == local_start.date():
        # An end at midnight reads better as "24:00" of the same day than as "00:00" of the next.
        end_text = (
            "24:00"
            if local_end.date() > last_day
            else _local_text(local_end, language, with_day=False)
        )
        text = f"{_local_text(local_start, language, with_day=True)}–{end_text}"
    else:
        text = f"{_local_text(local_start, language, with_day=True)} – {_local_text(local_end, language, with_day=True)}"

    days = [
        local_start.date() + timedelta(days=i)
        for i in range((last_day - local_start.date()).days + 1)
    ]
    names = public_holidays(calendar, {d.year for d in days}, language)
    holiday_names = [
        names[d] for d in days if d in names and d not in calendar.worked_days
    ]
    tags: list[str] = []
    if holiday_names:
        tags.append(
            ("공휴일: " if language == "ko" else "holiday: ") + ", ".join(holiday_names)
        )
    if any(d in calendar.closed_days for d in days):
        tags.append("휴무일" if language == "ko" else "plant shutdown")
    if any(
        d.weekday() >= 5 and d not in names and not calendar.ranges_on(d, names)
        for d in days
    ):
        tags.append("주말" if language == "ko" else "weekend")
    if production_intervals(calendar, start, end, timezone):
        tags.append("생산 중" if language == "ko" else "during production")
    if not tags:
        tags.append("근무 시간 외" if language == "ko" else "outside shift hours")
    return f"{text} ({', '.join(tags)})"


def get_calendar(hub: Hub, factory_id: str) -> WorkingCalendar:
    """The factory's working calendar, or :data:`DEFAULT_CALENDAR` when it has not set one.

    Raises :class:`~analytics.errors.NotFoundError` for a factory that is not registered.
    """
    hub.registry.factory(factory_id)
    with hub.registry.transaction() as con:
        row = con.execute(
            "SELECT calendar_json FROM factory_calendars WHERE factory_id = ?",
            (factory_id,),
        ).fetchone()
    if row is None:
        return DEFAULT_CALENDAR
    return WorkingCalendar.model_validate_json(row[0])


def set_calendar(hub: Hub, factory_id: str, calendar: WorkingCalendar) -> None:
    """Keep ``calendar`` as the factory's working calendar (replacing any earlier one).

    Raises :class:`~analytics.errors.NotFoundError` for a factory that is not registered.
    """
    validate_factory_id(factory_id)
    hub.registry.factory(factory_id)
    # Re-validate so that a model built with model_construct cannot store an invalid calendar.
    payload = WorkingCalendar.model_validate(calendar.model_dump()).model_dump_json()
    with hub.registry.transaction() as con:
        con.execute(
            "INSERT INTO factory_calendars (factory_id, calendar_json, changed_at) VALUES (?, ?, ?) "
            "ON CONFLICT (factory_id) DO UPDATE SET calendar_json = excluded.calendar_json, "
            "changed_at = excluded.changed_at",
            (factory_id, payload, datetime.now(UTC).isoformat(timespec="seconds")),
        )
    log.info(
        "factory %s: working calendar set (weekday shifts %s)",
        factory_id,
        calendar.shifts,
    )
