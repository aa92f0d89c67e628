"""SKAB evaluation (``analytics.evaluation.skab``) and ``factoryhub eval anomaly``."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from analytics.errors import HubError
from analytics.evaluation import skab

ROOT = Path(__file__).resolve().parents[1]
REAL_SKAB = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "skab"


# --- metrics -----------------------------------------------------------------------------------
def test_confusion_and_binary_metrics_by_hand() -> None:
    labels = [1, 1, 1, 0, 0, 0, 0, 1]
    preds = [1, 1, 0, 1, 0, 0, 0, 0]
    assert skab.confusion(labels, preds) == (2, 3, 1, 2)  # TP, TN, FP, FN
    f1, far, mar = skab.f1_far_mar(2, 3, 1, 2)
    assert f1 == pytest.approx(2 / (2 + (1 + 2) / 2))  # 0.5714
    assert far == pytest.approx(25.0)  # 1 / (1 + 3)
    assert mar == pytest.approx(50.0)  # 2 / (2 + 2)


def test_binary_metrics_perfect_and_null_detectors() -> None:
    assert skab.f1_far_mar(10, 90, 0, 0) == (1.0, 0.0, 0.0)
    assert skab.f1_far_mar(0, 90, 0, 10) == (0.0, 0.0, 100.0)  # SKAB's "null detector" row
    f1, far, mar = skab.f1_far_mar(0, 0, 0, 0)
    assert math.isnan(f1) and math.isnan(far) and math.isnan(mar)
    # F1 = TP / (TP + (FP + FN) / 2) is the usual 2PR / (P + R)
    tp, fp, fn = 30, 10, 20
    p, r = tp / (tp + fp), tp / (tp + fn)
    assert skab.f1_far_mar(tp, 100, fp, fn)[0] == pytest.approx(2 * p * r / (p + r))


def test_changepoint_predictions_are_switches() -> None:
    got = skab.changepoint_predictions([1, 1, 0, 0, 1, 1, 0])
    assert got.tolist() == [1, 0, 1, 0, 1, 0, 1]
    assert skab.changepoint_predictions([0, 0, 0]).tolist() == [0, 0, 0]


def _ts(n: int, start: datetime = datetime(2020, 3, 9, 10, 0, 0)) -> np.ndarray:
    return np.array([start + timedelta(seconds=i) for i in range(n)], dtype="datetime64[us]")


def test_changepoint_windows_right_side_60s_and_cut() -> None:
    ts = _ts(300)
    cps = np.zeros(300, dtype=int)
    cps[[100, 130, 250]] = 1
    # 100 -> rows 100..160; 130 overlaps: cut to start after 160 and end at 190; 250 -> 250..299 (file end)
    assert skab.changepoint_windows(ts, cps) == [(100, 160), (161, 190), (250, 299)]
    cps = np.zeros(300, dtype=int)
    cps[[10, 11]] = 1  # the second window, cut, would keep one row: widened to two
    assert skab.changepoint_windows(ts, cps) == [(10, 70), (71, 72)]


def test_nab_perfect_and_null_changepoint_detectors() -> None:
    ts = _ts(400)
    true_cp = np.zeros(400, dtype=int)
    true_cp[[50, 200]] = 1
    wins = skab.changepoint_windows(ts, true_cp)
    perfect = skab.nab_project([(ts, true_cp.copy(), wins)])
    null = skab.nab_project([(ts, np.zeros(400, dtype=int), wins)])
    assert perfect["nab_standard"] == pytest.approx(100.0) and perfect["missed_changepoints"] == 0
    assert null["nab_standard"] == pytest.approx(0.0) and null["missed_changepoints"] == 2
    assert skab.nab_skab([(ts, true_cp, true_cp.copy())])["nab_skab_standard"] == pytest.approx(100.0)
    assert skab.nab_skab([(ts, true_cp, np.zeros(400, dtype=int))])["nab_skab_standard"] == pytest.approx(0.0)
    late = np.zeros(400, dtype=int)
    late[[80, 230]] = 1  # 30 s into each window: credit between null and perfect
    assert 0 < skab.nab_project([(ts, late, wins)])["nab_standard"] < 100
    extra = true_cp.copy()
    extra[350] = 1  # one false positive costs something
    assert skab.nab_project([(ts, extra, wins)])["nab_standard"] < 100
    assert skab.nab_skab([(ts, true_cp, extra)])["skab_false_changepoints"] == 1


# --- a tiny SKAB-shaped folder -----------------------------------------------------------------
def _write_skab_file(path: Path, rows: int, anomaly: tuple[int, int], seed: int) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    base = np.array([0.027, 0.040, 1.3, 0.3, 79.0, 26.0, 233.0, 32.0])
    scale = np.array([0.0005, 0.0005, 0.05, 0.05, 0.2, 0.05, 2.0, 0.3])
    x = base + rng.normal(size=(rows, 8)) * scale
    a, b = anomaly
    x[a:b, 3] += 40 * scale[3]  # pressure jumps
    x[a:b, 7] -= 40 * scale[7]  # flow drops
    label = np.zeros(rows)
    label[a:b] = 1
    cp = np.zeros(rows)
    cp[[a, b]] = 1
    start = datetime(2020, 3, 9, 10, 14, 33)
    df = pl.DataFrame(
        {
            "datetime": [(start + timedelta(seconds=i)).strftime("%Y-%m-%d %H:%M:%S") for i in range(rows)],
            **{c: x[:, j] for j, c in enumerate(skab.SENSOR_COLUMNS)},
            "anomaly": label,
            "changepoint": cp,
        }
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    df.write_csv(path, separator=";")
    return df


@pytest.fixture
def tiny_skab(tmp_path: Path) -> Path:
    root = tmp_path / "skab"
    _write_skab_file(root / "data" / "valve1" / "0.csv", 520, (420, 500), seed=1)
    _write_skab_file(root / "data" / "other" / "1.csv", 500, (410, 480), seed=2)
    free = root / "data" / "anomaly-free" / "anomaly-free.csv"
    free.parent.mkdir(parents=True)
    free.write_text("datetime;Accelerometer1RMS\n2020-02-08 13:30:47;0.02\n", encoding="utf-8")
    return root


def test_split_first_400_rows_train(tiny_skab: Path) -> None:
    splits = skab.load_skab(tiny_skab)
    assert [s.name for s in splits] == ["valve1/0.csv", "other/1.csv"]  # anomaly-free.csv left out
    raw = pl.read_csv(tiny_skab / "data" / "valve1" / "0.csv", separator=";")
    first = splits[0]
    assert first.train.shape == (400, 8) and first.test.shape == (120, 8)
    np.testing.assert_allclose(first.train, raw.head(400).select(skab.SENSOR_COLUMNS).to_numpy())
    np.testing.assert_allclose(first.test, raw.slice(400).select(skab.SENSOR_COLUMNS).to_numpy())
    assert first.labels.tolist() == raw.slice(400)["anomaly"].cast(pl.Int8).to_list()
    assert first.changepoints is not None and np.flatnonzero(first.changepoints).tolist() == [20, 100]
    assert first.timestamps is not None and first.timestamps[0] == np.datetime64("2020-03-09T10:21:13")


def test_evaluate_fits_on_train_rows_only(tiny_skab: Path) -> None:
    splits = skab.load_skab(tiny_skab)
    fitted: list[np.ndarray] = []

    class Oracle:
        """Flags a test row when its pressure exceeds every training row's."""

        def fit(self, X: np.ndarray) -> Oracle:
            fitted.append(X)
            self.limit = X[:, 3].max() + 1e-9
            return self

        def predict(self, X: np.ndarray) -> np.ndarray:
            return (X[:, 3] > self.limit).astype(int)

    figures = skab.evaluate(Oracle, splits)
    assert [len(x) for x in fitted] == [400, 400]
    np.testing.assert_array_equal(fitted[0], splits[0].train)
    assert figures["files"] == 2 and figures["test_rows"] == 120 + 100
    assert figures["tp"] + figures["fn"] == 80 + 70 and figures["tp"] + figures["tn"] + figures["fp"] + figures["fn"] == 220
    assert figures["f1"] > 0.9 and figures["true_changepoints"] == 4
    assert figures["nab_standard"] > 50 and figures["missed_changepoints"] == 0


def test_errors_are_hub_errors(tmp_path: Path) -> None:
    with pytest.raises(HubError, match="not found"):
        skab.load_skab(tmp_path / "nowhere")
    with pytest.raises(HubError, match="no SKAB anomaly files"):
        skab.load_skab(tmp_path)
    with pytest.raises(HubError, match="unknown detector"):
        skab.detector_factory("nope")
    with pytest.raises(HubError, match="unknown benchmark"):
        skab.evaluate_benchmark("nab", tmp_path)


# --- the CLI -----------------------------------------------------------------------------------
def _cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "FACTORYHUB_DATA_DIR": str(tmp_path / "hub"), "COLUMNS": "200", "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "analytics.cli", *args], env=env, capture_output=True, text=True, cwd=tmp_path)


def test_cli_eval_anomaly_end_to_end(tiny_skab: Path, tmp_path: Path) -> None:
    proc = _cli(tmp_path, "eval", "anomaly", "--benchmark", "skab", "--data", str(tiny_skab))
    assert proc.returncode == 0, proc.stderr + proc.stdout
    figures = json.loads(proc.stdout.strip().splitlines()[-1])
    assert figures["detector"] == "adaptive" and figures["files"] == 2
    for key in ("f1", "far", "mar", "nab_standard", "seconds"):
        assert isinstance(figures[key], float)
    assert 0 <= figures["f1"] <= 1 and 0 <= figures["far"] <= 100 and 0 <= figures["mar"] <= 100
    assert "F1" in proc.stderr and "MAR" in proc.stderr  # the table goes to stderr

    proc = _cli(tmp_path, "eval", "anomaly", "--benchmark", "skab", "--data", str(tiny_skab), "--detector", "ecod")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.strip().splitlines()[-1])["detector"] == "ecod"


def test_cli_eval_anomaly_errors(tiny_skab: Path, tmp_path: Path) -> None:
    proc = _cli(tmp_path, "eval", "anomaly", "--benchmark", "tep", "--data", str(tiny_skab))
    assert proc.returncode == 1 and "unknown benchmark 'tep'" in proc.stderr
    proc = _cli(tmp_path, "eval", "anomaly", "--benchmark", "skab", "--data", str(tmp_path / "missing"))
    assert proc.returncode == 1 and "not found" in proc.stderr


# --- the real benchmark ------------------------------------------------------------------------
@pytest.mark.skipif(not REAL_SKAB.is_dir(), reason="shared/datasets/skab not present")
def test_real_skab_pca_sanity() -> None:
    figures = skab.evaluate_benchmark("skab", REAL_SKAB, "pca")
    assert figures["files"] == 34
    assert figures["train_rows"] == 34 * 400 and figures["test_rows"] == 37_401 - 34 * 400
    assert figures["tp"] + figures["fn"] <= 13_067
    assert 0 <= figures["f1"] <= 1 and 0 <= figures["far"] <= 100 and 0 <= figures["mar"] <= 100
    assert figures["true_changepoints"] <= 129 and figures["changepoint_windows"] == figures["true_changepoints"]
    assert -1000 < figures["nab_standard"] <= 100 and -1000 < figures["nab_skab_standard"] <= 100
