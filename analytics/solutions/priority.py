"""The factory's maintenance priority list: which machine to look at first, by when, and when.

Each machine that is not healthy gets an expected loss: the risk that it fails (the failure-risk
model's probability, never below a floor set by its health status) times the consequence of the
failure (how critical the machine is x what an hour of its downtime costs x how long the repair
takes). Machines are ranked by expected loss. Each gets a deadline from the urgency of the
recommended action, brought forward when the machine is likely to fail sooner, and a window: the
first stop of production in the factory's working calendar long enough for the repair that starts
before the deadline, or, when there is none, a production stop as soon as possible.

What a stop of each machine costs is kept per factory in the registry (:func:`set_consequence`,
:func:`get_consequences`); machines without figures get the neutral :class:`Consequence`.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Final

import polars as pl
from pydantic import BaseModel, ConfigDict, Field

from analytics.solutions.calendar import (
    Language,
    WorkingCalendar,
    describe_window,
    free_windows,
)
from analytics.solutions.health import STATUSES
from analytics.solutions.knowledge import URGENCIES, Urgency

if TYPE_CHECKING:
    from analytics.store.hub import Hub

log = logging.getLogger(__name__)


# Hours from now by which each urgency asks for the work. "immediate" is now; "within_24h" and
# "within_week" say so; "next_planned_stop" has no date of its own, and 30 days bounds it because
# a small plant stops at least monthly (a weekend, a holiday or a shutdown), while the search for a
# window must end somewhere: the deadline is a latest date, the window found is usually far earlier.
URGENCY_DEADLINE_HOURS: Final[dict[Urgency, float]] = {
    "immediate": 0.0,
    "within_24h": 24.0,
    "within_week": 168.0,
    "next_planned_stop": 720.0,
}

# The least failure risk each health status stands for. The probability comes from the failure-risk
# model, which only knows the failure modes it was trained on; the status may come from the anomaly
# detector, which sees any departure from normal. Taking the larger of the two keeps a machine the
# detector calls critical from being ranked as healthy because the model sees no known mode.
# The floors follow the statuses' meaning: critical = failure is likely, warning = a real chance,
# watch = worth a look, normal = background rate.
RISK_FLOOR: Final[dict[str, float]] = {
    "normal": 0.01,
    "watch": 0.1,
    "warning": 0.4,
    "critical": 0.8,
}

# Repair hours assumed when the recommended action gives none (no rule matched): one working day,
# the usual time for a technician to diagnose and fix a machine without a known failure mode.
DEFAULT_DOWNTIME_H: Final[float] = 8.0
# The shortest window worth planning in when the repair's minimum downtime is unknown.
DEFAULT_MIN_WINDOW_H: Final[float] = 1.0
# How far past the deadline to look for production stops, so that a window that starts before the
# deadline is seen whole rather than cut at the deadline.
WINDOW_SEARCH_EXTRA: Final[timedelta] = timedelta(days=14)

# What to assume when the health row gives no urgency: a critical machine cannot wait; a warning
# is the knowledge base's usual "within a week"; a machine on watch waits for the next stop.
STATUS_DEFAULT_URGENCY: Final[dict[str, Urgency]] = {
    "critical": "immediate",
    "warning": "within_week",
    "watch": "next_planned_stop",
    "normal": "next_planned_stop",
}

HEALTH_COLUMNS: Final[tuple[str, ...]] = (
    "machine_id",
    "status",
    "health_index",
    "probability",
    "ttf_p10_h",
    "urgency",
    "downtime_min_h",
    "downtime_max_h",
    "failure_mode",
)

_UTC_TIME = pl.Datetime("us", "UTC")
PRIORITY_SCHEMA: Final[dict[str, pl.DataType]] = {
    "rank": pl.Int64(),
    "machine_id": pl.String(),
    "status": pl.String(),
    "health_index": pl.Float64(),
    "risk": pl.Float64(),
    "criticality": pl.Int64(),
    "downtime_cost_per_hour": pl.Float64(),
    "expected_downtime_h": pl.Float64(),
    "expected_loss": pl.Float64(),
    "failure_mode": pl.String(),
    "urgency": pl.String(),
    "deadline": _UTC_TIME,
    "window_start": _UTC_TIME,
    "window_end": _UTC_TIME,
    "window_kind": pl.String(),
    "window_note_en": pl.String(),
    "window_note_ko": pl.String(),
}


class Consequence(BaseModel):
    """What a failure of a machine costs the factory.

    ``criticality`` runs from 1 (a spare or bypass exists) to 5 (the line stops without the
    machine); 3 is neutral. ``downtime_cost_per_hour`` is in the factory's currency, or any
    relative figure used consistently across its machines.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    criticality: int = Field(3, ge=1, le=5)
    downtime_cost_per_hour: float = Field(1.0, ge=0, allow_inf_nan=False)


def get_consequences(hub: Hub, factory_id: str) -> dict[str, Consequence]:
    """The consequence of every registered machine of the factory (the default where not set).

    Raises :class:`~analytics.errors.NotFoundError` for a factory that is not registered.
    """
    hub.registry.factory(factory_id)
    machines = [m.machine_id for m in hub.registry.machines(factory_id)]
    with hub.registry.transaction() as con:
        rows = con.execute(
            "SELECT machine_id, criticality, downtime_cost_per_hour FROM machine_consequences "
            "WHERE factory_id = ?",
            (factory_id,),
        ).fetchall()
    stored = {
        m: Consequence(criticality=c, downtime_cost_per_hour=cost)
        for m, c, cost in rows
    }
    return {m: stored.get(m, Consequence()) for m in machines}


def set_consequence(
    hub: Hub, factory_id: str, machine_id: str, consequence: Consequence
) -> None:
    """Keep what a failure of the machine costs (replacing any earlier figures).

    Raises :class:`~analytics.errors.NotFoundError` when the machine is not registered in this
    factory, so one factory can never write figures for another's machine.
    """
    hub.registry.machine(factory_id, machine_id)
    checked = Consequence.model_validate(consequence.model_dump())
    with hub.registry.transaction() as con:
        con.execute(
            "INSERT INTO machine_consequences (factory_id, machine_id, criticality, "
            "downtime_cost_per_hour, changed_at) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (factory_id, machine_id) DO UPDATE SET criticality = excluded.criticality, "
            "downtime_cost_per_hour = excluded.downtime_cost_per_hour, changed_at = excluded.changed_at",
            (
                factory_id,
                machine_id,
                checked.criticality,
                checked.downtime_cost_per_hour,
                datetime.now(UTC).isoformat(timespec="seconds"),
            ),
        )
    log.info(
        "factory %s machine %s: consequence set to %s", factory_id, machine_id, checked
    )


def _check_health(health: pl.DataFrame) -> pl.DataFrame:
    if missing := [c for c in HEALTH_COLUMNS if c not in health.columns]:
        raise ValueError(f"health frame lacks column(s) {', '.join(missing)}")
    frame = health.select(HEALTH_COLUMNS).with_columns(
        pl.col("machine_id", "status", "urgency", "failure_mode").cast(pl.String),
        pl.col(
            "health_index",
            "probability",
            "ttf_p10_h",
            "downtime_min_h",
            "downtime_max_h",
        ).cast(pl.Float64),
    )
    problems: list[str] = []
    if (
        dupes := frame.filter(pl.col("machine_id").is_duplicated())["machine_id"]
        .unique()
        .sort()
        .to_list()
    ):
        problems.append(f"machine_id repeated: {', '.join(map(str, dupes))}")
    if frame["machine_id"].null_count():
        problems.append("machine_id is null")
    checks = {
        "status": ~pl.col("status").is_in(STATUSES) | pl.col("status").is_null(),
        "urgency": ~pl.col("urgency").is_in(URGENCIES),
        "health_index": ~pl.col("health_index").is_between(0.0, 100.0),
        "probability": ~pl.col("probability").is_between(0.0, 1.0),
        "ttf_p10_h": pl.col("ttf_p10_h").is_nan(),
        "downtime_min_h": (pl.col("downtime_min_h") < 0)
        | pl.col("downtime_min_h").is_nan(),
        "downtime_max_h": (pl.col("downtime_max_h") < 0)
        | pl.col("downtime_max_h").is_nan(),
    }
    for column, bad in checks.items():
        rows = frame.filter(bad.fill_null(False))
        if rows.height:
            shown = ", ".join(
                f"{m}={v!r}"
                for m, v in rows.select("machine_id", column).head(5).iter_rows()
            )
            problems.append(f"invalid {column} ({shown})")
    if problems:
        raise ValueError("health frame: " + "; ".join(problems))
    return frame


def _hours(column: str | pl.Expr) -> pl.Expr:
    """A number of hours as a duration (to the microsecond)."""
    expr = pl.col(column) if isinstance(column, str) else column
    return pl.duration(microseconds=(expr * 3_600_000_000).round(0).cast(pl.Int64))


def _ceil_hour(moment: datetime) -> datetime:
    floor = moment.replace(minute=0, second=0, microsecond=0)
    return floor if floor == moment else floor + timedelta(hours=1)


def priority_list(
    health: pl.DataFrame,
    consequences: dict[str, Consequence],
    calendar: WorkingCalendar,
    *,
    now: datetime,
    timezone: str,
) -> pl.DataFrame:
    """Machines that need maintenance, most expected loss first, with deadline and window.

    ``health`` has one row per machine with the columns of :data:`HEALTH_COLUMNS`;
    ``consequences`` gives each machine's :class:`Consequence` (the default for machines not in
    it). ``now`` must be time-zone aware; ``timezone`` is the factory's, for the window notes.
    Returns one row per machine whose status is not normal, with the columns of
    :data:`PRIORITY_SCHEMA`; times are UTC.
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError(
            f"now {now.isoformat()} has no time zone; pass an aware datetime (e.g. UTC)"
        )
    now = now.astimezone(UTC)
    frame = _check_health(health).filter(pl.col("status") != "normal")
    if frame.is_empty():
        return pl.DataFrame(schema=PRIORITY_SCHEMA)

    ids = frame["machine_id"].to_list()
    chosen = [consequences.get(m, Consequence()) for m in ids]
    severity = {s: i for i, s in enumerate(STATUSES)}
    urgency = pl.coalesce(
        pl.col("urgency"),
        pl.col("status").replace_strict(STATUS_DEFAULT_URGENCY, return_dtype=pl.String),
    )
    downtime = (
        pl.when(
            pl.col("downtime_min_h").is_not_null()
            & pl.col("downtime_max_h").is_not_null()
        )
        .then((pl.col("downtime_min_h") + pl.col("downtime_max_h")) / 2)
        .otherwise(
            pl.coalesce("downtime_min_h", "downtime_max_h", pl.lit(DEFAULT_DOWNTIME_H))
        )
    )
    floor = pl.col("status").replace_strict(RISK_FLOOR, return_dtype=pl.Float64)
    ranked = (
        frame.with_columns(
            pl.Series("criticality", [c.criticality for c in chosen], dtype=pl.Int64),
            pl.Series(
                "downtime_cost_per_hour",
                [c.downtime_cost_per_hour for c in chosen],
                dtype=pl.Float64,
            ),
            pl.col("status")
            .replace_strict(severity, return_dtype=pl.Int64)
            .alias("_severity"),
            pl.max_horizontal(pl.col("probability"), floor).alias("risk"),
            downtime.alias("expected_downtime_h"),
            urgency.alias("urgency"),
            pl.coalesce("downtime_min_h", pl.lit(DEFAULT_MIN_WINDOW_H)).alias(
                "_min_window_h"
            ),
        )
        .with_columns(
            (
                pl.col("risk")
                * (pl.col("criticality") / 3)
                * pl.col("downtime_cost_per_hour")
                * pl.col("expected_downtime_h")
            ).alias("expected_loss"),
            pl.min_horizontal(
                pl.lit(now, dtype=_UTC_TIME)
                + _hours(
                    pl.col("urgency").replace_strict(
                        URGENCY_DEADLINE_HOURS, return_dtype=pl.Float64
                    )
                ),
                # A machine whose failure has a 10 % chance within ttf_p10_h cannot wait longer.
                pl.lit(now, dtype=_UTC_TIME)
                + _hours(pl.col("ttf_p10_h").clip(lower_bound=0.0)),
            ).alias("deadline"),
        )
        .sort(
            ["expected_loss", "_severity", "machine_id"], descending=[True, True, False]
        )
        .with_row_index("rank", offset=1)
        .with_columns(pl.col("rank").cast(pl.Int64))
    )
    windows = _windows(ranked, calendar, now=now, timezone=timezone)
    return ranked.with_columns(windows).select(list(PRIORITY_SCHEMA))


def _windows(
    ranked: pl.DataFrame, calendar: WorkingCalendar, *, now: datetime, timezone: str
) -> list[pl.Series]:
    """Window start, end, kind and notes of each row of ``ranked`` (in its order)."""
    latest = ranked["deadline"].max()
    if not isinstance(latest, datetime):
        raise TypeError(f"deadline column holds {type(latest).__name__}, not datetimes")
    horizon = latest + WINDOW_SEARCH_EXTRA
    # One pass over the calendar for all machines; each machine then takes the first stop long
    # enough for its repair that starts by its deadline.
    stops = free_windows(calendar, now, horizon, timezone)
    starts: list[datetime] = []
    ends: list[datetime] = []
    kinds: list[str] = []
    for deadline, min_window_h, downtime_h in ranked.select(
        "deadline", "_min_window_h", "expected_downtime_h"
    ).iter_rows():
        shortest = timedelta(hours=min_window_h)
        limit = deadline + WINDOW_SEARCH_EXTRA
        found = next(
            (
                (lo, min(hi, limit))
                for lo, hi in stops
                if lo <= deadline and min(hi, limit) - lo >= shortest
            ),
            None,
        )
        if found is not None:
            starts.append(found[0])
            ends.append(found[1])
            kinds.append("outside_production")
        else:
            # No stop comes in time: production has to be interrupted for the repair.
            begin = _ceil_hour(now)
            starts.append(begin)
            ends.append(begin + timedelta(hours=downtime_h))
            kinds.append("production_stop")
    notes: dict[Language, list[str]] = {"en": [], "ko": []}
    for lo, hi, kind in zip(starts, ends, kinds, strict=True):
        for language, prefix in (("en", "Production stop: "), ("ko", "생산 중단: ")):
            text = describe_window(calendar, lo, hi, timezone, language)
            notes[language].append(prefix + text if kind == "production_stop" else text)
    return [
        pl.Series("window_start", starts, dtype=_UTC_TIME),
        pl.Series("window_end", ends, dtype=_UTC_TIME),
        pl.Series("window_kind", kinds, dtype=pl.String),
        pl.Series("window_note_en", notes["en"], dtype=pl.String),
        pl.Series("window_note_ko", notes["ko"], dtype=pl.String),
    ]
