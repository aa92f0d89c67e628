"""Building and updating a factory's stored features (the entry points of the feature layer).

:func:`build_features` computes the windows of the given local dates from the lake, then the
trailing context and event context, and stores them. It is incremental: a daily run passes the
new date(s) and reads only those partitions plus the stored features of the look-back the
trailing horizons need; stored dates that follow a recomputed date within a trailing horizon are
refreshed too (their context changed). The result is the same as a full recompute (tested).
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import polars as pl

from analytics.features.featureset import MACHINE_HEALTH, FeatureSet
from analytics.features.pipeline import (
    MACHINE_KEY,
    PartitionFeatures,
    StageTimes,
    event_context,
    partition_features,
    rules_table,
    trailing_context,
    window_grid,
)
from analytics.features.state import StateRule, fit_state_rule, load_sensor
from analytics.features.store import FeatureStore, readings_fingerprint
from analytics.schemas import TS_DTYPE, parse_duration_seconds
from analytics.store.hub import Hub
from analytics.store.reader import FactoryReader

log = logging.getLogger(__name__)

_EVENT_COLUMNS = ("hours_since_maintenance", "hours_since_failure", "alarms")


@dataclass
class FeatureRun:
    factory_id: str
    window: str
    computed: list[date] = field(default_factory=list)  # dates whose windows were computed from readings
    refreshed: list[date] = field(default_factory=list)  # later stored dates whose context was updated
    sensor_rows: int = 0
    machine_rows: int = 0
    readings: int = 0
    times: StageTimes = field(default_factory=StageTimes)


def sensor_catalog(hub: Hub, factory_id: str) -> pl.DataFrame:
    """The factory's sensors: machine_id, sensor, unit, interval_s."""
    rows = [(s.machine_id, s.sensor, s.unit, float(s.interval_s)) for s in hub.registry.sensors(factory_id)]
    return pl.DataFrame(rows, schema={"machine_id": pl.String, "sensor": pl.String, "unit": pl.String, "interval_s": pl.Float64}, orient="row")


def fit_state_rules(hub: Hub, factory_id: str, *, days: int | None = None, refit: bool = False) -> dict[str, StateRule]:
    """Operating-state rules of every machine with a load sensor, fitted on the factory's first
    ``days`` local days of history (default: the settings' minimum training days). Existing rules
    are kept unless ``refit``; the rules are stored with the features."""
    store = FeatureStore(hub, factory_id)
    reader = FactoryReader(hub, factory_id)
    rules = {} if refit else store.rules()
    days = days or hub.settings.min_training_days
    catalog = sensor_catalog(hub, factory_id)
    pairs = [
        (machine, sensor)
        for machine in catalog.get_column("machine_id").unique().sort().to_list()
        if machine not in rules and (sensor := load_sensor(catalog.filter(pl.col("machine_id") == machine))) is not None
    ]
    history_dates = reader.dates("readings")
    if not pairs or not history_dates:
        return rules
    zone = ZoneInfo(reader.factory.timezone)
    first = datetime.combine(history_dates[0], datetime.min.time(), zone)
    wanted = pl.DataFrame(pairs, schema=["machine_id", "sensor"], orient="row")
    # One scan of the first days' partitions for every machine's load sensor.
    history = (
        reader.readings(start=first, end=first + timedelta(days=days), sensors=wanted.get_column("sensor").unique().to_list())
        .join(wanted.lazy(), on=["machine_id", "sensor"], how="semi")
        .select("machine_id", "ts", "value")
        .collect()
    )
    for (machine,), part in history.partition_by("machine_id", as_dict=True).items():
        sensor = dict(pairs)[machine]
        rules[machine] = fit_state_rule(machine, sensor, part.get_column("value").to_numpy(), part.get_column("ts").min().isoformat(), part.get_column("ts").max().isoformat())
        log.info("%s/%s: state from %s, off < %.3g, running >= %.3g", factory_id, machine, sensor, rules[machine].off_below, rules[machine].run_above)
    store.save_rules(rules)
    return rules


def _lookback_days(feature_set: FeatureSet) -> int:
    """Local dates a trailing horizon can reach back: one more than its length in days, since
    7 x 24 h before a local midnight lies in the 8th date before when a DST change shortened one."""
    return max((math.ceil(parse_duration_seconds(h) / 86400) + 1 for h in feature_set.trailing), default=0)


def _raw(frame: pl.DataFrame, feature_set: FeatureSet) -> pl.DataFrame:
    """A stored sensor table without its trailing columns (which are recomputed)."""
    trailing = {f"{stat}_{h}" for h in feature_set.trailing for stat in ("mean", "std", "min", "max", "z")}
    return frame.drop([c for c in frame.columns if c in trailing])


def build_features(
    hub: Hub,
    factory_id: str,
    dates: Iterable[date] | None = None,
    *,
    window: str = "1h",
    feature_set: FeatureSet = MACHINE_HEALTH,
    progress: Callable[[date], None] | None = None,
) -> FeatureRun:
    """Compute and store the features of local ``dates`` (default: every date with readings)."""
    reader = FactoryReader(hub, factory_id)
    store = FeatureStore(hub, factory_id)
    tz = reader.factory.timezone
    run = FeatureRun(reader.factory_id, window)
    wanted = sorted(set(dates) if dates is not None else reader.dates("readings"))
    started = time.perf_counter()
    rules = fit_state_rules(hub, factory_id)
    catalog = sensor_catalog(hub, factory_id)
    run.times.add("state_rules", started)

    table = rules_table(rules, catalog)
    load_pairs = table.select("machine_id", "sensor")
    longest_tolerance = timedelta(microseconds=int(table.get_column("tolerance_us").max() or 0))

    # The load sensors' last samples of the previous date give a date's first minutes their
    # state. A date of this run hands them to the next as soon as it has read its partition
    # (dates are started in order, so the previous one is always under way); only the first date
    # of a run reads them from the lake.
    tails: dict[date, Future[pl.DataFrame | None]] = {day: Future() for day in wanted}

    def tail_of(frame: pl.DataFrame, day: date) -> pl.DataFrame | None:
        end = datetime.combine(day + timedelta(days=1), datetime.min.time(), ZoneInfo(tz)).astimezone(UTC)
        return frame.filter(pl.col("ts") >= end - longest_tolerance).join(load_pairs, on=["machine_id", "sensor"], how="semi")

    def prior_of(day: date) -> pl.DataFrame | None:
        previous = day - timedelta(days=1)
        if previous in tails:
            return tails[previous].result()
        before, files = reader.partition("readings", previous)
        return tail_of(before.select("machine_id", "sensor", "ts", "value").collect(), previous) if files else None

    def one_date(day: date) -> tuple[int, PartitionFeatures | None]:
        started = time.perf_counter()
        try:
            lazy, files = reader.partition("readings", day)
            frame = lazy.select("machine_id", "sensor", "ts", "value").collect()
        except BaseException as exc:
            tails[day].set_exception(exc)
            raise
        tails[day].set_result(tail_of(frame, day))
        prior = prior_of(day) if frame.height else None
        run.times.add("read", started)
        features = partition_features(frame, day, tz, window, feature_set, rules, catalog, run.times, prior) if frame.height else None
        if features is not None:
            features = dataclasses.replace(features, source=readings_fingerprint(files))
        return frame.height, features

    # Dates on parallel threads: Polars and the compiled kernels release the GIL, and a date at
    # a time per thread bounds memory to a few partitions whatever the range.
    computed: dict[date, PartitionFeatures] = {}
    with ThreadPoolExecutor(max_workers=max(1, min(len(wanted), os.cpu_count() or 1)), thread_name_prefix="features") as pool:
        for day, (readings, features) in zip(wanted, pool.map(one_date, wanted), strict=True):
            run.readings += readings
            if features is not None:
                computed[day] = features
            if progress:
                progress(day)

    started = time.perf_counter()
    horizon = _lookback_days(feature_set)
    stored = set(store.dates(feature_set, window)) - set(computed)
    follow = sorted(d for d in stored if any(0 < (d - c).days <= horizon for c in computed))
    lookback = sorted(d for d in stored if any(0 < (c - d).days <= horizon for c in [*computed, *follow]))
    sensor_parts, machine_parts = [], []
    for day, part in computed.items():
        sensor_parts.append(part.sensor.with_columns(pl.lit(day).alias("__date")))
        machine_parts.append(part.machine.with_columns(pl.lit(day).alias("__date")))
    for day in sorted(set(follow) | set(lookback)):
        old = store.read(feature_set, window, "sensor", day, day).collect()
        if old.height:
            sensor_parts.append(_raw(old, feature_set).with_columns(pl.lit(day).alias("__date")))
        if day in follow:
            old_machine = store.read(feature_set, window, "machine", day, day).collect()
            machine_parts.append(old_machine.drop([c for c in _EVENT_COLUMNS if c in old_machine.columns]).with_columns(pl.lit(day).alias("__date")))
    run.times.add("read_stored", started)
    if not sensor_parts:
        return run

    started = time.perf_counter()
    grid = window_grid(feature_set, window, wanted[0] if wanted else min(follow), tz)
    sensor = pl.concat(sensor_parts, how="diagonal_relaxed")
    sensor = trailing_context(sensor, grid.width_us / 1e6, feature_set.trailing, grid.daily, tz)
    events = reader.events().select("machine_id", "ts", "kind").collect()
    machine = event_context(pl.concat(machine_parts, how="diagonal_relaxed"), events) if machine_parts else None
    run.times.add("context", started)

    started = time.perf_counter()
    sensor_columns = ["machine_id", "sensor", "window_start", "window_end", *feature_set.columns("sensor")]
    machine_columns = [*MACHINE_KEY, "window_end", *feature_set.columns("machine"), *[c.name for c in feature_set.cross]]
    machine_empty = pl.DataFrame(
        schema={
            c: pl.String if c == "machine_id" else TS_DTYPE if c in {"window_start", "window_end"} else pl.Int64 if c == "alarms" else pl.Float64
            for c in machine_columns
        }
    )
    sensor_by_date = sensor.partition_by("__date", as_dict=True)
    machine_by_date = machine.partition_by("__date", as_dict=True) if machine is not None else {}

    sources = {day: part.source for day, part in computed.items()}
    previous_sources = store.sources(feature_set, window) if follow else {}

    def write(day: date) -> tuple[int, int]:
        s = sensor_by_date.get((day,), sensor.clear()).select(sensor_columns).sort("machine_id", "sensor", "window_start")
        m = machine_by_date.get((day,))
        m = m.select([c for c in machine_columns if c in m.columns]).sort(*MACHINE_KEY) if m is not None else machine_empty
        store.write(feature_set, window, day, {"sensor": s, "machine": m}, sources.get(day, previous_sources.get(day)))
        return s.height, m.height

    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1, thread_name_prefix="features-write") as pool:
        for s_rows, m_rows in pool.map(write, sorted([*computed, *follow])):
            run.sensor_rows += s_rows
            run.machine_rows += m_rows
    run.times.add("write", started)
    run.computed = sorted(computed)
    run.refreshed = follow
    log.info("%s: features %s/%s for %d dates (+%d refreshed)", factory_id, feature_set.key, window, len(computed), len(follow))
    return run


def stale_dates(hub: Hub, factory_id: str, *, window: str = "1h", feature_set: FeatureSet = MACHINE_HEALTH) -> list[date]:
    """Local dates whose readings changed since their features were computed (late or
    corrected files, compaction) or that have none yet: what a daily run passes to
    :func:`build_features`."""
    reader = FactoryReader(hub, factory_id)
    built = FeatureStore(hub, factory_id).sources(feature_set, window)
    return [day for day in reader.dates("readings") if built.get(day) != readings_fingerprint(reader.partition_files("readings", day))]
