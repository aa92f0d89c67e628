"""Reliability figures from the maintenance log: failures, downtime, MTBF, MTTR and availability
per machine and for the whole factory, over a period (this month and last month for the overview).

**What the log says.** The events table (:data:`~analytics.schemas.EVENTS_SCHEMA`) holds instants,
not intervals. Its vocabulary (:class:`~analytics.schemas.EventKind`, written so by the simulator
in :mod:`analytics.simulate.output` and by factories' own logs) is:

- ``failure`` at the moment a machine broke down (``component``: the failure mode);
- ``repair`` at the moment the repair that followed was finished (a failure still under repair
  has no ``repair`` yet);
- ``maintenance`` at the *start* of planned (preventive) maintenance; the log carries no end, so
  a planned stop lasts ``maintenance_hours`` (default :data:`PLANNED_MAINTENANCE_HOURS`, the
  simulator's preventive-maintenance length);
- ``alarm`` and ``inspection``, which do not stop the machine.

:func:`downtime_intervals` turns these into intervals: *unplanned* from each failure to the first
repair of the same machine at or after it (open, ``end`` null, while no repair is logged), and
*planned* from each maintenance start for ``maintenance_hours``. A repair with no failure before it
in the frame is ignored: without its failure there is no start to count from, and counting from
the start of the log would turn a minor logged repair into weeks of downtime.

**Figures** (the usual maintenance definitions, as SMRP's metrics and IEC 60050-192 give them; every
hour is clipped to the observed window below, so a failure that spans a month boundary puts its
hours in each month, and the failure itself counts in the month it happened):

- ``failures``: failure events in the window;
- ``repair_h``: hours covered by unplanned intervals; ``maintenance_h``: by planned ones;
  ``downtime_h``: hours covered by either (their union: maintenance during a repair, or a second
  failure logged before the first's repair, is not counted twice, so ``downtime_h`` can be less
  than ``repair_h + maintenance_h``);
- ``observed_h``: hours of the observed window; up time = ``observed_h - downtime_h``;
- ``mtbf_h`` = up time / failures (mean operating time between failures), ``mttr_h`` = repair_h /
  failures (mean time to restore), both None without failures: a machine that did not fail has no
  mean time between failures to speak of, and infinity would not sort or plot. Both are of the
  window: a repair carried over from last month adds to this month's ``repair_h`` but not to its
  failures;
- ``availability`` = 1 - downtime_h / observed_h: achieved availability, planned stops counted as
  down time like repairs (as the overview's caption says; inherent availability would leave them
  out); None when nothing was observed.

The factory row (``machine_id`` null) sums failures and hours over machines (``observed_h`` is
machine-hours), so its MTBF is total up time over total failures, its MTTR total repair hours
over total failures and its availability 1 - total downtime / total machine-hours.

**Observed window.** ``[start, end)`` cut to the hours the hub received readings for the factory:
from its first reading, up to its latest. The hub watches a machine only while data comes in: a
factory that joined mid-month, or the current month, would otherwise count hours nobody observed
(or that have not happened yet) as up time and dilute downtime (this month's availability on day
3 would be near 1 whatever happened). It is one window for every machine of the factory: a
machine whose own gateway fell silent is the freshness check's business, not a reliability
figure. A factory without readings has an empty window: every figure None or 0.
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import polars as pl

from analytics.models.anomaly.scoring import day_bounds
from analytics.schemas import TS_DTYPE, EventKind
from analytics.store.hub import Hub
from analytics.store.reader import FactoryReader

log = logging.getLogger(__name__)

PLANNED_MAINTENANCE_HOURS = 3.0  # a maintenance event's length: the log records only its start
# How far before a period the log is read for failures still under repair when it starts. A repair
# that took longer than this is missed (its repair event then has no failure and is ignored).
EVENT_LOOKBACK = timedelta(days=31)
UNPLANNED, PLANNED = "unplanned", "planned"
PERIODS = ("this_month", "last_month")

RELIABILITY_SCHEMA: dict[str, pl.DataType] = {
    "period": pl.String(),  # "this_month" / "last_month" (None from reliability() without a label)
    "period_start": pl.Date(),  # first local date of the period
    "period_end": pl.Date(),  # last local date of the period (inclusive)
    "machine_id": pl.String(),  # None: the whole factory
    "failures": pl.Int64(),
    "downtime_h": pl.Float64(),
    "repair_h": pl.Float64(),
    "maintenance_h": pl.Float64(),
    "observed_h": pl.Float64(),
    "mtbf_h": pl.Float64(),
    "mttr_h": pl.Float64(),
    "availability": pl.Float64(),
}
INTERVALS_SCHEMA: dict[str, pl.DataType] = {
    "machine_id": pl.String(),
    "kind": pl.String(),  # "unplanned" (failure to repair) or "planned" (maintenance)
    "component": pl.String(),
    "start": TS_DTYPE,
    "end": TS_DTYPE,  # null: a failure not repaired yet (still down at the end of the log)
}
HOURS_SCHEMA: dict[str, pl.DataType] = {
    "period": pl.String(),
    "machine_id": pl.String(),
    "repair_h": pl.Float64(),
    "maintenance_h": pl.Float64(),
    "downtime_h": pl.Float64(),
}
WINDOWS_SCHEMA: dict[str, pl.DataType] = {
    "period": pl.String(),
    "period_start": pl.Date(),
    "period_end": pl.Date(),
    "observed_start": TS_DTYPE,
    "observed_end": TS_DTYPE,
}
_US_PER_HOUR = 3_600_000_000


def downtime_intervals(events: pl.DataFrame, *, maintenance_hours: float = PLANNED_MAINTENANCE_HOURS) -> pl.DataFrame:
    """When each machine was down, from its maintenance log (:data:`INTERVALS_SCHEMA`, sorted by
    machine and start): one *unplanned* interval per failure, to the machine's first repair at or
    after it (``end`` null while none is logged), and one *planned* interval per maintenance
    event, ``maintenance_hours`` long (see the module doc for the vocabulary).

    ``events``: rows of the events table (at least ``machine_id``, ``ts``, ``kind``; ``component``
    if present). Intervals of one machine may overlap; count their union, as :func:`downtime_hours`
    does, not the sum of their lengths."""
    if maintenance_hours < 0:
        raise ValueError(f"maintenance_hours must not be negative, got {maintenance_hours}")
    component = pl.col("component") if "component" in events.columns else pl.lit(None, pl.String)
    ev = events.select("machine_id", pl.col("ts").cast(TS_DTYPE), pl.col("kind"), component.cast(pl.String).alias("component"))
    failures = ev.filter(pl.col("kind") == EventKind.FAILURE.value).sort("ts")
    repairs = ev.filter(pl.col("kind") == EventKind.REPAIR.value).select("machine_id", pl.col("ts").alias("end")).sort("end")
    unplanned = failures.join_asof(repairs, left_on="ts", right_on="end", by="machine_id", strategy="forward", check_sortedness=False).select(
        "machine_id", pl.lit(UNPLANNED).alias("kind"), "component", pl.col("ts").alias("start"), "end"
    )
    planned = ev.filter(pl.col("kind") == EventKind.MAINTENANCE.value).select(
        "machine_id",
        pl.lit(PLANNED).alias("kind"),
        "component",
        pl.col("ts").alias("start"),
        (pl.col("ts") + pl.duration(microseconds=round(maintenance_hours * _US_PER_HOUR))).alias("end"),
    )
    return pl.concat([unplanned, planned]).cast(INTERVALS_SCHEMA).sort("machine_id", "start", "kind")  # type: ignore[arg-type]


def _union_hours(clipped: pl.DataFrame, keys: list[str], name: str) -> pl.DataFrame:
    """Hours covered by the union of each group's intervals (``start``, ``end``, already clipped
    and non-empty): sorted by start, an interval that begins after everything before it has ended
    opens a new run; runs are disjoint, so their lengths add up."""
    return (
        clipped.sort(*keys, "start")
        .with_columns(pl.col("end").cum_max().shift(1).over(keys).alias("_reach"))
        # Each group's first row has no reach and opens a run, so one running count numbers the
        # runs of every group apart.
        .with_columns((pl.col("start") > pl.col("_reach")).fill_null(True).cum_sum().alias("_run"))
        .group_by(*keys, "_run")
        .agg(pl.col("start").min(), pl.col("end").max())
        .group_by(keys)
        .agg(((pl.col("end") - pl.col("start")).dt.total_microseconds().sum() / _US_PER_HOUR).alias(name))
    )


def downtime_hours(intervals: pl.DataFrame, windows: pl.DataFrame) -> pl.DataFrame:
    """Down hours per period and machine (:data:`HOURS_SCHEMA`): ``repair_h`` covered by
    unplanned intervals, ``maintenance_h`` by planned ones, ``downtime_h`` by either, each the
    union of the intervals clipped to the period's ``[observed_start, observed_end)``.

    ``intervals``: from :func:`downtime_intervals` (an open ``end`` runs to the window's end);
    ``windows``: one row per period (:data:`WINDOWS_SCHEMA`). Only machines with down time in a
    period get a row."""
    if intervals.height == 0 or windows.height == 0:
        return pl.DataFrame(schema=HOURS_SCHEMA)
    clipped = (
        intervals.join(windows.select("period", "observed_start", "observed_end"), how="cross")
        .select(
            "period",
            "machine_id",
            "kind",
            pl.max_horizontal("start", "observed_start").alias("start"),
            pl.min_horizontal(pl.col("end").fill_null(pl.col("observed_end")), "observed_end").alias("end"),
        )
        .filter(pl.col("end") > pl.col("start"))
    )
    keys = ["period", "machine_id"]
    if clipped.height == 0:
        return pl.DataFrame(schema=HOURS_SCHEMA)
    total = _union_hours(clipped, keys, "downtime_h")
    for kind, name in ((UNPLANNED, "repair_h"), (PLANNED, "maintenance_h")):
        total = total.join(_union_hours(clipped.filter(pl.col("kind") == kind), keys, name), on=keys, how="left", nulls_equal=True)
    return total.with_columns(pl.col("repair_h", "maintenance_h").fill_null(0.0)).select(list(HOURS_SCHEMA)).cast(HOURS_SCHEMA)  # type: ignore[arg-type]


def reliability_figures(
    events: pl.DataFrame, machines: list[str], windows: pl.DataFrame, *, maintenance_hours: float = PLANNED_MAINTENANCE_HOURS
) -> pl.DataFrame:
    """The figures of the module doc (:data:`RELIABILITY_SCHEMA`) for ``machines`` in each period
    of ``windows`` (:data:`WINDOWS_SCHEMA`; an empty observed window, end at or before start,
    observes nothing), from the events frame alone. Per period: the factory row first, then the
    machines in id order. Events of machines not listed are left out."""
    windows = windows.cast(WINDOWS_SCHEMA).with_columns(  # type: ignore[arg-type]
        pl.max_horizontal("observed_start", "observed_end").alias("observed_end"), pl.int_range(pl.len()).alias("_order")
    )
    own = events.filter(pl.col("machine_id").is_in(machines))
    hours = downtime_hours(downtime_intervals(own, maintenance_hours=maintenance_hours), windows)
    failures = (
        own.filter(pl.col("kind") == EventKind.FAILURE.value)
        .select("machine_id", pl.col("ts").cast(TS_DTYPE))
        .join(windows.select("period", "observed_start", "observed_end"), how="cross")
        .filter((pl.col("ts") >= pl.col("observed_start")) & (pl.col("ts") < pl.col("observed_end")))
        .group_by("period", "machine_id")
        .agg(pl.len().cast(pl.Int64).alias("failures"))
    )
    keys = ["period", "machine_id"]
    grid = (
        windows.join(pl.DataFrame({"machine_id": sorted(machines)}, schema={"machine_id": pl.String()}), how="cross")
        .join(failures, on=keys, how="left", nulls_equal=True)
        .join(hours, on=keys, how="left", nulls_equal=True)
        .with_columns(
            pl.col("failures").fill_null(0),
            pl.col("downtime_h", "repair_h", "maintenance_h").fill_null(0.0),
            ((pl.col("observed_end") - pl.col("observed_start")).dt.total_microseconds() / _US_PER_HOUR).alias("observed_h"),
        )
    )
    factory = grid.group_by("period", "period_start", "period_end", "_order").agg(
        pl.lit(None, pl.String).alias("machine_id"), pl.col("failures", "downtime_h", "repair_h", "maintenance_h", "observed_h").sum()
    )
    rows = pl.concat([factory.with_columns(pl.lit(0).alias("_row")), grid.with_columns(pl.lit(1).alias("_row"))], how="diagonal_relaxed")
    failed = pl.col("failures") > 0
    return (
        rows.sort("_order", "_row", "machine_id")
        .with_columns(
            pl.when(failed).then((pl.col("observed_h") - pl.col("downtime_h")) / pl.col("failures")).alias("mtbf_h"),
            pl.when(failed).then(pl.col("repair_h") / pl.col("failures")).alias("mttr_h"),
            pl.when(pl.col("observed_h") > 0).then(1.0 - pl.col("downtime_h") / pl.col("observed_h")).alias("availability"),
        )
        .select(list(RELIABILITY_SCHEMA))
        .cast(RELIABILITY_SCHEMA)  # type: ignore[arg-type]
    )


# --- reading the hub ------------------------------------------------------------------------------
def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class _ReadingSpan:
    """The first and latest reading of a factory, each read from one local-date partition only
    (the lake lists its partitions without reading them) and only when a period needs it exactly:
    a partition wholly before (after) a period already says the data starts before (ends after) it."""

    def __init__(self, reader: FactoryReader, latest: datetime | None = None) -> None:
        self.reader = reader
        self.timezone = reader.factory.timezone
        self.dates = reader.dates("readings")
        self._latest = latest
        self._first: datetime | None = None

    def _edge(self, day: date, which: str) -> datetime | None:
        frame, files = self.reader.partition("readings", day)
        if not files:
            return None
        ts = pl.col("ts")
        value = frame.select(ts.min() if which == "min" else ts.max()).collect().item()
        return None if value is None else _utc(value)

    def observed(self, start: datetime, end: datetime) -> tuple[datetime, datetime]:
        """``[start, end)`` cut to [first reading, latest reading]; empty (end == start) without readings."""
        if not self.dates:
            return start, start
        first_day, last_day = self.dates[0], self.dates[-1]
        if day_bounds(first_day, self.timezone)[1] > start:  # the data may begin inside the period
            if self._first is None:
                self._first = self._edge(first_day, "min")
            if self._first is not None:
                start = max(start, self._first)
        if day_bounds(last_day, self.timezone)[0] < end:  # the data may end inside the period
            if self._latest is None:
                self._latest = self._edge(last_day, "max")
            if self._latest is not None:
                end = min(end, self._latest)
        return start, max(start, end)


def month_bounds(day: date, timezone: str) -> tuple[datetime, datetime]:
    """UTC [start, end) of the local calendar month holding ``day`` (local midnight of its first
    day to local midnight of the next month's)."""
    first = day.replace(day=1)
    following = (first + timedelta(days=32)).replace(day=1)
    zone = ZoneInfo(timezone)
    return (
        datetime.combine(first, datetime.min.time(), tzinfo=zone).astimezone(UTC),
        datetime.combine(following, datetime.min.time(), tzinfo=zone).astimezone(UTC),
    )


def _windows(span: _ReadingSpan, periods: list[tuple[str | None, datetime, datetime, datetime]]) -> pl.DataFrame:
    """(label, start, end, observed until at most) -> :data:`WINDOWS_SCHEMA` rows."""
    zone = ZoneInfo(span.timezone)
    rows = []
    for label, start, end, cap in periods:
        observed_start, observed_end = span.observed(start, min(end, cap))
        last = (end - timedelta(microseconds=1)).astimezone(zone).date()
        rows.append((label, start.astimezone(zone).date(), last, observed_start, observed_end))
    return pl.DataFrame(rows, schema=WINDOWS_SCHEMA, orient="row")


def _figures(reader: FactoryReader, span: _ReadingSpan, windows: pl.DataFrame, maintenance_hours: float) -> pl.DataFrame:
    machines = [m.machine_id for m in reader.hub.registry.machines(reader.factory_id)]
    lo = windows.get_column("observed_start").min()
    hi = windows.get_column("observed_end").max()
    assert isinstance(lo, datetime) and isinstance(hi, datetime)
    # Failures still under repair when the earliest window opens are in the lookback before it.
    events = reader.events(lo - EVENT_LOOKBACK, hi).select("machine_id", "ts", "kind", "component").collect()
    figures = reliability_figures(events, machines, windows, maintenance_hours=maintenance_hours)
    log.debug("reliability of %s: %d machines, %d events, windows %s", reader.factory_id, len(machines), events.height, windows.rows())
    return figures


def reliability(
    hub: Hub,
    factory_id: str,
    start: datetime,
    end: datetime,
    *,
    period: str | None = None,
    maintenance_hours: float = PLANNED_MAINTENANCE_HOURS,
) -> pl.DataFrame:
    """The factory's reliability figures over ``[start, end)`` (:data:`RELIABILITY_SCHEMA`; the
    definitions and the observed window in the module doc): the whole-factory row first
    (``machine_id`` null), then every registered machine, including those that never failed.

    ``start``/``end``: UTC (naive datetimes are taken as UTC). ``period``: the label of the rows'
    ``period`` column. Raises :class:`~analytics.errors.NotFoundError` for an unregistered
    factory, :class:`~analytics.errors.InvalidIdentifierError` for a malformed id, ``ValueError``
    for an empty range."""
    reader = FactoryReader(hub, factory_id)  # validates the id; NotFoundError if unregistered
    start, end = _utc(start), _utc(end)
    if end <= start:
        raise ValueError(f"end {end.isoformat()} must be after start {start.isoformat()}")
    span = _ReadingSpan(reader)
    return _figures(reader, span, _windows(span, [(period, start, end, end)]), maintenance_hours)


def monthly_reliability(hub: Hub, factory_id: str, today: date, *, maintenance_hours: float = PLANNED_MAINTENANCE_HOURS) -> pl.DataFrame:
    """:func:`reliability` for this month (``period`` "this_month": the factory-local calendar
    month holding ``today``) and last month ("last_month"), in that order. Months are local
    calendar months (hub.registry.factory(id).timezone) converted to UTC, so a failure at 23:00 on
    the 31st local time belongs to that month wherever the hub runs.

    This month is observed as of ``today``: up to the end of ``today`` (local) or the latest
    reading, whichever is earlier, so its availability is not diluted by hours still to come and a
    past ``today`` gives the figures as they stood then."""
    reader = FactoryReader(hub, factory_id)  # validates the id; NotFoundError if unregistered
    return monthly_figures(reader, today, maintenance_hours=maintenance_hours)


def monthly_figures(
    reader: FactoryReader, today: date, *, latest: datetime | None = None, maintenance_hours: float = PLANNED_MAINTENANCE_HOURS
) -> pl.DataFrame:
    """:func:`monthly_reliability` through a reader the caller holds; ``latest``: the factory's
    latest reading when the caller already read it (the fleet overview does), so it is not read
    again."""
    timezone = reader.factory.timezone
    this_start, this_end = month_bounds(today, timezone)
    last_start, last_end = month_bounds(today.replace(day=1) - timedelta(days=1), timezone)
    today_end = day_bounds(today, timezone)[1]
    span = _ReadingSpan(reader, latest=latest)
    windows = _windows(span, [(PERIODS[0], this_start, this_end, today_end), (PERIODS[1], last_start, last_end, last_end)])
    return _figures(reader, span, windows, maintenance_hours)
