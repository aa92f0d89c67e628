"""One factory's day through the analytics stages, in the order the data flows.

:func:`process_day` is a plain function of (hub, factory, local day): build the day's 1-hour
features, score anomalies, retrain the failure models when they are due, predict failure risk and
write the day's solutions (health, priorities, alerts). Every stage stores its output per local
date and replaces it atomically, so running a day again gives the same result and duplicates
nothing. The demo builder lives its simulated days through it, and the scheduled daily run calls
it per factory (fanned out per factory, it is the unit a cluster runs).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from analytics.config import HubSettings
from analytics.errors import StageError
from analytics.models.anomaly.scoring import day_bounds
from analytics.store.hub import Hub
from analytics.store.models import ModelStore
from analytics.store.reader import FactoryReader

log = logging.getLogger(__name__)

STAGES = ("features", "score", "train", "predict", "solve")


@dataclass
class FactoryDay:
    """What one factory's day did: per stage, its seconds, a short summary and its counts."""

    factory_id: str
    day: date
    seconds: dict[str, float] = field(default_factory=dict)
    summary: dict[str, str] = field(default_factory=dict)
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    trained: bool = False


def training_due(hub: Hub, factory_id: str, day: date, settings: HubSettings | None = None) -> bool:
    """Whether the factory's failure models should be (re)trained at the end of ``day``.

    Due when the newest failure model was fitted on data that ends ``failure.retrain_days`` or
    more before the day's end, or at once when a champion may no longer be used (a model of the
    pooled recipe whose factories stopped sharing: :func:`~analytics.models.failure.training.withdrawn`). Before any model exists (a young factory, or one whose models were
    all refused), on the day the factory reaches ``min_training_days`` local days of readings and
    every ``failure.retrain_days`` after: a training that found too little to learn from is not
    repeated every day.
    """
    from analytics.models.failure.training import KIND, machines_by_type, withdrawn

    settings = settings or hub.settings
    reader = FactoryReader(hub, factory_id)
    _, day_end = day_bounds(day, reader.factory.timezone)
    store = ModelStore(hub, reader.factory_id)
    if any(withdrawn(hub, store, machine_type) for machine_type in machines_by_type(hub, reader.factory_id)):
        return True
    cards = store.cards(KIND)
    fitted = [datetime.fromisoformat(c["fitted_until"]) for c in cards if "fitted_until" in c]
    fitted = [f for f in fitted if f <= day_end]
    if fitted:
        return day_end - max(fitted) >= timedelta(days=settings.failure.retrain_days)
    history = sum(1 for d in reader.dates("readings") if d <= day)
    return history >= settings.min_training_days and (history - settings.min_training_days) % settings.failure.retrain_days == 0


@contextmanager
def _stage(run: FactoryDay, name: str) -> Iterator[None]:
    """Time a stage into ``run.seconds``; a failure becomes a :class:`StageError` naming it."""
    started = time.perf_counter()
    try:
        yield
    except StageError:
        raise
    except Exception as exc:
        raise StageError(run.factory_id, run.day, name, exc, partial=run) from exc
    finally:
        run.seconds[name] = time.perf_counter() - started


def process_day(hub: Hub, factory_id: str, day: date, *, train: bool | None = None, settings: HubSettings | None = None) -> FactoryDay:
    """Features, anomaly scores, failure training (when due, or as ``train`` says), failure risk
    and solutions of one factory's local ``day`` (see the module doc). A failing stage raises
    :class:`~analytics.errors.StageError` (naming it, the cause chained); the stages already done
    keep their (complete, per-date) outputs."""
    from analytics.features import build_features
    from analytics.models.anomaly.scoring import score_day
    from analytics.models.failure.predict import predict_day
    from analytics.models.failure.training import train_factory
    from analytics.solutions.solve import solve_day

    settings = settings or hub.settings
    run = FactoryDay(factory_id, day)
    timezone = hub.registry.factory(factory_id).timezone

    with _stage(run, "features"):
        features = build_features(hub, factory_id, [day], window=settings.anomaly.window)
        run.summary["features"] = f"{features.readings:,} readings -> {features.sensor_rows:,} sensor windows"
        run.counts["features"] = {"readings": features.readings, "sensor_windows": features.sensor_rows}

    with _stage(run, "score"):
        scored = score_day(hub, factory_id, day, settings.anomaly)
        run.summary["score"] = f"{scored.machines} machines, {scored.alarms} alarmed windows, {len(scored.refitted)} refits"
        run.counts["score"] = {"machines": scored.machines, "windows": scored.windows, "alarms": scored.alarms, "sensor_faults": scored.faults, "refits": len(scored.refitted)}

    with _stage(run, "train"):
        run.trained = training_due(hub, factory_id, day, settings) if train is None else train
        if run.trained:
            results = train_factory(hub, factory_id, until=day_bounds(day, timezone)[1], settings=settings.failure)
            promoted = sum(1 for r in results if r.status == "promoted")
            run.summary["train"] = f"{len(results)} machine types, {promoted} promoted"
            run.counts["train"] = {"machine_types": len(results), "promoted": promoted}
        else:
            run.summary["train"] = "not due"
            run.counts["train"] = {"machine_types": 0, "promoted": 0}

    with _stage(run, "predict"):
        risk = predict_day(hub, factory_id, day)
        run.summary["predict"] = f"{risk.height} hourly risk rows"
        run.counts["predict"] = {"risk_rows": risk.height}

    with _stage(run, "solve"):
        solved = solve_day(hub, factory_id, day, settings.solutions)
        statuses = ", ".join(f"{n} {s}" for s, n in solved.statuses.items())
        opened = len(solved.alerts.opened) if solved.alerts else 0
        run.summary["solve"] = f"{statuses}; {opened} alerts opened"
        run.counts["solve"] = {**solved.statuses, "alerts_opened": opened, "alerts_resolved": len(solved.alerts.resolved) if solved.alerts else 0}
    log.info("%s %s: %s", factory_id, day, "; ".join(f"{k}: {v}" for k, v in run.summary.items()))
    return run
