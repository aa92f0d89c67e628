"""Monitoring one machine day after day: which data a model learns from, when it is refitted,
and how a day's windows are scored, labelled and explained.

The life of a machine's model, as :func:`monitor_day` runs it for each day:

1. **Training data** (:func:`training_windows`): the most recent ``lookback_days`` of windows
   before the day that are *healthy* — not near a logged failure or maintenance
   (:func:`~analytics.models.anomaly.data.healthy_mask`), not spoiled by a sensor fault, and not
   flagged by the monitor itself (its own alarms: a degradation it is watching must not become
   the new normal when the model is refitted).
2. **Refit** (:func:`refit_reason`): a machine without a model gets one as soon as it has
   ``min_rows`` healthy windows; a model is refitted when it is ``refit_days`` old (seasons,
   wear-in and new jobs change what normal looks like) or, earlier, on drift — when most of a
   day's windows ran at a load outside the range the model was trained on.
3. **Model** (:func:`make_detector`): the configured detector, calibrated out of sample so 1.0 is
   its threshold (:class:`~analytics.models.anomaly.calibrated.Calibrated`), one per operating
   mode of the load sensor (:class:`~analytics.models.anomaly.modes.ModeAware`).
4. **Scoring** (:func:`score_windows`): score, raw exceedance, the persistence rule ("k of the last
   n windows", continued across days) and the sensors that drive each score. Windows spoiled by a
   sensor fault are reported as excluded and never alarm.

Each fitted model is a :class:`MachineModel`: the estimator plus its card (training range, rows,
feature set and version, window, columns, why it was fitted).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import polars as pl

from analytics.config import AnomalySettings
from analytics.features.featureset import MACHINE_HEALTH, FeatureSet
from analytics.models.anomaly.base import BaseDetector
from analytics.models.anomaly.calibrated import Calibrated
from analytics.models.anomaly.data import healthy_mask, value_columns
from analytics.models.anomaly.modes import ModeAware
from analytics.models.anomaly.thresholds import Persistence

log = logging.getLogger(__name__)

TOP_DRIVERS = 3
SCORE_SCHEMA: dict[str, pl.DataType] = {
    "machine_id": pl.String(),
    "window_start": pl.Datetime("us", "UTC"),
    "window_end": pl.Datetime("us", "UTC"),
    "score": pl.Float64(),
    "above": pl.Boolean(),
    "alarm": pl.Boolean(),
    "excluded": pl.Boolean(),
    "drivers": pl.List(pl.Struct({"sensor": pl.String(), "share": pl.Float64()})),
    "model_id": pl.String(),
}


def make_detector(settings: AnomalySettings, mode_columns: Sequence[str] = ()) -> BaseDetector:
    """The monitor's estimator: ``settings.detector`` calibrated out of sample, per mode."""
    from analytics.models.anomaly.catalog import detector_factory

    calibrated = Calibrated(detector_factory(settings.detector)(), quantile=settings.quantile)
    if settings.modes and mode_columns:
        return ModeAware(calibrated, mode_columns=list(mode_columns), min_rows=settings.min_rows)
    return calibrated


def sensor_of(column: str, feature_set: FeatureSet = MACHINE_HEALTH) -> tuple[str, ...]:
    """The sensor(s) a matrix column describes: ``<sensor>__<stat>``, or a cross feature's two."""
    if "__" in column:
        return (column.split("__", 1)[0],)
    for cross in feature_set.cross:
        if cross.name == column:
            return (cross.left, cross.right)
    return (column,)


def sensor_shares(columns: Sequence[str], shares: np.ndarray, feature_set: FeatureSet = MACHINE_HEALTH) -> tuple[list[str], np.ndarray]:
    """Column shares (rows x columns) summed per sensor (a cross feature split evenly between its
    two sensors): (sensor names, rows x sensors)."""
    sensors: list[str] = []
    for column in columns:
        for sensor in sensor_of(column, feature_set):
            if sensor not in sensors:
                sensors.append(sensor)
    roll = np.zeros((len(columns), len(sensors)))
    for i, column in enumerate(columns):
        owners = sensor_of(column, feature_set)
        for sensor in owners:
            roll[i, sensors.index(sensor)] += 1 / len(owners)
    return sensors, shares @ roll


@dataclass
class MachineModel:
    """A fitted anomaly model of one machine and its card."""

    machine_id: str
    estimator: BaseDetector
    columns: list[str]
    mode_columns: list[str]
    training_start: datetime
    training_end: datetime
    training_rows: int
    fitted_until: datetime
    feature_set: str
    feature_version: int
    window: str
    reason: str
    envelope: dict[str, tuple[float, float]] = field(default_factory=dict)
    fitted_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    model_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])

    def card(self) -> dict[str, Any]:
        """What the dashboards and reports show about the model (JSON-friendly)."""
        card = {k: v for k, v in asdict(self).items() if k not in {"estimator"}}
        card["detector"] = repr(self.estimator)
        card["n_modes"] = int(getattr(self.estimator, "n_modes_", 1))
        for key in ("training_start", "training_end", "fitted_until", "fitted_at"):
            card[key] = card[key].isoformat()
        card["envelope"] = {k: list(v) for k, v in self.envelope.items()}
        return card


def training_windows(
    matrix: pl.DataFrame,
    events: pl.DataFrame,
    machine_id: str,
    until: datetime,
    settings: AnomalySettings,
    flagged: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """The healthy reference: windows ending by ``until`` within ``lookback_days``, away from
    the failures and maintenance logged before ``until``, and not flagged (``flagged``: ``window_start`` of windows the
    monitor found above its threshold or a sensor fault spoiled)."""
    since = until - timedelta(days=settings.lookback_days)
    # Only what was logged by then: a replayed day must not know of failures still to come.
    if events.height:
        events = events.filter(pl.col("ts") < until)
    recent = matrix.filter((pl.col("window_end") <= until) & (pl.col("window_start") >= since))
    if flagged is not None and flagged.height:
        recent = recent.join(flagged.select("window_start").unique(), on="window_start", how="anti")
    if recent.height == 0:
        return recent
    return recent.filter(healthy_mask(recent, events, machine_id))


def fit_model(
    matrix: pl.DataFrame,
    events: pl.DataFrame,
    machine_id: str,
    until: datetime,
    settings: AnomalySettings,
    *,
    flagged: pl.DataFrame | None = None,
    load_sensor: str | None = None,
    reason: str = "first",
    feature_set: FeatureSet = MACHINE_HEALTH,
) -> MachineModel | None:
    """A model fitted on the machine's healthy reference before ``until``; None while it has
    fewer than ``min_rows`` healthy windows."""
    train = training_windows(matrix, events, machine_id, until, settings, flagged)
    columns = value_columns(matrix)
    if train.height < settings.min_rows or not columns:
        log.info("%s: %d healthy windows before %s, %d needed: no model yet", machine_id, train.height, until, settings.min_rows)
        return None
    mode_columns = [f"{load_sensor}__mean"] if load_sensor and f"{load_sensor}__mean" in columns else []
    estimator = make_detector(settings, mode_columns).fit(train.select(columns))
    envelope = {c: (float(train.get_column(c).quantile(0.01)), float(train.get_column(c).quantile(0.99))) for c in mode_columns}
    log.info("%s: fitted on %d windows (%s)", machine_id, train.height, reason)
    return MachineModel(
        machine_id=machine_id,
        estimator=estimator,
        columns=columns,
        mode_columns=mode_columns,
        training_start=train.get_column("window_start").min(),
        training_end=train.get_column("window_end").max(),
        training_rows=train.height,
        fitted_until=until,
        feature_set=feature_set.name,
        feature_version=feature_set.version,
        window=settings.window,
        reason=reason,
        envelope=envelope,
    )


def refit_reason(model: MachineModel | None, day: pl.DataFrame, day_start: datetime, settings: AnomalySettings) -> str | None:
    """Why the model must be refitted before scoring ``day`` (its windows), or None.

    ``first``: no model; ``features``: the matrix's columns changed (a new sensor or statistic);
    ``schedule``: the model is ``refit_days`` old; ``drift``: at least ``drift_share`` of the
    day's windows ran at a load outside the range (1st-99th percentile) it was trained on."""
    if model is None:
        return "first"
    if value_columns(day) != model.columns:
        return "features"
    if day_start - model.fitted_until >= timedelta(days=settings.refit_days):
        return "schedule"
    for column, (low, high) in model.envelope.items():
        if day.height and column in day.columns:
            outside = day.select(((pl.col(column) < low) | (pl.col(column) > high)).mean()).item()
            if outside is not None and outside >= settings.drift_share:
                return "drift"
    return None


def score_windows(
    model: MachineModel,
    windows: pl.DataFrame,
    settings: AnomalySettings,
    *,
    excluded: pl.Series | None = None,
    prior_above: Sequence[bool] = (),
    feature_set: FeatureSet = MACHINE_HEALTH,
) -> pl.DataFrame:
    """Scores (1.0 = threshold), exceedances, persistence alarms and top drivers of ``windows``.

    ``excluded``: windows spoiled by a sensor fault (scored, never above or alarmed);
    ``prior_above``: exceedances of the windows just before, so "k of n" runs on across days."""
    if windows.height == 0:
        return pl.DataFrame(schema=SCORE_SCHEMA)
    X = windows.select(model.columns)
    score = model.estimator.decision_function(X) / model.estimator.threshold_
    skip = excluded.to_numpy().astype(bool) if excluded is not None else np.zeros(windows.height, dtype=bool)
    above = (score > 1.0) & ~skip
    k, n = settings.persistence
    prior = np.asarray(list(prior_above)[-(n - 1) :] if n > 1 else [], dtype=int)
    alarm = Persistence(k, n).apply(np.concatenate([prior, above.astype(int)]))[len(prior) :].astype(bool) & above
    sensors, shares = sensor_shares(model.columns, model.estimator.explain(X), feature_set)
    order = np.argsort(-shares, axis=1)[:, :TOP_DRIVERS]
    drivers = [
        [{"sensor": sensors[j], "share": round(float(shares[i, j]), 4)} for j in order[i] if shares[i, j] > 0]
        for i in range(windows.height)
    ]
    return pl.DataFrame(
        {
            "machine_id": [model.machine_id] * windows.height,
            "window_start": windows.get_column("window_start"),
            "window_end": windows.get_column("window_end"),
            "score": score,
            "above": above,
            "alarm": alarm,
            "excluded": skip,
            "drivers": drivers,
            "model_id": [model.model_id] * windows.height,
        },
        schema=SCORE_SCHEMA,
    )


def monitor_day(
    model: MachineModel | None,
    matrix: pl.DataFrame,
    events: pl.DataFrame,
    machine_id: str,
    day_start: datetime,
    day_end: datetime,
    settings: AnomalySettings,
    *,
    flagged: pl.DataFrame | None = None,
    excluded: pl.DataFrame | None = None,
    prior_above: Sequence[bool] = (),
    load_sensor: str | None = None,
    feature_set: FeatureSet = MACHINE_HEALTH,
    force_reason: str | None = None,
) -> tuple[MachineModel | None, bool, pl.DataFrame]:
    """Refit if needed, then score the windows starting in [day_start, day_end).

    ``matrix``: the machine's windows up to ``day_end`` (history for training, then the day);
    ``flagged``/``excluded``: ``window_start`` of windows to keep out of training / out of
    alarms (the monitor's past alarms and sensor-fault windows; ``excluded`` are flagged too).
    ``force_reason``: refit now for this reason even if none of the usual ones holds
    (``feedback``: a person marked recent alarms as false, so they must become normal).
    Returns (model in use, whether it was refitted now, the day's scores)."""
    day = matrix.filter((pl.col("window_start") >= day_start) & (pl.col("window_start") < day_end))
    refitted = False
    reason = refit_reason(model, day, day_start, settings) or force_reason
    if reason is not None:
        parts = [f.select("window_start") for f in (flagged, excluded) if f is not None and f.height]
        keep_out = pl.concat(parts) if parts else None
        candidate = fit_model(
            matrix, events, machine_id, day_start, settings, flagged=keep_out, load_sensor=load_sensor, reason=reason, feature_set=feature_set
        )
        if candidate is not None:
            model, refitted = candidate, True
        elif reason == "features":
            model = None  # the old model cannot read the new columns
    if model is None:
        return None, False, pl.DataFrame(schema=SCORE_SCHEMA)
    skip = None
    if excluded is not None and excluded.height:
        skip = day.select(pl.col("window_start").is_in(excluded.get_column("window_start").implode())).to_series()
    return model, refitted, score_windows(model, day, settings, excluded=skip, prior_above=prior_above, feature_set=feature_set)


def walk_forward(
    matrix: pl.DataFrame,
    events: pl.DataFrame,
    machine_id: str,
    start: datetime,
    settings: AnomalySettings,
    *,
    excluded: pl.DataFrame | None = None,
    load_sensor: str | None = None,
    step: timedelta = timedelta(days=1),
) -> tuple[pl.DataFrame, list[MachineModel]]:
    """Live the monitor through a machine's history from ``start``, a day (``step``) at a time,
    exactly as the daily run would: the scores of every window from ``start`` and the models fitted."""
    if matrix.height == 0:
        return pl.DataFrame(schema=SCORE_SCHEMA), []
    end = matrix.get_column("window_end").max()
    model: MachineModel | None = None
    models: list[MachineModel] = []
    days: list[pl.DataFrame] = []
    flagged = pl.DataFrame(schema={"window_start": pl.Datetime("us", "UTC")})
    above: list[bool] = []
    day_start = start
    while day_start < end:
        day_end = day_start + step
        history = matrix.filter(pl.col("window_start") < day_end)
        model, refitted, scores = monitor_day(
            model, history, events, machine_id, day_start, day_end, settings,
            flagged=flagged, excluded=excluded, prior_above=above, load_sensor=load_sensor,
        )  # fmt: skip
        if refitted and model is not None:
            models.append(model)
        if scores.height:
            days.append(scores)
            above = (above + scores.get_column("above").to_list())[-settings.persistence[1] :]
            flagged = pl.concat([flagged, scores.filter(pl.col("above")).select("window_start")])
        day_start = day_end
    return (pl.concat(days) if days else pl.DataFrame(schema=SCORE_SCHEMA)), models
