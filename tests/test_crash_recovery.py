"""Killing an ingest at random moments never leaves a half-written file visible, and re-running
completes it with every reading stored exactly once."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import polars as pl
import pytest

from analytics.ingest import ingest_file
from analytics.store.hub import Hub
from analytics.store.reader import FactoryReader
from tests.conftest import NOW

FILES = 3
ROWS_PER_FILE = 60_000
CHUNK_ROWS = 7_000  # many chunks per file, so a kill often lands between two of them
TRIALS = 20

WORKER = textwrap.dedent(
    """
    import sys
    from datetime import datetime, UTC
    from analytics.ingest import ingest_file
    from analytics.store.hub import Hub
    hub = Hub.open(data_dir=sys.argv[1])
    for path in sys.argv[2:]:
        ingest_file(hub, "acme", path, now=datetime(2026, 11, 1, tzinfo=UTC))
    """
)


def _make_files(folder: Path) -> dict[Path, pl.DataFrame]:
    """Files with disjoint keys (one hour each), so every stored row tells which file it is from."""
    files = {}
    for index in range(FILES):
        start = pl.datetime(2026, 3, 1 + index, 9)
        per_sensor = ROWS_PER_FILE // 3
        frame = pl.DataFrame({"i": range(ROWS_PER_FILE)}).select(
            pl.lit("CNC-01").alias("machine_id"),
            pl.col("i").floordiv(per_sensor).replace_strict([0, 1, 2], ["spindle_temp", "vibration_rms", "motor_current"]).alias("sensor"),
            (start + pl.duration(seconds=pl.col("i") % per_sensor)).dt.strftime("%Y-%m-%d %H:%M:%S").alias("ts"),
            ((pl.col("i") * 7919 % 1000) / 10).alias("value"),
        )
        path = folder / f"part-{index}.csv"
        frame.write_csv(path)
        files[path] = frame
    return files


def _stored(hub: Hub) -> pl.DataFrame:
    return FactoryReader(hub, "acme").readings().collect()


def _check_whole_files(stored: pl.DataFrame, files: dict[Path, pl.DataFrame]) -> int:
    """Every file is either entirely in the lake or not at all; returns how many are in."""
    assert stored.select(pl.struct("machine_id", "sensor", "ts").is_duplicated().any()).item() is False
    complete = 0
    for index in range(FILES):
        day = stored.filter(pl.col("ts").dt.convert_time_zone("Asia/Seoul").dt.day() == 1 + index)
        assert day.height in (0, ROWS_PER_FILE), f"file {index} half visible: {day.height} rows"
        complete += day.height == ROWS_PER_FILE
    return complete


def test_kill_at_random_points_then_resume(acme: Hub, tmp_path: Path) -> None:
    files = _make_files(tmp_path)
    env = {**os.environ, "FACTORYHUB_INGEST_CHUNK_ROWS": str(CHUNK_ROWS), "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    command = [sys.executable, "-c", WORKER, str(acme.settings.data_dir), *map(str, files)]
    # Calibrate: how long does an uninterrupted run take on this machine, start-up included?
    started = time.perf_counter()
    subprocess.run(command, env=env, check=True)
    duration = time.perf_counter() - started
    _check_whole_files(_stored(acme), files)
    rng = random.Random(20261123)
    kills = []
    for attempt in range(3 * TRIALS):
        if len(kills) == TRIALS:
            break
        if attempt % 2 == 0:
            _reset(acme)  # odd attempts resume whatever the previous kill left
        proc = subprocess.Popen(command, env=env)
        time.sleep(rng.uniform(0.05, 0.95) * duration)
        if proc.poll() is not None:
            continue  # finished before the kill: not a trial
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        kills.append(_check_whole_files(_stored(acme), files))
    assert len(kills) == TRIALS, f"only {len(kills)} ingests were killed in progress"
    # Kills landed before, between and after files' commits.
    assert min(kills) < FILES and len(set(kills)) >= 2, kills
    # Whatever state the last kill left, one more run completes the work exactly once.
    for path in files:
        ingest_file(acme, "acme", path, now=NOW)
    assert _check_whole_files(_stored(acme), files) == FILES
    expected = pl.concat(files.values()).height
    assert _stored(acme).height == expected


def _reset(hub: Hub) -> None:
    """Drop the factory's lake (keeping its registration) between trials."""
    import shutil

    shutil.rmtree(hub.lake.factory_root("acme") / "lake", ignore_errors=True)
    with hub.registry._connect() as con:  # noqa: SLF001 - test reset of the ingest history
        con.execute("DELETE FROM ingest_runs WHERE factory_id = 'acme'")


def test_ingest_killed_before_commit_leaves_nothing_visible(acme: Hub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A failure after files were staged but before the commit: no reading is visible, the staged
    files are removed, and the retry stores everything."""
    files = _make_files(tmp_path)
    path = next(iter(files))
    calls = {"n": 0}
    original = acme.lake.commit

    def failing_commit(factory_id, table, adds, metadata=None):
        calls["n"] += 1
        if table == "readings":
            raise RuntimeError("simulated crash during commit")
        return original(factory_id, table, adds, metadata)

    monkeypatch.setattr(acme.lake, "commit", failing_commit)
    with pytest.raises(RuntimeError):
        ingest_file(acme, "acme", path, now=NOW)
    assert _stored(acme).height == 0
    leftovers = list((acme.lake.table_path("acme", "readings")).rglob("*.parquet"))
    assert leftovers == []
    monkeypatch.setattr(acme.lake, "commit", original)
    assert ingest_file(acme, "acme", path, now=NOW).accepted == ROWS_PER_FILE
    assert _stored(acme).height == ROWS_PER_FILE
