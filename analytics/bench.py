"""Benchmarks. Each measures the hub against a baseline run on the same machine in the same run,
and reports the ratio, because shared machines are noisy."""

from __future__ import annotations

import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl
from rich.console import Console

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
    out = subprocess.run([sys.executable, "-m", "analytics.bench", *args], check=True, capture_output=True, text=True)
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


if __name__ == "__main__":
    kind, *rest = sys.argv[1:]
    figures = _duckdb_copy(*rest) if kind == "duckdb" else _hub_ingest(*rest)
    print(json.dumps(figures))
