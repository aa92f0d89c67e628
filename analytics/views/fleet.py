"""The Fleet overview page's read model: every machine of one factory as a tile, most urgent first,
with the factory's open alerts, data freshness and this and last month's reliability.

:func:`fleet_overview` reads, for one factory:

- the newest solved day at or before the one asked for, and its health rows
  (:func:`~analytics.solutions.solve.read_health`): one tile per registered machine
  (:data:`TILE_SCHEMA`), ``"unknown"`` for a machine without a health row that day (added since,
  or without data);
- the alerts as they stand now (:class:`~analytics.solutions.alerts.AlertBook`; the book keeps no
  history of states, so they are not as of the day);
- how fresh the data is (:class:`Freshness`), from the lake's partition listing and the newest
  partition only, never a scan of the history;
- :func:`~analytics.views.reliability.monthly_reliability` as of the overview's day.

Everything is factory-scoped: the id is validated, an unregistered factory is a
:class:`~analytics.errors.NotFoundError`, and every table is read through the factory's own
readers, which can only reach that factory's directory; the tiles list only the factory's
registered machines.

**Urgency.** Tiles sort by status (critical, warning, watch, normal, then unknown: a machine the hub
knows nothing about today is not more urgent than one it watched and found normal, but it is
listed), then failure probability (highest first), then health index (lowest first), then machine
id; missing values sort last. ``urgency_rank`` is the 1-based position in that order.

**Staleness.** A machine is stale when it has no reading in the ``stale_after`` before the
reference time, ``min(now, the factory's latest reading)``. The reference is the factory's own
latest reading rather than the wall clock because factories send files in batches (a day's file
the next morning, some days late): against the clock every machine of such a factory would be
stale every morning and the warning would say nothing. Against the factory's latest reading it
names the machines whose data stops where the rest of the factory's does not (a gateway, a
logger, a machine's network down); how far the whole factory lags the clock is ``lag_hours``.
A registered machine without any reading is stale.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import polars as pl

from analytics.models.anomaly.scoring import day_bounds
from analytics.schemas import TS_DTYPE
from analytics.solutions.alerts import SEVERITIES, AlertBook
from analytics.solutions.health import HEALTH_SCHEMA, STATUSES
from analytics.solutions.solve import read_health, solution_store
from analytics.store.hub import Hub
from analytics.store.reader import FactoryReader
from analytics.views.reliability import monthly_figures

log = logging.getLogger(__name__)

UNKNOWN = "unknown"
# Most urgent first; a machine without a health row that day comes last.
URGENCY_ORDER: tuple[str, ...] = (*reversed(STATUSES), UNKNOWN)
DEFAULT_STALE_AFTER = timedelta(hours=6)

TILE_SCHEMA: dict[str, pl.DataType] = {
    "machine_id": pl.String(),
    "machine_type": pl.String(),
    "status": pl.String(),  # normal / watch / warning / critical, "unknown" without a health row
    "health_index": pl.Float64(),
    "probability": pl.Float64(),
    "horizon_hours": pl.Float64(),
    "ttf_median_h": pl.Float64(),
    "ttf_p10_h": pl.Float64(),
    "failure_mode": pl.String(),
    "action_ko": pl.String(),
    "action_en": pl.String(),
    "open_alerts": pl.Int64(),  # unresolved (open or acknowledged) alerts of the machine
    "urgency_rank": pl.Int64(),  # 1 = most urgent (see the module doc)
}
_HEALTH_COLUMNS = [c for c in TILE_SCHEMA if c not in ("machine_id", "machine_type", "open_alerts", "urgency_rank")]


@dataclass(frozen=True)
class Freshness:
    """How current the factory's data is (see the module doc for staleness).

    ``latest_reading``: the newest stored reading (UTC), None without readings; ``last_ingest``:
    when the newest successful ingest finished (UTC); ``stale_machines``: machines with no reading
    in ``stale_after`` before ``min(now, latest_reading)``, in id order; ``lag_hours``: hours from
    the latest reading to ``now`` (0 when ``now`` is earlier), None without readings."""

    latest_reading: datetime | None
    last_ingest: datetime | None
    stale_machines: list[str] = field(default_factory=list)
    lag_hours: float | None = None


@dataclass(frozen=True)
class FleetOverview:
    """One factory at a glance, as :func:`fleet_overview` read it (see the module doc).

    ``day``: the solved day shown (the newest at or before the one asked for), None when none is;
    ``tiles``: :data:`TILE_SCHEMA`, most urgent first; ``open_alerts``: unresolved alerts by
    severity (every severity of :data:`~analytics.solutions.alerts.SEVERITIES`, zeros included)
    plus ``"acknowledged"``, how many of them someone acknowledged (so the severities sum to the
    unresolved total and ``acknowledged`` is a part of it); ``reliability``:
    :func:`~analytics.views.reliability.monthly_reliability` as of ``day`` (else the latest
    reading's local date, else today's); ``status_counts``: tiles per status, every status of
    :data:`URGENCY_ORDER` with zeros included."""

    factory_id: str
    day: date | None
    tiles: pl.DataFrame
    open_alerts: dict[str, int]
    freshness: Freshness
    reliability: pl.DataFrame
    status_counts: dict[str, int]


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def solved_day(days: list[date], wanted: date | None) -> date | None:
    """The newest of ``days`` at or before ``wanted`` (the newest of all when None)."""
    eligible = [d for d in days if wanted is None or d <= wanted]
    return max(eligible) if eligible else None


def urgency_tiles(machines: pl.DataFrame, health: pl.DataFrame, alerts_per_machine: pl.DataFrame) -> pl.DataFrame:
    """The tiles (:data:`TILE_SCHEMA`, most urgent first) of ``machines`` (``machine_id``,
    ``machine_type``) from one day's ``health`` rows (:data:`~analytics.solutions.health.HEALTH_SCHEMA`)
    and unresolved alert counts (``machine_id``, ``open_alerts``). Health rows of machines not in
    ``machines`` are left out; a machine without one is ``"unknown"``."""
    rank = pl.col("status").replace_strict(list(URGENCY_ORDER), list(range(len(URGENCY_ORDER))), default=len(URGENCY_ORDER), return_dtype=pl.Int64)
    return (
        machines.select("machine_id", "machine_type")
        .join(health.select("machine_id", *_HEALTH_COLUMNS), on="machine_id", how="left")
        .join(alerts_per_machine.select("machine_id", "open_alerts"), on="machine_id", how="left")
        .with_columns(pl.col("status").fill_null(UNKNOWN), pl.col("open_alerts").fill_null(0))
        .sort(
            [rank, pl.col("probability"), pl.col("health_index"), pl.col("machine_id")],
            descending=[False, True, False, False],
            nulls_last=True,
        )
        .with_columns(pl.int_range(1, pl.len() + 1).alias("urgency_rank"))
        .select(list(TILE_SCHEMA))
        .cast(TILE_SCHEMA)  # type: ignore[arg-type]
    )


def freshness(reader: FactoryReader, machines: list[str], now: datetime, stale_after: timedelta) -> Freshness:
    """The factory's :class:`Freshness` at ``now`` (UTC) for the registered ``machines``.

    Cheap on any history: the lake lists its local-date partitions without reading them; the
    newest partition gives the latest reading and each machine's newest reading in it, and only
    when the stale window reaches back past that partition's start are the machines not seen in
    it looked for in the window before it (by machine, so the sorted files skip the others)."""
    runs = reader.hub.registry.ingest_runs(reader.factory_id, limit=100)
    finished = [r.finished_at for r in runs if r.status == "ok" and r.finished_at]
    last_ingest = max((_utc(datetime.fromisoformat(t)) for t in finished), default=None)
    dates = reader.dates("readings")
    if not dates:
        return Freshness(latest_reading=None, last_ingest=last_ingest, stale_machines=sorted(machines), lag_hours=None)
    newest, files = reader.partition("readings", dates[-1])
    per_machine = newest.group_by("machine_id").agg(pl.col("ts").max()).collect() if files else pl.DataFrame(schema={"machine_id": pl.String(), "ts": TS_DTYPE})
    latest_value = per_machine.get_column("ts").max()
    latest = _utc(latest_value) if isinstance(latest_value, datetime) else None
    if latest is None:
        return Freshness(latest_reading=None, last_ingest=last_ingest, stale_machines=sorted(machines), lag_hours=None)
    since = min(now, latest) - stale_after
    seen = set(per_machine.filter(pl.col("ts") >= since).get_column("machine_id").to_list())
    missing = [m for m in machines if m not in seen]
    partition_start = day_bounds(dates[-1], reader.factory.timezone)[0]
    if missing and since < partition_start:
        earlier = reader.readings(since, partition_start, machines=missing).select(pl.col("machine_id").unique()).collect()
        seen |= set(earlier.get_column("machine_id").to_list())
    stale = sorted(m for m in machines if m not in seen)
    lag = max(0.0, (now - latest).total_seconds() / 3600)
    return Freshness(latest_reading=latest, last_ingest=last_ingest, stale_machines=stale, lag_hours=lag)


def _alert_counts(book: AlertBook) -> tuple[dict[str, int], pl.DataFrame]:
    """Unresolved alerts by severity plus how many of them are acknowledged, and per machine."""
    alerts = book.open_alerts()
    counts: dict[str, int] = dict.fromkeys(SEVERITIES, 0)
    for alert in alerts:
        counts[alert.severity] = counts.get(alert.severity, 0) + 1
    counts["acknowledged"] = sum(alert.status == "acknowledged" for alert in alerts)
    per_machine = (
        pl.DataFrame({"machine_id": [a.machine_id for a in alerts]}, schema={"machine_id": pl.String()})
        .group_by("machine_id")
        .agg(pl.len().cast(pl.Int64).alias("open_alerts"))
    )
    return counts, per_machine


def fleet_overview(
    hub: Hub,
    factory_id: str,
    *,
    day: date | None = None,
    now: datetime | None = None,
    stale_after: timedelta = DEFAULT_STALE_AFTER,
) -> FleetOverview:
    """Everything the Fleet overview page shows for one factory (see the module doc).

    ``day``: show the newest solved day at or before it (default: the newest solved day);
    ``now``: the reference for freshness (default: the clock; naive datetimes are taken as UTC);
    ``stale_after``: how long a machine may go without a reading before it is stale. Raises
    :class:`~analytics.errors.NotFoundError` for an unregistered factory and
    :class:`~analytics.errors.InvalidIdentifierError` for a malformed id."""
    started = time.perf_counter()
    reader = FactoryReader(hub, factory_id)  # validates the id; NotFoundError if unregistered
    factory_id = reader.factory_id
    if stale_after <= timedelta(0):
        raise ValueError(f"stale_after must be positive, got {stale_after}")
    now = _utc(now) if now is not None else datetime.now(UTC)
    registered = hub.registry.machines(factory_id)
    machines = pl.DataFrame([(m.machine_id, m.machine_type) for m in registered], schema={"machine_id": pl.String(), "machine_type": pl.String()}, orient="row")
    shown = solved_day(solution_store(hub, factory_id).dates(), day)
    health = read_health(hub, factory_id, shown, shown).collect() if shown is not None else pl.DataFrame(schema=HEALTH_SCHEMA)
    alert_counts, per_machine = _alert_counts(AlertBook(hub, factory_id))
    tiles = urgency_tiles(machines, health, per_machine)
    fresh = freshness(reader, machines.get_column("machine_id").to_list(), now, stale_after)

    zone = ZoneInfo(reader.factory.timezone)
    if shown is not None:
        as_of = shown
    else:
        as_of = (min(now, fresh.latest_reading) if fresh.latest_reading else now).astimezone(zone).date()
    figures = monthly_figures(reader, as_of, latest=fresh.latest_reading)
    counts = dict.fromkeys(URGENCY_ORDER, 0) | dict(tiles.group_by("status").len().iter_rows())
    overview = FleetOverview(
        factory_id=factory_id,
        day=shown,
        tiles=tiles,
        open_alerts=alert_counts,
        freshness=fresh,
        reliability=figures,
        status_counts={k: int(v) for k, v in counts.items()},
    )
    log.debug(
        "fleet overview of %s (day %s): %d machines %s, %d stale, %.0f ms",
        factory_id, shown, tiles.height, overview.status_counts, len(fresh.stale_machines), (time.perf_counter() - started) * 1000,
    )  # fmt: skip
    return overview
