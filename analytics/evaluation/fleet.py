"""Fleet evaluation on the simulator's ground truth: are degradations caught in time, and how
often does a healthy machine raise an alarm?

The simulated factories go through the hub's own path (ingest, features, sensor-fault
detection), and each machine's monitor lives through the simulated weeks a day at a time, as the
daily run would (:func:`~analytics.models.anomaly.monitor.walk_forward`: first model once enough
healthy windows exist, refits on schedule or drift, its own alarms and sensor faults kept out of
training). An alarm is a run of windows that passes the persistence rule. Against the truth:

- a failure *could be caught in time* when its degradation was visible (the simulator's
  ``visible_from``: severity past the level a sensor shows) at least ``lead_hours`` before it;
  those are the ``failures`` counted (a tool that wears out in five running hours cannot be
  flagged a day ahead by any detector; ``failures_all`` counts every failure scored);
- such a failure is *caught in time* when an alarm starts between the degradation's onset and
  ``lead_hours`` before the failure; its lead time is from the first such alarm to the failure;
- an alarm that starts outside every degradation (onset to end, plus a day after a repair) is
  a *false alarm*; sensor faults are not machine faults, so alarms they cause are false too.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from analytics.config import AnomalySettings, get_settings
from analytics.models.anomaly.catalog import detector_factory
from analytics.models.anomaly.data import machine_matrices
from analytics.models.anomaly.monitor import walk_forward
from analytics.store.hub import Hub

FAR_FUTURE = datetime(2100, 1, 1, tzinfo=UTC)


def alarm_starts(window_starts: list[datetime], alarms: np.ndarray) -> list[datetime]:
    """Start of each run of consecutive alarmed windows."""
    starts = []
    previous = False
    for start, flag in zip(window_starts, alarms.astype(bool), strict=True):
        if flag and not previous:
            starts.append(start)
        previous = bool(flag)
    return starts


def judge_machine(
    starts: list[datetime],
    degradations: pl.DataFrame,
    scored_from: datetime,
    *,
    lead_hours: float = 24.0,
) -> dict[str, Any]:
    """Caught-in-time failures, their lead times and false alarms of one machine (see module doc)."""
    failures, failures_all, caught, leads = 0, 0, 0, []
    windows = []
    for row in degradations.iter_rows(named=True):
        onset, end = row["onset"], row["end"]
        windows.append((onset, end + timedelta(days=1)))
        if row["outcome"] != "failure" or end <= scored_from:
            continue
        failures_all += 1
        visible = row.get("visible_from") or onset
        if end - visible < timedelta(hours=lead_hours):
            continue
        failures += 1
        inside = [s for s in starts if onset <= s < end]
        if inside and inside[0] <= end - timedelta(hours=lead_hours):
            caught += 1
        if inside:
            leads.append((end - inside[0]).total_seconds() / 3600)
    false = sum(1 for s in starts if not any(a <= s < b for a, b in windows))
    return {"failures": failures, "failures_all": failures_all, "caught": caught, "leads": leads, "false_alarms": false}


def evaluate_simulation(
    sim_dir: Path | str,
    detector: str = "pca",
    *,
    settings: AnomalySettings | None = None,
    lead_hours: float = 24.0,
    workdir: Path | None = None,
    on_machine: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Ingest a simulation (``factoryhub simulate`` output) into a scratch hub, build features,
    find sensor faults, then live each machine's monitor through it day by day
    (:func:`~analytics.models.anomaly.monitor.walk_forward`) and judge the alarms against the truth."""
    from analytics.demo import build_factory
    from analytics.features import build_features
    from analytics.simulate.output import read_manifest

    sim_dir = Path(sim_dir)
    manifest = read_manifest(sim_dir)
    settings = (settings or get_settings().anomaly).model_copy(update={"detector": detector})
    detector_factory(detector)  # an unknown name fails before the ingest
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        hub = Hub.open(data_dir=Path(tmp) / "hub")
        for factory in manifest["factories"]:
            build_factory(hub, sim_dir / factory["factory_id"], now=FAR_FUTURE)
            build_features(hub, factory["factory_id"], window=settings.window)
        figures = evaluate_hub(hub, sim_dir, settings, lead_hours=lead_hours, on_machine=on_machine)
    return {**figures, "seconds": round(time.perf_counter() - started, 2)}


def evaluate_hub(
    hub: Hub,
    sim_dir: Path | str,
    settings: AnomalySettings,
    *,
    lead_hours: float = 24.0,
    on_machine: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """The judging half of :func:`evaluate_simulation`, on a hub that already holds the simulated
    factories' readings and features."""
    from analytics.features import MACHINE_HEALTH, FeatureStore
    from analytics.models.anomaly.quality import detect_factory_faults, fault_mask
    from analytics.simulate.output import read_manifest, read_truth
    from analytics.store.reader import FactoryReader

    sim_dir = Path(sim_dir)
    started = time.perf_counter()
    totals = {"machines": 0, "skipped_machines": 0, "failures": 0, "failures_all": 0, "caught": 0, "false_alarms": 0, "models_fitted": 0, "machine_weeks": 0.0}
    leads: list[float] = []
    for factory in read_manifest(sim_dir)["factories"]:
        fid = factory["factory_id"]
        store = FeatureStore(hub, fid)
        rules = store.rules()
        sensor = store.read(MACHINE_HEALTH, settings.window, "sensor").collect()
        machine = store.read(MACHINE_HEALTH, settings.window, "machine").collect()
        events = FactoryReader(hub, fid).events().collect()
        faults = detect_factory_faults(hub, fid)
        truth = read_truth(sim_dir, fid, "degradations")
        matrices = machine_matrices(sensor, machine, stats=settings.stats)
        for machine_id in sorted(factory["machines"]):
            matrix = matrices.get(machine_id)
            if matrix is None or matrix.height == 0:
                totals["skipped_machines"] += 1
                continue
            mask = fault_mask(matrix.get_column("window_start"), matrix.get_column("window_end"), faults, machine_id=machine_id)
            excluded = mask.filter(pl.col("any_fault")).select("window_start")
            first = matrix.get_column("window_start").min()
            start = datetime.combine(first.date(), datetime.min.time(), tzinfo=UTC) + timedelta(days=1)
            rule = rules.get(machine_id)
            scores, models = walk_forward(matrix, events, machine_id, start, settings, excluded=excluded, load_sensor=rule.sensor if rule else None)
            if scores.height == 0:
                totals["skipped_machines"] += 1
                continue
            starts = alarm_starts(scores.get_column("window_start").to_list(), scores.get_column("alarm").to_numpy())
            own = truth.filter(pl.col("machine_id") == machine_id)
            judged = judge_machine(starts, own, scores.get_column("window_start").min(), lead_hours=lead_hours)
            totals["machines"] += 1
            totals["models_fitted"] += len(models)
            for key in ("failures", "failures_all", "caught", "false_alarms"):
                totals[key] += judged[key]
            span = scores.get_column("window_end").max() - scores.get_column("window_start").min()
            totals["machine_weeks"] += span.total_seconds() / (7 * 86400)
            leads += judged["leads"]
            if on_machine:
                on_machine(machine_id)
    weeks = totals["machine_weeks"]
    return {
        "benchmark": "simulator",
        "detector": settings.detector,
        "lookback_days": settings.lookback_days,
        "refit_days": settings.refit_days,
        "persistence": f"{settings.persistence[0]} of {settings.persistence[1]}",
        "lead_hours": lead_hours,
        **totals,
        "machine_weeks": round(weeks, 2),
        "caught_share": round(totals["caught"] / totals["failures"], 4) if totals["failures"] else None,
        "median_lead_hours": round(statistics.median(leads), 2) if leads else None,
        "false_alarms_per_machine_week": round(totals["false_alarms"] / weeks, 3) if weeks else None,
        "false_alarms_per_machine_month": round(totals["false_alarms"] / weeks * 30 / 7, 3) if weeks else None,
        "seconds": round(time.perf_counter() - started, 2),
    }
