"""Benchmarks. Each measures the hub against a baseline run on the same machine in the same run,
and reports the ratio, because shared machines are noisy."""

from __future__ import annotations

import json
import math
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import polars as pl
from rich.console import Console

if TYPE_CHECKING:
    from analytics.pipeline.scheduled import FactoryRun

BENCH_FACTORY = "bench"
MACHINES = 20
SENSORS = ("vibration_rms", "bearing_temp", "motor_temp", "motor_current", "pressure", "speed", "flow", "ambient_temp", "oil_temp", "power")


def generate_long_csv(path: Path, rows: int, seed: int = 0) -> None:
    """A long-form CSV as a gateway sends it: 1 s readings of 20 machines x 10 sensors, in local
    time, with 0.5 % repeated rows (re-sent data) and 0.05 % bad values, so that dedupe and
    quarantine have real work."""
    rng = np.random.default_rng(seed)
    repeated = rows // 200
    base = rows - repeated
    series = MACHINES * len(SENSORS)
    per = -(-base // series)
    index = np.arange(base)
    machine = index // (per * len(SENSORS))
    sensor = (index // per) % len(SENSORS)
    frame = pl.DataFrame(
        {
            "machine_id": pl.Series([f"M{i:03d}" for i in range(MACHINES)]).gather(machine),
            "sensor": pl.Series(SENSORS).gather(sensor),
            "second": index % per,
            "value": rng.normal(50.0, 5.0, base).round(4),
            "bad": rng.random(base) < 0.0005,
        }
    ).select(
        "machine_id",
        "sensor",
        (pl.datetime(2026, 1, 5) + pl.duration(seconds=pl.col("second"))).alias("ts"),
        pl.when(pl.col("bad")).then(pl.lit("n/a")).otherwise(pl.col("value").cast(pl.String)).alias("value"),
    )
    frame = pl.concat([frame, frame.sample(n=repeated, seed=seed)])
    frame.write_csv(path, datetime_format="%Y-%m-%d %H:%M:%S")


def peak_rss_mb() -> float:
    """This process's peak resident memory. Linux's VmHWM belongs to the address space, which a
    new program starts afresh; ``ru_maxrss`` would carry over the parent's peak across fork/exec."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _child(args: list[str]) -> dict[str, float]:
    out = subprocess.run([sys.executable, "-m", "analytics.bench", *args], capture_output=True, text=True, check=False)
    if out.returncode:
        raise RuntimeError(f"benchmark step {args[0]} failed (exit {out.returncode}):\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _duckdb_copy(csv_path: str, out: str) -> dict[str, float]:
    import duckdb

    con = duckdb.connect()
    start = time.perf_counter()
    con.execute(f"COPY (SELECT * FROM read_csv('{csv_path}')) TO '{out}' (FORMAT parquet)")
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "peak_rss_mb": peak_rss_mb()}


def _hub_ingest(csv_path: str, data_dir: str) -> dict[str, float]:
    from analytics.ingest import ingest_file
    from analytics.schemas import PlantDescription
    from analytics.store.hub import Hub

    hub = Hub.open(data_dir=data_dir)
    hub.registry.register_plant(
        PlantDescription.model_validate(
            {
                "factory": {"id": BENCH_FACTORY, "timezone": "Asia/Seoul"},
                "machines": [
                    {"id": f"M{i:03d}", "type": "pump", "sensors": [{"name": s, "min": -1000, "max": 1000, "interval": 1} for s in SENSORS]}
                    for i in range(MACHINES)
                ],
            }
        )
    )
    start = time.perf_counter()
    result = ingest_file(hub, BENCH_FACTORY, csv_path)
    seconds = time.perf_counter() - start
    return {
        "seconds": seconds,
        "accepted": result.accepted,
        "duplicate": result.duplicate,
        "quarantined": result.quarantined,
        "peak_rss_mb": peak_rss_mb(),
    }


def bench_ingest(rows: int, workdir: Path | None = None, console: Console | None = None, repeat: int = 3) -> dict[str, float]:
    """Figures: our rows/s with full validation and dedupe, DuckDB's COPY rows/s, ratio, peak RSS.

    The baseline and the hub run alternately ``repeat`` times, each in a fresh process (and the hub
    into a fresh lake); medians are reported, so one noisy moment on a shared machine does not
    decide the ratio.
    """
    console = console or Console(stderr=True)
    duck_runs: list[dict[str, float]] = []
    hub_runs: list[dict[str, float]] = []
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        csv_path = Path(tmp) / "readings.csv"
        console.log(f"generating {rows:,} rows")
        generate_long_csv(csv_path, rows)
        for attempt in range(repeat):
            console.log(f"run {attempt + 1}/{repeat}: DuckDB COPY ... TO parquet (baseline)")
            duck_runs.append(_child(["duckdb", str(csv_path), str(Path(tmp) / f"duck{attempt}.parquet")]))
            console.log(f"run {attempt + 1}/{repeat}: hub ingest (validation, quarantine, dedupe, Delta commit)")
            hub_runs.append(_child(["hub", str(csv_path), str(Path(tmp) / f"hub{attempt}")]))
    ours = statistics.median(r["seconds"] for r in hub_runs)
    duck = statistics.median(r["seconds"] for r in duck_runs)
    last = hub_runs[-1]
    return {
        "rows": rows,
        "repeat": repeat,
        "seconds": round(ours, 3),
        "rows_per_s": round(rows / ours),
        "duckdb_copy_seconds": round(duck, 3),
        "duckdb_copy_rows_per_s": round(rows / duck),
        "ratio": round(duck / ours, 3),
        "accepted": int(last["accepted"]),
        "duplicate": int(last["duplicate"]),
        "quarantined": int(last["quarantined"]),
        "peak_rss_mb": round(max(r["peak_rss_mb"] for r in hub_runs), 1),
        "duckdb_peak_rss_mb": round(max(r["peak_rss_mb"] for r in duck_runs), 1),
    }


# --- features ------------------------------------------------------------------------------------
FEATURE_SENSORS = {
    # name: (unit, valid min, valid max)
    "motor_current": ("A", 0, 200),
    "vibration_rms": ("mm/s", 0, 50),
    "bearing_temp": ("°C", -20, 150),
    "motor_temp": ("°C", -20, 180),
    "oil_temp": ("°C", -20, 150),
    "pressure": ("bar", 0, 40),
    "flow": ("m³/h", 0, 500),
    "speed": ("rpm", 0, 4000),
    "spindle_load": ("%", 0, 200),
    "power": ("kW", 0, 200),
}


BENCH_START = np.datetime64("2026-01-04T15:00:00", "us")  # local midnight 2026-01-05, Asia/Seoul


def factory_readings(factory_id: str, machines: int, first: int, n: int, *, seed: tuple[int, ...] | int = 0) -> pl.DataFrame:
    """``n`` minutes (from minute ``first`` after :data:`BENCH_START`) of long-form readings of
    ``machines`` x 10 sensors, sorted by machine, sensor and time. Machines switch between off,
    idle and running in half-hour blocks, so state detection does real work."""
    rng = np.random.default_rng(seed)
    names = pl.Series([f"M{i:03d}" for i in range(machines)])
    current_levels = np.array([0.0, 5.0, 20.0])  # off, idle, running
    ts = BENCH_START + (first + np.arange(n)).astype("timedelta64[m]").astype("timedelta64[us]")
    # Operating state per machine and minute: runs and stops of random length.
    state = (rng.random((machines, n // 30 + 1)) * 3).astype(np.int8).repeat(30, axis=1)[:, :n]
    load = np.where(state == 2, 0.4 + 0.6 * rng.random((machines, n)), 0.0)
    frames = []
    for k, (name, (_, _, high)) in enumerate(FEATURE_SENSORS.items()):
        level = current_levels[state] if name == "motor_current" else 10.0 + 3 * k
        # Kept inside the sensor's valid range, as a healthy sensor's readings are (pressure
        # would otherwise pass its 40 bar under full load and be quarantined).
        values = np.minimum(level + 30 * load + rng.normal(0, 1.0, (machines, n)), 0.95 * high)
        frames.append(
            pl.DataFrame(
                {
                    "machine_id": names.gather(np.repeat(np.arange(machines), n)),
                    "sensor": name,
                    "ts": np.tile(ts, machines),
                    "value": np.abs(values).ravel().round(3),
                }
            )
        )
    return (
        pl.concat(frames)
        .with_columns(pl.col("ts").dt.replace_time_zone("UTC"), pl.lit(factory_id).alias("factory_id"))
        .sort("machine_id", "sensor", "ts")
    )


def generate_factory_lake(data_dir: str, factory_id: str, machines: int, steps: int, *, seed: int = 0, chunk_days: int = 7) -> dict[str, float]:
    """A factory lake of ``machines`` x 10 sensors (:data:`FEATURE_SENSORS`) x ``steps`` minutes
    of long-form readings from local midnight 2026-01-05 (Asia/Seoul), written as the ingest
    writes it (one sorted file per local date, one Delta commit), with the machines'
    operating-state rules fitted (:func:`factory_readings`). Generated ``chunk_days`` local days
    at a time, so memory stays flat for a year of readings."""
    from analytics.features import fit_state_rules
    from analytics.schemas import PlantDescription
    from analytics.store.hub import Hub

    hub = Hub.open(data_dir=data_dir)
    hub.registry.register_plant(
        PlantDescription.model_validate(
            {
                "factory": {"id": factory_id, "timezone": "Asia/Seoul"},
                "machines": [
                    {
                        "id": f"M{i:03d}",
                        "type": "pump",
                        "sensors": [{"name": n, "unit": u, "min": lo, "max": hi, "interval": "1min"} for n, (u, lo, hi) in FEATURE_SENSORS.items()],
                    }
                    for i in range(machines)
                ],
            }
        )
    )
    chunk = chunk_days * 24 * 60
    adds = []
    rows = 0
    for number, first in enumerate(range(0, steps, chunk)):
        frame = factory_readings(factory_id, machines, first, min(chunk, steps - first), seed=(seed, number)).with_columns(
            pl.col("ts").dt.convert_time_zone("Asia/Seoul").dt.date().cast(pl.String).alias("date")
        )
        adds += hub.lake.stage(factory_id, "readings", frame, "bench", presorted=True)
        rows += frame.height
    hub.lake.commit(factory_id, "readings", adds)
    # The operating-state rules are fitted once per machine when a factory joins, not by each
    # feature run: fit them here, as part of the factory's history.
    fit_state_rules(hub, factory_id)
    return {"rows": rows, "files": len(adds)}


def generate_feature_lake(data_dir: str, rows: int, seed: int = 0) -> dict[str, float]:
    """The feature benchmark's lake: 100 machines x 10 sensors at 1-minute intervals
    (timestamps = rows / 1000), in one chunk as the ingest of one file would write it."""
    machines = 100
    steps = max(1, rows // (machines * len(FEATURE_SENSORS)))
    return generate_factory_lake(data_dir, BENCH_FACTORY, machines, steps, seed=seed, chunk_days=steps // 1440 + 1)


def _features_run(data_dir: str) -> dict[str, float]:
    from analytics.features import build_features
    from analytics.features.kernels import warm_up
    from analytics.store.hub import Hub

    hub = Hub.open(data_dir=data_dir)
    # Numba's runtime starts on the first compiled call (about a second per process, whatever
    # the data): measured apart, as the baselines' library start-up is not timed either.
    start = time.perf_counter()
    warm_up()
    warm = time.perf_counter() - start
    start = time.perf_counter()
    run = build_features(hub, BENCH_FACTORY, window="1h")
    seconds = time.perf_counter() - start
    return {
        "seconds": seconds, "jit_start_seconds": warm, "readings": run.readings, "sensor_rows": run.sensor_rows,
        "peak_rss_mb": peak_rss_mb(), **{f"stage_{k}": v for k, v in run.times.seconds.items()},
    }


def _snapshot(data_dir: str) -> list[str]:
    from analytics.store.hub import Hub

    return Hub.open(data_dir=data_dir).lake.snapshot_files(BENCH_FACTORY, "readings")


def _scan_run(data_dir: str) -> dict[str, float]:
    """The floor: DuckDB's sum and count over the same Parquet files."""
    import duckdb

    files = _snapshot(data_dir)
    con = duckdb.connect()
    start = time.perf_counter()
    con.sql("SELECT sum(value), count(*) FROM read_parquet(?)", params=[files]).fetchall()
    return {"seconds": time.perf_counter() - start, "peak_rss_mb": peak_rss_mb()}


def _pandas_run(data_dir: str) -> dict[str, float]:
    """The straightforward pandas way: read, ``set_index("ts")``, group by machine and sensor,
    resample to 1 h and aggregate (the linear form; see STACK_NOTES for the quadratic trap).
    Same window statistics; no operating state (which only makes pandas' job easier)."""
    import pandas as pd

    files = _snapshot(data_dir)
    start = time.perf_counter()
    frame = pd.concat([pd.read_parquet(f, columns=["machine_id", "sensor", "ts", "value"]) for f in files])
    frame["square"] = frame["value"] ** 2
    grouped = frame.set_index("ts").groupby(["machine_id", "sensor"])
    value = grouped.resample("1h")["value"]
    table = value.agg(["count", "mean", "std", "min", "max", "first", "last"])
    for q in (0.1, 0.5, 0.9):
        table[f"q{int(q * 100)}"] = value.quantile(q)
    table["rms"] = np.sqrt(grouped.resample("1h")["square"].mean())
    table["kurtosis"] = value.apply(lambda v: v.kurt())
    return {"seconds": time.perf_counter() - start, "windows": len(table), "peak_rss_mb": peak_rss_mb()}


def bench_features(rows: int, workdir: Path | None = None, console: Console | None = None, repeat: int = 3) -> dict[str, float]:
    """Figures: feature pipeline rows/s against DuckDB's plain scan and pandas, in fresh
    processes, alternating ``repeat`` times; medians."""
    console = console or Console(stderr=True)
    runs: dict[str, list[dict[str, float]]] = {"features": [], "scan": [], "pandas": []}
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        console.log(f"generating a lake of {rows:,} readings")
        generated = _child(["generate", tmp, str(rows)])
        for attempt in range(repeat):
            for kind in ("scan", "features", "pandas"):
                if kind == "pandas" and attempt and rows > 5_000_000:
                    continue  # minutes per run: once is enough to know the order of magnitude
                console.log(f"run {attempt + 1}/{repeat}: {kind}")
                runs[kind].append(_child([kind, tmp]))
                if kind == "features":
                    # The next run recomputes from scratch: drop the stored features.
                    import shutil

                    shutil.rmtree(Path(tmp) / "factories" / BENCH_FACTORY / "features" / "machine_health", ignore_errors=True)
    n = generated["rows"]
    median = {k: statistics.median(r["seconds"] for r in v) for k, v in runs.items()}
    stages = {k.removeprefix("stage_"): round(statistics.median(r[k] for r in runs["features"]), 3) for k in runs["features"][0] if k.startswith("stage_")}
    return {
        "rows": n,
        "repeat": repeat,
        "window": "1h",
        "seconds": round(median["features"], 3),
        "rows_per_s": round(n / median["features"]),
        "scan_rows_per_s": round(n / median["scan"]),
        "pandas_rows_per_s": round(n / median["pandas"]),
        "ratio_to_scan": round(median["scan"] / median["features"], 4),
        "speedup_vs_pandas": round(median["pandas"] / median["features"], 2),
        "jit_start_seconds": round(statistics.median(r["jit_start_seconds"] for r in runs["features"]), 3),
        "peak_rss_mb": round(max(r["peak_rss_mb"] for r in runs["features"]), 1),
        "pandas_peak_rss_mb": round(max(r["peak_rss_mb"] for r in runs["pandas"]), 1),
        "stage_seconds": stages,  # summed over the threads that run dates in parallel
    }


def bench_score(machines: int = 1000, workdir: Path | None = None, console: Console | None = None, repeat: int = 3) -> dict[str, float]:
    """A day of anomaly scoring (``score_day``) for ``machines`` machines with fitted models,
    against the plain read of that day's features and one pivot of them (the least any scorer
    must do). The fleet is cloned from a small simulated factory, so its features, models and
    scores are real: 1-hour windows, the default statistics, models fitted on the simulation."""
    from dataclasses import replace
    from datetime import UTC, datetime, timedelta
    from uuid import uuid4

    from analytics.config import get_settings
    from analytics.demo import PLANT_FILES, build_factory
    from analytics.features import MACHINE_HEALTH, FeatureStore, build_features
    from analytics.models.anomaly.data import machine_matrix
    from analytics.models.anomaly.monitor import fit_model
    from analytics.models.anomaly.scoring import KIND, day_bounds, score_day
    from analytics.schemas import FactorySpec
    from analytics.simulate.plans import SimulationConfig
    from analytics.simulate.runner import simulate_hub
    from analytics.store.hub import Hub
    from analytics.store.models import ModelStore
    from analytics.store.reader import FactoryReader

    say = console.print if console else (lambda *_a, **_k: None)
    settings = get_settings().anomaly.model_copy(update={"min_rows": 20})
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        sim = Path(tmp) / "sim"
        say("simulating a template factory (8 machines x 6 days) ...")
        simulate_hub(SimulationConfig(factories=1, machines=8, days=6, seed=5, interval="5min"), sim, workers=1)
        hub = Hub.open(data_dir=Path(tmp) / "hub")
        folder = next(p for p in sorted(sim.iterdir()) if any((p / name).is_file() for name in PLANT_FILES))
        template, _ = build_factory(hub, folder, now=datetime(2100, 1, 1, tzinfo=UTC))
        build_features(hub, template, window=settings.window)
        store = FeatureStore(hub, template)
        day = store.dates(MACHINE_HEALTH, settings.window)[-2]  # the last whole day
        day_start, _ = day_bounds(day, FactoryReader(hub, template).factory.timezone)
        sensor = store.read(MACHINE_HEALTH, settings.window, "sensor").collect()
        machine = store.read(MACHINE_HEALTH, settings.window, "machine").collect()
        events = FactoryReader(hub, template).events().collect()
        rules = store.rules()
        models = {}
        for machine_id in sorted(sensor.get_column("machine_id").unique()):
            matrix = machine_matrix(sensor, machine, machine_id, stats=settings.stats)
            rule = rules.get(machine_id)
            model = fit_model(matrix, events, machine_id, day_start, settings, load_sensor=rule.sensor if rule else None)
            if model is not None:
                models[machine_id] = model
        if not models:
            raise RuntimeError("the template factory gave no model to clone")
        say(f"cloning {len(models)} fitted machines into a fleet of {machines} ...")
        fleet = "bench-fleet"
        hub.registry.add_factory(FactorySpec(id=fleet, name_en="benchmark fleet"))
        names = sorted(models)
        clones = {f"M{i:05d}": names[i % len(names)] for i in range(machines)}
        day_sensor = sensor.filter(pl.col("window_start") >= day_start, pl.col("window_start") < day_start + timedelta(days=1))
        day_machine = machine.filter(pl.col("window_start") >= day_start, pl.col("window_start") < day_start + timedelta(days=1))
        mapping = pl.DataFrame({"clone": list(clones), "machine_id": list(clones.values())})
        cloned = {
            "sensor": day_sensor.join(mapping, on="machine_id").with_columns(pl.col("clone").alias("machine_id")).drop("clone"),
            "machine": day_machine.join(mapping, on="machine_id").with_columns(pl.col("clone").alias("machine_id")).drop("clone"),
        }
        FeatureStore(hub, fleet).write(MACHINE_HEALTH, settings.window, day, cloned)
        model_store = ModelStore(hub, fleet)
        for clone, source in clones.items():
            copy = replace(models[source], machine_id=clone, model_id=uuid4().hex[:12])
            model_store.save(KIND, clone, copy.model_id, copy, copy.card())

        def baseline() -> float:
            started = time.perf_counter()
            features = FeatureStore(hub, fleet)
            s = features.read(MACHINE_HEALTH, settings.window, "sensor", day, day).collect()
            features.read(MACHINE_HEALTH, settings.window, "machine", day, day).collect()
            s.pivot(on="sensor", index=["machine_id", "window_start"], values=list(settings.stats))
            return time.perf_counter() - started

        hub_runs, base_runs = [], []
        windows = 0
        for i in range(repeat):
            base_runs.append(baseline())
            started = time.perf_counter()
            run = score_day(hub, fleet, day, settings)
            hub_runs.append(time.perf_counter() - started)
            windows = run.windows
            if run.refitted:
                raise RuntimeError(f"the benchmark should only score, but refitted {len(run.refitted)} machines")
            say(f"run {i + 1}: score_day {hub_runs[-1]:.2f} s ({run.machines} machines, {run.windows} windows), baseline {base_runs[-1]:.3f} s")
    score_s, base_s = statistics.median(hub_runs), statistics.median(base_runs)
    return {
        "machines": machines,
        "windows": windows,
        "score_day_s": round(score_s, 3),
        "baseline_read_pivot_s": round(base_s, 3),
        "ratio": round(score_s / base_s, 2),
        "machines_per_s": round(machines / score_s, 1),
        "target_s": 10.0,
    }


def bench_train(machines: int = 30, days: int = 365, workdir: Path | None = None, console: Console | None = None) -> dict[str, float]:
    """Training one factory's failure models (``train_factory``, every machine type, default
    settings) on ``machines`` machines x ``days`` days of hourly features, against one plain
    XGBoost fit of the biggest machine type's training table (the least any trainer must do).

    The factory is cloned from a small simulated one, so features, events and state rules are
    real: the template's whole days are tiled in time, each clone copying, block by block, a
    different template machine of its type, from its own phase (so clones do not fail in step).
    """
    from dataclasses import replace
    from datetime import UTC, datetime, timedelta

    import xgboost as xgb

    from analytics.config import get_settings
    from analytics.demo import PLANT_FILES, build_factory
    from analytics.features import MACHINE_HEALTH, FeatureStore, build_features
    from analytics.models.anomaly.scoring import day_bounds
    from analytics.models.failure.dataset import feature_columns
    from analytics.models.failure.training import WINDOW, factory_frame, machines_by_type, train_factory, training_rows, type_sensors
    from analytics.schemas import FactorySpec, MachineSpec, SensorSpec
    from analytics.simulate.plans import SimulationConfig
    from analytics.simulate.runner import simulate_hub
    from analytics.store.hub import Hub
    from analytics.store.reader import FactoryReader

    say = console.print if console else (lambda *_a, **_k: None)
    settings = get_settings().failure
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        sim = Path(tmp) / "sim"
        # Small on purpose: ingest costs ~150 ms per daily file. A high failure rate gives every
        # machine type failures within the template's three weeks.
        say("simulating a template factory (6 machines x 21 days) ...")
        simulate_hub(SimulationConfig(factories=1, machines=6, days=21, seed=7, interval="10min", failure_rate=8.0), sim, workers=1)
        hub = Hub.open(data_dir=Path(tmp) / "hub")
        folder = next(p for p in sorted(sim.iterdir()) if any((p / name).is_file() for name in PLANT_FILES))
        template, _ = build_factory(hub, folder, now=datetime(2100, 1, 1, tzinfo=UTC))
        build_features(hub, template, window=WINDOW)
        reader = FactoryReader(hub, template)
        tz = reader.factory.timezone
        store = FeatureStore(hub, template)
        local_day = pl.col("window_start").dt.convert_time_zone(tz).dt.date()
        sensor = store.read(MACHINE_HEALTH, WINDOW, "sensor").collect().with_columns(local_day.alias("__day"))
        machine = store.read(MACHINE_HEALTH, WINDOW, "machine").collect().with_columns(local_day.alias("__day"))
        # Whole days only: a partial day tiled would leave a gap in every block.
        per_day = machine.group_by("__day").agg(pl.col("window_start").n_unique().alias("hours"))
        whole = sorted(per_day.filter(pl.col("hours") >= 24).get_column("__day").to_list())
        if not whole or (whole[-1] - whole[0]).days != len(whole) - 1:
            raise RuntimeError(f"the template factory's whole days are not contiguous: {whole}")
        first, block = whole[0], len(whole)
        src_day = (pl.col("__day") - pl.lit(first)).dt.total_days().cast(pl.Int32).alias("src_day")
        sensor = sensor.with_columns(src_day).drop("__day").filter(pl.col("src_day").is_between(0, block - 1))
        machine = machine.with_columns(src_day).drop("__day").filter(pl.col("src_day").is_between(0, block - 1))
        events = (
            reader.events().collect()
            .with_columns(pl.col("ts").dt.convert_time_zone(tz).dt.date().alias("__day"))
            .with_columns(src_day).drop("__day")
            .filter(pl.col("src_day").is_between(0, block - 1))
        )
        rules = store.rules()

        # The clones: round-robin over the template's machines, so each type keeps its share.
        by_type = machines_by_type(hub, template)
        kinds = {m: t for t, ids in by_type.items() for m in ids}
        names = sorted(kinds)
        bench = "bench-train"
        hub.registry.add_factory(FactorySpec(id=bench, name_en="training benchmark", timezone=tz))
        clone_rules = {}
        plan = []  # (clone, output day, template machine, template day, shift in days)
        for i in range(machines):
            clone, base = f"BM-{i:04d}", names[i % len(names)]
            peers = sorted(by_type[kinds[base]])
            spec = hub.registry.machine(template, base)
            hub.registry.add_machine(
                bench,
                MachineSpec(
                    id=clone,
                    type=spec.machine_type,
                    model=spec.model,
                    sensors=[
                        SensorSpec(name=s.sensor, unit=s.unit, min=s.min_value, max=s.max_value, interval=s.interval_s)
                        for s in hub.registry.sensors(template, base)
                    ],
                ),
            )
            if base in rules:
                clone_rules[clone] = replace(rules[base], machine_id=clone)
            # Phases 0, 5, 10, ... days: a type with one template machine still gets clones
            # whose failures fall on different days.
            phase = (5 * i) % block
            for t in range(days):
                u = t + phase
                plan.append((clone, t, peers[(peers.index(base) + u // block) % len(peers)], u % block, t - u % block))
        FeatureStore(hub, bench).save_rules(clone_rules)
        plan_frame = pl.DataFrame(plan, schema={"clone": pl.String, "t": pl.Int32, "machine_id": pl.String, "src_day": pl.Int32, "shift": pl.Int32}, orient="row")

        def tiled(frame: pl.DataFrame, plan_part: pl.DataFrame) -> pl.DataFrame:
            # Whole days in UTC: the same local hours in a zone without DST (Asia/Seoul).
            shift = pl.duration(days=pl.col("shift"))
            times = [c for c, dtype in frame.schema.items() if isinstance(dtype, pl.Datetime)]
            return (
                frame.join(plan_part, on=["machine_id", "src_day"])
                .with_columns(pl.col("clone").alias("machine_id"), *[(pl.col(c) + shift).alias(c) for c in times])
                .drop("clone", "t", "src_day", "shift")
            )

        say(f"tiling {block} template days into {machines} machines x {days} days of hourly features ...")
        bench_store = FeatureStore(hub, bench)
        for t, part in plan_frame.partition_by("t", as_dict=True, maintain_order=True).items():
            bench_store.write(
                MACHINE_HEALTH, WINDOW, first + timedelta(days=int(t[0])),
                {"sensor": tiled(sensor, part).sort("machine_id", "sensor", "window_start"), "machine": tiled(machine, part).sort("machine_id", "window_start")},
            )
        cloned_events = tiled(events, plan_frame).with_columns(
            pl.lit(bench).alias("factory_id"), pl.col("ts").dt.convert_time_zone(tz).dt.date().cast(pl.String).alias("date")
        )
        hub.lake.append(bench, "events", cloned_events, "bench")
        last = first + timedelta(days=days - 1)
        until = day_bounds(last, tz)[1]
        say(f"{cloned_events.height} events ({cloned_events.filter(pl.col('kind') == 'failure').height} failures); training to {last} ...")

        started = time.perf_counter()
        results = train_factory(hub, bench, until=until, settings=settings)
        seconds = time.perf_counter() - started
        for r in results:
            say(f"  {r.machine_type}: {r.status} {r.recipe or ''} ({r.own_failures} failures, {r.seconds} s) {r.reason}")

        # The training tables, rebuilt outside the timing: their size, and the baseline's matrix.
        tables = {}
        for machine_type in sorted(machines_by_type(hub, bench)):
            frame = factory_frame(
                hub, bench, machine_type, settings.horizon(machine_type), until=until, sensors=type_sensors(hub, [bench], machine_type)
            )
            tables[machine_type] = training_rows(frame, settings.train_stride_hours)
        biggest = max(tables.values(), key=lambda f: f.height)
        columns = feature_columns(biggest.drop("factory_id"))
        X = biggest.select(pl.col(c).cast(pl.Float64) for c in columns).to_numpy().astype(np.float32)
        y = biggest.get_column("failure_within").cast(pl.Int32).to_numpy()
        started = time.perf_counter()
        xgb.XGBClassifier(tree_method="hist", n_estimators=250, max_depth=4, learning_rate=0.05).fit(X, y)
        baseline = time.perf_counter() - started
        say(f"train_factory {seconds:.2f} s; one XGBoost fit of {X.shape[0]} x {X.shape[1]}: {baseline:.2f} s")
    return {
        "machines": machines,
        "days": days,
        "hourly_rows": sum(f.height for f in tables.values()),
        "machine_types": len(tables),
        "models_promoted": sum(r.status == "promoted" for r in results),
        # Failures the types learned from: a type needs settings.min_failures for a model of its own.
        "failures": sum(r.own_failures for r in results),
        "models_validated": sum(bool(r.metrics) for r in results),
        "seconds": round(seconds, 3),
        "baseline_fit_s": round(baseline, 3),
        "baseline_rows": int(X.shape[0]),
        "baseline_columns": int(X.shape[1]),
        "ratio": round(seconds / baseline, 2),
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "target_s": 60,
    }


# --- dashboard -------------------------------------------------------------------------------------
DASHBOARD_FACTORY = "bench-dashboard"
DASHBOARD_MACHINE = "M000"
DASHBOARD_FIRST_DAY = date(2026, 1, 5)  # generate_factory_lake's first local day
DETAIL_DAYS = 30


def _rows_of(schema: dict[str, pl.DataType], n: int, **columns: object) -> pl.DataFrame:
    """``n`` rows of ``schema``: the given columns, nulls elsewhere (the stores' own schemas, so
    the views read exactly what a daily run would have written)."""
    frame = pl.DataFrame({c: pl.Series(c, [None] * n, dtype=d) for c, d in schema.items()})
    return frame.with_columns(**{c: pl.Series(c, v) if not isinstance(v, pl.Expr) else v for c, v in columns.items()}).cast(schema)  # type: ignore[arg-type]


def generate_dashboard_hub(data_dir: str, machines: int, days: int, seed: int = 0) -> dict[str, float]:
    """The hub behind ``factoryhub bench dashboard``: ``machines`` x 10 sensors x ``days`` days
    of 1-minute readings in the lake, their real 1-hour features (``build_features``), a
    maintenance log (monthly planned stops, about three failures a machine a year, each repaired
    within hours) and, for every day, what a daily run stores: hourly anomaly scores and failure
    risk, one health row per machine, the priority list (``priority_list``, the real one) and the
    day's alerts folded into the AlertBook. Scores and risk are drawn at random (a few machines
    drift towards warning near the end), not fitted: the benchmark times reading them."""
    from analytics.features import build_features
    from analytics.models.anomaly.monitor import SCORE_SCHEMA
    from analytics.models.anomaly.quality import CHANGE_SCHEMA, EVENT_SCHEMA
    from analytics.models.anomaly.scoring import day_bounds, score_store
    from analytics.models.failure.predict import RISK_SCHEMA, risk_store
    from analytics.solutions.alerts import AlertBook, AlertSettings
    from analytics.solutions.calendar import get_calendar
    from analytics.solutions.health import HEALTH_SCHEMA
    from analytics.solutions.priority import get_consequences, priority_list
    from analytics.solutions.solve import alert_candidates, solution_store
    from analytics.store.hub import Hub

    started = time.perf_counter()
    generated = generate_factory_lake(data_dir, DASHBOARD_FACTORY, machines, days * 24 * 60, seed=seed)
    lake_s = time.perf_counter() - started
    hub = Hub.open(data_dir=data_dir)
    started = time.perf_counter()
    build_features(hub, DASHBOARD_FACTORY, window="1h")
    features_s = time.perf_counter() - started

    factory, tz = DASHBOARD_FACTORY, "Asia/Seoul"
    ids = [f"M{i:03d}" for i in range(machines)]
    sensors = list(FEATURE_SENSORS)
    rng = np.random.default_rng([seed, 1])
    first_utc = day_bounds(DASHBOARD_FIRST_DAY, tz)[0]
    span_h = days * 24
    events = []
    for machine in ids:
        for month_start in range(0, span_h - 24, 30 * 24):  # planned maintenance, on a morning
            events.append((machine, first_utc + timedelta(hours=month_start + 24 + 1), "maintenance", "general", "monthly service"))
        for at in np.sort(rng.uniform(0, span_h - 12, rng.poisson(3 * days / 365))):
            component = str(rng.choice(["bearing", "seal", "motor"]))
            events.append((machine, first_utc + timedelta(hours=float(at)), "failure", component, f"{component} failure"))
            events.append((machine, first_utc + timedelta(hours=float(at + rng.uniform(1, 8))), "repair", component, "repaired"))
    event_frame = pl.DataFrame(events, schema={"machine_id": pl.String, "ts": pl.Datetime("us", "UTC"), "kind": pl.String, "component": pl.String, "text": pl.String}, orient="row")
    event_frame = event_frame.with_columns(
        pl.lit(factory).alias("factory_id"), pl.col("ts").dt.convert_time_zone(tz).dt.date().cast(pl.String).alias("date")
    )
    hub.lake.append(factory, "events", event_frame, "bench")

    scores, risks, solutions = score_store(hub, factory, hub.settings.anomaly.window), risk_store(hub, factory), solution_store(hub, factory)
    book, alert_settings = AlertBook(hub, factory), AlertSettings()
    consequences, calendar = get_consequences(hub, factory), get_calendar(hub, factory)
    drifting = set(ids[: max(1, machines // 10)])  # these degrade over the last two weeks
    n = machines * 24
    started = time.perf_counter()
    for offset in range(days):
        day = DASHBOARD_FIRST_DAY + timedelta(days=offset)
        day_start, day_end = day_bounds(day, tz)
        hours = [day_start + timedelta(hours=h) for h in range(24)] * machines
        ends = [h + timedelta(hours=1) for h in hours]
        machine_col = [m for m in ids for _ in range(24)]
        late = max(0, offset - (days - 14)) / 14  # 0 .. 1 over the last two weeks
        lift = np.array([late * 4 if m in drifting else 0.0 for m in machine_col])
        score = rng.gamma(2.0, 0.5, n) + lift
        top = rng.integers(0, len(sensors), n)
        drivers = [[{"sensor": sensors[t], "share": 0.6}, {"sensor": sensors[(t + 1) % len(sensors)], "share": 0.4}] for t in top]
        score_rows = _rows_of(
            SCORE_SCHEMA, n, machine_id=machine_col, window_start=hours, window_end=ends,
            score=score, above=score > 3.0, alarm=score > 4.0, excluded=[False] * n, drivers=drivers, model_id=["bench"] * n,
        )  # fmt: skip
        probability = np.clip(rng.beta(1, 30, n) + lift / 5, 0, 1)
        risk_rows = _rows_of(
            RISK_SCHEMA, n, machine_id=machine_col, machine_type=["pump"] * n, window_start=hours, window_end=ends,
            probability=probability, horizon_hours=[168.0] * n, p_7d=probability, ttf_median_h=np.maximum(6.0, 2000 * (1 - probability)),
            ttf_p10_h=np.maximum(2.0, 600 * (1 - probability)), sensors=[[sensors[t]] for t in top], shares=[[1.0]] * n, model_id=["bench"] * n,
        )  # fmt: skip
        last_hour = risk_rows.group_by("machine_id", maintain_order=True).last()
        daily = score_rows.group_by("machine_id", maintain_order=True).agg(
            (pl.col("alarm").sum() * 1.0).alias("alarm_hours"), (pl.col("above").sum() * 1.0).alias("above_hours"), pl.col("score").max().alias("max_score")
        )
        status = pl.when(pl.col("alarm_hours") >= 6).then(pl.lit("critical")).when(pl.col("alarm_hours") >= 2).then(pl.lit("warning")).when(pl.col("above_hours") >= 3).then(pl.lit("watch")).otherwise(pl.lit("normal"))
        health = _rows_of(HEALTH_SCHEMA, machines, day=[day] * machines, machine_id=ids, machine_type=["pump"] * machines).drop(
            "alarm_hours", "above_hours", "max_score", "status", "probability", "ttf_median_h", "ttf_p10_h", "horizon_hours"
        )
        health = (
            health.join(daily, on="machine_id").join(last_hour.select("machine_id", "probability", "horizon_hours", "ttf_median_h", "ttf_p10_h"), on="machine_id")
            .with_columns(status.alias("status"), (100 - 8 * pl.col("alarm_hours") - 2 * pl.col("above_hours")).clip(0, 100).alias("health_index"))
            .with_columns(pl.when(pl.col("status") != "normal").then(pl.lit("unknown")).alias("failure_mode"))
            .select(list(HEALTH_SCHEMA))
            .cast(HEALTH_SCHEMA)  # type: ignore[arg-type]
        )
        scores.write(day, {"scores": score_rows, "faults": pl.DataFrame(schema=EVENT_SCHEMA), "changes": pl.DataFrame(schema=CHANGE_SCHEMA)})
        risks.write(day, {"risk": risk_rows})
        priority = priority_list(health, consequences, calendar, now=day_end, timezone=tz)
        solutions.write(day, {"health": health, "priority": priority})
        book.apply_day(day, alert_candidates(health, day), settings=alert_settings)
    return {
        "rows": generated["rows"], "files": generated["files"], "events": event_frame.height, "open_alerts": len(book.open_alerts()),
        "lake_s": round(lake_s, 1), "features_s": round(features_s, 1), "daily_tables_s": round(time.perf_counter() - started, 1),
    }  # fmt: skip


def _detail_range(days: int) -> tuple[date, datetime, datetime]:
    """The last local day of the benchmark's data, and the UTC bounds of its last
    ``DETAIL_DAYS`` whole local days."""
    from analytics.models.anomaly.scoring import day_bounds

    last = DASHBOARD_FIRST_DAY + timedelta(days=days - 1)
    return last, day_bounds(last - timedelta(days=DETAIL_DAYS - 1), "Asia/Seoul")[0], day_bounds(last, "Asia/Seoul")[1]


def _dashboard_run(data_dir: str, days: str, first: str, repeat: str) -> dict[str, float]:
    """In a fresh process: the overview's and the 30-day machine detail's data calls, ``first``
    (overview or detail) timed cold (the process's first call: nothing opened, nothing cached
    but the operating system's file cache), then each ``repeat`` times warm."""
    from analytics.store.hub import Hub
    from analytics.views import fleet_overview, machine_detail

    hub = Hub.open(data_dir=data_dir)
    _, start, end = _detail_range(int(days))
    calls = {
        "overview": lambda: fleet_overview(hub, DASHBOARD_FACTORY, now=end),
        "detail": lambda: machine_detail(hub, DASHBOARD_FACTORY, DASHBOARD_MACHINE, start, end, max_points=1500),
    }
    order = [first, *(k for k in calls if k != first)]
    figures: dict[str, float] = {}
    for kind in order:
        began = time.perf_counter()
        result = calls[kind]()
        figures[f"{kind}_first_ms"] = (time.perf_counter() - began) * 1000
        warm = []
        for _ in range(int(repeat)):
            began = time.perf_counter()
            calls[kind]()
            warm.append((time.perf_counter() - began) * 1000)
        figures[f"{kind}_warm_ms"] = statistics.median(warm)
        if kind == "overview":
            figures["tiles"] = result.tiles.height
        else:
            figures["detail_raw_points"] = result.raw_points
            figures["detail_points"] = result.series.height
    figures["peak_rss_mb"] = peak_rss_mb()
    return figures


def _dashboard_scan(data_dir: str, days: str) -> dict[str, float]:
    """The floor for the machine detail: DuckDB reading the same rows (the machine's readings of
    the 30 days, every sensor) from the same Parquet files, in a fresh process."""
    import duckdb

    from analytics.store.hub import Hub

    hub = Hub.open(data_dir=data_dir)
    last, start, end = _detail_range(int(days))
    files = hub.lake.snapshot_files(DASHBOARD_FACTORY, "readings", start=last - timedelta(days=DETAIL_DAYS), end=last)
    con = duckdb.connect()
    began = time.perf_counter()
    rows = con.sql(
        "SELECT sensor, ts, value FROM read_parquet($files) WHERE machine_id = $machine AND ts >= $start AND ts < $end",
        params={"files": files, "machine": DASHBOARD_MACHINE, "start": start, "end": end},
    ).to_arrow_table()
    return {"scan_ms": (time.perf_counter() - began) * 1000, "scan_rows": rows.num_rows}


def bench_dashboard(machines: int = 30, days: int = 365, workdir: Path | None = None, console: Console | None = None, repeat: int = 3) -> dict[str, float]:
    """Figures: the Fleet overview's and a 30-day Machine detail's data calls on a factory of
    ``machines`` x 10 sensors x ``days`` days of 1-minute readings, cold (a fresh process's first
    call) and warm, against DuckDB reading the detail's raw rows from the same files; fresh
    processes alternate ``repeat`` times; medians."""
    console = console or Console(stderr=True)
    if days < DETAIL_DAYS + 1:
        raise ValueError(f"days must be more than {DETAIL_DAYS}, got {days}")
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        console.log(f"building a factory of {machines} machines x 10 sensors x {days} days of 1-minute readings")
        built = _child(["dashboard-generate", tmp, str(machines), str(days)])
        console.log(f"{built['rows']:,} readings in {built['files']} files ({built['lake_s']} s), features {built['features_s']} s, daily tables {built['daily_tables_s']} s")
        runs: dict[str, list[dict[str, float]]] = {"scan": [], "overview": [], "detail": []}
        for attempt in range(repeat):
            for kind in ("scan", "overview", "detail"):
                console.log(f"run {attempt + 1}/{repeat}: {kind}")
                if kind == "scan":
                    runs[kind].append(_child(["dashboard-scan", tmp, str(days)]))
                else:
                    runs[kind].append(_child(["dashboard-run", tmp, str(days), kind, "5"]))

    def median(kind: str, key: str) -> float:
        return round(statistics.median(r[key] for r in runs[kind]), 1)

    detail_cold, scan = median("detail", "detail_first_ms"), median("scan", "scan_ms")
    return {
        "machines": machines,
        "sensors": len(FEATURE_SENSORS),
        "days": days,
        "readings": int(built["rows"]),
        "repeat": repeat,
        "overview_warm_ms": median("overview", "overview_warm_ms"),
        "overview_cold_ms": median("overview", "overview_first_ms"),
        "machine_detail_warm_ms": median("detail", "detail_warm_ms"),
        "machine_detail_cold_ms": detail_cold,
        "scan_ms": scan,
        "detail_ratio_to_scan": round(detail_cold / scan, 2),
        "detail_raw_points": int(runs["detail"][0]["detail_raw_points"]),
        "detail_points": int(runs["detail"][0]["detail_points"]),
        "scan_rows": int(runs["scan"][0]["scan_rows"]),
        "tiles": int(runs["overview"][0]["tiles"]),
        "open_alerts": int(built["open_alerts"]),
        "peak_rss_mb": round(max(r["peak_rss_mb"] for k in ("overview", "detail") for r in runs[k]), 1),
        "targets_ms": {"overview_warm": 300, "overview_cold": 2000, "machine_detail_cold": 1000},
    }


# --- the daily run ---------------------------------------------------------------------------------
DAILY_TEMPLATE = "bench-daily-000"
DAILY_HISTORY_DAYS = 15  # past min_training_days (14): every machine has its anomaly model
# Registry tables copied to a clone, parents first; what a factory did (ingests, alerts, runs,
# accounts, e-mails) is its own and is not copied.
_CLONED_TABLES = ("factories", "machines", "sensors", "model_sharing", "sensor_days", "factory_calendars", "machine_consequences")


def clone_factory(data_dir: str, source: str, target: str) -> None:
    """A copy of factory ``source`` as ``target``, for benchmarks that need many factories with a
    history: its registry rows, its lake tables (re-committed through the lake, so the Delta log
    describes the rewritten files), and every other file of its folder with the factory id
    rewritten where it is stored (Parquet columns, JSON). Inbox and reports are not copied."""
    import shutil

    from analytics.schemas import validate_factory_id
    from analytics.store.hub import Hub
    from analytics.store.lake import TABLES

    validate_factory_id(target)
    hub = Hub.open(data_dir=data_dir)
    with hub.registry.transaction() as con:
        for table in _CLONED_TABLES:
            columns = [row[1] for row in con.execute(f"PRAGMA table_info({table})")]
            chosen = ", ".join("?" if c == "factory_id" else c for c in columns)
            con.execute(f"INSERT INTO {table} ({', '.join(columns)}) SELECT {chosen} FROM {table} WHERE factory_id = ?", (target, source))  # noqa: S608
    for table in TABLES:
        dt = hub.lake.delta_table(source, table)
        if dt is None:
            continue
        frame = pl.from_arrow(dt.to_pyarrow_table()).with_columns(pl.lit(target).alias("factory_id"))
        hub.lake.commit(target, table, hub.lake.stage(target, table, frame, "clone"))  # type: ignore[arg-type]
    source_root, target_root = hub.lake.factory_root(source), hub.lake.factory_root(target)
    for path in source_root.rglob("*"):
        relative = path.relative_to(source_root)
        if not path.is_file() or relative.parts[0] in ("lake", "inbox", "reports"):
            continue
        out = target_root / relative
        out.parent.mkdir(parents=True, exist_ok=True)
        if path.suffix == ".parquet":
            frame = pl.read_parquet(path)
            if "factory_id" in frame.columns:
                frame = frame.with_columns(pl.lit(target).alias("factory_id"))
            frame.write_parquet(out, compression="zstd", statistics=True)
        elif path.suffix == ".json" or path.name == "CURRENT":
            out.write_text(path.read_text(encoding="utf-8").replace(f'"{source}"', f'"{target}"'), encoding="utf-8")
        else:
            shutil.copyfile(path, out)


def generate_daily_hub(data_dir: str, factories: int, machines: int, seed: int = 0) -> dict[str, float]:
    """The daily benchmark's hub: one factory of ``machines`` x 10 sensors with
    :data:`DAILY_HISTORY_DAYS` days of 1-minute readings lived through the pipeline (features,
    fitted anomaly models, health), cloned ``factories - 1`` times; then each factory's next day,
    its own random readings, waiting in its inbox as one Parquet file."""
    from analytics.ingest.inbox import inbox_dir
    from analytics.pipeline import process_day
    from analytics.store.hub import Hub

    started = time.perf_counter()
    generate_factory_lake(data_dir, DAILY_TEMPLATE, machines, DAILY_HISTORY_DAYS * 1440, seed=seed)
    hub = Hub.open(data_dir=data_dir)
    for i in range(DAILY_HISTORY_DAYS):
        process_day(hub, DAILY_TEMPLATE, DASHBOARD_FIRST_DAY + timedelta(days=i))
    history_s = time.perf_counter() - started
    ids = [DAILY_TEMPLATE] + [f"bench-daily-{k:03d}" for k in range(1, factories)]
    for factory_id in ids[1:]:
        clone_factory(data_dir, DAILY_TEMPLATE, factory_id)
    clone_s = time.perf_counter() - started - history_s
    rows = 0
    for k, factory_id in enumerate(ids):
        day = factory_readings(factory_id, machines, DAILY_HISTORY_DAYS * 1440, 1440, seed=(seed, 1000 + k)).drop("factory_id")
        inbox = inbox_dir(hub, factory_id)
        inbox.mkdir(parents=True, exist_ok=True)
        path = inbox / f"readings-{(DASHBOARD_FIRST_DAY + timedelta(days=DAILY_HISTORY_DAYS)).isoformat()}.parquet"
        day.write_parquet(path)
        os.utime(path, (0, 0))  # long settled, as the overnight delivery is by morning
        rows += day.height
    return {"factories": factories, "readings": rows, "history_s": round(history_s, 1), "clone_s": round(clone_s, 1)}


def _daily_scan(data_dir: str) -> dict[str, float]:
    """The floor: DuckDB reading every inbox file once (what any pipeline must at least do)."""
    import duckdb

    started = time.perf_counter()
    total = duckdb.sql(f"SELECT count(*), sum(value) FROM read_parquet('{data_dir}/factories/*/inbox/*.parquet')").fetchall()[0]
    return {"scan_s": time.perf_counter() - started, "scan_rows": total[0] if total else 0}


def _daily_run(data_dir: str, workers: str, out: str) -> dict[str, float]:
    from analytics.pipeline.scheduled import run_daily
    from analytics.store.hub import Hub

    hub = Hub.open(data_dir=data_dir)
    day = DASHBOARD_FIRST_DAY + timedelta(days=DAILY_HISTORY_DAYS)
    started = time.perf_counter()
    _, results = run_daily(hub, day, send=False, out_dir=Path(out), workers=int(workers))
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "failed": sum(r.status != "ok" for r in results),
        "readings": sum(r.counts.get("ingest", {}).get("accepted", 0) for r in results),
        "reports": sum(r.report is not None for r in results),
        "errors": "; ".join(e for r in results for e in r.errors)[:2000],
        **_stage_means(results),
    }


def _stage_means(results: list[FactoryRun]) -> dict[str, float]:
    """Each stage's mean seconds per factory-day, as ``stage_<name>_s``."""
    stages: dict[str, float] = {}
    for r in results:
        for stage, s in r.seconds.items():
            stages[stage] = stages.get(stage, 0.0) + s
    return {f"stage_{k}_s": round(v / max(len(results), 1), 3) for k, v in stages.items()}


def bench_daily(factories: int = 100, machines: int = 30, workers: int | None = None, workdir: Path | None = None, console: Console | None = None) -> dict[str, float]:
    """The daily run of ``factories`` factories of ``machines`` x 10 sensors, one new day of
    1-minute readings each in its inbox, reports written to files (not sent), ``workers``
    factories at a time (default: one per core); against DuckDB merely reading the same files."""
    console = console or Console(stderr=True)
    workers = workers or os.cpu_count() or 1
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        console.log(f"building {factories} factories of {machines} machines x 10 sensors ({DAILY_HISTORY_DAYS} days of history, lived once and cloned)")
        built = _child(["daily-generate", tmp, str(factories), str(machines)])
        console.log(f"{built['readings']:,} new readings waiting (history {built['history_s']} s, clones {built['clone_s']} s)")
        scan = _child(["daily-scan", tmp])
        console.log(f"daily run over {factories} factories, {workers} at a time")
        run = _child(["daily-run", tmp, str(workers), str(Path(tmp) / "reports")])
    if run["failed"]:
        console.log(f"[red]{int(run['failed'])} factories failed[/]: {run['errors']}")
    seconds = run["seconds"]
    return {
        "factories": factories,
        "machines_per_factory": machines,
        "workers": workers,
        "readings": int(run["readings"]),
        "seconds": round(seconds, 1),
        "readings_per_s": round(run["readings"] / seconds),
        "seconds_per_factory": round(seconds / factories, 3),
        "reports": int(run["reports"]),
        "failed": int(run["failed"]),
        "scan_s": round(scan["scan_s"], 2),
        "ratio_to_scan": round(seconds / scan["scan_s"], 1),
        **{k: v for k, v in run.items() if k.startswith("stage_")},
        "target_s": 120,
    }


# --- scale-out ---------------------------------------------------------------------------------
SCALE_MODES = ("local", "dask-1", "dask-2")


def _scale_run(data_dir: str, mode: str) -> dict[str, float]:
    """The daily run of every factory of the hub in one of :data:`SCALE_MODES`: this process
    alone with its thread pools on every core (no Dask), or a local Dask cluster of 1 or 2
    single-threaded worker processes. Imports and the cluster's start are done before the clock
    starts (they are paid once per worker, not per day)."""
    import importlib

    from analytics.pipeline.cluster import dask_client
    from analytics.pipeline.scheduled import run_daily
    from analytics.store.hub import Hub

    hub = Hub.open(data_dir=data_dir)
    day = DASHBOARD_FIRST_DAY + timedelta(days=DAILY_HISTORY_DAYS)
    out = Path(data_dir) / "reports"
    started = time.perf_counter()
    if mode == "local":
        _, results = run_daily(hub, day, send=False, out_dir=out)
        seconds, start_s = time.perf_counter() - started, 0.0
    else:
        workers = int(mode.removeprefix("dask-"))
        with dask_client(workers=workers, threads_per_worker=1, dashboard_address=":0") as client:
            client.run(importlib.import_module, "analytics.pipeline.scheduled")
            start_s = time.perf_counter() - started
            started = time.perf_counter()
            _, results = run_daily(hub, day, send=False, out_dir=out, client=client)
            seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "cluster_start_s": start_s,
        **_stage_means(results),
        "failed": sum(r.status != "ok" for r in results),
        "readings": sum(r.counts.get("ingest", {}).get("accepted", 0) for r in results),
        "errors": "; ".join(e for r in results for e in r.errors)[:2000],
    }


CAPACITY_FLEETS = (1_000, 10_000, 30_000)
CAPACITY_WINDOW_H = 2.0  # the daily run starts after midnight deliveries and must be done before the morning shift


def capacity_model(factory_core_s: float, efficiency: float, window_h: float = CAPACITY_WINDOW_H, cores_per_machine: int = 16) -> dict[str, object]:
    """Cores and machines the daily run of each fleet size needs to finish within ``window_h``,
    from the measured single-core seconds of a factory-day and the measured parallel
    efficiency (factory-days are independent, so the work divides across cores at that
    efficiency)."""
    fleets = {}
    for n in CAPACITY_FLEETS:
        core_s = n * factory_core_s
        cores = math.ceil(core_s / (window_h * 3600 * efficiency))
        fleets[str(n)] = {"core_hours_per_day": round(core_s / 3600, 1), "cores": cores, "machines": math.ceil(cores / cores_per_machine)}
    return {"factory_core_s": round(factory_core_s, 3), "window_h": window_h, "cores_per_machine": cores_per_machine, "fleets": fleets}


def bench_scale(factories: int = 40, machines: int = 30, workdir: Path | None = None, console: Console | None = None) -> dict[str, object]:
    """The same simulated day of ``factories`` factories run three ways, each on a fresh copy of
    the hub and in a fresh process: plain single process on every core, and a local Dask cluster
    of 1 and of 2 single-threaded workers. Efficiency is how close two workers come to halving
    one worker's time; overhead what two workers cost against the plain run."""
    import shutil

    console = console or Console(stderr=True)
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        base = Path(tmp) / "base"
        console.log(f"building {factories} factories of {machines} machines x 10 sensors, a new day of 1-minute readings each")
        built = _child(["daily-generate", str(base), str(factories), str(machines)])
        runs: dict[str, dict[str, float]] = {}
        for mode in SCALE_MODES:
            copy = Path(tmp) / mode
            shutil.copytree(base, copy)
            runs[mode] = _child(["scale-run", str(copy), mode])
            shutil.rmtree(copy)
            console.log(f"{mode}: {runs[mode]['seconds']:.1f} s" + (f" ({int(runs[mode]['failed'])} factories failed: {runs[mode]['errors']})" if runs[mode]["failed"] else ""))
    local_s, one_s, two_s = (runs[m]["seconds"] for m in SCALE_MODES)
    efficiency = one_s / (2 * two_s)
    return {
        "factories": factories,
        "machines_per_factory": machines,
        "readings": int(built["readings"]),
        "cores": os.cpu_count() or 1,
        "local_s": round(local_s, 1),
        "one_worker_s": round(one_s, 1),
        "two_workers_s": round(two_s, 1),
        "efficiency": round(efficiency, 3),
        "overhead": round(two_s / local_s, 3),
        "cluster_start_s": {m: round(runs[m]["cluster_start_s"], 1) for m in SCALE_MODES[1:]},
        **{f"stage_{k.removeprefix('stage_')}": v for k, v in runs["dask-1"].items() if k.startswith("stage_")},
        "capacity": capacity_model(one_s / factories, efficiency),
        "failed": int(sum(r["failed"] for r in runs.values())),
        "same_readings": len({r["readings"] for r in runs.values()}) == 1,
        "targets": {"efficiency": 0.8, "overhead": 1.15},
    }


if __name__ == "__main__":
    kind, *rest = sys.argv[1:]
    children = {
        "daily-generate": lambda d, f, m: generate_daily_hub(d, int(f), int(m)),
        "daily-scan": _daily_scan,
        "daily-run": _daily_run,
        "scale-run": _scale_run,
        "duckdb": _duckdb_copy,
        "hub": _hub_ingest,
        "generate": lambda d, r: generate_feature_lake(d, int(r)),
        "features": _features_run,
        "scan": _scan_run,
        "pandas": _pandas_run,
        "dashboard-generate": lambda d, m, n: generate_dashboard_hub(d, int(m), int(n)),
        "dashboard-run": _dashboard_run,
        "dashboard-scan": _dashboard_scan,
    }
    print(json.dumps(children[kind](*rest)))
