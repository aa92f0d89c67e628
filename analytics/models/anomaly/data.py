"""From stored features to a detector's matrix, and the healthy period it learns from.

A detector sees one machine at a time: one row per window in which the machine ran (so idle
time is never mistaken for an anomaly), one column per health statistic of each sensor
(``<sensor>__<stat>``) plus the machine's cross-sensor physics. It learns "normal" from a
healthy reference period chosen automatically: the windows that are not near a known failure
(the days before it, when the machine was already degrading, and until a day after its repair)
and not during maintenance.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

import polars as pl

from analytics.features.featureset import MACHINE_HEALTH, FeatureSet

# Statistics that describe a running machine's health; counts, shares and trailing context
# are left out (they describe the data or the past, not the machine now).
HEALTH_STATS: tuple[str, ...] = ("mean", "std", "q90", "slope_per_h")
KEY = ("machine_id", "window_start", "window_end")
WINDOW = ("window_start", "window_end")


def value_columns(matrix: pl.DataFrame) -> list[str]:
    """The feature columns of a machine matrix (everything but the window bounds), in order."""
    return [c for c in matrix.columns if c not in WINDOW]


def machine_matrices(
    sensor: pl.DataFrame,
    machine: pl.DataFrame,
    *,
    stats: Sequence[str] = HEALTH_STATS,
    min_running: float = 0.5,
    feature_set: FeatureSet = MACHINE_HEALTH,
) -> dict[str, pl.DataFrame]:
    """:func:`machine_matrix` of every machine in ``sensor``, from one pivot (a fleet of a thousand
    machines costs one reshape, not a thousand)."""
    if sensor.height == 0:
        return {}
    wide = sensor.pivot(on="sensor", index=["machine_id", "window_start", "window_end"], values=list(stats), separator="__")
    # Polars names pivoted columns "<stat>__<sensor>": the sensor first reads better in reports.
    wide = wide.rename({c: "__".join(reversed(c.split("__", 1))) for c in wide.columns if "__" in c})
    own_sensors = sensor.group_by("machine_id").agg(pl.col("sensor").unique())
    sensors_of = dict(zip(own_sensors.get_column("machine_id").to_list(), own_sensors.get_column("sensor").to_list(), strict=True))
    machines_of = machine.partition_by("machine_id", as_dict=True) if machine.height else {}
    cross_names = [c.name for c in feature_set.cross]
    out = {}
    for (machine_id,), rows in wide.partition_by("machine_id", as_dict=True).items():
        names = {f"{s}__{stat}" for s in sensors_of[machine_id] for stat in stats}
        own = rows.select("window_start", "window_end", *sorted(c for c in rows.columns if c in names))
        state_rows = machines_of.get((machine_id,))
        if state_rows is None:
            state_rows = pl.DataFrame(schema={"window_start": own.schema["window_start"], "share_running": pl.Float64()})
        cross = [c for c in cross_names if c in state_rows.columns and state_rows.get_column(c).is_not_null().any()]
        joined = own.join(state_rows.select("window_start", "share_running", *cross), on="window_start", how="left")
        if joined.get_column("share_running").is_not_null().any():
            joined = joined.filter(pl.col("share_running") >= min_running)
        value_columns = sorted(c for c in joined.columns if c not in {"window_start", "window_end", "share_running"})
        out[machine_id] = joined.select("window_start", "window_end", *value_columns).drop_nulls().sort("window_start")
    return out


def machine_matrix(
    sensor: pl.DataFrame,
    machine: pl.DataFrame,
    machine_id: str,
    *,
    stats: Sequence[str] = HEALTH_STATS,
    min_running: float = 0.5,
    feature_set: FeatureSet = MACHINE_HEALTH,
) -> pl.DataFrame:
    """One row per window in which ``machine_id`` ran at least ``min_running`` of the time
    (every window, for a machine without a load sensor), columns ``window_start``,
    ``window_end`` and ``<sensor>__<stat>`` / cross features; rows with a missing value dropped."""
    own = sensor.filter(pl.col("machine_id") == machine_id)
    rows = machine.filter(pl.col("machine_id") == machine_id) if machine.height else machine
    matrices = machine_matrices(own, rows, stats=stats, min_running=min_running, feature_set=feature_set)
    if machine_id in matrices:
        return matrices[machine_id]
    return pl.DataFrame(schema={"window_start": pl.Datetime("us", "UTC"), "window_end": pl.Datetime("us", "UTC")})


def healthy_mask(
    windows: pl.DataFrame,
    events: pl.DataFrame,
    machine_id: str,
    *,
    before_failure: timedelta = timedelta(days=7),
    after_repair: timedelta = timedelta(days=1),
) -> pl.Series:
    """True for the windows (``window_start``, ``window_end``) fit to learn normal behaviour from.

    Left out: from ``before_failure`` ahead of each failure until ``after_repair`` past the repair
    that followed it (or past the failure, if no repair is logged), and windows overlapping a
    maintenance event's day.
    """
    own = events.filter(pl.col("machine_id") == machine_id).sort("ts")
    excluded: list[tuple[object, object]] = []
    failures = own.filter(pl.col("kind") == "failure").get_column("ts").to_list()
    repairs = own.filter(pl.col("kind") == "repair").get_column("ts").to_list()
    for failure in failures:
        repair = next((r for r in repairs if r >= failure), failure)
        excluded.append((failure - before_failure, repair + after_repair))
    for when in own.filter(pl.col("kind") == "maintenance").get_column("ts").to_list():
        excluded.append((when - timedelta(hours=12), when + timedelta(hours=12)))
    keep = pl.Series("healthy", [True] * windows.height)
    if not excluded or windows.height == 0:
        return keep
    frame = windows.select("window_start", "window_end")
    bad = pl.lit(False)
    for start, end in excluded:
        bad = bad | ((pl.col("window_end") > start) & (pl.col("window_start") < end))
    return frame.select((~bad).alias("healthy")).to_series()
