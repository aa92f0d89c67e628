"""A factory's day of anomaly scoring (``factoryhub score``): sensor faults found, models refitted
where due, every machine's windows scored, labelled and explained, all stored for the day.

Stored per local date under ``factories/<id>/scores/anomaly/<window>/`` (a
:class:`~analytics.store.dated.DatedTables`, replaced atomically, so re-running a day replaces it):

- ``scores``: one row per machine and window (:data:`~analytics.models.anomaly.monitor.SCORE_SCHEMA`):
  score in threshold units, above-threshold flag, persistence alarm, excluded for a sensor fault,
  the top sensors driving the score with their shares, and the id of the model that scored it;
- ``faults``: the day's data-quality events (:mod:`analytics.models.anomaly.quality`);
- ``changes``: how often each sensor changed value that day, per operating state
  (:data:`~analytics.models.anomaly.quality.CHANGE_SCHEMA`): a day's stuck-sensor test learns a
  sensor's behaviour from the week before it through these, not by reading the week's readings
  again (a day's detection then costs one day of readings and a short lead before it, not eight).

Models are saved in the factory's :class:`~analytics.store.models.ModelStore` with their cards. A
re-run of a past day uses the newest model fitted on data up to that day, never a later one, and
learns from the stored outcomes of the days before it (their exceedances and sensor faults stay
out of training); so running days in order, or re-running any of them, gives the same result.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import polars as pl

from analytics.config import AnomalySettings, get_settings
from analytics.features import MACHINE_HEALTH, FeatureStore
from analytics.models.anomaly.data import machine_matrices
from analytics.models.anomaly.monitor import SCORE_SCHEMA, MachineModel, monitor_day
from analytics.models.anomaly.quality import CHANGE_SCHEMA, EVENT_SCHEMA, SensorFaultDetector, detect_factory_faults, fault_mask
from analytics.schemas import validate_factory_id
from analytics.store.dated import DatedTables
from analytics.store.hub import Hub
from analytics.store.models import ModelStore
from analytics.store.reader import FactoryReader

log = logging.getLogger(__name__)

KIND = "anomaly"
TABLES = ("scores", "faults", "changes")
FAULT_HISTORY_DAYS = 7  # how often a sensor normally changes value is learned from a week
# Readings before the day that its sensor-fault detection also looks at: a frozen run that begins
# before midnight and ends after it (each part shorter than the detector's minimum) is found, and
# the spike test's rolling scale has its context at the day's first samples.
FAULT_LEAD = timedelta(hours=3)


def score_store(hub: Hub, factory_id: str, window: str) -> DatedTables:
    """Where a factory's anomaly scores of one feature window live."""
    factory_id = validate_factory_id(factory_id)
    MACHINE_HEALTH.window_seconds(window)
    return DatedTables(
        hub.lake.factory_root(factory_id) / "scores" / KIND / window, factory_id, TABLES, schemas={"scores": SCORE_SCHEMA, "faults": EVENT_SCHEMA, "changes": CHANGE_SCHEMA}
    )


def day_bounds(day: date, timezone: str) -> tuple[datetime, datetime]:
    """UTC [start, end) of a local calendar day (23 or 25 hours on a DST change)."""
    zone = ZoneInfo(timezone)
    start = datetime.combine(day, datetime.min.time(), tzinfo=zone)
    end = datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=zone)
    return start.astimezone(ZoneInfo("UTC")), end.astimezone(ZoneInfo("UTC"))


@dataclass
class ScoreRun:
    """What one day's scoring did."""

    factory_id: str
    day: date
    machines: int = 0
    windows: int = 0
    above: int = 0
    alarms: int = 0
    excluded: int = 0
    faults: int = 0
    refitted: dict[str, str] = field(default_factory=dict)  # machine -> reason
    without_model: list[str] = field(default_factory=list)
    alarmed_machines: list[str] = field(default_factory=list)
    seconds: float = 0.0


def _load(models: ModelStore, machine_id: str, until: datetime) -> MachineModel | None:
    card = models.latest_card(KIND, machine_id, until=until)
    return models.load(KIND, machine_id, card["model_id"]) if card else None


def score_day(hub: Hub, factory_id: str, day: date, settings: AnomalySettings | None = None) -> ScoreRun:
    """Score one local day of one factory and store the result (see the module doc)."""
    started = time.perf_counter()
    settings = settings or get_settings().anomaly
    reader = FactoryReader(hub, factory_id)
    factory_id = reader.factory_id
    features = FeatureStore(hub, factory_id)
    store = score_store(hub, factory_id, settings.window)
    models = ModelStore(hub, factory_id)
    day_start, day_end = day_bounds(day, reader.factory.timezone)
    history_start = day - timedelta(days=settings.lookback_days + 1)

    sensor = features.read(MACHINE_HEALTH, settings.window, "sensor", history_start, day).collect()
    machine = features.read(MACHINE_HEALTH, settings.window, "machine", history_start, day).collect()
    events = reader.events().collect()
    detector = SensorFaultDetector()
    prior_changes = _prior_changes(hub, factory_id, store, day, reader.factory.timezone, detector)
    faults = detect_factory_faults(hub, factory_id, day_start - FAULT_LEAD, day_end, detector=detector, prior_changes=prior_changes, counted_from=day_start)
    faults = faults.filter(pl.col("end") > day_start)
    changes = detector.changes_
    past = store.read("scores", history_start, day - timedelta(days=1)).collect()
    spans = _false_alarm_spans(hub, factory_id, day)
    past = _with_feedback(past, spans, reader.factory.timezone)
    # A model fitted before a person said its alarms were false has not learned those windows.
    told_at = dict(spans.filter(pl.col("end_day") >= history_start).group_by("machine_id").agg(pl.col("given_at").max()).iter_rows())
    rules = features.rules()
    run = ScoreRun(factory_id, day, faults=faults.height)

    frames = []
    # One pivot and one split per table instead of a filter per machine: a thousand machines stay linear.
    matrices = machine_matrices(sensor, machine, stats=settings.stats)
    past_of = past.partition_by("machine_id", as_dict=True) if past.height else {}
    faults_of = faults.partition_by("machine_id", as_dict=True) if faults.height else {}
    no_past = pl.DataFrame(schema={**SCORE_SCHEMA, "false_alarm": pl.Boolean()})
    for machine_id, matrix in sorted(matrices.items()):
        matrix = matrix.filter(pl.col("window_start") < day_end)
        if matrix.height == 0:
            continue
        own_past = past_of.get((machine_id,), no_past)
        flagged = own_past.filter(pl.col("above") & ~pl.col("false_alarm")).select("window_start")
        excluded = own_past.filter(pl.col("excluded")).select("window_start")
        own_faults = faults_of.get((machine_id,))
        if own_faults is not None:
            mask = fault_mask(matrix.get_column("window_start"), matrix.get_column("window_end"), own_faults, machine_id=machine_id)
            excluded = pl.concat([excluded, mask.filter(pl.col("any_fault")).select("window_start")])
        prior = own_past.sort("window_start").get_column("above").to_list()[-settings.persistence[1] :]
        model = _load(models, machine_id, day_start)
        rule = rules.get(machine_id)
        # Windows a person marked as false alarms are normal: a model fitted before them must learn them.
        relearn = model is not None and machine_id in told_at and model.fitted_at < told_at[machine_id]
        model, refitted, scores = monitor_day(
            model, matrix, events, machine_id, day_start, day_end, settings,
            flagged=flagged, excluded=excluded, prior_above=prior, load_sensor=rule.sensor if rule else None,
            force_reason="feedback" if relearn else None,
        )  # fmt: skip
        if refitted and model is not None:
            models.save(KIND, machine_id, model.model_id, model, model.card())
            run.refitted[machine_id] = model.reason
        if model is None:
            run.without_model.append(machine_id)
            continue
        if scores.height:
            run.machines += 1
            frames.append(scores)
            if scores.get_column("alarm").any():
                run.alarmed_machines.append(machine_id)
    scores = pl.concat(frames) if frames else pl.DataFrame(schema=SCORE_SCHEMA)
    run.windows = scores.height
    run.above = int(scores.get_column("above").sum()) if scores.height else 0
    run.alarms = int(scores.get_column("alarm").sum()) if scores.height else 0
    run.excluded = int(scores.get_column("excluded").sum()) if scores.height else 0
    tables = {
        "scores": scores,
        "faults": faults.cast(EVENT_SCHEMA) if faults.height else pl.DataFrame(schema=EVENT_SCHEMA),
        "changes": changes.cast(CHANGE_SCHEMA),
    }
    store.write(day, tables, settings=settings.model_dump(mode="json"))
    run.seconds = time.perf_counter() - started
    log.info("%s %s: %d machines, %d windows, %d alarms, %d refits", factory_id, day, run.machines, run.windows, run.alarms, len(run.refitted))
    return run


def _prior_changes(hub: Hub, factory_id: str, store: DatedTables, day: date, timezone: str, detector: SensorFaultDetector) -> pl.DataFrame:
    """Change counts of the :data:`FAULT_HISTORY_DAYS` days before ``day``: stored with those
    days' scores, measured from their readings where a day was not scored (or was scored before
    counts were kept), so the first run learns from the same week as later ones."""
    days = [day - timedelta(days=n) for n in range(FAULT_HISTORY_DAYS, 0, -1)]
    stored = [d for d in days if "changes" in (store.current(d) or {})]
    parts = [store.read("changes", d, d).collect() for d in stored]
    for missing in sorted(set(days) - set(stored)):
        start, end = day_bounds(missing, timezone)
        detect_factory_faults(hub, factory_id, start, end, detector=detector)
        parts.append(detector.changes_)
    parts = [p.select(list(CHANGE_SCHEMA)).cast(CHANGE_SCHEMA) for p in parts if p.height]
    return pl.concat(parts) if parts else pl.DataFrame(schema=CHANGE_SCHEMA)


def _false_alarm_spans(hub: Hub, factory_id: str, day: date) -> pl.DataFrame:
    """Days of alerts a person marked as false alarms, that began before ``day`` (the day's own
    alerts are not out yet): machine_id, start_day, end_day, given_at."""
    from analytics.solutions.alerts import AlertBook  # solutions builds on scoring, not the reverse

    return AlertBook(hub, factory_id).false_alarm_spans().filter(pl.col("start_day") < day)


def _with_feedback(past: pl.DataFrame, spans: pl.DataFrame, timezone: str) -> pl.DataFrame:
    """``past`` scores plus ``false_alarm``: the window lies on a day that a false-alarm span covers."""
    if past.height == 0 or spans.height == 0:
        return past.with_columns(pl.lit(False).alias("false_alarm"))
    local = pl.col("window_start").dt.convert_time_zone(timezone).dt.date()
    marked = (
        past.select("machine_id", "window_start", local.alias("_day"))
        .join(spans.select("machine_id", "start_day", "end_day"), on="machine_id")
        .filter((pl.col("_day") >= pl.col("start_day")) & (pl.col("_day") <= pl.col("end_day")))
        .select("machine_id", "window_start")
        .unique()
        .with_columns(pl.lit(True).alias("false_alarm"))
    )
    return past.join(marked, on=["machine_id", "window_start"], how="left").with_columns(pl.col("false_alarm").fill_null(False))


def read_scores(hub: Hub, factory_id: str, start: date | None = None, end: date | None = None, settings: AnomalySettings | None = None) -> pl.LazyFrame:
    """Stored anomaly scores of local dates [start, end], factory-scoped."""
    settings = settings or get_settings().anomaly
    return score_store(hub, factory_id, settings.window).read("scores", start, end)


def read_faults(hub: Hub, factory_id: str, start: date | None = None, end: date | None = None, settings: AnomalySettings | None = None) -> pl.LazyFrame:
    """Stored data-quality events of local dates [start, end], factory-scoped."""
    settings = settings or get_settings().anomaly
    return score_store(hub, factory_id, settings.window).read("faults", start, end)
