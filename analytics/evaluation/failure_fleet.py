"""Fleet evaluation of the failure models on simulated factories (``factoryhub eval failure
--benchmark simulator``).

Every factory shares (the pooled recipe), and per machine type the models are validated
time-ordered and machine-grouped across the whole fleet (:func:`~analytics.models.failure.risk.
time_grouped_splits` over (factory, machine), ``fleet_validation_groups`` machine groups): a test
block's machines are scored by models trained only on other machines' rows whose labels were
known before the block began. From the out-of-fold hourly risks:

The classifier learns the near-term hazard (failure within ``hazard_hours``, 12 h by default) and
the risk over the horizon is compounded from it, as the hub's daily prediction does.

- **daily decisions**: each machine's last measured window of each local day (the hub's answer
  of the day, :func:`~analytics.models.failure.predict.day_answer`) is the hub's answer to "will it fail
  within the horizon?" (alarm at calibrated probability ≥ 0.5). ``precision``: the share of alarmed
  machine-days followed by a failure within the horizon; ``recall_days``: the share of machine-days
  followed by a failure that were alarmed (bounded well below 1 for failures whose degradation
  starts, or first shows, less than the horizon before them); ``brier`` against ``brier_baseline``
  (the training base rate as a constant forecast); PR-AUC against the naive max-|z| score;
- **failures**: ``recall`` is the share of failures in the test blocks *warned*, i.e. with an
  hourly risk ≥ 0.5 in the horizon before them; ``median_lead_h`` is the time from the first such
  warning to the failure;
- **per machine type** (``by_machine_type``): the daily-decision figures and failures warned of
  each type, where one type's weak ranking would hide in the fleet's;
- **the issue's target**: ``recall_at_precision_0.8``, the largest share of failures warned by
  daily alarms at any threshold whose alarms are right at least 80 % of the time
  (:func:`failure_recall_at_precision`);
- **bound** (simulations only, from their truth, never seen by the models): ``brier_bound``,
  ``recall_days_bound`` and ``recall_at_precision_0.8_bound``, the figures of a forecaster that
  knows all the sensors could show and more (:func:`truth_bound`): how far the daily decisions
  could go on these rows at all.

Only the hub's own data are used (features, events), so the command runs on any simulation (other
seeds, factories) and on real hubs with recorded failures.
"""

from __future__ import annotations

import logging
import math
import statistics
import tempfile
import time
from collections.abc import Callable, Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import polars as pl
from sklearn.metrics import precision_recall_curve

from analytics.config import FailureSettings, get_settings
from analytics.models.failure.dataset import MEASURED, feature_columns
from analytics.models.failure.predict import day_answer, window_day
from analytics.models.failure.risk import (
    FailureTimeModel,
    NotEnoughFailuresError,
    classification_figures,
    time_grouped_splits,
    validate,
)
from analytics.models.failure.training import FailureModel, factory_frame, machines_by_type, model_arrays, recipe_classifier, type_sensors
from analytics.store.hub import Hub
from analytics.store.reader import FactoryReader

log = logging.getLogger(__name__)

THRESHOLD = 0.5
TARGET_PRECISION = 0.8  # the target: failure recall at this alarm precision


def _oof(frame: pl.DataFrame, machine_type: str, sensors: list[str], horizon: float, settings: FailureSettings) -> pl.DataFrame | None:
    """Out-of-fold risk of every test row of one machine type across the fleet: the classifier
    learns the near-term hazard (a failure within ``settings.hazard_hours``), the risk over the
    horizon is compounded from it as :meth:`FailureModel.risk` does, and is judged against
    "failure within the horizon"."""
    columns = feature_columns(frame.drop("factory_id"))
    template = FailureModel(recipe_classifier("pooled"), FailureTimeModel(), columns, sensors, horizon, settings.hazard_hours, machine_type, "pooled")
    a = model_arrays(frame, template)
    y_horizon = a["y"]
    y_hazard = frame.get_column("hours_to_failure").le(settings.hazard_hours).fill_null(False).cast(pl.Int32).to_numpy()
    splits = time_grouped_splits(a["times"], a["groups"], horizon_hours=horizon, n_blocks=settings.validation_blocks, n_groups=settings.fleet_validation_groups)
    stride = frame.get_column("window_end").dt.hour().to_numpy() % settings.train_stride_hours == 0
    splits = [(train[stride[train]], test) for train, test in splits]
    try:
        v = validate(a["X"], y_hazard, a["groups"], splits, template.classifier, columns, time_model=template.time_model, lower=a["lower"], upper=a["upper"], horizon_hours=horizon)
    except NotEnoughFailuresError as exc:
        log.info("%s: not evaluated: %s", machine_type, exc)
        return None
    probability = 1.0 - (1.0 - v.probability) ** (horizon / settings.hazard_hours)
    # The base rate of the horizon label in each split's training rows (the naive forecast).
    baseline = np.array([y_horizon[splits[k][0]].mean() for k in range(len(splits))])[v.split_of_row]
    rows = frame[v.test_index].select("factory_id", "machine_id", "window_end", "failure_within", MEASURED)
    return rows.with_columns(
        pl.Series("probability", probability),
        pl.Series("survival", v.survival_probability if v.survival_probability is not None else np.full(v.test_index.size, np.nan)).fill_nan(None),
        pl.Series("baseline", baseline),
        pl.Series("naive", v.naive_score),
        pl.lit(machine_type).alias("machine_type"),
    )


def evaluate_failure_hub(
    hub: Hub,
    factory_ids: list[str] | None = None,
    *,
    settings: FailureSettings | None = None,
    on_type: Callable[[str], None] | None = None,
    truth: Truth | None = None,
) -> dict[str, Any]:
    """Fleet figures of the failure models on the factories of ``hub`` (see the module doc); the
    ``truth`` of a simulation adds the bound of :func:`truth_bound`."""
    settings = settings or get_settings().failure
    started = time.perf_counter()
    factory_ids = factory_ids or [f.factory_id for f in hub.registry.factories()]
    types = sorted({t for fid in factory_ids for t in machines_by_type(hub, fid)})
    horizons = {t: settings.horizon(t) for t in types}
    scored, events = [], []
    last_reading = {}
    for fid in factory_ids:
        reader = FactoryReader(hub, fid)
        ev = reader.events().filter(pl.col("kind") == "failure").collect()
        events.append(ev.select(pl.lit(fid).alias("factory_id"), "machine_id", "ts"))
        # Once per factory, not per machine type: it scans every reading's time stamp.
        last_reading[fid] = reader.readings().select(pl.col("ts").max()).collect().item()
    for machine_type in types:
        owners = [f for f in factory_ids if machine_type in machines_by_type(hub, f)]
        sensors = type_sensors(hub, owners, machine_type)
        parts = []
        for fid in owners:
            last = last_reading[fid]
            if last is None:
                continue
            frame = factory_frame(hub, fid, machine_type, horizons[machine_type], until=last, sensors=sensors)
            if frame.height:
                parts.append(frame.filter(~pl.col("in_repair") & pl.col("failure_within").is_not_null()))
        if parts:
            oof = _oof(pl.concat(parts, how="diagonal_relaxed"), machine_type, sensors, horizons[machine_type], settings)
            if oof is not None:
                scored.append(oof)
        if on_type:
            on_type(machine_type)
    if not scored:
        raise NotEnoughFailuresError("no machine type had failures to learn from")
    rows = pl.concat(scored)
    timezones = {fid: hub.registry.factory(fid).timezone for fid in factory_ids}
    return {**fleet_figures(rows, pl.concat(events), horizons, truth, timezones), "machine_types": len(types), "seconds": round(time.perf_counter() - started, 2)}


def daily_decisions(rows: pl.DataFrame, timezones: Mapping[str, str] | None = None) -> pl.DataFrame:
    """The hourly row that answers for each machine's local day of its factory (``timezones``:
    IANA zone per factory, UTC where not given): the risk the morning report shows for the day
    before, chosen as the report chooses it (:func:`~analytics.models.failure.predict.day_answer`:
    the last measured window). A window belongs to the day it starts in (the one ending at
    midnight closes the day)."""
    timezones = timezones or {}
    parts = [
        part.with_columns(window_day(timezones.get(factory_id, "UTC")).alias("day"))
        for (factory_id,), part in rows.partition_by("factory_id", as_dict=True).items()
    ]
    stamped = pl.concat(parts) if parts else rows.with_columns(pl.lit(None, pl.Date).alias("day"))
    return day_answer(stamped, ["factory_id", "machine_id", "day"])


def fleet_figures(
    rows: pl.DataFrame, failures: pl.DataFrame, horizons: dict[str, float], truth: Truth | None = None, timezones: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """Daily-decision (:func:`daily_decisions`) and per-failure figures from out-of-fold hourly
    risks (see the module doc); with a simulation's ``truth``, also what the best forecast could
    reach (:func:`truth_bound`)."""
    daily = daily_decisions(rows, timezones)
    horizon_days = math.ceil(max(horizons.values(), default=168.0) / 24)
    y = daily.get_column("failure_within").cast(pl.Int32).to_numpy()
    p = daily.get_column("probability").to_numpy()
    figures = classification_figures(y, p, daily.get_column("baseline").to_numpy(), daily.get_column("naive").to_numpy(), threshold=THRESHOLD)
    surv = daily.get_column("survival").to_numpy().astype(float)
    ok = np.isfinite(surv)
    figures["survival_brier"] = round(float(np.mean((surv[ok] - y[ok]) ** 2)), 5) if ok.any() else None
    if y.any():
        precision, recall, _ = precision_recall_curve(y, p)
        precise = precision >= TARGET_PRECISION
        figures[f"recall_days_at_precision_{TARGET_PRECISION}"] = round(float(recall[precise].max()), 4) if precise.any() else 0.0
    # Failures inside the tested stretch of each machine.
    span = rows.group_by("factory_id", "machine_id").agg(pl.col("window_end").min().alias("t0"), pl.col("window_end").max().alias("t1"), pl.col("machine_type").first())
    tested = failures.join(span, on=["factory_id", "machine_id"]).filter((pl.col("ts") > pl.col("t0")) & (pl.col("ts") <= pl.col("t1")))
    alarms = rows.filter(pl.col("probability") >= THRESHOLD).select("factory_id", "machine_id", "window_end")
    leads: list[float] = []
    warned_types: list[str] = []
    for f in tested.iter_rows(named=True):
        ahead = timedelta(hours=horizons.get(f["machine_type"], 168.0))
        hits = alarms.filter(
            (pl.col("factory_id") == f["factory_id"]) & (pl.col("machine_id") == f["machine_id"]) & (pl.col("window_end") <= f["ts"]) & (pl.col("window_end") > f["ts"] - ahead)
        )
        if hits.height:
            warned_types.append(f["machine_type"])
            leads.append((f["ts"] - hits.get_column("window_end").min()).total_seconds() / 3600)
    warned = len(warned_types)
    return {
        "benchmark": "simulator",
        "machines": span.height,
        "machine_days": daily.height,
        **{k: v for k, v in figures.items() if k not in ("reliability", "recall")},
        "recall_days": figures["recall"],
        "failures": tested.height,
        "failures_warned": warned,
        "recall": round(warned / tested.height, 4) if tested.height else None,
        "median_lead_h": round(statistics.median(leads), 1) if leads else None,
        f"recall_at_precision_{TARGET_PRECISION}": failure_recall_at_precision(daily, "probability", tested, horizon_days=horizon_days),
        **(truth_bound(daily, truth, horizon_days=horizon_days, failures=tested) if truth is not None else {}),
        "by_machine_type": by_machine_type(daily, tested.get_column("machine_type").to_list(), warned_types),
        "reliability": figures["reliability"],
    }


BY_TYPE_FIGURES = ("positives", "brier", "brier_baseline", "roc_auc", "roc_auc_naive", "pr_auc", "pr_auc_naive", "precision")


def by_machine_type(daily: pl.DataFrame, failure_types: list[str], warned_types: list[str]) -> dict[str, dict[str, Any]]:
    """The daily-decision figures of each machine type (:func:`classification_figures` of its
    machine-days) with its failures and failures warned (the type of each tested failure, and of
    each warned one): where the models rank and where they do not."""
    out: dict[str, dict[str, Any]] = {}
    for (machine_type,), part in sorted(daily.partition_by("machine_type", as_dict=True).items()):
        y = part.get_column("failure_within").cast(pl.Int32).to_numpy()
        figures = classification_figures(y, part.get_column("probability").to_numpy(), part.get_column("baseline").to_numpy(), part.get_column("naive").to_numpy(), threshold=THRESHOLD)
        out[machine_type] = {
            "machine_days": part.height,
            **{k: figures[k] for k in BY_TYPE_FIGURES},
            "failures": failure_types.count(machine_type),
            "failures_warned": warned_types.count(machine_type),
        }
    return out


class Truth(NamedTuple):
    """A simulation's truth as the bound needs it: every degradation (factory_id, machine_id, mode,
    onset, visible_from, end) and every preventive maintenance start (factory_id, machine_id, start)."""

    degradations: pl.DataFrame
    preventive: pl.DataFrame

    @classmethod
    def read(cls, sim_dir: Path, factory_ids: list[str]) -> Truth:
        from analytics.simulate.output import read_truth

        degradations = [read_truth(sim_dir, f, "degradations").select(pl.lit(f).alias("factory_id"), "machine_id", "mode", "onset", "visible_from", "end") for f in factory_ids]
        maintenance = [read_truth(sim_dir, f, "maintenance").filter(pl.col("kind") == "preventive").select(pl.lit(f).alias("factory_id"), "machine_id", "start") for f in factory_ids]
        return cls(pl.concat(degradations, how="vertical_relaxed"), pl.concat(maintenance, how="vertical_relaxed"))


def truth_state(daily: pl.DataFrame, truth: Truth, *, horizon_days: int = 7) -> pl.DataFrame:
    """Per daily decision (``factory_id``, ``machine_id``, ``window_end``): ``state`` - ``visible``
    (a degradation under way that the simulator shows in the sensors), ``hidden`` (one has begun
    but does not show yet) or ``none`` - its ``mode``, and ``days_to_pm``: whole days to the next
    preventive maintenance (which renews the machine), capped one past the horizon (beyond it the
    maintenance no longer decides anything)."""
    utc = pl.Datetime("us", "UTC")
    decisions = daily.select("factory_id", "machine_id", pl.col("window_end").dt.convert_time_zone("UTC").cast(utc).alias("at")).with_row_index("_row")
    degradations = truth.degradations.with_columns(pl.col("onset", "visible_from", "end").cast(utc))
    under_way = (
        decisions.join(degradations, on=["factory_id", "machine_id"])
        .filter((pl.col("onset") <= pl.col("at")) & (pl.col("at") < pl.col("end")))
        .select("_row", "mode", pl.when(pl.col("visible_from") <= pl.col("at")).then(pl.lit("visible")).otherwise(pl.lit("hidden")).alias("state"))
        .unique("_row", keep="any")  # a machine's degradations follow one another: one at most
    )
    preventive = truth.preventive.select("factory_id", "machine_id", pl.col("start").cast(utc)).sort("start")
    # Sorted by time within each machine (the whole frame is sorted by it), as the join needs.
    next_pm = decisions.sort("at").join_asof(preventive, left_on="at", right_on="start", by=["factory_id", "machine_id"], strategy="forward", allow_exact_matches=False, check_sortedness=False)
    cap = horizon_days + 1
    days_to_pm = ((pl.col("start") - pl.col("at")).dt.total_seconds() // 86400).clip(upper_bound=cap).fill_null(cap).cast(pl.Int32)
    return (
        decisions.join(under_way, on="_row", how="left")
        .join(next_pm.select("_row", days_to_pm.alias("days_to_pm")), on="_row", how="left")
        .sort("_row")
        .select(pl.col("state").fill_null("none"), "mode", "days_to_pm")
    )


def truth_forecast(daily: pl.DataFrame, state: pl.DataFrame) -> pl.Series:
    """The forecast of :func:`truth_bound` for each daily decision (``state``: their
    :func:`truth_state`): exact on every machine-day whose degradation shows in the sensors, and
    elsewhere the rate of the machine-days that share its factory, machine type and days to
    the next preventive maintenance. Not whether a degradation has begun unseen, nor its mode:
    no sensor tells those machine-days from healthy ones."""
    y = daily.get_column("failure_within").cast(pl.Float64)
    state = state.with_columns(y.alias("y"), daily.get_column("factory_id"), daily.get_column("machine_type"), (pl.col("state") == "visible").alias("_visible"))
    rate = pl.col("y").mean().over("factory_id", "machine_type", "_visible", "days_to_pm")
    return state.select(pl.when(pl.col("_visible")).then(pl.col("y")).otherwise(rate).alias("truth_forecast")).to_series()


def truth_bound(daily: pl.DataFrame, truth: Truth, *, horizon_days: int = 7, failures: pl.DataFrame | None = None) -> dict[str, Any]:
    """How far the daily decisions' figures could go, from the simulation's truth.

    ``brier_bound``: the Brier score of a forecaster that knows what the sensors could show and
    more (:func:`truth_forecast`): exact on every machine-day whose degradation shows in the
    sensors (whether it ends in a failure within the horizon, which a model can only estimate),
    and elsewhere the rate of the machine-days that share its factory, machine type and days to
    the next preventive maintenance - rates taken from the very rows it is judged on.
    A failure within the horizon of a machine-day where nothing shows comes from a degradation
    that has not begun or not yet shows, which no sensor can tell, so in practice a model's Brier
    score stays above this (not a proof: a model also sees, e.g., the running share that this
    grouping leaves out). ``recall_days_bound``: the share of machine-days followed by a failure whose
    degradation already shows (an alarm from sensors can catch no others). With the ``failures``
    judged, ``recall_at_precision_0.8_bound``: :func:`failure_recall_at_precision` of that
    forecaster."""
    y = daily.get_column("failure_within").cast(pl.Float64)
    state = truth_state(daily, truth, horizon_days=horizon_days)
    best = truth_forecast(daily, state)
    visible = state.get_column("state") == "visible"
    positives = float(y.sum())
    figures: dict[str, Any] = {
        "brier_bound": round(float(((best - y) ** 2).mean()), 5),
        "recall_days_bound": round(float(y.filter(visible).sum()) / positives, 4) if positives else None,
    }
    if failures is not None:
        figures[f"recall_at_precision_{TARGET_PRECISION}_bound"] = failure_recall_at_precision(daily.with_columns(best), "truth_forecast", failures, horizon_days=horizon_days)
    return figures


def failure_recall_at_precision(
    daily: pl.DataFrame, score: str, failures: pl.DataFrame, *, horizon_days: int = 7, precision: float = TARGET_PRECISION
) -> float | None:
    """The largest share of ``failures`` (``factory_id``, ``machine_id``, ``ts``) that a daily
    alarm on ``score`` warns within ``horizon_days`` before them, over every alarm threshold whose
    daily alarms are followed by a failure within the horizon (``failure_within``) at least
    ``precision`` of the time: the issue's target, "recall at precision 0.8", with alarms made
    only on the daily decisions. None without failures; 0 when no threshold is that precise."""
    if failures.height == 0:
        return None
    utc = pl.Datetime("us", "UTC")
    decisions = daily.select("factory_id", "machine_id", pl.col("window_end").dt.convert_time_zone("UTC").cast(utc), pl.col("failure_within").cast(pl.Int64).alias("y"), pl.col(score).alias("s"))
    # Precision of the alarms at each threshold (every distinct score), highest threshold first.
    levels = decisions.group_by("s").agg(pl.len().alias("n"), pl.col("y").sum().alias("right")).sort("s", descending=True)
    levels = levels.with_columns((pl.col("right").cum_sum() / pl.col("n").cum_sum()).alias("precision"))
    # Each failure's highest score in the horizon before it: warned at every threshold up to it.
    ahead = pl.duration(days=horizon_days)
    peak = (
        failures.select("factory_id", "machine_id", pl.col("ts").dt.convert_time_zone("UTC").cast(utc)).with_row_index("_failure")
        .join(decisions, on=["factory_id", "machine_id"], how="left")
        .with_columns(pl.when((pl.col("window_end") <= pl.col("ts")) & (pl.col("window_end") > pl.col("ts") - ahead)).then(pl.col("s")).alias("s"))
        .group_by("_failure").agg(pl.col("s").max())
        .get_column("s").fill_null(-np.inf).sort().to_numpy()
    )  # fmt: skip
    precise = levels.filter(pl.col("precision") >= precision).get_column("s").to_numpy()
    if precise.size == 0:
        return 0.0
    warned = peak.size - np.searchsorted(peak, precise, side="left")  # failures whose peak >= each threshold
    return round(float(warned.max()) / peak.size, 4)


def evaluate_failure_simulation(sim_dir: Path | str, *, settings: FailureSettings | None = None, workdir: Path | None = None, on_step: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Ingest a simulation (``factoryhub simulate`` output) into a scratch hub, build its hourly
    features and evaluate (:func:`evaluate_failure_hub`)."""
    from analytics.demo import build_factory
    from analytics.evaluation.fleet import FAR_FUTURE
    from analytics.features import build_features
    from analytics.simulate.output import TRUTH_DIR, read_manifest

    sim_dir = Path(sim_dir)
    manifest = read_manifest(sim_dir)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        hub = Hub.open(data_dir=Path(tmp) / "hub")
        for factory in manifest["factories"]:
            build_factory(hub, sim_dir / factory["factory_id"], now=FAR_FUTURE)
            build_features(hub, factory["factory_id"], window="1h")
            if on_step:
                on_step(factory["factory_id"])
        factory_ids = [f["factory_id"] for f in manifest["factories"]]
        figures = evaluate_failure_hub(hub, factory_ids, settings=settings, on_type=on_step, truth=Truth.read(sim_dir, factory_ids) if all((sim_dir / TRUTH_DIR / f).is_dir() for f in factory_ids) else None)
    return {**figures, "seconds": round(time.perf_counter() - started, 2), "simulation": manifest.get("config", {})}

