"""The `factoryhub` command line, run as operators run it (a subprocess per command)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import PLANT

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def cli(tmp_path: Path):
    env = {**os.environ, "FACTORYHUB_DATA_DIR": str(tmp_path / "hub"), "COLUMNS": "200", "PYTHONPATH": str(ROOT)}

    def run(*args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run([sys.executable, "-m", "analytics.cli", *args], env=env, capture_output=True, text=True, cwd=tmp_path)
        if ok:
            assert proc.returncode == 0, proc.stderr + proc.stdout
        return proc

    return run


def test_register_ingest_report_export_delete(cli, tmp_path: Path) -> None:
    plant = tmp_path / "plant.yaml"
    plant.write_text(yaml.safe_dump(PLANT, allow_unicode=True), encoding="utf-8")
    assert "registered factory acme with 2 machines" in cli("factory", "add", "--plant", str(plant)).stdout
    cli("factory", "add", "busan-press", "--name-ko", "부산프레스", "--name-en", "Busan Press")
    cli("machine", "add", "PRESS-01", "--factory", "busan-press", "--type", "press", "--sensor", "force:kN:0:2500:1s", "--sensor", "oil_temp:°C:-10:120:10s")
    listing = cli("factory", "list").stdout
    assert "acme" in listing and "부산프레스" in listing
    machines = cli("machine", "list", "--factory", "busan-press").stdout
    assert "force" in machines and "[0.0, 2500.0]" in machines

    good = tmp_path / "good.csv"
    good.write_text("machine_id,sensor,ts,value\nCNC-01,spindle_temp,2026-01-01 09:00:00,20\nCNC-01,spindle_temp,2026-01-01 09:00:01,500\n", encoding="utf-8")
    broken = tmp_path / "broken.csv"
    broken.write_bytes(b"\x00\x01\x02garbage")
    proc = cli("ingest", str(broken), str(good), "--factory", "acme", ok=False)
    assert proc.returncode == 1
    assert "broken.csv" in proc.stderr and "binary content" in proc.stderr
    assert "good.csv" in proc.stdout and "outside valid range: 1" in proc.stdout  # the other file went in
    again = cli("ingest", str(good), "--factory", "acme")
    assert "skipped" in again.stdout

    assert "spindle_temp" in cli("quality", "--factory", "acme").stdout
    cli("factory", "export", "acme", "--out", str(tmp_path / "exports"))
    manifest = json.loads((tmp_path / "exports" / "acme" / "manifest.json").read_text(encoding="utf-8"))
    assert {f["file"]: f["rows"] for f in manifest["files"]}["readings.parquet"] == 1
    cli("factory", "delete", "acme", "--yes")
    assert "acme" not in cli("factory", "list").stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("factory", "add", "../etc"), "invalid factory id"),
        (("factory", "add", "ok-id", "--timezone", "Mars/Base"), "unknown time zone"),
        (("ingest", "x.csv", "--factory", "nope"), "factory 'nope' is not registered"),
        (("machine", "add", "M1", "--factory", "nope", "--type", "pump"), "factory 'nope' is not registered"),
    ],
)
def test_user_errors_exit_1_with_one_clear_line(cli, args: tuple[str, ...], message: str) -> None:
    proc = cli(*args, ok=False)
    assert proc.returncode == 1
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr


def test_drop_folder_moves_files(cli, tmp_path: Path) -> None:
    plant = tmp_path / "plant.yaml"
    plant.write_text(yaml.safe_dump(PLANT, allow_unicode=True), encoding="utf-8")
    cli("factory", "add", "--plant", str(plant))
    drop = tmp_path / "drop"
    drop.mkdir()
    (drop / "ok.csv").write_text("machine_id,sensor,ts,value\nCNC-01,spindle_temp,2026-01-01 09:00:00,20\n", encoding="utf-8")
    (drop / "bad.csv").write_text("", encoding="utf-8")
    (drop / "upload.csv.part").write_text("still uploading", encoding="utf-8")
    old = 1_700_000_000
    for f in drop.iterdir():
        os.utime(f, (old, old))  # settled long ago
    proc = cli("ingest", "--factory", "acme", "--watch-dir", str(drop), "--once", ok=False)
    assert proc.returncode == 1  # one file failed
    assert (drop / "processed" / "ok.csv").exists()
    assert (drop / "failed" / "bad.csv").exists()
    assert "empty file" in (drop / "failed" / "bad.csv.error.txt").read_text(encoding="utf-8")
    assert (drop / "upload.csv.part").exists()  # partial uploads are left alone


def test_bench_prints_json_last(cli) -> None:
    proc = cli("bench", "ingest", "--rows", "20000", "--repeat", "1")
    figures = json.loads(proc.stdout.strip().splitlines()[-1])
    assert set(figures) >= {"rows_per_s", "duckdb_copy_rows_per_s", "ratio", "peak_rss_mb"}
    assert figures["rows"] == 20000 and figures["accepted"] + figures["duplicate"] + figures["quarantined"] == 20000
    assert figures["ratio"] == pytest.approx(figures["rows_per_s"] / figures["duckdb_copy_rows_per_s"], rel=0.01)
    assert figures["duplicate"] == 20000 // 200  # the generator repeats 0.5 % of the rows


def test_bench_workdir_is_made_or_refused(cli, tmp_path: Path) -> None:
    # A missing scratch folder is made (it was a traceback from tempfile); a file is refused up front.
    scratch = tmp_path / "scratch" / "deeper"
    proc = cli("bench", "ingest", "--rows", "2000", "--repeat", "1", "--workdir", str(scratch))
    assert json.loads(proc.stdout.strip().splitlines()[-1])["rows"] == 2000
    assert scratch.is_dir() and not any(scratch.iterdir())  # its temporary folder is gone again
    (tmp_path / "a-file").write_text("x")
    refused = cli("bench", "ingest", "--rows", "2000", "--workdir", str(tmp_path / "a-file"), ok=False)
    assert refused.returncode == 2 and "is a file, not a folder" in refused.stderr


def test_openmp_waits_passively_in_commands_unless_the_operator_chose(tmp_path: Path) -> None:
    """OpenMP's spinning waits, on a machine shared with other work, made a factory's training
    several times slower (analytics.threads): the command sets the passive policy before anything
    loads OpenMP, and keeps a policy the operator set."""
    probe = (
        "import os, sys\n"
        "import analytics.cli\n"
        "loaded = [m for m in ('xgboost', 'sklearn') if m in sys.modules]\n"
        "loaded += [line.split()[-1] for line in open('/proc/self/maps') if 'libgomp' in line]\n"
        "sys.argv = ['factoryhub', '--help']\n"
        "try:\n    analytics.cli.main()\nexcept SystemExit:\n    pass\n"
        "print(loaded, os.environ.get('OMP_WAIT_POLICY'), file=sys.stderr)\n"
    )
    base = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"} | {"PYTHONPATH": str(ROOT), "FACTORYHUB_DATA_DIR": str(tmp_path)}
    for env, policy in ((base, "PASSIVE"), ({**base, "OMP_WAIT_POLICY": "ACTIVE"}, "ACTIVE")):
        done = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, cwd=tmp_path, check=True)
        # Importing the command line loads no OpenMP, so the policy is set before it is read.
        assert done.stderr.strip().splitlines()[-1] == f"[] {policy}"
