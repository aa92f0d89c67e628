"""Fleet evaluation on the simulator's ground truth: are degradations caught in time, and how
often does a healthy machine raise an alarm?

The simulated factories go through the hub's own path (ingest, 1-hour features). Each machine's
detector learns from the healthy part of its first ``train_days`` (see
:func:`~analytics.models.anomaly.data.healthy_mask`) and scores the rest; an alarm is a run of
windows that passes the persistence rule. Against the truth:

- a degradation that ended in a failure after the training period is *caught in time* when an
  alarm starts between its onset and ``lead_hours`` before the failure; its lead time is from
  the first such alarm to the failure;
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

from analytics.evaluation.skab import detector_factory
from analytics.models.anomaly.data import healthy_mask, machine_matrix
from analytics.models.anomaly.thresholds import Persistence

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
    failures, caught, leads = 0, 0, []
    windows = []
    for row in degradations.iter_rows(named=True):
        onset, end = row["onset"], row["end"]
        windows.append((onset, end + timedelta(days=1)))
        if row["outcome"] != "failure" or end <= scored_from:
            continue
        failures += 1
        inside = [s for s in starts if onset <= s < end]
        if inside and inside[0] <= end - timedelta(hours=lead_hours):
            caught += 1
        if inside:
            leads.append((end - inside[0]).total_seconds() / 3600)
    false = sum(1 for s in starts if not any(a <= s < b for a, b in windows))
    return {"failures": failures, "caught": caught, "leads": leads, "false_alarms": false}


def evaluate_simulation(
    sim_dir: Path | str,
    detector: str = "pca",
    *,
    train_days: int = 10,
    persistence: tuple[int, int] = (3, 4),
    lead_hours: float = 24.0,
    workdir: Path | None = None,
    on_machine: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Ingest a simulation (``factoryhub simulate`` output) into a scratch hub, build features,
    fit and score each machine, and judge the alarms against the truth."""
    from analytics.demo import build_factory
    from analytics.features import MACHINE_HEALTH, FeatureStore, build_features
    from analytics.simulate.output import TRUTH_DIR, read_manifest
    from analytics.store.hub import Hub
    from analytics.store.reader import FactoryReader

    sim_dir = Path(sim_dir)
    manifest = read_manifest(sim_dir)
    make = detector_factory(detector)
    rule = Persistence(*persistence)
    started = time.perf_counter()
    totals = {"machines": 0, "skipped_machines": 0, "failures": 0, "caught": 0, "false_alarms": 0, "machine_weeks": 0.0}
    leads: list[float] = []
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        hub = Hub.open(data_dir=Path(tmp) / "hub")
        for factory in manifest["factories"]:
            fid = factory["factory_id"]
            build_factory(hub, sim_dir / fid, now=FAR_FUTURE)
            build_features(hub, fid, window="1h")
            store = FeatureStore(hub, fid)
            sensor = store.read(MACHINE_HEALTH, "1h", "sensor").collect()
            machine = store.read(MACHINE_HEALTH, "1h", "machine").collect()
            events = FactoryReader(hub, fid).events().collect()
            truth = pl.read_csv(sim_dir / TRUTH_DIR / fid / "degradations.csv", try_parse_dates=True).with_columns(
                pl.col("onset").dt.replace_time_zone("UTC"), pl.col("end").dt.replace_time_zone("UTC")
            )
            for machine_id in sorted(factory["machines"]):
                matrix = machine_matrix(sensor, machine, machine_id)
                columns = [c for c in matrix.columns if c not in ("window_start", "window_end")]
                if matrix.height == 0:
                    totals["skipped_machines"] += 1
                    continue
                split = matrix.get_column("window_start").min() + timedelta(days=train_days)
                train = matrix.filter(pl.col("window_start") < split)
                train = train.filter(healthy_mask(train, events, machine_id))
                test = matrix.filter(pl.col("window_start") >= split)
                if train.height < 2 * len(columns) or test.height == 0:
                    totals["skipped_machines"] += 1
                    continue
                model = make().fit(train.select(columns))
                alarms = rule.apply(model.predict(test.select(columns)))
                starts = alarm_starts(test.get_column("window_start").to_list(), alarms)
                judged = judge_machine(starts, truth.filter(pl.col("machine_id") == machine_id), split, lead_hours=lead_hours)
                totals["machines"] += 1
                totals["failures"] += judged["failures"]
                totals["caught"] += judged["caught"]
                totals["false_alarms"] += judged["false_alarms"]
                span = test.get_column("window_end").max() - test.get_column("window_start").min()
                totals["machine_weeks"] += span.total_seconds() / (7 * 86400)
                leads += judged["leads"]
                if on_machine:
                    on_machine(machine_id)
    weeks = totals["machine_weeks"]
    return {
        "benchmark": "simulator",
        "detector": detector.lower(),
        "train_days": train_days,
        "persistence": f"{persistence[0]} of {persistence[1]}",
        **totals,
        "machine_weeks": round(weeks, 2),
        "caught_share": round(totals["caught"] / totals["failures"], 4) if totals["failures"] else None,
        "median_lead_hours": round(statistics.median(leads), 2) if leads else None,
        "false_alarms_per_machine_week": round(totals["false_alarms"] / weeks, 3) if weeks else None,
        "false_alarms_per_machine_month": round(totals["false_alarms"] / weeks * 30 / 7, 3) if weeks else None,
        "seconds": round(time.perf_counter() - started, 2),
    }
