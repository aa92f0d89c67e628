"""From one factory's readings to window features, one local date at a time.

Stages (each a small function, timed by :func:`compute_features`):

1. ``read``: one local-date partition of the readings, sorted by (machine, sensor, ts) — the
   lake's order, so the sort is skipped when the partition is one file;
2. ``state``: each machine's operating state from its load sensor (:mod:`.state`), assigned to
   every sample by an as-of merge;
3. ``windows``: per sensor and window, statistics over running samples (:mod:`.kernels`);
4. ``machine``: per machine and window, the state shares and cross-sensor physics;
5. ``context``: trailing-horizon statistics and their deviation (needs earlier windows), and
   event context (time since maintenance and failure, alarms).

Windows of 10 min and 1 h are aligned to the factory's standard-time clock (so to whole local
hours, DST or not, and always of their nominal length); daily windows are local calendar days
(23 or 25 hours on DST changes). Every window lies inside one local date, which is why a date
can be computed alone.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import polars as pl

from analytics.features.featureset import FeatureSet
from analytics.features.kernels import STAT_COLUMNS, as_of_state, window_statistics
from analytics.features.state import IDLE, OFF, RUNNING, StateRule
from analytics.schemas import TS_DTYPE, parse_duration_seconds

log = logging.getLogger(__name__)

DAY_WIDTH_US = 10**15  # wider than any partition: one window per local date
MACHINE_KEY = ("machine_id", "window_start")


@dataclass
class StageTimes:
    """Seconds spent per stage, summed over partitions and the threads that run them (for
    benchmarks and logs: which stage is the slowest)."""

    seconds: dict[str, float] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, stage: str, started: float) -> None:
        elapsed = time.perf_counter() - started
        with self._lock:
            self.seconds[stage] = self.seconds.get(stage, 0.0) + elapsed


@dataclass(frozen=True)
class WindowGrid:
    """Where the windows of one local date fall: ``window_id = (ts_us + offset) // width``."""

    window: str
    width_us: int
    offset_us: int
    day_start: datetime
    day_end: datetime

    @property
    def daily(self) -> bool:
        return self.width_us == DAY_WIDTH_US

    def starts(self, window_ids: pl.Expr) -> pl.Expr:
        """UTC start of each window id."""
        if self.daily:
            return pl.lit(self.day_start).cast(TS_DTYPE)
        return pl.from_epoch(window_ids * self.width_us - self.offset_us, time_unit="us").dt.replace_time_zone("UTC")

    def length_s(self) -> float:
        return (self.day_end - self.day_start).total_seconds() if self.daily else self.width_us / 1e6


def window_grid(feature_set: FeatureSet, window: str, day: date, tz: str) -> WindowGrid:
    zone = ZoneInfo(tz)
    start = datetime.combine(day, datetime.min.time(), zone).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=1), datetime.min.time(), zone).astimezone(UTC)
    seconds = feature_set.window_seconds(window)
    if seconds >= 86400:
        if seconds != 86400:
            raise ValueError("windows longer than a day are not supported; use 1d")
        return WindowGrid(window, DAY_WIDTH_US, -int(start.timestamp() * 1e6), start, end)
    if 86400 % seconds:
        raise ValueError(f"window {window} does not divide a day")
    noon = datetime.combine(day, datetime.min.time()).replace(hour=12, tzinfo=zone)
    standard = (noon.utcoffset() or timedelta(0)) - (noon.dst() or timedelta(0))
    return WindowGrid(window, int(seconds * 1e6), int(standard.total_seconds() * 1e6), start, end)


# --- stage 1: read --------------------------------------------------------------------------------
@dataclass(frozen=True)
class SortedReadings:
    """A partition's readings as contiguous (machine, sensor) series, each sorted by time."""

    frame: pl.DataFrame  # machine_id, sensor, ts, value
    series: pl.DataFrame  # machine_id, sensor, start, length: one row per series
    ts_us: np.ndarray  # int64 µs of every sample
    bounds: np.ndarray  # start of each series, then the number of samples

    def lengths(self) -> np.ndarray:
        return np.diff(self.bounds)


def _series(frame: pl.DataFrame) -> tuple[pl.DataFrame, np.ndarray]:
    change = (pl.col("machine_id") != pl.col("machine_id").shift()) | (pl.col("sensor") != pl.col("sensor").shift())
    starts = frame.select(change.fill_null(True).arg_true().alias("start")).get_column("start")
    bounds = np.r_[starts.to_numpy(), frame.height].astype(np.int64)
    series = frame.select("machine_id", "sensor")[starts].with_columns(start=starts.cast(pl.Int64), length=pl.Series(np.diff(bounds)))
    return series, bounds


def sorted_readings(frame: pl.DataFrame) -> SortedReadings:
    """The readings as sorted series; the sort is skipped when they already are (the lake's order:
    each file is sorted by machine, sensor and time)."""
    frame = frame.select("machine_id", "sensor", "ts", "value")
    if frame.height:
        series, bounds = _series(frame)
        ts = frame.get_column("ts").dt.epoch("us").to_numpy()
        rising = np.diff(ts) > 0
        rising[bounds[1:-1] - 1] = True  # a new series may start at any time
        if rising.all() and series.select(pl.struct("machine_id", "sensor").is_unique().all()).item():
            return SortedReadings(frame, series, ts, bounds)
        frame = frame.sort("machine_id", "sensor", "ts")
    series, bounds = _series(frame)
    return SortedReadings(frame, series, frame.get_column("ts").dt.epoch("us").to_numpy(), bounds)


# --- stage 2: state -------------------------------------------------------------------------------
@dataclass(frozen=True)
class SampleState:
    state: np.ndarray  # per sample: OFF, IDLE, RUNNING or -1 (unknown)
    use: np.ndarray  # per sample: counts for the health statistics
    load: pl.DataFrame  # the load sensors' samples: machine_id, ts (µs), state


def rules_table(rules: dict[str, StateRule], sensors: pl.DataFrame) -> pl.DataFrame:
    """The rules as a frame (``machine_pos`` = position in machine order), with each machine's
    as-of tolerance: a load sample stands for the state until two of its intervals have passed."""
    table = pl.DataFrame(
        [(r.machine_id, r.sensor, r.off_below, r.run_above) for r in sorted(rules.values(), key=lambda r: r.machine_id)],
        schema={"machine_id": pl.String, "sensor": pl.String, "off_below": pl.Float64, "run_above": pl.Float64},
        orient="row",
    ).with_row_index("machine_pos")
    intervals = sensors.select("machine_id", "sensor", "interval_s")
    return table.join(intervals, on=["machine_id", "sensor"], how="left", maintain_order="left").with_columns(
        (2 * pl.col("interval_s").fill_null(60.0) * 1e6).cast(pl.Int64).alias("tolerance_us")
    ).drop("interval_s")


def sample_state(data: SortedReadings, table: pl.DataFrame, prior: pl.DataFrame | None = None, since_us: int | None = None) -> SampleState:
    """Each sample's operating state: the state of its machine's load sensor at that time (as of
    the latest load sample no older than the machine's tolerance; see :func:`rules_table`).

    ``prior`` holds load samples from just before the partition (``machine_id, sensor, ts,
    value``), so the first samples of a date have a state too; only samples from ``since_us`` on
    are returned in ``load``. Samples count for health statistics while running; on machines
    without a rule (no load sensor) every sample counts; while a ruled machine's state is unknown
    (its load sensor silent), none does.
    """
    series = data.series.with_row_index("k")
    load_series = series.join(table, on=["machine_id", "sensor"], how="inner").sort("machine_pos")
    values = data.frame.get_column("value").to_numpy()
    starts, lengths = load_series.get_column("start").to_numpy(), load_series.get_column("length").to_numpy()
    index = np.concatenate([np.arange(a, a + n) for a, n in zip(starts, lengths, strict=True)]) if len(starts) else np.zeros(0, np.int64)
    load = pl.DataFrame(
        {"machine_pos": np.repeat(load_series.get_column("machine_pos").to_numpy(), lengths).astype(np.uint32), "ts": data.ts_us[index], "value": values[index]},
        schema={"machine_pos": pl.UInt32, "ts": pl.Int64, "value": pl.Float64},
    )
    if prior is not None and prior.height:
        earlier = prior.join(table.select("machine_id", "sensor", "machine_pos"), on=["machine_id", "sensor"], how="inner").select(
            "machine_pos", pl.col("ts").dt.epoch("us").alias("ts"), "value"
        )
        load = pl.concat([earlier, load]).sort("machine_pos", "ts", maintain_order=True)
    load = load.join(table.select("machine_pos", "off_below", "run_above"), on="machine_pos", how="left", maintain_order="left").with_columns(
        pl.when(pl.col("value") >= pl.col("run_above")).then(pl.lit(RUNNING, pl.Int8))
        .when(pl.col("value") >= pl.col("off_below")).then(pl.lit(IDLE, pl.Int8))
        .otherwise(pl.lit(OFF, pl.Int8))
        .alias("state")
    )
    per_machine = np.bincount(load.get_column("machine_pos").to_numpy(), minlength=table.height)
    machine_bounds = np.r_[0, np.cumsum(per_machine)].astype(np.int64)
    series_machine = series.join(table.select("machine_id", "machine_pos"), on="machine_id", how="left").sort("k").get_column("machine_pos").fill_null(-1).to_numpy().astype(np.int64)
    state = as_of_state(
        data.ts_us, data.bounds, series_machine, load.get_column("ts").to_numpy(), load.get_column("state").to_numpy(),
        machine_bounds, table.get_column("tolerance_us").to_numpy().astype(np.int64),
    )
    ruled = np.repeat(series_machine >= 0, data.lengths())
    use = np.where(ruled, state == RUNNING, True)
    if since_us is not None:
        load = load.filter(pl.col("ts") >= since_us)
    names = table.get_column("machine_id")
    load = pl.DataFrame({"machine_id": names.gather(load.get_column("machine_pos")), "ts": load.get_column("ts"), "state": load.get_column("state")})
    return SampleState(state, use, load)


# --- stage 3: windows -----------------------------------------------------------------------------
def sensor_windows(data: SortedReadings, use: np.ndarray, grid: WindowGrid) -> pl.DataFrame:
    """Statistics per (machine, sensor, window) over the samples marked ``use``."""
    stats, which, window_id = window_statistics(
        data.ts_us,
        data.frame.get_column("value").to_numpy(),
        use.astype(np.bool_),
        data.bounds,
        np.int64(grid.width_us),
        np.int64(grid.offset_us),
    )
    # The kernel marks "no value" as NaN; the tables use null (NaN would poison later means).
    out = pl.DataFrame({name: stats[:, i] for i, name in enumerate(STAT_COLUMNS)}).fill_nan(None)
    keys = data.series.select("machine_id", "sensor")[pl.Series(which)]
    return pl.concat([keys, out], how="horizontal").with_columns(
        grid.starts(pl.Series("w", window_id)).alias("window_start"),
        pl.col("n").cast(pl.Int64),
        pl.col("n_used").cast(pl.Int64),
    )


def finish_sensor_features(windows: pl.DataFrame, grid: WindowGrid, intervals: pl.DataFrame, vibration: pl.DataFrame) -> pl.DataFrame:
    """Expected samples, share missing, crest factor; vibration-only statistics kept for vibration sensors."""
    length_s = grid.length_s()
    out = windows.join(intervals, on=["machine_id", "sensor"], how="left").join(vibration, on=["machine_id", "sensor"], how="left")
    expected = (pl.lit(length_s) / pl.col("interval_s")).floor()
    vib = pl.col("vibration").fill_null(False)
    out = out.with_columns(
        pl.max_horizontal(pl.lit(0.0), 1 - pl.col("n") / expected).alias("share_missing"),
        pl.when(vib & (pl.col("rms") > 0)).then(pl.col("peak") / pl.col("rms")).alias("crest"),
        *[pl.when(vib).then(pl.col(c)).alias(c) for c in ("rms", "peak", "kurtosis")],
        (pl.col("window_start") + pl.duration(seconds=length_s)).alias("window_end") if not grid.daily else pl.lit(grid.day_end).cast(TS_DTYPE).alias("window_end"),
    )
    return out.drop("interval_s", "vibration")


# --- stage 4: machine -----------------------------------------------------------------------------
def machine_windows(load: pl.DataFrame, grid: WindowGrid) -> pl.DataFrame:
    """Per machine and window: shares of off, idle and running among the load sensor's samples."""
    window_id = (pl.col("ts") + grid.offset_us) // grid.width_us
    return (
        load.group_by("machine_id", window_id.alias("w"))
        .agg(
            (pl.col("state") == RUNNING).mean().alias("share_running"),
            (pl.col("state") == IDLE).mean().alias("share_idle"),
            (pl.col("state") == OFF).mean().alias("share_off"),
        )
        .with_columns(grid.starts(pl.col("w")).alias("window_start"))
        .drop("w")
    )


def cross_features(sensor: pl.DataFrame, feature_set: FeatureSet) -> pl.DataFrame:
    """Machine-level physics from the window means of two sensors, where a machine has both."""
    needed = sorted({c.left for c in feature_set.cross} | {c.right for c in feature_set.cross})
    means = sensor.filter(pl.col("sensor").is_in(needed)).pivot(on="sensor", index=["machine_id", "window_start"], values="mean")
    exprs = []
    for c in feature_set.cross:
        if c.left in means.columns and c.right in means.columns:
            left, right = pl.col(c.left), pl.col(c.right)
            value = pl.when(right != 0).then(left / right) if c.kind == "ratio" else left - right
            exprs.append(value.alias(c.name))
        else:
            exprs.append(pl.lit(None, pl.Float64).alias(c.name))
    return means.select("machine_id", "window_start", *exprs)


@dataclass(frozen=True)
class PartitionFeatures:
    day: date
    sensor: pl.DataFrame
    machine: pl.DataFrame
    source: str | None = None  # fingerprint of the readings it was computed from


def partition_features(
    frame: pl.DataFrame,
    day: date,
    tz: str,
    window: str,
    feature_set: FeatureSet,
    rules: dict[str, StateRule],
    sensors: pl.DataFrame,
    times: StageTimes,
    prior: pl.DataFrame | None = None,
) -> PartitionFeatures:
    """Window features of one local date from its readings (``machine_id, sensor, ts, value``).

    ``sensors`` describes the factory's sensors: ``machine_id, sensor, unit, interval_s``;
    ``prior`` the load sensors' last samples of the previous date (see :func:`sample_state`).
    """
    grid = window_grid(feature_set, window, day, tz)
    started = time.perf_counter()
    data = sorted_readings(frame)
    times.add("sort", started)
    started = time.perf_counter()
    state = sample_state(data, rules_table(rules, sensors), prior, int(grid.day_start.timestamp() * 1e6))
    times.add("state", started)
    started = time.perf_counter()
    windows = sensor_windows(data, state.use, grid)
    times.add("windows", started)
    started = time.perf_counter()
    intervals = sensors.select("machine_id", "sensor", "interval_s")
    vibration = sensors.select("machine_id", "sensor", pl.col("unit").is_in(list(feature_set.vibration_units)).alias("vibration"))
    sensor_table = finish_sensor_features(windows, grid, intervals, vibration)
    # Every machine that sent anything in a window has a row, with or without a load sensor.
    present = sensor_table.select("machine_id", "window_start", "window_end").unique()
    machine = (
        present.join(machine_windows(state.load, grid), on=["machine_id", "window_start"], how="left")
        .join(cross_features(sensor_table, feature_set), on=["machine_id", "window_start"], how="left")
        .sort("machine_id", "window_start")
    )
    times.add("machine", started)
    return PartitionFeatures(day, sensor_table, machine)


# --- stage 5: context -----------------------------------------------------------------------------
def trailing_context(sensor: pl.DataFrame, grid_width_s: float, horizons: Iterable[str], daily: bool, tz: str) -> pl.DataFrame:
    """Trailing statistics over each horizon before every window, from the windows' own sums,
    and the deviation of the window mean from them (``z_<h>``).

    Windows tile time, so sums over the windows of a horizon are sums over its samples: the
    trailing mean and standard deviation are exact, not averages of averages.
    """
    n = pl.col("n_used").cast(pl.Float64)
    s1 = (pl.col("mean") * n).fill_null(0.0)
    s2 = ((pl.col("std").fill_null(0.0) ** 2) * (n - 1).clip(lower_bound=0) + pl.col("mean") ** 2 * n).fill_null(0.0)
    # Integer index of each window on its grid: consecutive windows differ by 1, whatever the gaps.
    if daily:  # local calendar days: days since the epoch of the window's local date
        index = pl.col("window_start").dt.convert_time_zone(tz).dt.date().cast(pl.Int32).cast(pl.Int64)
    else:
        index = pl.col("window_start").dt.epoch("s") // int(grid_width_s)
    frame = sensor.sort("machine_id", "sensor", "window_start").with_columns(index.alias("__i"), n.alias("__n"), s1.alias("__s1"), s2.alias("__s2"))
    # One sorted index over all series, each series shifted far past the previous one's end, so
    # a rolling window never reaches into another series: one pass per statistic instead of a
    # rolling window per group.
    series_no = ((pl.col("machine_id") != pl.col("machine_id").shift()) | (pl.col("sensor") != pl.col("sensor").shift())).fill_null(True).cum_sum()
    span = frame.select((pl.col("__i").max() - pl.col("__i").min() + 1).fill_null(1)).item()
    longest = max((round(parse_duration_seconds(h) / (86400 if daily else grid_width_s)) for h in horizons), default=1)
    frame = frame.with_columns((series_no.cast(pl.Int64) * (span + longest + 1) + pl.col("__i") - pl.col("__i").min()).alias("__g"))
    exprs = []
    for horizon in horizons:
        size = max(1, round(parse_duration_seconds(horizon) / (86400 if daily else grid_width_s)))
        spec = {"window_size": f"{size}i", "closed": "left"}
        total_n = pl.col("__n").rolling_sum_by("__g", **spec)
        total_s1 = pl.col("__s1").rolling_sum_by("__g", **spec)
        total_s2 = pl.col("__s2").rolling_sum_by("__g", **spec)
        mean = pl.when(total_n > 0).then(total_s1 / total_n)
        var = pl.when(total_n > 1).then(((total_s2 - total_s1**2 / total_n) / (total_n - 1)).clip(lower_bound=0.0))
        exprs += [
            mean.alias(f"mean_{horizon}"),
            var.sqrt().alias(f"std_{horizon}"),
            pl.col("min").rolling_min_by("__g", **spec).alias(f"min_{horizon}"),
            pl.col("max").rolling_max_by("__g", **spec).alias(f"max_{horizon}"),
        ]
    frame = frame.with_columns(exprs)
    frame = frame.with_columns(
        [
            pl.when(pl.col(f"std_{h}") > 0).then((pl.col("mean") - pl.col(f"mean_{h}")) / pl.col(f"std_{h}")).alias(f"z_{h}")
            for h in horizons
        ]
    )
    return frame.drop("__i", "__g", "__n", "__s1", "__s2")


def event_context(machine: pl.DataFrame, events: pl.DataFrame) -> pl.DataFrame:
    """Hours since the last maintenance (or repair) and failure before each window's end, and the
    alarms inside the window. Only events before the window's end are used."""
    ev = events.select("machine_id", "ts", "kind").sort("ts")
    out = machine.sort("window_end")
    for name, kinds in (("hours_since_maintenance", ["maintenance", "repair"]), ("hours_since_failure", ["failure"])):
        past = ev.filter(pl.col("kind").is_in(kinds)).select("machine_id", pl.col("ts").alias(f"__{name}"))
        out = out.join_asof(past, left_on="window_end", right_on=f"__{name}", by="machine_id", strategy="backward", allow_exact_matches=False, check_sortedness=False)
        out = out.with_columns(((pl.col("window_end") - pl.col(f"__{name}")).dt.total_seconds() / 3600).alias(name)).drop(f"__{name}")
    alarms = ev.filter(pl.col("kind") == "alarm")
    counts = (
        out.select("machine_id", "window_start", "window_end")
        .join(alarms, on="machine_id", how="inner")
        .filter((pl.col("ts") >= pl.col("window_start")) & (pl.col("ts") < pl.col("window_end")))
        .group_by("machine_id", "window_start")
        .agg(pl.len().cast(pl.Int64).alias("alarms"))
    )
    out = out.join(counts, on=["machine_id", "window_start"], how="left").with_columns(pl.col("alarms").fill_null(0))
    return out.sort("machine_id", "window_start")
