"""AI4I 2020 failure benchmark (``analytics.evaluation.ai4i``): reader errors, features, the
documented-rules baseline and the cross-validated figures.

The dataset tests read ``shared/datasets/ai4i2020`` beside the repository (see its ``SOURCE.md``)
and are skipped when it is absent.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from analytics.errors import InputFileError
from analytics.evaluation.ai4i import FEATURES, MODES, evaluate_failure, features, read_ai4i, rules_baseline

ROOT = Path(__file__).resolve().parents[1]
AI4I = ROOT.parent / "shared" / "datasets" / "ai4i2020" / "ai4i2020.csv"
needs_data = pytest.mark.skipif(not AI4I.exists(), reason=f"{AI4I} absent")

HEADER = "UDI,Product ID,Type,Air temperature [K],Process temperature [K],Rotational speed [rpm],Torque [Nm],Tool wear [min],Machine failure,TWF,HDF,PWF,OSF,RNF"
ROWS = ["1,M14860,M,298.1,308.6,1551,42.8,0,0,0,0,0,0,0", "2,L47181,L,298.2,308.7,1408,46.3,3,0,0,0,0,0,0"]


def _write(tmp_path: Path, lines: list[str], *, bom: bool = True) -> Path:
    path = tmp_path / "ai4i.csv"
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + ("\n".join(lines) + "\n").encode())
    return path


def test_reader_handles_bom_and_types(tmp_path: Path) -> None:
    for bom in (True, False):
        frame = read_ai4i(_write(tmp_path, [HEADER, *ROWS], bom=bom))
        assert frame.height == 2 and frame["row"].to_list() == [2, 3]
        assert frame["Type"].to_list() == ["M", "L"] and frame["Torque [Nm]"].to_list() == [42.8, 46.3]


def test_missing_column_names_file_and_column(tmp_path: Path) -> None:
    path = _write(tmp_path, [HEADER.replace(",Torque [Nm]", ""), *(r.replace(",42.8", "").replace(",46.3", "") for r in ROWS)])
    with pytest.raises(InputFileError) as info:
        read_ai4i(path)
    assert info.value.column == "Torque [Nm]" and str(path) in str(info.value)


def test_non_numeric_value_names_row_and_column(tmp_path: Path) -> None:
    path = _write(tmp_path, [HEADER, ROWS[0], ROWS[1].replace("1408", "fast")])
    with pytest.raises(InputFileError) as info:
        read_ai4i(path)
    assert (info.value.row, info.value.column) == (3, "Rotational speed [rpm]")
    assert "fast" in str(info.value) and str(path) in str(info.value)


@pytest.mark.parametrize(("old", "new", "column"), [(",M,", ",X,", "Type"), ("0,0,0,0,0,0,0", "0,2,0,0,0,0,0", "Machine failure"), ("298.1", "nan", "Air temperature [K]")])
def test_bad_values_rejected(tmp_path: Path, old: str, new: str, column: str) -> None:
    with pytest.raises(InputFileError) as info:
        read_ai4i(_write(tmp_path, [HEADER, ROWS[0].replace(old, new), ROWS[1]]))
    assert (info.value.row, info.value.column) == (2, column)


def test_missing_file_and_empty_file(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match="not found"):
        read_ai4i(tmp_path / "nope.csv")
    with pytest.raises(InputFileError):
        read_ai4i(_write(tmp_path, [HEADER]))


def test_no_mode_column_or_identifier_among_features(tmp_path: Path) -> None:
    frame = read_ai4i(_write(tmp_path, [HEADER, *ROWS]))
    x = features(frame)
    assert x.columns == list(FEATURES)
    for forbidden in (*MODES, "Machine failure", "UDI", "Product ID"):
        assert forbidden not in FEATURES and forbidden not in x.columns
    # power = torque x angular speed; temperature difference; wear x torque
    assert x["power_w"][0] == pytest.approx(42.8 * 1551 * 2 * 3.141592653589793 / 60)
    assert x["temp_diff_k"][0] == pytest.approx(10.5) and x["wear_torque"][1] == pytest.approx(3 * 46.3)
    # The documented failure conditions as 0/1: neither fires on these two healthy rows.
    assert x["hdf_condition"].to_list() == [0, 0] and x["pwf_condition"].to_list() == [0, 0]


@needs_data
def test_rules_baseline_reproduces_source_md() -> None:
    f = rules_baseline(read_ai4i(AI4I))
    assert (f["rules_tp"], f["rules_fp"], f["rules_fn"]) == (287, 0, 52)
    assert round(f["rules_precision"], 3) == 1.000 and round(f["rules_recall"], 3) == 0.847 and round(f["rules_f1"], 3) == 0.917
    assert f["rules_hdf_agree"] == f["rules_pwf_agree"] == f["rules_osf_agree"] == 10_000


@needs_data
def test_reader_on_real_file() -> None:
    frame = read_ai4i(AI4I)
    assert frame.height == 10_000 and int(frame["Machine failure"].sum()) == 339


@pytest.mark.slow  # ~15 s: 5 outer folds x (3 inner + 1) boosters
@needs_data
def test_cross_validated_figures() -> None:
    f = evaluate_failure(AI4I)
    assert f["rows"] == 10_000 and f["folds"] == 5 and f["failures"] == 339
    # Asserted at the measured figures (MEASURED), less 0.002 for rounding only.
    assert f["f1"] >= MEASURED["f1"] - 0.002
    assert f["precision"] >= MEASURED["precision"] - 0.002 and f["recall"] >= MEASURED["recall"] - 0.002
    assert f["pr_auc"] >= MEASURED["pr_auc"] - 0.002
    assert f["type_accuracy"] >= MEASURED["type_accuracy"] - 0.002
    assert f["type_accuracy"] > f["type_baseline_accuracy"]
    assert f["f1"] < 0.95  # far above the rules' 0.917 would mean leakage (SOURCE.md)


MEASURED = {"f1": 0.9105, "precision": 0.9897, "recall": 0.8437, "pr_auc": 0.9099, "type_accuracy": 0.9794}
"""Measured with seed 0 (5 folds): F1 0.9105 (the issue's target 0.90; below the rules' 0.917, as an
honest model should be), precision 0.9897, recall 0.8437, PR-AUC 0.9099, failure-type accuracy 0.9794."""


@pytest.mark.slow
@needs_data
def test_cli_prints_json_last(tmp_path: Path) -> None:
    env = {**os.environ, "FACTORYHUB_DATA_DIR": str(tmp_path / "hub"), "COLUMNS": "200", "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "analytics.cli", "eval", "failure", "--benchmark", "ai4i", "--data", str(AI4I)], env=env, capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    f = json.loads(done.stdout.strip().splitlines()[-1])
    assert {"precision", "recall", "f1", "pr_auc", "rules_f1", "type_accuracy", "folds", "rows"} <= f.keys()


def test_cli_bad_file_exits_nonzero(tmp_path: Path) -> None:
    path = _write(tmp_path, [HEADER, ROWS[0].replace("42.8", "heavy")])
    env = {**os.environ, "FACTORYHUB_DATA_DIR": str(tmp_path / "hub"), "COLUMNS": "200", "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "analytics.cli", "eval", "failure", "--data", str(path)], env=env, capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode != 0 and "Torque [Nm]" in done.stderr and "row 2" in done.stderr
