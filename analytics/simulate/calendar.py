"""The simulated clock and a factory's working calendar: shifts, breaks, weekends, Korean holidays.

Every array in the simulator is indexed by sample: ``clock.utc[i]`` is the UTC time of sample ``i``
(seconds since the epoch) and the calendar answers, per sample, whether the factory is working.
Public holidays come from the ``holidays`` package (South Korea: lunar New Year and Chuseok,
substitute holidays, election days), not from a list typed in here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import cached_property
from zoneinfo import ZoneInfo

import holidays
import numpy as np
import polars as pl


@dataclass(frozen=True)
class Clock:
    """Sample times of a simulation: ``days`` local days from ``start`` (local midnight)."""

    start: date
    days: int
    interval_s: int
    timezone: str

    @cached_property
    def utc(self) -> np.ndarray:
        """UTC seconds since the epoch of every sample (int64)."""
        zone = ZoneInfo(self.timezone)
        first = datetime.combine(self.start, datetime.min.time(), zone)
        last = datetime.combine(self.start + timedelta(days=self.days), datetime.min.time(), zone)
        begin, end = int(first.timestamp()), int(last.timestamp())
        return np.arange(begin, end, self.interval_s, dtype=np.int64)

    @property
    def n(self) -> int:
        return len(self.utc)

    @property
    def per_hour(self) -> float:
        return 3600 / self.interval_s

    def minutes(self, count: float) -> int:
        """A duration in minutes as a whole number of samples (at least one)."""
        return max(1, round(count * 60 / self.interval_s))

    @cached_property
    def local(self) -> pl.DataFrame:
        """Local wall-clock parts of every sample: ``date``, ``minute_of_day``, ``weekday`` (1 = Monday)."""
        ts = pl.from_epoch(pl.Series("ts", self.utc), time_unit="s").dt.replace_time_zone("UTC")
        local = ts.dt.convert_time_zone(self.timezone)
        return pl.DataFrame(
            {
                "date": local.dt.date(),
                "minute_of_day": (local.dt.hour().cast(pl.Int32) * 60 + local.dt.minute().cast(pl.Int32)),
                "weekday": local.dt.weekday(),
            }
        )

    @cached_property
    def day_index(self) -> np.ndarray:
        """Local day number (0 = ``start``) of every sample."""
        dates = self.local["date"].to_numpy().astype("datetime64[D]")
        return (dates - np.datetime64(self.start, "D")).astype(np.int64)

    @cached_property
    def day_bounds(self) -> np.ndarray:
        """Sample index where each local day starts, plus ``n`` at the end (length ``days + 1``)."""
        return np.searchsorted(self.day_index, np.arange(self.days + 1), side="left")

    def dates(self) -> list[date]:
        return [self.start + timedelta(days=d) for d in range(self.days)]


@dataclass(frozen=True)
class ShiftPattern:
    """When a factory works, in local minutes of the day.

    ``shifts`` are (start, end) minute ranges when machines are powered and may produce;
    ``breaks`` are ranges inside shifts when production pauses but machines stay on (idle);
    ``saturday`` is an optional (start, end) range worked on Saturdays. Sundays and public
    holidays are never worked.
    """

    name: str
    label_ko: str
    shifts: tuple[tuple[int, int], ...]
    breaks: tuple[tuple[int, int], ...] = ()
    saturday: tuple[int, int] | None = None


def _h(hours: float) -> int:
    return round(hours * 60)


# Three patterns common in small Korean plants.
SHIFT_PATTERNS: dict[str, ShiftPattern] = {
    "day_evening": ShiftPattern(
        "day_evening", "주간+잔업 (08:00-22:00, 토 오전)",
        shifts=((_h(8), _h(22)),),
        breaks=((_h(12), _h(13)), (_h(17.5), _h(18))),
        saturday=(_h(8), _h(13)),
    ),
    "three_shift": ShiftPattern(
        "three_shift", "3교대 (평일 24시간)",
        shifts=((0, _h(24)),),
        # Hand-over at each shift change and the meal breaks.
        breaks=((_h(6), _h(6.25)), (_h(12), _h(12.75)), (_h(14), _h(14.25)), (_h(22), _h(22.25)), (_h(2), _h(2.5))),
    ),
    "day_only": ShiftPattern(
        "day_only", "주간 (08:30-17:30)",
        shifts=((_h(8.5), _h(17.5)),),
        breaks=((_h(12), _h(13)),),
    ),
}


def korean_holidays(years: list[int], language: str = "ko") -> dict[date, str]:
    """South Korea's public holidays of ``years`` (names in Korean by default), plus Labour Day.

    May 1 (근로자의 날) is a paid day off for factory workers under the Labour Day Act even in years
    when it is not a public holiday for offices, so factories are closed.
    """
    found = dict(holidays.country_holidays("KR", years=years, language=language).items())
    for year in years:
        found.setdefault(date(year, 5, 1), "근로자의 날" if language == "ko" else "Labour Day")
    return found


@dataclass(frozen=True)
class FactoryCalendar:
    """Per-sample working state of one factory: ``powered`` (in a shift), ``producing`` (in a shift
    and not in a break), and which local days are working days."""

    clock: Clock
    pattern: ShiftPattern

    @cached_property
    def holidays(self) -> dict[date, str]:
        years = sorted({d.year for d in self.clock.dates()})
        return korean_holidays(years)

    @cached_property
    def day_kind(self) -> list[str]:
        """Each local day: ``"workday"``, ``"saturday"`` (short day if worked), ``"weekend"`` or ``"holiday"``."""
        kinds = []
        for d in self.clock.dates():
            if d in self.holidays:
                kinds.append("holiday")
            elif d.weekday() == 6 or (d.weekday() == 5 and self.pattern.saturday is None):
                kinds.append("weekend")
            elif d.weekday() == 5:
                kinds.append("saturday")
            else:
                kinds.append("workday")
        return kinds

    @cached_property
    def _masks(self) -> tuple[np.ndarray, np.ndarray]:
        minute = self.clock.local["minute_of_day"].to_numpy()
        kind = np.array(self.day_kind)[self.clock.day_index]
        weekday_shift = _in_ranges(minute, self.pattern.shifts)
        in_break = _in_ranges(minute, self.pattern.breaks)
        saturday_shift = _in_ranges(minute, (self.pattern.saturday,)) if self.pattern.saturday else np.zeros_like(weekday_shift)
        powered = np.where(kind == "workday", weekday_shift, np.where(kind == "saturday", saturday_shift, False))
        return powered, powered & ~in_break

    @property
    def powered(self) -> np.ndarray:
        return self._masks[0]

    @property
    def producing(self) -> np.ndarray:
        return self._masks[1]

    @cached_property
    def non_working_days(self) -> list[int]:
        """Local day numbers on which the factory does not work (weekends and holidays)."""
        return [i for i, k in enumerate(self.day_kind) if k in {"weekend", "holiday"}]

    def to_frame(self) -> pl.DataFrame:
        """One row per local day: date, kind, holiday name (for the ground truth)."""
        dates = self.clock.dates()
        return pl.DataFrame(
            {
                "date": dates,
                "kind": self.day_kind,
                "holiday": [self.holidays.get(d) for d in dates],
                "shift_pattern": [self.pattern.name] * len(dates),
            },
            schema={"date": pl.Date, "kind": pl.String, "holiday": pl.String, "shift_pattern": pl.String},
        )


def _in_ranges(minute: np.ndarray, ranges: tuple[tuple[int, int], ...]) -> np.ndarray:
    mask = np.zeros(minute.shape, dtype=bool)
    for lo, hi in ranges:
        mask |= (minute >= lo) & (minute < hi)
    return mask
