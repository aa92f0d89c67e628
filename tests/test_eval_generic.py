"""Generic ``--train/--test`` evaluation (``analytics.evaluation.generic``) and its metrics."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from analytics.errors import InputFileError
from analytics.evaluation import generic, skab
from analytics.evaluation.metrics import anomaly_events, binary_metrics, confusion, event_metrics

ROOT = Path(__file__).resolve().parents[1]
SKAB_FILE = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "skab" / "data" / "valve1" / "0.csv"


# --- metrics by hand ---------------------------------------------------------------------------
def test_skab_uses_the_shared_metrics() -> None:
    assert skab.confusion is confusion
    f1, far, mar = skab.f1_far_mar(2, 3, 1, 2)
    m = binary_metrics(2, 3, 1, 2)
    assert f1 == pytest.approx(m["f1"]) and far == pytest.approx(100 * m["far"]) and mar == pytest.approx(100 * m["mar"])


def test_binary_metrics_by_hand() -> None:
    m = binary_metrics(tp=2, tn=3, fp=1, fn=2)
    assert m["precision"] == pytest.approx(2 / 3)
    assert m["recall"] == pytest.approx(2 / 4)
    assert m["f1"] == pytest.approx(2 * (2 / 3) * (1 / 2) / (2 / 3 + 1 / 2))  # harmonic mean
    assert m["far"] == pytest.approx(1 / 4) and m["mar"] == pytest.approx(2 / 4)
    assert math.isnan(binary_metrics(0, 5, 0, 0)["precision"])


def test_anomaly_events_are_maximal_runs() -> None:
    assert anomaly_events([0, 1, 1, 0, 0, 1, 0, 1, 1, 1]) == [(1, 2), (5, 5), (7, 9)]
    assert anomaly_events([1, 1, 0]) == [(0, 1)]
    assert anomaly_events([0, 0]) == [] and anomaly_events([]) == []


def test_event_metrics_by_hand() -> None:
    labels = [0, 1, 1, 1, 0, 0, 1, 1, 0, 1, 1, 1, 1]
    preds = [1, 0, 0, 1, 0, 1, 0, 0, 0, 1, 1, 0, 1]
    # events (1..3): first hit row 3, delay 2 rows; (6..7): missed (the hit at 5 is outside);
    # (9..12): hit at 9, delay 0
    ts = np.datetime64("2024-01-01T00:00:00") + np.array([0, 10, 20, 35, 40, 50, 60, 70, 80, 90, 100, 110, 120]).astype("timedelta64[s]")
    e = event_metrics(labels, preds, ts)
    assert e["events"] == 3 and e["detected_events"] == 2
    assert e["event_recall"] == pytest.approx(2 / 3)
    assert e["mean_delay_rows"] == pytest.approx((2 + 0) / 2)
    assert e["mean_delay_s"] == pytest.approx((25 + 0) / 2)  # 35 s - 10 s, and 0
    e = event_metrics(labels, preds)
    assert e["mean_delay_s"] is None and e["mean_delay_rows"] == pytest.approx(1.0)
    e = event_metrics([0, 1, 1], [1, 0, 0], ts[:3])
    assert e["event_recall"] == 0 and math.isnan(e["mean_delay_s"])


# --- files -------------------------------------------------------------------------------------
def _write_pair(folder: Path, *, sep: str = ",", decimal_comma: bool = False) -> tuple[Path, Path]:
    """Three sensors around fixed levels; the test part holds two level shifts of 'b' (rows 100-139
    and 200-219, labelled 1) at one row per 10 s."""
    rng = np.random.default_rng(0)

    def rows(n: int, start: int, shifts: list[tuple[int, int]]) -> list[list[str]]:
        out = []
        for i in range(n):
            a, b, c = 10 + rng.normal(0, 0.1), 5 + rng.normal(0, 0.1), 20 + rng.normal(0, 0.1)
            label = int(any(lo <= i <= hi for lo, hi in shifts))
            if label:
                b += 10.0  # a hundred standard deviations
            t = (datetime(2024, 3, 1) + timedelta(seconds=start + 10 * i)).strftime("%Y-%m-%d %H:%M:%S")
            vals = [f"{v:.4f}".replace(".", ",") if decimal_comma else f"{v:.4f}" for v in (a, b, c)]
            out.append([t, *vals, str(label)])
        return out

    train, test = folder / "train.csv", folder / "test.csv"
    train.write_text("\n".join([sep.join(["timestamp", "a", "b", "c", "note"])] + [sep.join([*r[:4], "ok"]) for r in rows(300, 0, [])]) + "\n")
    test.write_text("\n".join([sep.join(["timestamp", "a", "b", "c", "anomaly"])] + [sep.join(r) for r in rows(300, 0, [(100, 139), (200, 219)])]) + "\n")
    return train, test


def test_evaluate_files_level_shift(tmp_path: Path) -> None:
    train, test = _write_pair(tmp_path)
    f = generic.evaluate_files(train, test, "pca")
    assert f["sensors"] == ["a", "b", "c"] and f["time_column"] == "timestamp" and f["label_column"] == "anomaly"
    assert f["rows"] == 300 and f["train_rows"] == 300
    assert f["events"] == 2 and f["detected_events"] == 2 and f["event_recall"] == 1.0
    assert f["recall"] == 1.0 and f["mean_delay_rows"] == 0 and f["mean_delay_s"] == 0
    assert f["tp"] == 60 and f["fn"] == 0 and f["fp"] <= 5  # PCA's 99 % limit: a few false alarms at most
    assert f["far"] == pytest.approx(f["fp"] / 240)


def test_semicolon_and_decimal_comma(tmp_path: Path) -> None:
    train, test = _write_pair(tmp_path, sep=";", decimal_comma=True)
    f = generic.evaluate_files(train, test, "pca")
    assert f["sensors"] == ["a", "b", "c"] and f["recall"] == 1.0 and f["event_recall"] == 1.0


def test_input_errors_name_file_and_column(tmp_path: Path) -> None:
    train, test = _write_pair(tmp_path)
    with pytest.raises(InputFileError, match="not found") as exc:
        generic.evaluate_files(tmp_path / "nope.csv", test)
    assert exc.value.path.endswith("nope.csv")
    with pytest.raises(InputFileError) as exc:
        generic.evaluate_files(train, test, label_column="fault")
    assert exc.value.column == "fault" and exc.value.path == str(test)
    bad = tmp_path / "bad.csv"
    bad.write_text(test.read_text().replace(",1\n", ",2\n", 1))
    with pytest.raises(InputFileError, match="0 or 1") as exc:
        generic.evaluate_files(train, bad)
    assert exc.value.column == "anomaly" and exc.value.path == str(bad)
    other = tmp_path / "other.csv"
    other.write_text("timestamp,x,y\n2024-03-01 00:00:00,1,2\n2024-03-01 00:00:10,1,2\n")
    with pytest.raises(InputFileError, match="no numeric sensor column in common"):
        generic.evaluate_files(other, test)


# --- the CLI -----------------------------------------------------------------------------------
def _cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "FACTORYHUB_DATA_DIR": str(tmp_path / "hub"), "COLUMNS": "200", "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "analytics.cli", *args], env=env, capture_output=True, text=True, cwd=tmp_path)


def test_cli_train_test_end_to_end(tmp_path: Path) -> None:
    train, test = _write_pair(tmp_path)
    proc = _cli(tmp_path, "eval", "anomaly", "--train", str(train), "--test", str(test))
    assert proc.returncode == 0, proc.stderr + proc.stdout
    f = json.loads(proc.stdout.strip().splitlines()[-1])
    for key in ("precision", "recall", "f1", "far", "event_recall", "mean_delay_s", "mar", "detector", "rows", "seconds"):
        assert key in f, key
    assert f["detector"] == "pca" and f["rows"] == 300
    assert f["recall"] == 1.0 and f["event_recall"] == 1.0 and f["mean_delay_s"] == 0 and f["mar"] == 0
    assert f["precision"] >= 60 / 65 and 0 <= f["far"] <= 5 / 240
    assert "event recall" in proc.stderr and "F1" in proc.stderr  # the table goes to stderr

    # no time column named, none recognised: delays in rows, mean_delay_s null
    plain_train, plain_test = tmp_path / "ptrain.csv", tmp_path / "ptest.csv"
    for src, dst in ((train, plain_train), (test, plain_test)):
        dst.write_text(src.read_text().replace("timestamp", "when"))
    proc = _cli(tmp_path, "eval", "anomaly", "--train", str(plain_train), "--test", str(plain_test), "--detector", "ecod")
    assert proc.returncode == 0, proc.stderr
    f = json.loads(proc.stdout.strip().splitlines()[-1])
    assert f["detector"] == "ecod" and f["mean_delay_s"] is None and f["time_column"] is None and "rows" in proc.stderr
    proc = _cli(tmp_path, "eval", "anomaly", "--train", str(plain_train), "--test", str(plain_test), "--time-column", "when")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.strip().splitlines()[-1])["mean_delay_s"] == 0


def test_cli_errors(tmp_path: Path) -> None:
    train, test = _write_pair(tmp_path)
    proc = _cli(tmp_path, "eval", "anomaly", "--benchmark", "skab", "--data", str(tmp_path), "--train", str(train), "--test", str(test))
    assert proc.returncode == 1 and "not both" in proc.stderr
    proc = _cli(tmp_path, "eval", "anomaly")
    assert proc.returncode == 1 and "--train" in proc.stderr and "--benchmark" in proc.stderr
    proc = _cli(tmp_path, "eval", "anomaly", "--train", str(train))
    assert proc.returncode == 1 and "give both" in proc.stderr
    proc = _cli(tmp_path, "eval", "anomaly", "--train", str(tmp_path / "missing.csv"), "--test", str(test))
    assert proc.returncode == 1 and "missing.csv" in proc.stderr and "not found" in proc.stderr
    proc = _cli(tmp_path, "eval", "anomaly", "--train", str(train), "--test", str(test), "--label-column", "fault")
    assert proc.returncode == 1 and "test.csv" in proc.stderr and "'fault'" in proc.stderr
    bad = tmp_path / "bad.csv"
    bad.write_text(test.read_text().replace(",1\n", ",yes\n", 1))
    proc = _cli(tmp_path, "eval", "anomaly", "--train", str(train), "--test", str(bad))
    assert proc.returncode == 1 and "bad.csv" in proc.stderr and "'anomaly'" in proc.stderr and "0 or 1" in proc.stderr
    proc = _cli(tmp_path, "eval", "anomaly", "--train", str(train), "--test", str(test), "--detector", "nope")
    assert proc.returncode == 1 and "unknown detector" in proc.stderr
    assert "Traceback" not in proc.stderr


# --- SKAB data in this form --------------------------------------------------------------------
@pytest.mark.skipif(not SKAB_FILE.is_file(), reason="shared/datasets/skab not present")
def test_skab_file_as_train_test(tmp_path: Path) -> None:
    lines = SKAB_FILE.read_text().splitlines()
    header = lines[0].split(";")
    keep = [i for i, name in enumerate(header) if name != "changepoint"]
    cut = [";".join(line.split(";")[i] for i in keep) for line in lines]
    (tmp_path / "train.csv").write_text("\n".join(cut[: 1 + 400]) + "\n")
    (tmp_path / "test.csv").write_text("\n".join([cut[0], *cut[1 + 400 :]]) + "\n")
    f = generic.evaluate_files(tmp_path / "train.csv", tmp_path / "test.csv", "pca")
    assert f["rows"] == len(lines) - 1 - 400 and len(f["sensors"]) == 8
    assert f["time_column"] == "datetime" and f["events"] >= 1
    # the same split through SKAB's own loader gives the same counts
    split = skab.split_skab(skab.read_skab_file(SKAB_FILE), "valve1/0.csv")
    pooled = skab.evaluate(skab.detector_factory("pca"), [split])
    assert (f["tp"], f["tn"], f["fp"], f["fn"]) == (pooled["tp"], pooled["tn"], pooled["fp"], pooled["fn"])


def test_evaluate_files_adaptive_detector(tmp_path: Path) -> None:
    """The drift-adaptive detector in the generic evaluation: both level shifts caught whole."""
    train, test = _write_pair(tmp_path)
    f = generic.evaluate_files(train, test, "adaptive")
    assert f["detector"] == "adaptive" and f["events"] == 2 and f["detected_events"] == 2
    assert f["mean_delay_rows"] <= 1 and f["recall"] >= 0.95  # measured: delay 0 rows, recall 1.0
    # measured 71: each alarm runs on ~19 rows past its shift (10-row filter, then a 10-row hold),
    # and two noise excursions above the training maximum
    assert f["fp"] <= 71
