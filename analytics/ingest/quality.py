"""The data-quality report of an ingest, per sensor.

Counts come from the validation of every chunk; gaps and flat-lined stretches from the valid rows
of the file (sorted per sensor); days of history from the lake after the commit.

Definitions (stated here so a dashboard can explain them):
- *expected*: samples the nominal interval implies between the sensor's first and last valid
  timestamp in the file; *missing* = expected minus distinct valid timestamps received (empty
  cells of a wide file count as missing, not invalid);
- *gap*: two consecutive valid samples further apart than 1.5 nominal intervals (the half interval
  absorbs logger jitter);
- *flat-lined stretch*: at least ``flatline_min_samples`` consecutive identical values;
- *enough history*: at least ``min_training_days`` local days with data in the lake.
"""

from __future__ import annotations

from datetime import datetime

import polars as pl

from analytics.ingest.validate import INVALID_PREFIXES, MACHINE, REASON, SENSOR, SID
from analytics.schemas import QUALITY_SCHEMA
from analytics.store.hub import Hub

GAP_FACTOR = 1.5
_KEY = [MACHINE, SENSOR]
_COUNTS = ["received", "accepted", "duplicate", "quarantined", "invalid", "blank", "distinct_ts", "gaps", "flatline_stretches"]
_PARTS_SCHEMA: dict[str, pl.DataType] = {
    MACHINE: pl.String(),
    SENSOR: pl.String(),
    **{name: pl.Int64() for name in _COUNTS},
    **{name: pl.Float64() for name in ("longest_gap_s", "longest_flatline_s", "interval_s")},
    **{name: pl.Datetime("us", "UTC") for name in ("first_ts", "last_ts")},
}
# "received" = valid distinct + exact repeats + conflicts + failed rows (blank wide cells apart).


class QualityAccumulator:
    """Sums per-sensor counts over the chunks of one file.

    ``sensors`` is the ingest's :func:`~analytics.ingest.validate.sensor_table`; valid rows are keyed
    by its integer id, failing rows (which may name unknown machines) by their raw names.
    """

    def __init__(self, sensors: pl.DataFrame, tz: str, flatline_min_samples: int = 30) -> None:
        self.sensors = sensors
        self.tz = tz
        self.flatline_min_samples = flatline_min_samples
        self.by_sid: list[pl.DataFrame] = []
        self.by_name: list[pl.DataFrame] = []
        self.days: list[pl.DataFrame] = []

    def add_blank(self, blank_cells: pl.DataFrame) -> None:
        if blank_cells.height:
            self.by_name.append(blank_cells.with_columns(pl.col(_KEY).cast(pl.String), pl.col("blank").cast(pl.Int64)))

    def add_chunk(self, distinct: pl.DataFrame, new: pl.DataFrame, dup: pl.DataFrame, bad: pl.DataFrame, conflicts: pl.DataFrame) -> None:
        """Count one chunk: ``distinct`` valid rows sorted by (sid, ts), of which ``new`` were stored;
        ``dup`` exact repeats; ``bad`` failed validation; ``conflicts`` repeated a key with another value."""
        invalid = pl.any_horizontal([pl.col(REASON).str.starts_with(p) for p in INVALID_PREFIXES])
        self.by_name.append(
            bad.with_columns(pl.col(_KEY).cast(pl.String)).group_by(_KEY).agg(
                pl.len().cast(pl.Int64).alias("quarantined"),
                pl.len().cast(pl.Int64).alias("received"),
                invalid.sum().cast(pl.Int64).alias("invalid"),
            )
        )
        hours = distinct.select(SID, pl.col("ts").dt.truncate("15m")).unique()
        self.days.append(
            hours.select(SID, pl.col("ts").dt.convert_time_zone(self.tz).dt.date().cast(pl.String).alias("day")).unique()
        )
        self.by_sid.extend(
            [
                conflicts.group_by(SID).agg(pl.len().cast(pl.Int64).alias("quarantined"), pl.len().cast(pl.Int64).alias("received")),
                new.with_columns(pl.col(SID).set_sorted()).group_by(SID).agg(pl.len().cast(pl.Int64).alias("accepted")),
                dup.group_by(SID).agg(pl.len().cast(pl.Int64).alias("duplicate"), pl.len().cast(pl.Int64).alias("received")),
                self._series_stats(distinct),
            ]
        )

    def _series_stats(self, distinct: pl.DataFrame) -> pl.DataFrame:
        data = distinct.select(
            SID,
            "ts",
            "value",
            pl.col(SID).replace_strict(self.sensors.get_column(SID), self.sensors.get_column("interval_s"), return_dtype=pl.Float64).alias("interval_s"),
        )
        same_series = pl.col(SID) == pl.col(SID).shift()
        step_s = (pl.col("ts") - pl.col("ts").shift()).dt.total_microseconds() / 1e6
        data = data.with_columns(
            pl.when(same_series).then(step_s).otherwise(None).alias("__step"),
            (same_series & (pl.col("value") == pl.col("value").shift())).fill_null(False).alias("__same"),
        )
        # Rows are sorted by (sid, ts), so sid and the run number are sorted too: telling Polars so
        # lets its group-bys take the sorted fast path (several times faster).
        data = data.with_columns((~pl.col("__same")).cum_sum().alias("__run").set_sorted(), pl.col(SID).set_sorted())
        is_gap = pl.col("__step") > GAP_FACTOR * pl.col("interval_s")
        per_series = data.group_by(SID).agg(
            pl.len().cast(pl.Int64).alias("distinct_ts"),
            pl.len().cast(pl.Int64).alias("received"),
            pl.col("ts").min().alias("first_ts"),
            pl.col("ts").max().alias("last_ts"),
            is_gap.sum().cast(pl.Int64).alias("gaps"),
            pl.col("__step").filter(is_gap).max().alias("longest_gap_s"),
        )
        runs = (
            data.filter(pl.col("__same"))
            .group_by("__run")  # a run never spans two sensors: __same is false at every sensor's start
            .agg(pl.col(SID).first(), (pl.len() + 1).alias("n"), pl.col("__step").sum().alias("dur"))
            .filter(pl.col("n") >= self.flatline_min_samples)
            .group_by(SID)
            .agg(pl.len().cast(pl.Int64).alias("flatline_stretches"), pl.col("dur").max().alias("longest_flatline_s"))
        )
        return per_series.join(runs, on=SID, how="left")

    def report(self, hub: Hub, factory_id: str, ingest_id: str, source: str, now: datetime, min_days: int) -> pl.DataFrame:
        names = self.sensors.select(SID, pl.col("machine_id").alias(MACHINE), pl.col("sensor").alias(SENSOR), "interval_s")
        parts = [f.join(names, on=SID, how="left").drop(SID) for f in self.by_sid if f.height]
        parts += [f for f in self.by_name if f.height]
        if not parts:
            return pl.DataFrame(schema=QUALITY_SCHEMA)
        # An empty frame of every column first, so columns no chunk produced exist (as nulls).
        merged = pl.concat([pl.DataFrame(schema=_PARTS_SCHEMA), *parts], how="diagonal_relaxed")
        agg = merged.group_by(_KEY).agg(
            *[pl.col(c).fill_null(0).sum() for c in _COUNTS],
            pl.col("first_ts").min(),
            pl.col("last_ts").max(),
            pl.col("longest_gap_s").max(),
            pl.col("longest_flatline_s").max(),
            pl.col("interval_s").max(),
        )
        span_s = (pl.col("last_ts") - pl.col("first_ts")).dt.total_microseconds() / 1e6
        expected = (
            pl.when(pl.col("interval_s").is_not_null() & pl.col("first_ts").is_not_null())
            .then((span_s / pl.col("interval_s")).floor() + 1)
            .otherwise(pl.col("distinct_ts"))
            .fill_null(0)
            .cast(pl.Int64)
        )
        agg = agg.with_columns(pl.max_horizontal(expected, pl.col("distinct_ts") + pl.col("blank")).alias("expected"))
        agg = agg.with_columns((pl.col("expected") - pl.col("distinct_ts")).clip(lower_bound=0).alias("missing"))
        total = pl.col("received") + pl.col("blank")
        if self.days:
            days = pl.concat(self.days).unique().with_columns(
                pl.col(SID).replace_strict(self.sensors.get_column(SID), self.sensors.get_column("machine_id"), return_dtype=pl.String).alias("m"),
                pl.col(SID).replace_strict(self.sensors.get_column(SID), self.sensors.get_column("sensor"), return_dtype=pl.String).alias("s"),
            )
            hub.registry.add_sensor_days(factory_id, days.select("m", "s", "day").rows())
        history = _history_days(hub, factory_id)
        report = agg.join(history, on=_KEY, how="left", nulls_equal=True).select(
            pl.lit(factory_id).alias("factory_id"),
            pl.lit(ingest_id).alias("ingest_id"),
            pl.lit(source).alias("source_file"),
            pl.lit(now).cast(pl.Datetime("us", "UTC")).alias("reported_at"),
            pl.col(MACHINE).alias("machine_id"),
            pl.col(SENSOR).alias("sensor"),
            "first_ts",
            "last_ts",
            "received",
            "accepted",
            "duplicate",
            "quarantined",
            "invalid",
            "missing",
            "expected",
            _share(pl.col("missing"), pl.col("expected")).alias("share_missing"),
            _share(pl.col("invalid"), total).alias("share_invalid"),
            _share(pl.col("duplicate"), total).alias("share_duplicate"),
            _share(pl.col("quarantined"), total).alias("share_quarantined"),
            pl.col("gaps"),
            pl.col("longest_gap_s"),
            pl.col("flatline_stretches"),
            pl.col("longest_flatline_s"),
            pl.col("history_days").fill_null(0).cast(pl.Int64),
            (pl.col("history_days").fill_null(0) >= min_days).alias("enough_history"),
        )
        return report.cast(QUALITY_SCHEMA).sort("machine_id", "sensor", nulls_last=True)


def _share(part: pl.Expr, whole: pl.Expr) -> pl.Expr:
    return pl.when(whole > 0).then(part.cast(pl.Float64) / whole).otherwise(0.0)


def _history_days(hub: Hub, factory_id: str) -> pl.DataFrame:
    """Local days with data per (machine, sensor), as recorded by every ingest so far."""
    return pl.DataFrame(
        hub.registry.history_days(factory_id),
        schema={MACHINE: pl.String, SENSOR: pl.String, "history_days": pl.Int64},
        orient="row",
    )
