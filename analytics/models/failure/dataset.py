"""The failure models' table: one row per machine and hourly window, its features and its labels.

Features come from the feature store's hourly tables (:mod:`analytics.features`) and only ever
look back; labels (:func:`~analytics.features.labels.failure_labels`) look forward and are added
beside them, never mixed in. A degradation shows as a slow change of a sensor against the machine's
own recent past, so besides the levels each sensor gets relative features that mean the same on
every machine of a type (which is what lets a model learn from many factories):

- ``level``: mean over the trailing 24 h; ``q90``: the window's 90th percentile;
- ``shift``: the 24 h mean minus the 7-day mean (a change within the week);
- ``z_24h``, ``z_7d``: the window mean in trailing standard deviations;
- ``trend``: change of the 24 h mean per day over the last 5 days;
- ``dev_28d``: the 24 h mean minus the 28-day mean of the window means, and ``devz_28d`` the same
  in 28-day standard deviations (a level against the machine's own month);
- ``spread``: the standard deviation over the trailing 24 h;
- ``resid``, ``residz``: where the machine has a load sensor, the sensor's trailing-24 h mean
  residual from a linear fit on the load over the trailing 28 days, in its unit and in 28-day
  residual standard deviations: a pump that draws more current *for the same flow* is the
  signal; a pump that draws more current because it pumps more is not.

Summary columns, the same on every machine whatever its sensors (trees find one strong column
more easily than the same signal spread over many): the largest and second-largest |residz|
(|devz_28d| where there is no load fit) over the machine's sensors, the largest |z_7d| and the
number of sensors more than 3 standard deviations off.

Machine columns: running share over the trailing 24 h, hours since maintenance and since the last
failure, and the cross-sensor physics of the feature set (current per load, temperature rises).
Beside them, not a model input, ``measured``: whether the window had readings of its own (a
sensor's statistics of the window, taken while the machine ran); an idle window has only the
trailing features carried forward, so a day's answer comes from its last measured window
(:func:`~analytics.models.failure.predict.day_answer`).
Feature names are ``<sensor>__<feature>`` so every contribution can be traced back to a sensor.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import polars as pl

from analytics.features.featureset import MACHINE_HEALTH, FeatureSet
from analytics.features.labels import FAILURE, failure_labels

TREND_DAYS = 5
SENSOR_FEATURES = ("level", "q90", "shift", "z_24h", "z_7d", "trend", "dev_28d", "devz_28d", "spread", "resid", "residz", "residz_now")
MACHINE_FEATURES = ("running_24h", "hours_since_maintenance", "hours_since_failure")
SUMMARY_FEATURES = ("max_offset", "second_offset", "max_z_7d", "sensors_off")
KEYS = ("machine_id", "window_start", "window_end")
MEASURED = "measured"  # the window had readings of its own (module doc); not a model input
SEPARATOR = "__"


def sensor_of(feature: str) -> str | None:
    """The sensor a feature column describes (``None`` for machine-level columns)."""
    return feature.split(SEPARATOR, 1)[0] if SEPARATOR in feature else None


def _load_residuals(base: pl.LazyFrame, load_of: dict[str, str]) -> pl.LazyFrame:
    """``resid`` and ``residz`` (module doc) by rolling least squares: 28-day sums of x, y, x², xy."""
    by = ["machine_id", "sensor"]
    loads = pl.LazyFrame({"machine_id": list(load_of), "__load_sensor": list(load_of.values())}, schema={"machine_id": pl.String, "__load_sensor": pl.String})
    load = base.join(loads, left_on=["machine_id", "sensor"], right_on=["machine_id", "__load_sensor"]).select("machine_id", "window_end", pl.col("mean").alias("__x"))
    pairs = base.join(load, on=["machine_id", "window_end"], how="left").with_columns(
        pl.when(pl.col("mean").is_not_null()).then(pl.col("__x")).alias("__x")
    )
    both = pl.col("__x").is_not_null() & pl.col("mean").is_not_null()
    x, y = pl.when(both).then(pl.col("__x")), pl.when(both).then(pl.col("mean"))

    def month(expr: pl.Expr) -> pl.Expr:
        return expr.fill_null(0.0).rolling_sum_by("window_end", window_size="28d").over(by)

    sums = pairs.with_columns(
        month(both.cast(pl.Float64)).alias("__n"), month(x).alias("__sx"), month(y).alias("__sy"), month(x * x).alias("__sxx"), month(x * y).alias("__sxy")
    )
    var = pl.col("__sxx") - pl.col("__sx") ** 2 / pl.col("__n")
    slope = pl.when((pl.col("__n") >= 24) & (var > 1e-12 * pl.col("__n"))).then((pl.col("__sxy") - pl.col("__sx") * pl.col("__sy") / pl.col("__n")) / var).otherwise(0.0)
    resid = pl.col("mean") - (pl.col("__sy") / pl.col("__n") + slope * (pl.col("__x") - pl.col("__sx") / pl.col("__n")))
    out = sums.with_columns(pl.when(pl.col("__n") >= 24).then(resid).alias("__r")).with_columns(
        pl.col("__r").rolling_mean_by("window_end", window_size="24h").over(by).alias("resid"),
        pl.col("__r").rolling_std_by("window_end", window_size="28d").over(by).alias("__r_sd"),
    )
    return out.with_columns(
        pl.when(pl.col("__r_sd") > 0).then(pl.col("resid") / pl.col("__r_sd")).alias("residz"),
        pl.when(pl.col("__r_sd") > 0).then(pl.col("__r") / pl.col("__r_sd")).alias("residz_now"),
    ).select(*KEYS, "sensor", "resid", "residz", "residz_now")


def _relative(sensor: pl.LazyFrame, load_of: dict[str, str] | None = None) -> pl.LazyFrame:
    """Per (machine, sensor) relative features over time (window rows sorted by their end)."""
    by = ["machine_id", "sensor"]
    base = sensor.select(*KEYS, "sensor", "mean", "q90", "mean_24h", "std_24h", "mean_7d", "z_24h", "z_7d").sort(*by, "window_end")
    if load_of:
        base = base.join(_load_residuals(base, load_of), on=[*KEYS, "sensor"], how="left")
    else:
        base = base.with_columns(pl.lit(None, pl.Float64).alias(c) for c in ("resid", "residz", "residz_now"))
    month = (
        base.with_columns(
            pl.col("mean").rolling_mean_by("window_end", window_size="28d").over(by).alias("__mean_28d"),
            pl.col("mean").rolling_std_by("window_end", window_size="28d").over(by).alias("__std_28d"),
        )
    )
    earlier = base.select(
        "machine_id", "sensor", (pl.col("window_end") + pl.duration(days=TREND_DAYS)).alias("__then_end"), pl.col("mean_24h").alias("__then")
    ).sort("__then_end")
    joined = month.sort("window_end").join_asof(
        earlier, left_on="window_end", right_on="__then_end", by=by, strategy="backward", tolerance="6h", check_sortedness=False
    )
    dev = pl.col("mean_24h") - pl.col("__mean_28d")
    return joined.with_columns(
        # A stopped machine neither wears nor reports: its last running state still holds, so
        # the trailing features carry forward over idle windows (causal: from earlier rows only).
        pl.col("mean_24h", "std_24h", "mean_7d", "__then", "__mean_28d", "__std_28d", "resid", "residz").forward_fill().over(by)
    ).select(
        *KEYS,
        "sensor",
        pl.col("mean_24h").alias("level"),
        "q90",
        (pl.col("mean_24h") - pl.col("mean_7d")).alias("shift"),
        "z_24h",
        "z_7d",
        ((pl.col("mean_24h") - pl.col("__then")) / TREND_DAYS).alias("trend"),
        dev.alias("dev_28d"),
        pl.when(pl.col("__std_28d") > 0).then(dev / pl.col("__std_28d")).alias("devz_28d"),
        pl.col("std_24h").alias("spread"),
        "resid",
        "residz",
        "residz_now",
    )


def failure_features(
    sensor: pl.DataFrame | pl.LazyFrame,
    machine: pl.DataFrame | pl.LazyFrame,
    *,
    sensors: Sequence[str] | None = None,
    load_of: dict[str, str] | None = None,
    feature_set: FeatureSet = MACHINE_HEALTH,
) -> pl.DataFrame:
    """Wide feature table (one row per machine and window) from the hourly feature tables.

    ``sensors`` fixes the sensor columns (a model's own list, so a machine that lacks a sensor
    gets nulls rather than a different table); by default every sensor present is used.
    ``load_of`` names each machine's load sensor (the feature store's state rules), for the
    load residuals.
    """
    sensor = sensor.lazy()
    if sensors is not None:
        sensor = sensor.filter(pl.col("sensor").is_in(list(sensors)))
    long = _relative(sensor, load_of).collect()
    present = sorted(long.get_column("sensor").unique().to_list()) if sensors is None else list(sensors)
    wide = long.pivot(on="sensor", index=list(KEYS), values=list(SENSOR_FEATURES), separator=SEPARATOR)
    # Polars names pivoted columns "<feature>__<sensor>"; the sensor first groups a sensor's columns.
    wide = wide.rename({c: SEPARATOR.join(reversed(c.split(SEPARATOR, 1))) for c in wide.columns if SEPARATOR in c})
    columns = [f"{s}{SEPARATOR}{f}" for s in present for f in SENSOR_FEATURES]
    wide = wide.with_columns(pl.lit(None, pl.Float64).alias(c) for c in columns if c not in wide.columns)
    cross = [c.name for c in feature_set.cross]
    state = (
        machine.lazy()
        .sort("machine_id", "window_end")
        .with_columns(pl.col("share_running").rolling_mean_by("window_end", window_size="24h").over("machine_id").alias("running_24h"))
        .select("window_start", "machine_id", *MACHINE_FEATURES, *[pl.col(c) for c in cross if c in machine.collect_schema().names()])
        .collect()
    )
    state = state.with_columns(pl.lit(None, pl.Float64).alias(c) for c in cross if c not in state.columns)
    out = wide.join(state, on=["machine_id", "window_start"], how="left").with_columns(_summary(present))
    return out.select(*KEYS, *columns, *SUMMARY_FEATURES, *MACHINE_FEATURES, *cross, _measured(present)).sort("machine_id", "window_end")


def _measured(sensors: Sequence[str]) -> pl.Expr:
    """Whether the window had readings of its own: a sensor's 90th percentile of the window is
    there (every trailing feature is carried forward over idle windows; the window's own
    statistics are not)."""
    if not sensors:
        return pl.lit(False).alias(MEASURED)
    return pl.any_horizontal(pl.col(f"{s}{SEPARATOR}q90").is_not_null() for s in sensors).alias(MEASURED)


def _summary(sensors: Sequence[str]) -> list[pl.Expr]:
    """The summary columns (module doc) over the machine's sensors."""
    if not sensors:
        return [pl.lit(None, pl.Float64).alias(c) for c in SUMMARY_FEATURES]
    offsets = [pl.coalesce(f"{s}{SEPARATOR}residz", f"{s}{SEPARATOR}devz_28d").abs() for s in sensors]
    ranked = pl.concat_list(offsets).list.drop_nulls().list.sort(descending=True)
    return [
        ranked.list.get(0, null_on_oob=True).alias("max_offset"),
        ranked.list.get(1, null_on_oob=True).alias("second_offset"),
        pl.max_horizontal(pl.col(f"{s}{SEPARATOR}z_7d").abs() for s in sensors).alias("max_z_7d"),
        ranked.list.eval((pl.element() > 3).sum()).list.first().cast(pl.Float64).alias("sensors_off"),
    ]


# What the failure models learn from. Per sensor the features that mean the same on every machine of
# a type: changes and offsets against the machine's own recent normal (shift, trend, dev_28d,
# resid) and the same in standard deviations. Not its levels (level, q90, spread): they tell the
# trees *which* machine a row is, and with a few machines of a type the trees learn which ones
# happened to fail. Measured on the development fleet (the fleet evaluation of factoryhub eval
# failure --benchmark simulator, seed 11): failures warned 0.81 -> 0.82, Brier 0.170 -> 0.168
# (base rate 0.170), PR-AUC 0.36 -> 0.38, median lead 51 -> 73 h, alarm precision 0.65 -> 0.60;
# adding spread back lowered every figure. The hours since maintenance and since the last failure
# stay: a machine's age since renewal is the classic covariate of wear-out (dropping them helped
# on the development fleet, whose degradations start at random, and cost the pooled pump model of
# tests/test_failure_training.py, whose failures come soon after each repair, most of its skill).
# The level columns stay in the table: they describe a sensor in words.
MODEL_SENSOR_FEATURES = ("shift", "z_24h", "z_7d", "trend", "dev_28d", "devz_28d", "resid", "residz", "residz_now")


def feature_columns(frame: pl.DataFrame) -> list[str]:
    """The model input columns of a :func:`failure_features` table (:data:`MODEL_SENSOR_FEATURES`
    of each sensor, the summary, machine and cross-sensor columns)."""

    def model_input(column: str) -> bool:
        if SEPARATOR in column:
            return column.split(SEPARATOR, 1)[1] in MODEL_SENSOR_FEATURES
        return column not in KEYS and column not in LABEL_COLUMNS and column != MEASURED

    return [c for c in frame.columns if model_input(c)]


LABEL_COLUMNS = ("hours_to_failure", "rul_hours", "censored", "failure_within", "in_repair", "hours_observed", "failure_mode")


def add_labels(features: pl.DataFrame, events: pl.DataFrame, horizon_hours: float, observed_until: datetime) -> pl.DataFrame:
    """Features with their labels (:func:`~analytics.features.labels.failure_labels`) plus, for the
    survival model, ``hours_observed``: how long the machine was then followed without a failure
    (to the next maintenance, which renews it, or to ``observed_until``), and ``failure_mode``: the
    component of the next failure."""
    labelled = failure_labels(features, events, horizon_hours, observed_until)
    renewals = events.filter(pl.col("kind") == "maintenance").select("machine_id", pl.col("ts").alias("__renewal")).sort("__renewal")
    modes = events.filter(pl.col("kind") == FAILURE).select("machine_id", pl.col("ts").alias("__fail_ts"), pl.col("component").alias("failure_mode")).sort("__fail_ts")
    until = pl.lit(observed_until).cast(labelled.schema["window_end"])
    end = pl.min_horizontal(pl.col("__renewal").fill_null(until), until)
    out = (
        labelled.sort("window_end")
        .join_asof(renewals, left_on="window_end", right_on="__renewal", by="machine_id", strategy="forward", check_sortedness=False)
        .join_asof(modes, left_on="window_end", right_on="__fail_ts", by="machine_id", strategy="forward", check_sortedness=False)
        .with_columns(
            ((end - pl.col("window_end")).dt.total_seconds() / 3600).clip(lower_bound=0).alias("hours_observed"),
            # A maintenance before the next failure renews the machine: that failure is not this
            # window's future, and the window is censored at the maintenance.
            pl.when(pl.col("__renewal").is_not_null() & pl.col("hours_to_failure").is_not_null() & (pl.col("__renewal") < pl.col("__fail_ts")))
            .then(True)
            .otherwise(pl.col("censored"))
            .alias("censored"),
        )
    )
    return out.drop("__renewal", "__fail_ts").sort("machine_id", "window_end")
