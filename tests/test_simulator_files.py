"""The simulator's files: deterministic, ingestible, and counted right.

The simulator says in its manifest how many readings the hub must accept, count as duplicate and
quarantine for each factory; here every file goes through the real ingest (the command line for
one factory, the library for the others) and the hub's figures must match exactly. Readings are
also compared value by value with a file parsed by the ``csv`` module.
"""

from __future__ import annotations

import csv
import filecmp
import json
import os
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import polars as pl
import pytest
import yaml

from analytics.demo import build_factory, data_files
from analytics.errors import AlreadyExistsError, InputFileError
from analytics.ingest.mapping import ImportMapping
from analytics.ingest.pipeline import ingest_file
from analytics.simulate import SimulationConfig, simulate_hub
from analytics.simulate.output import read_manifest
from analytics.store.hub import Hub
from analytics.store.reader import FactoryReader
from tests.conftest import NOW

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data_samples" / "simulated"

# Every gateway (long UTF-8, wide CP949, wide epoch with overlap), and many late and repeated files.
CONFIG = SimulationConfig(factories=3, machines=4, days=3, seed=5, start=date(2026, 9, 23), late_share=0.3, repeat_share=0.3, failure_rate=3.0)


def _tree(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def _assert_identical(a: Path, b: Path) -> None:
    files = _tree(a)
    assert files == _tree(b)
    _, mismatch, errors = filecmp.cmpfiles(a, b, files, shallow=False)
    assert not mismatch and not errors, mismatch[:5] + errors[:5]


def _cli(*args: str, data_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "FACTORYHUB_DATA_DIR": str(data_dir), "COLUMNS": "250", "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "analytics.cli", *args], env=env, capture_output=True, text=True, cwd=ROOT)


@pytest.fixture(scope="module")
def simulation(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sim") / "out"
    simulate_hub(CONFIG, out, workers=1)
    return out


def test_same_seed_gives_byte_identical_files_whatever_the_workers(simulation: Path, tmp_path: Path) -> None:
    again = tmp_path / "again"
    simulate_hub(CONFIG, again, workers=2)
    _assert_identical(simulation, again)
    other = tmp_path / "other"
    simulate_hub(CONFIG.model_copy(update={"seed": 6}), other, workers=1)
    first = next(p for p in _tree(simulation) if p.endswith(".csv") and "incoming" in p)
    assert (simulation / first).read_bytes() != (other / first).read_bytes()


def test_committed_sample_is_what_the_simulator_writes(tmp_path: Path) -> None:
    """data_samples/simulated is exactly a fresh run of the configuration in its manifest."""
    config = SimulationConfig.model_validate(read_manifest(SAMPLE)["config"])
    assert (config.factories, config.days) == (2, 7)
    fresh = tmp_path / "fresh"
    simulate_hub(config, fresh, workers=1)
    _assert_identical(SAMPLE, fresh)
    assert sum(p.stat().st_size for p in SAMPLE.rglob("*") if p.is_file()) < 6_000_000


def test_all_gateways_and_delivery_quirks_are_present(simulation: Path) -> None:
    manifest = read_manifest(simulation)
    gateways = {f["gateway"] for f in manifest["factories"]}
    assert gateways == {"long_utf8", "wide_cp949", "wide_epoch_resend"}
    types = {t for f in manifest["factories"] for t in f["machines"].values()}
    assert types == {"cnc_machining_center", "injection_molding", "air_compressor", "centrifugal_pump"}
    assert sum(f["late_files"] for f in manifest["factories"]) > 0
    assert sum(f["repeated_files"] for f in manifest["factories"]) > 0
    cp949 = next(f for f in manifest["factories"] if f["gateway"] == "wide_cp949")
    readings, _ = data_files(simulation / cp949["factory_id"])
    raw = readings[0].read_bytes()
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")
    header = raw.decode("cp949").split("\r\n")[0]
    assert header.startswith("일시,설비번호,") and "진동(mm/s)" in header


def _hub_totals(results: list) -> dict[str, dict[str, int]]:
    totals: dict[str, dict[str, int]] = {}
    for table in ("readings", "events"):
        part = [r for r in results if r.table == table]
        totals[table] = {
            "files": len(part),
            "skipped_files": sum(r.status == "skipped" for r in part),
            "accepted": sum(r.accepted for r in part),
            "duplicate": sum(r.duplicate for r in part),
            "quarantined": sum(r.quarantined for r in part),
        }
    return totals


def _expected(factory: dict, table: str) -> dict[str, int]:
    wanted = factory["expected_ingest"][table]
    return {k: wanted[k] for k in ("files", "skipped_files", "accepted", "duplicate", "quarantined")}


def test_ingest_counts_match_the_simulator(simulation: Path, tmp_path: Path) -> None:
    hub = Hub.open(data_dir=tmp_path / "hub")
    manifest = read_manifest(simulation)
    reasons: list[str] = []
    for factory in manifest["factories"]:
        fid = factory["factory_id"]
        _, results = build_factory(hub, simulation / fid, now=NOW)
        totals = _hub_totals(results)
        assert totals["readings"] == _expected(factory, "readings"), fid
        assert totals["events"] == _expected(factory, "events"), fid
        assert totals["readings"]["duplicate"] > 0  # re-sent files (and overlaps) happen in every factory here
        reader = FactoryReader(hub, fid)
        assert reader.readings().select(pl.len()).collect().item() == factory["expected_ingest"]["readings"]["accepted"]
        quarantine = reader.quarantine().collect()
        assert quarantine.height == factory["expected_ingest"]["readings"]["quarantined"]
        reasons += quarantine["reason"].to_list()
        assert reader.events().select(pl.len()).collect().item() == factory["expected_ingest"]["events"]["accepted"]
    # The only bad readings the simulator sends are the transmitters' error codes (-9999).
    assert reasons and all(r.startswith("outside valid range") for r in reasons), set(reasons)


def _cli_totals(stdout: str) -> dict[str, int]:
    """Sum the per-file rows of the ingest command's table (file, status, rows, accepted, duplicate, quarantined, note)."""
    totals = {"files": 0, "skipped_files": 0, "accepted": 0, "duplicate": 0, "quarantined": 0}
    for line in stdout.splitlines():
        cells = [c.strip() for c in line.split("│")]
        if len(cells) < 7 or not cells[1].endswith(".csv"):
            continue
        totals["files"] += 1
        totals["skipped_files"] += cells[2] == "skipped"
        totals["accepted"] += int(cells[4])
        totals["duplicate"] += int(cells[5])
        totals["quarantined"] += int(cells[6])
    return totals


def test_factoryhub_ingest_of_the_files_matches_the_simulator(simulation: Path, tmp_path: Path) -> None:
    """The operator's path: ``factoryhub factory add --plant`` then ``factoryhub ingest`` of a factory's files."""
    manifest = read_manifest(simulation)
    factory = next(f for f in manifest["factories"] if f["gateway"] == "wide_cp949")
    folder = simulation / factory["factory_id"]
    data_dir = tmp_path / "hub"
    assert _cli("factory", "add", "--plant", str(folder / "plant.yaml"), data_dir=data_dir).returncode == 0
    readings, events = data_files(folder)
    proc = _cli("ingest", *map(str, readings), "--factory", factory["factory_id"], "--mapping", str(folder / "mapping.yaml"), "--no-quality", data_dir=data_dir)
    assert proc.returncode == 0, proc.stderr
    assert _cli_totals(proc.stdout) == _expected(factory, "readings")
    assert len(events) == factory["expected_ingest"]["events"]["files"]
    if events:  # a quiet factory may have no maintenance log in three days
        proc = _cli("ingest", *map(str, events), "--factory", factory["factory_id"], "--mapping", str(folder / "events_mapping.yaml"), data_dir=data_dir)
        assert proc.returncode == 0, proc.stderr
        assert _cli_totals(proc.stdout) == _expected(factory, "events")


def test_stored_values_are_the_files_values(simulation: Path, tmp_path: Path) -> None:
    """Every reading of a wide epoch-second file, read with the csv module, is in the lake unchanged."""
    manifest = read_manifest(simulation)
    factory = next(f for f in manifest["factories"] if f["gateway"] == "wide_epoch_resend")
    folder = simulation / factory["factory_id"]
    hub = Hub.open(data_dir=tmp_path / "hub")
    build_factory(hub, folder, now=NOW)
    readings, _ = data_files(folder)
    path = readings[-1]
    expected = {}
    with path.open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            ts = datetime.fromtimestamp(int(row.pop("ts")), UTC)
            machine = row.pop("machine_id")
            for sensor, text in row.items():
                if text != "" and float(text) != -9999.0:
                    expected[(machine, sensor, ts)] = float(text)
    machine = path.name.split("_")[0]
    stored = (
        FactoryReader(hub, factory["factory_id"])
        .readings(start=min(k[2] for k in expected), end=max(k[2] for k in expected) + timedelta(minutes=1), machines=[machine])
        .collect()
    )
    got = {(m, s, t.astimezone(UTC)): v for m, s, t, v in stored.select("machine_id", "sensor", "ts", "value").iter_rows()}
    assert {k: got.get(k) for k in expected} == expected


def test_wide_mapping_with_optional_sensor_columns(acme: Hub, write_file) -> None:
    """``missing_sensor_columns: ignore``: one mapping for several machine types' files."""
    mapping = ImportMapping(
        format="wide", machine_column="설비", timestamp={"column": "일시"},
        sensors={"주축온도": "spindle_temp", "진동": "vibration_rms", "압력": "pressure"}, missing_sensor_columns="ignore",
    )
    path = write_file("cnc.csv", "일시,설비,주축온도,진동\n2026-09-01 08:00:00,CNC-01,41.5,1.2\n")
    result = ingest_file(acme, "acme", path, mapping, now=NOW)
    assert (result.accepted, result.quarantined) == (2, 0)
    none = write_file("none.csv", "일시,설비,온도\n2026-09-01 08:00:00,CNC-01,41.5\n")
    with pytest.raises(InputFileError, match="none of the mapping's sensor columns"):
        ingest_file(acme, "acme", none, mapping, now=NOW)
    strict = mapping.model_copy(update={"missing_sensor_columns": "error"})
    other = write_file("cnc2.csv", "일시,설비,주축온도,진동\n2026-09-01 08:01:00,CNC-01,41.6,1.3\n")
    with pytest.raises(InputFileError, match="missing column"):
        ingest_file(acme, "acme", other, strict, now=NOW)


def test_simulate_command_prints_figures_and_refuses_to_overwrite(tmp_path: Path) -> None:
    out = tmp_path / "sim"
    args = ["simulate", "--factories", "2", "--machines", "3", "--days", "1", "--seed", "3", "--out", str(out)]
    proc = _cli(*args, data_dir=tmp_path / "hub")
    assert proc.returncode == 0, proc.stderr
    figures = json.loads(proc.stdout.strip().splitlines()[-1])
    assert {"readings", "seconds", "readings_per_s", "failures", "files"} <= set(figures)
    manifest = read_manifest(out)
    sensors = sum(
        len(machine["sensors"])
        for f in manifest["factories"]
        for machine in yaml.safe_load((out / f["factory_id"] / "plant.yaml").read_text(encoding="utf-8"))["machines"]
    )
    assert figures["readings"] == sum(f["readings"] for f in manifest["factories"]) == 1440 * sensors
    assert figures["files"] == len([p for p in out.rglob("*.csv") if "incoming" in p.parts])
    again = _cli(*args, data_dir=tmp_path / "hub")
    assert again.returncode == 1 and "exists and is not empty" in again.stderr
    assert _cli(*args, "--force", data_dir=tmp_path / "hub").returncode == 0
    bad = _cli("simulate", "--out", str(tmp_path / "bad"), "--interval", "7min", data_dir=tmp_path / "hub")
    assert bad.returncode == 1 and "interval" in bad.stderr
    assert not (tmp_path / "bad").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staging folder left behind


def test_interrupted_simulation_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from analytics.simulate import output

    def crash(self) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(output.FactoryWriter, "_write_truth", crash)
    with pytest.raises(RuntimeError, match="disk full"):
        simulate_hub(CONFIG.model_copy(update={"factories": 1, "days": 1}), tmp_path / "sim", workers=1)
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "kept").mkdir()
    (tmp_path / "kept" / "note.txt").write_text("mine")
    with pytest.raises(AlreadyExistsError):
        simulate_hub(CONFIG, tmp_path / "kept", workers=1)
    assert (tmp_path / "kept" / "note.txt").read_text() == "mine"


def test_demo_build_simulates_up_to_yesterday_and_is_idempotent(tmp_path: Path) -> None:
    data_dir = tmp_path / "hub"
    args = ["demo", "build", "--factories", "2", "--days", "2", "--machines", "3"]
    proc = _cli(*args, data_dir=data_dir)
    assert proc.returncode == 0, proc.stderr
    hub = Hub.open(data_dir=data_dir)
    factories = [f.factory_id for f in hub.registry.factories()]
    assert factories == ["daeyang-02", "hanbit-01"]
    manifest = read_manifest(data_dir / "simulated")
    start = date.fromisoformat(manifest["config"]["start"])
    for factory in manifest["factories"]:
        reader = FactoryReader(hub, factory["factory_id"])
        stored = reader.readings().select(pl.len(), pl.col("ts").max()).collect().row(0)
        assert stored[0] == factory["expected_ingest"]["readings"]["accepted"]
        last_local = stored[1].astimezone(ZoneInfo("Asia/Seoul")).date()
        assert (last_local - start).days == 1  # two days: start and start + 1 = yesterday
    assert (datetime.now(ZoneInfo("Asia/Seoul")).date() - start).days == 2  # so the last day is Seoul's yesterday
    # every day lived through the daily pipeline, in one demo run that ended ok
    from analytics.demo import CREDENTIALS_FILE
    from analytics.pipeline import RunLog
    from analytics.solutions.solve import solution_store

    for factory_id in factories:
        assert solution_store(hub, factory_id).dates() == [start, start + timedelta(days=1)]
    runs = RunLog(hub).runs()
    assert runs[["kind", "status", "factories", "failed"]].rows() == [("demo", "ok", 2, 0)]
    assert RunLog(hub).results(runs["run_id"][0]).height == 4
    credentials = (data_dir / CREDENTIALS_FILE).read_text(encoding="utf-8")
    assert "hanbit-01-manager" in credentials and "daeyang-02-engineer" in credentials
    password = credentials.splitlines()[1].split()[1]
    assert password not in proc.stdout and password not in proc.stderr  # passwords only in the owner's file

    second = _cli(*args, data_dir=data_dir)
    assert second.returncode == 0, second.stderr
    assert "0 new readings" in second.stdout and "simulated" in second.stderr
    assert "lived 0 factory-days" in second.stdout  # nothing new to live
    assert (data_dir / CREDENTIALS_FILE).read_text(encoding="utf-8") != credentials  # passwords reset
