"""The Machine detail page's read model: one machine of one factory over a chosen time range.

:func:`machine_detail` gathers, for ``[start, end)``, what the page draws and says:

- the sensor readings, reduced with M4 (:func:`~analytics.views.downsample.m4`) when a sensor has
  more than ``max_points`` of them, so a year of 1-minute readings draws as quickly as a day and
  no peak is lost (the reduction runs inside the lazy Parquet scan; the readings it drops are
  never materialised);
- the machine's normal envelope per sensor (see below);
- the stored anomaly scores, the alarmed stretches merged into bands, and the maintenance log
  (failures, repairs, preventive maintenance);
- the daily health trend and the hourly failure risk, the sensors that drive both, and the newest
  health row with its recommended action and evidence.

Everything is factory-scoped: the factory and machine ids are validated and must be registered
(an unknown machine, or one of another factory, is a :class:`~analytics.errors.NotFoundError`),
and every table is read through the factory's own readers (:class:`~analytics.store.FactoryReader`
and the stores' ``read_*`` functions), which can only reach that factory's directory.

**Normal envelope.** The band a sensor's hourly mean level keeps while the machine runs normally,
built the way the health evidence builds its baseline (:func:`~analytics.solutions.health.sensor_evidence`)
and strictly from the past: at each hour ``t`` it is ``median ± k × robust sd`` of the machine's
own 1-hour feature means over ``[t − baseline_days, t)``, counting only hours in which the machine
ran for at least half the hour and that the anomaly monitor neither flagged (above its threshold)
nor excluded for a sensor fault. The robust sd is the interquartile range / 1.349 (a rolling
median absolute deviation is not available as a rolling window), floored like the evidence's at a
tenth of the plain sd so a sensor that barely moves does not get a zero-width band; ``k`` is the
evidence threshold :attr:`~analytics.config.SolutionSettings.evidence_z`, so a reading outside the
band is the size of offset the health evidence calls out. Hours with fewer than 12 such hours
behind them have no envelope. It describes running hours: a machine standing still sits below it,
as it should. It is the plain level, not the load-adjusted one the evidence compares against.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import polars as pl

from analytics.config import SolutionSettings
from analytics.errors import NotFoundError
from analytics.features import MACHINE_HEALTH, FeatureStore
from analytics.models.anomaly.scoring import read_scores
from analytics.models.failure.predict import day_answer, read_risk, window_day
from analytics.schemas import TS_DTYPE, validate_machine_id, validate_sensor_name
from analytics.solutions.health import RUNNING_SHARE
from analytics.solutions.solve import read_health
from analytics.store.hub import Hub
from analytics.store.reader import FactoryReader, local_dates
from analytics.views.downsample import m4_plan

log = logging.getLogger(__name__)

FEATURE_WINDOW = "1h"  # the evidence's and the envelope's feature window
TOP_DRIVERS = 5  # most sensors listed per driver source
ENVELOPE_MIN_HOURS = 12  # running, unflagged hours an envelope point needs behind it (as the evidence's baseline)
IQR_TO_SD = 1.349  # interquartile range of a normal distribution, in standard deviations

SERIES_SCHEMA: dict[str, pl.DataType] = {"sensor": pl.String(), "ts": TS_DTYPE, "value": pl.Float64()}
SENSORS_SCHEMA: dict[str, pl.DataType] = {"sensor": pl.String(), "unit": pl.String(), "min_value": pl.Float64(), "max_value": pl.Float64()}
ENVELOPE_SCHEMA: dict[str, pl.DataType] = {"sensor": pl.String(), "ts": TS_DTYPE, "lower": pl.Float64(), "upper": pl.Float64()}
ANOMALY_WINDOWS_SCHEMA: dict[str, pl.DataType] = {
    "window_start": TS_DTYPE,
    "window_end": TS_DTYPE,
    "score": pl.Float64(),
    "above": pl.Boolean(),
    "alarm": pl.Boolean(),
    "excluded": pl.Boolean(),
}
ANOMALY_BANDS_SCHEMA: dict[str, pl.DataType] = {"start": TS_DTYPE, "end": TS_DTYPE, "max_score": pl.Float64()}
EVENTS_VIEW_SCHEMA: dict[str, pl.DataType] = {"ts": TS_DTYPE, "kind": pl.String(), "component": pl.String(), "text": pl.String()}
HEALTH_TREND_SCHEMA: dict[str, pl.DataType] = {
    "day": pl.Date(),
    "status": pl.String(),
    "health_index": pl.Float64(),
    "probability": pl.Float64(),
    "ttf_median_h": pl.Float64(),
    "ttf_p10_h": pl.Float64(),
    "failure_mode": pl.String(),
}
RISK_TREND_SCHEMA: dict[str, pl.DataType] = {
    "window_end": TS_DTYPE,
    "probability": pl.Float64(),
    "p_1d": pl.Float64(),
    "p_3d": pl.Float64(),
    "p_7d": pl.Float64(),
    "ttf_median_h": pl.Float64(),
    "ttf_p10_h": pl.Float64(),
    "model_id": pl.String(),
}
DRIVERS_SCHEMA: dict[str, pl.DataType] = {"source": pl.String(), "sensor": pl.String(), "share": pl.Float64()}


@dataclass(frozen=True)
class MachineDetail:
    """One machine over ``[start, end)`` (UTC), as :func:`machine_detail` read it (see the module doc).

    ``series`` holds real readings (:data:`SERIES_SCHEMA`), reduced with M4 per sensor when
    ``downsampled``; ``raw_points`` counts the readings in the range before any reduction.
    ``risk`` is empty when the machine's type has no failure model. ``latest`` is the newest
    health row in the range (every :data:`~analytics.solutions.health.HEALTH_SCHEMA` field) plus
    ``evidence``, its ``evidence_json`` parsed into a list of dicts; None without health rows."""

    factory_id: str
    machine_id: str
    machine_type: str
    timezone: str
    start: datetime
    end: datetime
    sensors: pl.DataFrame
    series: pl.DataFrame
    downsampled: bool
    raw_points: int
    envelope: pl.DataFrame
    anomaly: pl.DataFrame
    anomaly_bands: pl.DataFrame
    events: pl.DataFrame
    health: pl.DataFrame
    risk: pl.DataFrame
    drivers: pl.DataFrame
    latest: dict[str, Any] | None


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _or_empty(frame: pl.LazyFrame, schema: dict[str, pl.DataType]) -> pl.LazyFrame:
    """A stored table's lazy frame, or an empty one of ``schema`` when nothing is stored (the
    feature store's tables, which have no fixed schema, answer a frame without columns then)."""
    return frame if frame.collect_schema().names() else pl.LazyFrame(schema=schema)


def machine_detail(
    hub: Hub,
    factory_id: str,
    machine_id: str,
    start: datetime,
    end: datetime,
    *,
    sensors: list[str] | None = None,
    max_points: int = 2000,
    settings: SolutionSettings | None = None,
) -> MachineDetail:
    """Everything the Machine detail page shows for one machine over ``[start, end)`` (see the
    module doc).

    ``start``/``end``: UTC (naive datetimes are taken as UTC). ``sensors``: only these of the
    machine's sensors (default: all) in ``sensors``, ``series`` and ``envelope``; the drivers
    always cover the whole machine. ``max_points``: most points per sensor in ``series``
    (rounded down to a multiple of 4: M4 keeps up to four per bucket). ``settings``: the
    solutions settings whose baseline days and evidence threshold shape the envelope (default:
    the hub's). Raises :class:`~analytics.errors.NotFoundError` for a factory, machine or sensor
    that is not registered (a machine of another factory is not registered in this one),
    :class:`~analytics.errors.InvalidIdentifierError` for a malformed id, ``ValueError`` for an
    empty range or fewer than 4 points."""
    reader = FactoryReader(hub, factory_id)  # validates the id; NotFoundError if unregistered
    factory_id = reader.factory_id
    machine = hub.registry.machine(factory_id, validate_machine_id(machine_id))
    settings = settings or hub.settings.solutions
    start, end = _utc(start), _utc(end)
    if end <= start:
        raise ValueError(f"end {end.isoformat()} must be after start {start.isoformat()}")
    if max_points < 4:
        raise ValueError(f"max_points must be at least 4, got {max_points}")
    timezone = reader.factory.timezone
    registered = pl.DataFrame(
        [(s.sensor, s.unit, s.min_value, s.max_value) for s in hub.registry.sensors(factory_id, machine.machine_id)],
        schema=SENSORS_SCHEMA,
        orient="row",
    ).sort("sensor")
    chosen = _chosen_sensors(registered, sensors, machine.machine_id)
    registered = registered.filter(pl.col("sensor").is_in(chosen))
    # Local dates of the stored per-date tables: the range's (end exclusive), and the baseline's before it.
    first, last = local_dates(start, end - timedelta(microseconds=1), timezone)
    assert first is not None and last is not None
    history = first - timedelta(days=settings.baseline_days + 1)

    buckets = max_points // 4
    readings = reader.readings(start, end, machines=[machine.machine_id], sensors=chosen).select("sensor", "ts", "value")
    plans = {
        "series": m4_plan(readings, start=start, end=end, buckets=buckets, count="_n"),
        "events": reader.events(start, end).filter(pl.col("machine_id") == machine.machine_id).select(list(EVENTS_VIEW_SCHEMA)),
        "scores": _machine_rows(read_scores(hub, factory_id, history, last, hub.settings.anomaly), machine.machine_id).select(
            "window_start", "window_end", "score", "above", "alarm", "excluded", "drivers"
        ),
        "health": _machine_rows(read_health(hub, factory_id, first, last), machine.machine_id),
        "risk": _machine_rows(read_risk(hub, factory_id, first, last), machine.machine_id).filter(
            (pl.col("window_start") < end) & (pl.col("window_end") > start)
        ),
        **_feature_plans(hub, factory_id, machine.machine_id, chosen, history, last),
    }
    # One parallel collection: the stores' small files and the readings' scan overlap.
    frames = dict(zip(plans, pl.collect_all(list(plans.values()), engine="streaming"), strict=True))

    series = frames["series"]
    counts = series.group_by("sensor").agg(pl.col("_n").first())
    raw_points = int(counts.get_column("_n").sum()) if counts.height else 0
    downsampled = bool(counts.height and counts.get_column("_n").max() > 4 * buckets)  # type: ignore[operator]
    series = series.drop("_n").cast(SERIES_SCHEMA)  # type: ignore[arg-type]

    scores = frames["scores"]
    in_range = scores.filter((pl.col("window_start") < end) & (pl.col("window_end") > start)).sort("window_start")
    anomaly = in_range.select(list(ANOMALY_WINDOWS_SCHEMA)).cast(ANOMALY_WINDOWS_SCHEMA)  # type: ignore[arg-type]
    health_rows = frames["health"].sort("day")
    risk_rows = frames["risk"].sort("window_end")
    envelope = normal_envelope(
        frames["features"], frames["running"], scores, start, end,
        baseline_days=settings.baseline_days, k=settings.evidence_z, max_points=max_points,
    )  # fmt: skip
    detail = MachineDetail(
        factory_id=factory_id,
        machine_id=machine.machine_id,
        machine_type=machine.machine_type,
        timezone=timezone,
        start=start,
        end=end,
        sensors=registered,
        series=series,
        downsampled=downsampled,
        raw_points=raw_points,
        envelope=envelope,
        anomaly=anomaly,
        anomaly_bands=anomaly_bands(anomaly),
        events=frames["events"].sort("ts", "kind", "component").cast(EVENTS_VIEW_SCHEMA),  # type: ignore[arg-type]
        health=health_rows.select(list(HEALTH_TREND_SCHEMA)).cast(HEALTH_TREND_SCHEMA),  # type: ignore[arg-type]
        risk=risk_rows.select(list(RISK_TREND_SCHEMA)).cast(RISK_TREND_SCHEMA),  # type: ignore[arg-type]
        drivers=pl.concat([anomaly_drivers(in_range), failure_drivers(risk_rows, timezone)]),
        latest=_latest(health_rows),
    )
    log.debug(
        "%s/%s %s..%s: %d of %d readings, %d envelope points, %d anomaly windows",
        factory_id, machine.machine_id, start, end, series.height, raw_points, envelope.height, anomaly.height,
    )  # fmt: skip
    return detail


def _chosen_sensors(registered: pl.DataFrame, sensors: list[str] | None, machine_id: str) -> list[str]:
    names = registered.get_column("sensor").to_list()
    if sensors is None:
        return names
    chosen = list(dict.fromkeys(validate_sensor_name(s) for s in sensors))
    unknown = [s for s in chosen if s not in names]
    if unknown:
        raise NotFoundError(f"sensor(s) {', '.join(map(repr, unknown))} not registered on machine {machine_id!r}")
    return chosen


def _machine_rows(frame: pl.LazyFrame, machine_id: str) -> pl.LazyFrame:
    return frame.filter(pl.col("machine_id") == machine_id)


def _feature_plans(hub: Hub, factory_id: str, machine_id: str, sensors: list[str], first: date, last: date) -> dict[str, pl.LazyFrame]:
    """The machine's stored 1-hour sensor means and running shares of local dates [first, last]."""
    store = FeatureStore(hub, factory_id)
    sensor = _or_empty(
        store.read(MACHINE_HEALTH, FEATURE_WINDOW, "sensor", first, last),
        {"machine_id": pl.String(), "sensor": pl.String(), "window_start": TS_DTYPE, "mean": pl.Float64()},
    )
    machine = _or_empty(
        store.read(MACHINE_HEALTH, FEATURE_WINDOW, "machine", first, last),
        {"machine_id": pl.String(), "window_start": TS_DTYPE, "share_running": pl.Float64()},
    )
    return {
        "features": _machine_rows(sensor, machine_id).filter(pl.col("sensor").is_in(sensors)).select("sensor", "window_start", "mean"),
        "running": _machine_rows(machine, machine_id).select("window_start", "share_running"),
    }


def normal_envelope(
    features: pl.DataFrame,
    running: pl.DataFrame,
    scores: pl.DataFrame,
    start: datetime,
    end: datetime,
    *,
    baseline_days: int,
    k: float,
    max_points: int | None = None,
    min_hours: int = ENVELOPE_MIN_HOURS,
) -> pl.DataFrame:
    """One machine's normal envelope (:data:`ENVELOPE_SCHEMA`) at each feature hour in
    ``[start, end)`` (definition in the module doc).

    ``features``: the machine's 1-hour ``sensor, window_start, mean`` from ``baseline_days``
    before ``start`` on; ``running``: its ``window_start, share_running``; ``scores``: its stored
    anomaly windows over the same span (``window_start, above, excluded``). With ``max_points``,
    a long range keeps every n-th hour so a sensor has at most that many points (the envelope
    moves over days, not hours)."""
    if features.height == 0:
        return pl.DataFrame(schema=ENVELOPE_SCHEMA)
    flagged = (
        scores.filter(pl.col("above") | pl.col("excluded")).select("window_start").unique()
        if scores.height
        else pl.DataFrame(schema={"window_start": TS_DTYPE})
    )
    hourly = (
        features.join(running, on="window_start", how="left")
        .join(flagged.with_columns(pl.lit(True).alias("_flagged")), on="window_start", how="left")
        .with_columns(pl.when((pl.col("share_running") >= RUNNING_SHARE) & pl.col("_flagged").is_null()).then(pl.col("mean")).alias("_x"))
        .sort("sensor", "window_start")
    )
    window = timedelta(days=baseline_days)
    x = pl.col("_x")

    def rolling(expr: pl.Expr) -> pl.Expr:
        return expr.over("sensor")

    ws = "window_start"
    stats = hourly.with_columns(
        rolling(x.rolling_median_by(ws, window, closed="left", min_samples=min_hours)).alias("_med"),
        rolling(x.rolling_quantile_by(ws, window, quantile=0.25, interpolation="linear", closed="left", min_samples=min_hours)).alias("_q25"),
        rolling(x.rolling_quantile_by(ws, window, quantile=0.75, interpolation="linear", closed="left", min_samples=min_hours)).alias("_q75"),
        rolling(x.rolling_std_by(ws, window, closed="left", min_samples=min_hours)).alias("_sd"),
    )
    scale = pl.max_horizontal((pl.col("_q75") - pl.col("_q25")) / IQR_TO_SD, pl.col("_sd").fill_null(0.0) * 0.1, pl.lit(1e-9))
    envelope = stats.filter((pl.col(ws) >= start) & (pl.col(ws) < end) & pl.col("_med").is_not_null()).select(
        "sensor",
        pl.col(ws).alias("ts"),
        (pl.col("_med") - k * scale).alias("lower"),
        (pl.col("_med") + k * scale).alias("upper"),
    )
    if max_points is not None:
        longest = envelope.group_by("sensor").len().get_column("len").max() if envelope.height else 0
        step = math.ceil(longest / max_points) if longest else 1  # type: ignore[operator]
        if step > 1:
            envelope = envelope.filter(pl.int_range(pl.len()).over("sensor") % step == 0)
    return envelope.cast(ENVELOPE_SCHEMA)  # type: ignore[arg-type]


def anomaly_bands(anomaly: pl.DataFrame) -> pl.DataFrame:
    """Stretches of alarmed windows (:data:`ANOMALY_BANDS_SCHEMA`): windows that touch or overlap
    are merged, so the bands cover exactly the time the alarmed windows cover; ``max_score`` is
    the highest score inside each."""
    alarmed = anomaly.filter(pl.col("alarm")).sort("window_start")
    if alarmed.height == 0:
        return pl.DataFrame(schema=ANOMALY_BANDS_SCHEMA)
    reach = pl.col("window_end").cum_max().shift(1)
    return (
        alarmed.with_columns((pl.col("window_start") > reach).fill_null(True).cum_sum().alias("_band"))
        .group_by("_band", maintain_order=True)
        .agg(pl.col("window_start").min().alias("start"), pl.col("window_end").max().alias("end"), pl.col("score").max().alias("max_score"))
        .select(list(ANOMALY_BANDS_SCHEMA))
        .cast(ANOMALY_BANDS_SCHEMA)  # type: ignore[arg-type]
    )


def anomaly_drivers(scores: pl.DataFrame, top: int = TOP_DRIVERS) -> pl.DataFrame:
    """The sensors behind the range's alarms (else its above-threshold windows), as the health
    assessment weighs them: each window's driver shares times its score, summed per sensor and
    divided by the total, largest first (:data:`DRIVERS_SCHEMA`, source ``anomaly``)."""
    focus = scores.filter(pl.col("alarm"))
    if focus.height == 0:
        focus = scores.filter(pl.col("above"))
    if focus.height == 0:
        return pl.DataFrame(schema=DRIVERS_SCHEMA)
    weights = (
        focus.select("score", "drivers")
        .explode("drivers")
        .drop_nulls("drivers")
        .unnest("drivers")
        .group_by("sensor")
        .agg((pl.col("share") * pl.col("score")).sum().alias("weight"))
        .filter(pl.col("weight") > 0)
    )
    if weights.height == 0:
        return pl.DataFrame(schema=DRIVERS_SCHEMA)
    return (
        weights.with_columns((pl.col("weight") / pl.col("weight").sum()).alias("share"))
        .sort(["share", "sensor"], descending=[True, False])
        .head(top)
        .select(pl.lit("anomaly").alias("source"), "sensor", "share")
        .cast(DRIVERS_SCHEMA)  # type: ignore[arg-type]
    )


def failure_drivers(risk: pl.DataFrame, timezone: str, top: int = TOP_DRIVERS) -> pl.DataFrame:
    """The sensors that pushed the risk of the latest local day (in ``timezone``) up, with their
    TreeSHAP shares of the positive push (:data:`DRIVERS_SCHEMA`, source ``failure``): the day's
    answer (:func:`~analytics.models.failure.predict.day_answer`, the window whose risk the
    health shows); empty without risk rows."""
    if risk.height == 0:
        return pl.DataFrame(schema=DRIVERS_SCHEMA)
    days = risk.with_columns(window_day(timezone).alias("_day"))
    last = day_answer(days.filter(pl.col("_day") == pl.col("_day").max()), ["_day"]).select("sensors", "shares")
    return (
        last.explode("sensors", "shares")
        .drop_nulls()
        .rename({"sensors": "sensor", "shares": "share"})
        .with_columns(pl.col("share").clip(0.0, 1.0))
        .sort(["share", "sensor"], descending=[True, False])
        .head(top)
        .select(pl.lit("failure").alias("source"), "sensor", "share")
        .cast(DRIVERS_SCHEMA)  # type: ignore[arg-type]
    )


def _latest(health: pl.DataFrame) -> dict[str, Any] | None:
    """The newest health row as a dict, with ``evidence`` parsed from ``evidence_json``."""
    if health.height == 0:
        return None
    row = health.sort("day").row(-1, named=True)
    row["evidence"] = json.loads(row["evidence_json"]) if row.get("evidence_json") else []
    return row
