"""The feature layer on a simulated factory (checked against the simulator's truth), its labels
(hand-computed), its store (atomic, factory-scoped) and its commands."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from analytics.demo import build_factory
from analytics.features import MACHINE_HEALTH, FeatureStore, build_features, fit_state_rules
from analytics.features.labels import failure_labels
from analytics.simulate import SimulationConfig, simulate_hub
from analytics.simulate.output import read_manifest
from analytics.store.dated import CURRENT, LEFTOVER_GRACE_S
from analytics.store.hub import Hub
from tests.conftest import NOW, PLANT

ROOT = Path(__file__).resolve().parents[1]
CONFIG = SimulationConfig(factories=2, machines=4, days=10, seed=21, start=date(2026, 9, 14), sensor_faults=False, failure_rate=2.0)


@pytest.fixture(scope="module")
def simulated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Hub, Path]:
    """Two simulated factories (no sensor faults) ingested, with 1 h features built."""
    out = tmp_path_factory.mktemp("sim") / "out"
    simulate_hub(CONFIG, out, workers=1)
    hub = Hub.open(data_dir=tmp_path_factory.mktemp("hub"))
    for factory in read_manifest(out)["factories"]:
        build_factory(hub, out / factory["factory_id"], now=NOW)
        build_features(hub, factory["factory_id"], window="1h")
    return hub, out


def _truth_states(out: Path, factory_id: str) -> pl.DataFrame:
    return pl.read_parquet(out / "truth" / factory_id / "states.parquet")


def test_operating_state_matches_the_simulator(simulated) -> None:
    """The share of running time per machine and hour agrees with the simulator's true states."""
    hub, out = simulated
    for factory in read_manifest(out)["factories"]:
        fid = factory["factory_id"]
        machine = FeatureStore(hub, fid).read(MACHINE_HEALTH, "1h", "machine").collect()
        truth = _truth_states(out, fid)
        # True running minutes per machine and hour, from the state intervals.
        minutes = (
            truth.with_columns(pl.datetime_ranges("start", pl.col("end") - timedelta(minutes=1), interval="1m").alias("t"))
            .explode("t")
            .group_by("machine_id", pl.col("t").dt.truncate("1h").alias("window_start"))
            .agg((pl.col("state") == "running").mean().alias("true_running"))
        )
        joined = machine.join(minutes, on=["machine_id", "window_start"], how="inner")
        assert joined.height > 0.9 * machine.height
        error = (joined["share_running"] - joined["true_running"]).abs()
        assert error.mean() < 0.01, fid
        assert (error < 0.05).mean() > 0.99, fid
        assert set(FeatureStore(hub, fid).rules()) == set(factory["machines"])


def test_health_statistics_use_running_time_only(simulated) -> None:
    """A machine that stands still shows no health statistics, however many samples arrive."""
    hub, out = simulated
    fid = read_manifest(out)["factories"][0]["factory_id"]
    store = FeatureStore(hub, fid)
    sensor = store.read(MACHINE_HEALTH, "1h", "sensor").collect()
    machine = store.read(MACHINE_HEALTH, "1h", "machine").collect()
    stopped = machine.filter(pl.col("share_running") == 0).select("machine_id", "window_start")
    rows = sensor.join(stopped, on=["machine_id", "window_start"], how="semi")
    assert rows.height > 0
    assert (rows["n"] > 0).all() and (rows["n_used"] == 0).all() and rows["mean"].is_null().all()
    running = machine.filter(pl.col("share_running") == 1).select("machine_id", "window_start")
    full = sensor.join(running, on=["machine_id", "window_start"], how="semi")
    assert (full["n_used"] == full["n"]).all() and full["mean"].is_not_null().all()


def test_degradation_shows_in_the_features(simulated) -> None:
    """Before each simulated failure, the sensors its mode moves deviate from their own trailing
    week in the direction the truth says (mean z-score of the last three running hours)."""
    hub, out = simulated
    deviations = []
    for factory in read_manifest(out)["factories"]:
        fid = factory["factory_id"]
        sensor = FeatureStore(hub, fid).read(MACHINE_HEALTH, "1h", "sensor").collect()
        degradations = pl.read_csv(out / "truth" / fid / "degradations.csv", try_parse_dates=True)
        for row in degradations.filter(pl.col("outcome") == "failure", pl.col("mode") != "tool_wear").iter_rows(named=True):
            end = row["end"].replace(tzinfo=UTC)
            for item in row["sensors"].split(";"):
                name, sign = item.split(":")
                before = sensor.filter(
                    (pl.col("machine_id") == row["machine_id"]) & (pl.col("sensor") == name)
                    & (pl.col("window_end") <= end) & (pl.col("n_used") > 10) & pl.col("z_7d").is_not_null()
                ).sort("window_start").tail(3)
                if before.height:
                    deviations.append((1 if sign == "+" else -1) * before["z_7d"].mean())
    assert len(deviations) >= 2
    # Every named sensor has moved the documented way; typically by more than a trailing standard
    # deviation (the trailing week already holds part of the rise, and temperatures swing with
    # load and the day, so single z-scores are moderate: the anomaly models combine them).
    assert min(deviations) > 0, deviations
    assert sorted(deviations)[len(deviations) // 2] > 1.0, deviations


def test_every_stored_column_is_declared(simulated) -> None:
    hub, out = simulated
    fid = read_manifest(out)["factories"][0]["factory_id"]
    store = FeatureStore(hub, fid)
    declared_sensor = {"machine_id", "sensor", "window_start", "window_end", *MACHINE_HEALTH.columns("sensor")}
    declared_machine = {"machine_id", "window_start", "window_end", *MACHINE_HEALTH.columns("machine"), *(c.name for c in MACHINE_HEALTH.cross)}
    assert set(store.read(MACHINE_HEALTH, "1h", "sensor").collect_schema().names()) == declared_sensor
    assert set(store.read(MACHINE_HEALTH, "1h", "machine").collect_schema().names()) == declared_machine
    described = {row["name"] for row in MACHINE_HEALTH.describe()}
    assert described >= (declared_sensor | declared_machine) - {"machine_id", "sensor", "window_start", "window_end"}
    assert MACHINE_HEALTH.key == "machine_health/v1"


def test_labels_by_hand() -> None:
    t0 = datetime(2026, 9, 1, tzinfo=UTC)
    windows = pl.DataFrame({"machine_id": ["M1"] * 5, "window_end": [t0 + timedelta(hours=h) for h in (1, 2, 10, 11, 30)]})
    events = pl.DataFrame(
        {
            "machine_id": ["M1", "M1", "M2"],
            "ts": [t0 + timedelta(hours=10), t0 + timedelta(hours=12), t0 + timedelta(hours=3)],
            "kind": ["failure", "repair", "failure"],
        }
    )
    labels = failure_labels(windows, events, horizon_hours=8, observed_until=t0 + timedelta(hours=40))
    assert labels["hours_to_failure"].to_list() == [9.0, 8.0, 0.0, None, None]
    assert labels["rul_hours"].to_list() == labels["hours_to_failure"].to_list()
    assert labels["censored"].to_list() == [False, False, False, True, True]
    # 9 h ahead is beyond the 8 h horizon; after the failure no other came within 8 observed hours;
    # at 30 h only 10 h are observed, enough for an 8 h horizon.
    assert labels["failure_within"].to_list() == [False, True, True, False, False]
    assert labels["in_repair"].to_list() == [False, False, False, True, False]
    short = failure_labels(windows, events, horizon_hours=8, observed_until=t0 + timedelta(hours=34))
    assert short["failure_within"].to_list()[-1] is None  # 4 h observed: unknown


def test_labels_on_the_simulator_truth(simulated) -> None:
    """Hours to failure from the events table equal the simulator's RUL truth at each hour."""
    hub, out = simulated
    from analytics.store.reader import FactoryReader

    for factory in read_manifest(out)["factories"]:
        fid = factory["factory_id"]
        if not pl.read_csv(out / "truth" / fid / "failures.csv").height:
            continue
        machine = FeatureStore(hub, fid).read(MACHINE_HEALTH, "1h", "machine").collect()
        events = FactoryReader(hub, fid).events().collect()
        labels = failure_labels(machine.select("machine_id", "window_end"), events, 24, machine["window_end"].max())
        truth = pl.read_parquet(out / "truth" / fid / "rul.parquet").select("machine_id", pl.col("ts").alias("window_end"), "rul_hours")
        joined = labels.join(truth, on=["machine_id", "window_end"], how="inner").filter(pl.col("rul_hours_right").is_not_null())
        assert joined.height > 0
        assert (joined["rul_hours"] - joined["rul_hours_right"]).abs().max() < 1e-4  # the truth is rounded to 4 decimals
        return
    pytest.fail("no simulated factory had a failure")


def test_store_switches_a_date_atomically(simulated, monkeypatch: pytest.MonkeyPatch) -> None:
    hub, out = simulated
    fid = read_manifest(out)["factories"][0]["factory_id"]
    store = FeatureStore(hub, fid)
    day = store.dates(MACHINE_HEALTH, "1h")[3]
    before = store.read(MACHINE_HEALTH, "1h", "sensor", day, day).collect()
    folder = store.root / "machine_health" / "v1" / "1h" / f"date={day.isoformat()}"
    files_before = sorted(p.name for p in folder.iterdir())

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        build_features(hub, fid, [day], window="1h")
    monkeypatch.undo()
    assert store.read(MACHINE_HEALTH, "1h", "sensor", day, day).collect().equals(before)
    crashed = sorted(set(p.name for p in folder.iterdir()) - set(files_before))
    assert crashed  # the crashed run's files are there, named by no pointer
    # A write right after leaves them: they could be a run of the same day still going.
    build_features(hub, fid, [day], window="1h")
    assert store.read(MACHINE_HEALTH, "1h", "sensor", day, day).collect().sort("machine_id", "sensor", "window_start").equals(before.sort("machine_id", "sensor", "window_start"))
    assert set(crashed) <= {p.name for p in folder.iterdir()}
    # Once they are older than the grace period, the next write removes them.
    old = time.time() - LEFTOVER_GRACE_S - 60
    for name in crashed:
        os.utime(folder / name, (old, old))
    build_features(hub, fid, [day], window="1h")
    files_after = sorted(p.name for p in folder.iterdir())
    assert len(files_after) == len(files_before) == 3 and CURRENT in files_after  # crashed run's files cleaned up


def test_features_are_factory_scoped(simulated, tmp_path: Path) -> None:
    hub, out = simulated
    first, second = (f["factory_id"] for f in read_manifest(out)["factories"])
    one = FeatureStore(hub, first).read(MACHINE_HEALTH, "1h", "machine").collect()
    two = FeatureStore(hub, second).read(MACHINE_HEALTH, "1h", "machine").collect()
    assert set(one["machine_id"]) & set(two["machine_id"])  # the same machine names in both ...
    assert not one.equals(two)  # ... but each store reads its own factory's data
    for bad in ("../" + second, "a/b", "..", ""):
        with pytest.raises(Exception, match=r"invalid|not registered"):
            FeatureStore(hub, bad)
    assert str(FeatureStore(hub, first).root).startswith(str(hub.lake.factory_root(first)))


def test_state_rules_are_kept_until_refit(acme: Hub) -> None:
    from analytics.ingest import ingest_file

    rows = ["machine_id,sensor,ts,value"] + [
        f"CNC-01,motor_current,2026-09-01 08:{m:02d}:00,{0.0 if m < 20 else (3.0 if m < 40 else 25.0)}" for m in range(60)
    ]
    path = acme.settings.data_dir.parent / "load.csv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    ingest_file(acme, "acme", path, now=NOW)
    rules = fit_state_rules(acme, "acme")
    assert set(rules) == {"CNC-01"}  # PUMP-02 has no load sensor
    rule = rules["CNC-01"]
    assert rule.sensor == "motor_current" and 0 < rule.off_below < 3.0 < rule.run_above < 25.0
    FeatureStore(acme, "acme").save_rules({"CNC-01": rule.__class__(**{**rule.__dict__, "run_above": 10.0})})
    assert fit_state_rules(acme, "acme")["CNC-01"].run_above == 10.0
    assert fit_state_rules(acme, "acme", refit=True)["CNC-01"].run_above == rule.run_above


def _cli(*args: str, data_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "FACTORYHUB_DATA_DIR": str(data_dir), "COLUMNS": "200", "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "analytics.cli", *args], env=env, capture_output=True, text=True, cwd=ROOT)


def test_features_commands(simulated) -> None:
    hub, out = simulated
    fid = read_manifest(out)["factories"][1]["factory_id"]
    day = FeatureStore(hub, fid).dates(MACHINE_HEALTH, "1h")[-2]
    proc = _cli("features", "build", "--factory", fid, "--window", "1d", "--date", day.isoformat(), data_dir=hub.settings.data_dir)
    assert proc.returncode == 0, proc.stderr
    assert "1d" in proc.stdout
    daily = FeatureStore(hub, fid).read(MACHINE_HEALTH, "1d", "sensor").collect()
    assert daily["window_start"].dt.convert_time_zone("Asia/Seoul").dt.date().unique().to_list() == [day]
    stale = _cli("features", "build", "--factory", fid, "--window", "1h", "--stale", data_dir=hub.settings.data_dir)
    assert stale.returncode == 0, stale.stderr
    assert "│ 1h     │ 0 " in stale.stdout  # nothing changed since the module's build
    rules = _cli("features", "rules", "--factory", fid, data_dir=hub.settings.data_dir)
    assert rules.returncode == 0 and "motor_current" in rules.stdout
    bad = _cli("features", "build", "--factory", fid, "--window", "2h", data_dir=hub.settings.data_dir)
    assert bad.returncode == 1 and "no window" in bad.stderr
    assert PLANT  # the shared plant stays importable for other modules


def test_bench_features_prints_figures(tmp_path: Path) -> None:
    proc = _cli("bench", "features", "--rows", "200000", "--repeat", "1", "--workdir", str(tmp_path), data_dir=tmp_path / "hub")
    assert proc.returncode == 0, proc.stderr
    figures = json.loads(proc.stdout.strip().splitlines()[-1])
    for key in ("rows_per_s", "scan_rows_per_s", "pandas_rows_per_s", "ratio_to_scan", "speedup_vs_pandas", "peak_rss_mb", "stage_seconds"):
        assert key in figures
    assert figures["rows"] == 200000 and figures["ratio_to_scan"] > 0


def test_stale_dates_are_those_whose_readings_changed(tmp_path: Path) -> None:
    """After a build nothing is stale; a late file for one date makes exactly that date stale,
    and rebuilding the stale dates makes everything current again."""
    out = tmp_path / "sim"
    simulate_hub(CONFIG.model_copy(update={"factories": 1, "days": 4}), out, workers=1)
    hub = Hub.open(data_dir=tmp_path / "hub")
    fid = read_manifest(out)["factories"][0]["factory_id"]
    build_factory(hub, out / fid, now=NOW)
    from analytics.features import stale_dates

    assert stale_dates(hub, fid) == _reading_dates(hub, fid)  # nothing built yet
    build_features(hub, fid, window="1h")
    assert stale_dates(hub, fid) == []
    day = _reading_dates(hub, fid)[1]
    late = tmp_path / "late.csv"
    stamp = datetime.combine(day, datetime.min.time()).replace(hour=12, minute=0, second=30)
    late.write_text(f"machine_id,sensor,ts,value\nCMP-01,motor_current,{stamp:%Y-%m-%dT%H:%M:%S}+09:00,40.0\n", encoding="utf-8")
    from analytics.ingest import ingest_file

    assert ingest_file(hub, fid, late, now=NOW).accepted == 1
    assert stale_dates(hub, fid) == [day]
    run = build_features(hub, fid, stale_dates(hub, fid), window="1h")
    assert run.computed == [day] and run.refreshed  # later dates' trailing context refreshed
    assert stale_dates(hub, fid) == []


def _reading_dates(hub: Hub, fid: str) -> list[date]:
    from analytics.store.reader import FactoryReader

    return FactoryReader(hub, fid).dates("readings")
