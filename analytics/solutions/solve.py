"""A factory's day of solutions (``factoryhub solve``): every machine's health and recommended
action, the maintenance priority list, and the alerts opened, updated, escalated or cleared.

Reads what the day's earlier stages stored (anomaly scores from ``factoryhub score``, failure risk
from ``factoryhub predict`` when a failure model exists, the 1-hour features for the evidence) and
writes, per local date under ``factories/<id>/solutions/`` (a :class:`~analytics.store.dated.DatedTables`,
replaced atomically):

- ``health``: one row per machine (:data:`~analytics.solutions.health.HEALTH_SCHEMA`);
- ``priority``: the machines that are not normal, ranked by expected loss, with a suggested
  maintenance window (:func:`~analytics.solutions.priority.priority_list`).

Alerts live in the registry (:class:`~analytics.solutions.alerts.AlertBook`): one per machine and
failure mode, updated rather than repeated. Re-running a day rewrites the same tables and leaves
the alerts as they were, so ``solve`` is idempotent.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import date, timedelta

import polars as pl

from analytics.config import SolutionSettings, get_settings
from analytics.errors import NotFoundError
from analytics.features import MACHINE_HEALTH, FeatureStore
from analytics.models.anomaly.scoring import day_bounds, read_scores, score_store
from analytics.models.failure.predict import latest_risk, read_risk
from analytics.schemas import validate_factory_id
from analytics.solutions.alerts import AlertBook, AlertCandidate, AlertSettings, DayOutcome
from analytics.solutions.calendar import get_calendar
from analytics.solutions.health import EVIDENCE_SCHEMA, HEALTH_SCHEMA, WARNING_STATUSES, anomaly_state, assess, sensor_evidence
from analytics.solutions.knowledge import KnowledgeBase
from analytics.solutions.priority import PRIORITY_SCHEMA, get_consequences, priority_list
from analytics.store.dated import DatedTables
from analytics.store.hub import Hub
from analytics.store.reader import FactoryReader

log = logging.getLogger(__name__)

TABLES = ("health", "priority")


def solution_store(hub: Hub, factory_id: str) -> DatedTables:
    """Where a factory's daily health and priority tables live."""
    factory_id = validate_factory_id(factory_id)
    return DatedTables(hub.lake.factory_root(factory_id) / "solutions", factory_id, TABLES, schemas={"health": HEALTH_SCHEMA, "priority": PRIORITY_SCHEMA})


@dataclass
class SolveRun:
    """What one day's solve did."""

    factory_id: str
    day: date
    machines: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    with_action: int = 0
    without_rule: int = 0
    failure_model: bool = False
    alerts: DayOutcome | None = None
    seconds: float = 0.0


def alert_candidates(health: pl.DataFrame, day: date) -> list[AlertCandidate]:
    """An alert candidate for every machine in warning or critical status."""
    candidates = []
    keys = ("rule_id", "health_index", "probability", "alarm_hours", "alarm_days", "urgency", "reason_en", "reason_ko", "action_en", "action_ko", "evidence_json")
    for row in health.filter(pl.col("status").is_in(WARNING_STATUSES)).iter_rows(named=True):
        details = {k: row[k] for k in keys}
        candidates.append(AlertCandidate(machine_id=row["machine_id"], mode=row["failure_mode"], severity=row["status"], day=day, details=details))
    return candidates


def recent_false_alarms(book: AlertBook, day: date, days: int) -> dict[str, int]:
    """Per machine, alerts whose latest verdict is a false alarm and whose last day lies in the
    ``days`` before ``day``. A verdict counts from the moment it is given: re-running a day after
    new feedback can change that day's statuses, as it should."""
    spans = book.false_alarm_spans()
    if spans.height == 0:
        return {}
    recent = spans.filter((pl.col("end_day") < day) & (pl.col("end_day") >= day - timedelta(days=days)))
    return dict(recent.group_by("machine_id").len().iter_rows())


def solve_day(
    hub: Hub,
    factory_id: str,
    day: date,
    settings: SolutionSettings | None = None,
    *,
    alert_settings: AlertSettings | None = None,
    knowledge: KnowledgeBase | None = None,
) -> SolveRun:
    """Assess every machine of the factory for the local ``day``, store health and priorities,
    and bring the alerts up to date (see the module doc)."""
    started = time.perf_counter()
    hub_settings = get_settings()
    settings = settings or hub_settings.solutions
    reader = FactoryReader(hub, factory_id)
    factory_id = reader.factory_id
    timezone = reader.factory.timezone
    day_start, day_end = day_bounds(day, timezone)
    anomaly_scores = score_store(hub, factory_id, hub_settings.anomaly.window)
    if anomaly_scores.current(day) is None:
        raise NotFoundError(f"factory {factory_id!r} has no anomaly scores for {day}: run `factoryhub score --factory {factory_id} --date {day}` first")
    history = day - timedelta(days=settings.baseline_days + 1)
    scores = read_scores(hub, factory_id, history, day).collect()
    risk = latest_risk(read_risk(hub, factory_id, day, day).collect())  # empty, of RISK_SCHEMA, before any model
    features = FeatureStore(hub, factory_id)
    sensor = features.read(MACHINE_HEALTH, "1h", "sensor", history, day).collect()
    machine = features.read(MACHINE_HEALTH, "1h", "machine", history, day).collect()
    machines = pl.DataFrame(
        [(m.machine_id, m.machine_type) for m in hub.registry.machines(factory_id)],
        schema={"machine_id": pl.String(), "machine_type": pl.String()},
        orient="row",
    )
    units: dict[str, str] = {}
    for s in hub.registry.sensors(factory_id):
        units.setdefault(s.sensor, s.unit)

    anomaly = anomaly_state(scores, day_start, day_end, timezone, settings)
    evidence = sensor_evidence(sensor, machine, scores, day_start, day_end, settings) if sensor.height else pl.DataFrame(schema=EVIDENCE_SCHEMA)
    book = AlertBook(hub, factory_id)
    false_alarms = recent_false_alarms(book, day, settings.feedback_days)
    health = assess(day, machines, anomaly, risk, evidence, knowledge or KnowledgeBase.shipped(), units, settings, false_alarms)
    priority = priority_list(health, get_consequences(hub, factory_id), get_calendar(hub, factory_id), now=day_end, timezone=timezone)
    solution_store(hub, factory_id).write(day, {"health": health, "priority": priority}, settings=settings.model_dump(mode="json"))
    outcome = book.apply_day(day, alert_candidates(health, day), settings=alert_settings or AlertSettings())

    run = SolveRun(factory_id, day, machines=health.height, failure_model=risk.height > 0, alerts=outcome)
    run.statuses = dict(health.group_by("status").len().sort("status").iter_rows())
    run.with_action = health.filter(pl.col("rule_id").is_not_null()).height
    run.without_rule = health.filter((pl.col("status") != "normal") & pl.col("rule_id").is_null()).height
    run.seconds = time.perf_counter() - started
    log.info("%s %s: %s, %d alerts opened, %d resolved", factory_id, day, run.statuses, len(outcome.opened), len(outcome.resolved))
    return run


def read_health(hub: Hub, factory_id: str, start: date | None = None, end: date | None = None) -> pl.LazyFrame:
    """Stored machine health of local dates [start, end], factory-scoped (an empty frame of
    :data:`~analytics.solutions.health.HEALTH_SCHEMA` when none)."""
    return solution_store(hub, factory_id).read("health", start, end)


def read_priority(hub: Hub, factory_id: str, day: date) -> pl.DataFrame:
    """The stored priority list of one local date."""
    return solution_store(hub, factory_id).read("priority", day, day).collect()
