"""Judging the hub's daily solutions against the simulator's ground truth.

A factory lives the days in order; after each day the hub publishes every machine's status and
recommended action and updates its alerts (:func:`~analytics.solutions.solve.solve_day`). What a
plant manager cares about, measured on the simulator's degradations (``truth/<factory>/degradations.csv``):

- **failures**: failures whose degradation was visible (the simulator's ``visible_from``: damage
  past the level a sensor shows) at least ``lead_hours`` before the failure — a tool that wears
  out in five running hours cannot be announced a day ahead; ``failures_all`` counts every one;
- **warned**: such a failure is warned when a day whose results were out before the failure
  (the end of the local day) gave the machine a warning or critical status after the
  degradation's onset; **lead** is from the end of the first such day to the failure;
- **action_matches_mode**: of the warned failures, the share whose recommended action on the
  last warning day before the failure names the true failure mode (what the technician acts on);
- **false alerts**: alerts opened on a day that overlaps no degradation of the machine (onset to
  end, plus ``grace_days`` after a repair), per machine-month (30 days) of solved days;
- **healthy_normal_share**: of the machine-days that overlap no degradation, the share with
  status normal.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import polars as pl

from analytics.solutions.health import WARNING_STATUSES

if TYPE_CHECKING:
    from analytics.config import AnomalySettings, SolutionSettings
    from analytics.simulate.plans import SimulationConfig
    from analytics.store.hub import Hub

WARM_UP_DAYS = 7  # days lived before judging: the monitor needs a few days of running to fit a first model


def _day_end(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=zone)


def judge_solutions(
    health: pl.DataFrame,
    opened_alerts: pl.DataFrame,
    degradations: pl.DataFrame,
    timezone: str,
    *,
    lead_hours: float = 24.0,
    grace_days: int = 1,
) -> dict[str, Any]:
    """Counts for one factory (see the module doc); :func:`summarise` turns summed counts into ratios.

    ``health``: the stored daily health rows (day, machine_id, status, failure_mode) of the days
    solved; ``opened_alerts``: machine_id, opened_day of every alert opened in those days;
    ``degradations``: the simulator's truth for the factory (onset, visible_from, end as UTC)."""
    zone = ZoneInfo(timezone)
    if health.height == 0:
        return {"failures": 0, "failures_all": 0, "warned": 0, "matched": 0, "leads": [], "false_alerts": 0, "machine_days": 0, "healthy_days": 0, "healthy_normal": 0}
    first_day, last_day = health.get_column("day").min(), health.get_column("day").max()
    solved_from, solved_to = datetime.combine(first_day, datetime.min.time(), tzinfo=zone), _day_end(last_day, zone)
    spans: dict[str, list[tuple[datetime, datetime]]] = {}
    failures = failures_all = warned = matched = 0
    leads: list[float] = []
    by_machine = health.sort("day").partition_by("machine_id", as_dict=True)
    for row in degradations.iter_rows(named=True):
        onset, end, visible = row["onset"], row["end"], row["visible_from"] or row["onset"]
        spans.setdefault(row["machine_id"], []).append((onset, end + timedelta(days=grace_days)))
        if row["outcome"] != "failure" or not solved_from < end <= solved_to:
            continue
        failures_all += 1
        if end - visible < timedelta(hours=lead_hours):
            continue
        failures += 1
        days = by_machine.get((row["machine_id"],))
        if days is None:
            continue
        warnings = [
            r for r in days.filter(pl.col("status").is_in(WARNING_STATUSES)).iter_rows(named=True)
            if onset < _day_end(r["day"], zone) <= end
        ]  # fmt: skip
        if not warnings:
            continue
        warned += 1
        leads.append((end - _day_end(warnings[0]["day"], zone)).total_seconds() / 3600)
        matched += int(warnings[-1]["failure_mode"] == row["mode"])

    def overlaps(machine: str, start: datetime, stop: datetime) -> bool:
        return any(a < stop and start < b for a, b in spans.get(machine, []))

    false_alerts = sum(
        1 for r in opened_alerts.iter_rows(named=True)
        if not overlaps(r["machine_id"], datetime.combine(r["opened_day"], datetime.min.time(), tzinfo=zone), _day_end(r["opened_day"], zone))
    )  # fmt: skip
    healthy_days = healthy_normal = 0
    for r in health.select("machine_id", "day", "status").iter_rows(named=True):
        start = datetime.combine(r["day"], datetime.min.time(), tzinfo=zone)
        if not overlaps(r["machine_id"], start, _day_end(r["day"], zone)):
            healthy_days += 1
            healthy_normal += int(r["status"] == "normal")
    return {
        "failures": failures,
        "failures_all": failures_all,
        "warned": warned,
        "matched": matched,
        "leads": leads,
        "false_alerts": false_alerts,
        "machine_days": health.height,
        "healthy_days": healthy_days,
        "healthy_normal": healthy_normal,
    }


def summarise(counts: list[dict[str, Any]]) -> dict[str, Any]:
    """Fleet figures from per-factory :func:`judge_solutions` counts."""
    total = {k: sum(c[k] for c in counts) for k in ("failures", "failures_all", "warned", "matched", "false_alerts", "machine_days", "healthy_days", "healthy_normal")}
    leads = [lead for c in counts for lead in c["leads"]]
    months = total["machine_days"] / 30
    return {
        **total,
        "warned_ratio": round(total["warned"] / total["failures"], 4) if total["failures"] else None,
        "median_lead_h": round(statistics.median(leads), 1) if leads else None,
        "false_alerts_per_machine_month": round(total["false_alerts"] / months, 3) if months else None,
        "action_matches_mode": round(total["matched"] / total["warned"], 4) if total["warned"] else None,
        "healthy_normal_share": round(total["healthy_normal"] / total["healthy_days"], 4) if total["healthy_days"] else None,
    }


def truth_feedback(hub: Hub, factory_id: str, day: date, degradations: pl.DataFrame, timezone: str, *, grace_days: int = 1) -> dict[str, int]:
    """Play the plant manager who inspects every alert updated on ``day`` and says what was found,
    from the simulator's truth: a true problem (with the mode of the degradation under way) when
    the alert's days overlap a degradation of the machine, else a false alarm. Each alert gets
    one verdict. Returns the counts given."""
    from analytics.solutions.alerts import AlertBook

    zone = ZoneInfo(timezone)
    book = AlertBook(hub, factory_id)
    given = {"true_problem": 0, "false_alarm": 0}
    given_on = book.feedback()
    judged = set(given_on.get_column("alert_id").to_list()) if given_on.height else set()
    for alert in book.alerts(since=day):
        if alert.alert_id in judged or alert.last_day != day:
            continue
        start = datetime.combine(alert.opened_day, datetime.min.time(), tzinfo=zone).astimezone(UTC)
        stop = _day_end(alert.last_day, zone).astimezone(UTC)
        own = degradations.filter(
            (pl.col("machine_id") == alert.machine_id) & (pl.col("onset") < stop) & (pl.col("end") + timedelta(days=grace_days) > start)
        )
        if own.height:
            book.give_feedback(alert.alert_id, "true_problem", user="simulator-truth", failure_mode=own.get_column("mode")[-1])
            given["true_problem"] += 1
        else:
            book.give_feedback(alert.alert_id, "false_alarm", user="simulator-truth")
            given["false_alarm"] += 1
    return given


def live_fleet(
    hub: Hub,
    sim_dir: Path | str,
    days: list[date],
    *,
    train_every_days: int = 7,
    train_from_day: int = 21,
    feedback_days: tuple[date, date] | None = None,
    judge_days: tuple[date, date] | None = None,
    anomaly: AnomalySettings | None = None,
    solutions: SolutionSettings | None = None,
    on_day: Callable[[date], None] | None = None,
) -> dict[str, Any]:
    """Live the factories of a simulation through ``days`` as the daily run would, each day and
    factory in order: score anomalies, (re)train the failure models every ``train_every_days``
    once ``train_from_day`` days of history exist, predict failure risk, solve; with
    ``feedback_days`` (first, last), also give the truth's feedback on that span's alerts. Then
    judge the solutions of ``judge_days`` (first, last; default all) against the truth
    (:func:`judge_solutions`). ``train_every_days=0`` never trains a failure model (anomaly only).
    ``anomaly``/``solutions``: settings other than the configured ones."""
    from analytics.models.anomaly.scoring import day_bounds, score_day
    from analytics.models.failure.predict import predict_day
    from analytics.models.failure.training import train_factory
    from analytics.simulate.output import read_manifest, read_truth
    from analytics.solutions.alerts import AlertBook
    from analytics.solutions.solve import read_health, solve_day

    sim_dir = Path(sim_dir)
    factories = [f["factory_id"] for f in read_manifest(sim_dir)["factories"]]
    truth = {fid: read_truth(sim_dir, fid, "degradations") for fid in factories}
    zones = {fid: hub.registry.factory(fid).timezone for fid in factories}
    feedback = {"true_problem": 0, "false_alarm": 0}
    for i, day in enumerate(days):
        for fid in factories:
            score_day(hub, fid, day, anomaly)
            if train_every_days and i >= train_from_day and (i - train_from_day) % train_every_days == 0:
                train_factory(hub, fid, until=day_bounds(day, zones[fid])[1])
            predict_day(hub, fid, day)
            solve_day(hub, fid, day, solutions)
            if feedback_days and feedback_days[0] <= day <= feedback_days[1]:
                for key, n in truth_feedback(hub, fid, day, truth[fid], zones[fid]).items():
                    feedback[key] += n
        if on_day:
            on_day(day)
    first, last = judge_days or (days[0], days[-1])
    counts = []
    for fid in factories:
        health = read_health(hub, fid, first, last).collect()
        opened = pl.DataFrame(
            [(a.machine_id, a.opened_day) for a in AlertBook(hub, fid).alerts() if first <= a.opened_day <= last],
            schema={"machine_id": pl.String(), "opened_day": pl.Date()},
            orient="row",
        )
        counts.append(judge_solutions(health, opened, truth[fid], zones[fid]))
    return {**summarise(counts), "feedback": feedback}


def evaluate_fleet(
    config: SimulationConfig,
    *,
    workdir: Path | str | None = None,
    train_every_days: int = 7,
    feedback_days: int = 0,
    keep: bool = False,
    on_step: Callable[[object], None] | None = None,
) -> dict[str, Any]:
    """Simulate ``config`` (a :class:`~analytics.simulate.plans.SimulationConfig`) into a scratch
    folder, ingest it and build the hourly features (both causal: a row depends on the past only,
    so doing them in one go gives what daily increments give), then live the days in order with
    :func:`live_fleet` from the second day. Judged from the end of the first week
    (:data:`WARM_UP_DAYS`: a new machine's monitor has no model on its first days), or, with
    ``feedback_days`` > 0, after that many days of the truth's feedback on the alerts (run once
    with 0 and once with, say, 14 to see what feedback changes). ``keep``: leave the simulation
    and the hub in ``workdir`` (under ``fleet-<seed>/``) for a look at what the hub published."""
    import contextlib
    import tempfile
    import time

    from analytics.demo import build_factory
    from analytics.evaluation.fleet import FAR_FUTURE
    from analytics.features import build_features
    from analytics.simulate import simulate_hub
    from analytics.store.hub import Hub

    started = time.perf_counter()
    if keep:
        kept = Path(workdir or ".") / f"fleet-{config.seed}"
        if kept.exists():
            raise FileExistsError(f"{kept} exists: remove it or choose another --workdir")
        kept.mkdir(parents=True)
        scratch: Any = contextlib.nullcontext(str(kept))
    else:
        scratch = tempfile.TemporaryDirectory(dir=workdir)
    with scratch as tmp:
        sim = Path(tmp) / "sim"
        result = simulate_hub(config, sim, workers=1)
        hub = Hub.open(data_dir=Path(tmp) / "hub")
        for factory in result.factories:
            build_factory(hub, sim / factory["factory_id"], now=FAR_FUTURE)
            build_features(hub, factory["factory_id"], window="1h")
            if on_step:
                on_step(f"ingested {factory['factory_id']}")
        days = [config.start + timedelta(days=i) for i in range(1, config.days)]
        first = WARM_UP_DAYS
        if first + feedback_days >= len(days):
            raise ValueError(f"{config.days} days with {feedback_days} feedback days leave nothing to judge")
        feedback = (days[first], days[first + feedback_days - 1]) if feedback_days else None
        judge = (days[first + feedback_days], days[-1])
        figures = live_fleet(hub, sim, days, train_every_days=train_every_days, feedback_days=feedback, judge_days=judge, on_day=on_step)
    return {
        **figures,
        "factories": config.factories,
        "machines": config.factories * config.machines,
        "days": config.days,
        "seed": config.seed,
        "judged_from": judge[0].isoformat(),
        "seconds": round(time.perf_counter() - started, 1),
    }
