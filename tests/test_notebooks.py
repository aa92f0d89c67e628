"""Notebooks run top to bottom on a hub with data (their code cells, in one namespace)."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from analytics.ingest import ingest_file
from analytics.simulate.machines import MACHINE_TYPES
from tests.conftest import NOW

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


def _run(notebook: Path) -> list[object]:
    """Execute the code cells in one namespace; the value of each cell's last line."""
    cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
    namespace: dict[str, object] = {}
    results = []
    for cell in cells:
        if cell["cell_type"] == "code":
            code = "".join(cell["source"])
            *body, last = code.rstrip().split("\n")
            exec(compile("\n".join(body), str(notebook), "exec"), namespace)
            try:
                results.append(eval(compile(last, str(notebook), "eval"), namespace))
            except SyntaxError:
                exec(compile(last, str(notebook), "exec"), namespace)
                results.append(None)
    return results


def _check_explore_the_lake(results: list) -> None:
    assert results[0] == ["acme"]
    assert results[1].height == 1 and results[1]["n"].to_list() == [1]
    assert results[-2]["reason"].to_list() == ["outside valid range [-20.0, 200.0]"]


def _check_simulated_degradation(results: list) -> None:
    assert results[1]["outcome"].to_list() == ["failure"]
    differences = results[2]
    moved = differences.filter("moved_by_mode")["max |difference| before failure"]
    unmoved = differences.filter(~pl.col("moved_by_mode"))["max |difference| before failure"]
    assert set(differences.filter("moved_by_mode")["sensor"]) == {"vibration_rms", "bearing_temp"}
    assert (moved > 1).all() and (unmoved == 0).all()
    summary = results[-1]
    assert summary.height == sum(len(e) for t in MACHINE_TYPES.values() for e in t.effects.values())
    # Every named sensor moved the documented way, by more than three noise standard deviations.
    assert (summary["change"].sign() == summary["direction"]).all()
    assert (summary["in noise sd"].abs() > 3).all()


def _check_anomaly_detection(results: list) -> None:
    assert results[2].filter(pl.col("outcome") == "failure").height == 1
    pca = results[4]
    assert pca["hours before failure"] >= 24 and pca["false alarms"] == 0
    # The alarms are driven by the sensors the failure mode moves.
    assert (results[6]["share_of_moved_sensors"] > 0.5).all()
    assert results[7]["moved_by_fault"][0] is not None
    comparison = results[9]
    assert comparison["detector"].to_list() == ["PCA", "ECOD", "IForest", "Ensemble (PCA + ECOD + IForest)", "HBOS"]
    assert (comparison["false alarms"] == 0).all()
    assert comparison["hours before failure"].max() == pca["hours before failure"]
    # The monitor, lived day by day: caught in time, no false alarm, sensor-fault hours never alarm.
    alarms = results[11]
    assert alarms.height >= 1 and (alarms["truth"] != "false alarm").all()
    assert results[13].height > 0 and not results[13]["alarm"].any()
    fleet = results[-1]
    assert fleet["machines"] + fleet["skipped_machines"] == 4 and fleet["caught"] >= 1


def _check_predictive_maintenance(results: list) -> None:
    table = results[2]
    assert table["machines"] == 3 and table["rows with a failure within 48 h"] > 0
    figures = {row["figure"]: row for row in results[3].iter_rows(named=True)}
    brier = figures["Brier score (lower is better)"]
    assert brier["model"] < brier["naive baseline"]
    assert results[5]["splits"] >= 2 and results[5]["machines tested"] == 3
    trained = {row["machine type"]: row for row in results[6].iter_rows(named=True)}
    assert trained["injection_molding"]["status"] == "promoted" and trained["injection_molding"]["recipe"] == "factory"
    assert trained["centrifugal_pump"]["recipe"] in ("pooled", None)
    card = results[7]
    assert card["recipe"] == "factory" and card["training"]["factories"] == 1
    latest = results[8]
    moulding = latest.filter(pl.col("machine_type") == "injection_molding")
    assert moulding.height == 3 and set(moulding["model_id"]) == {card["model_id"]}
    assert latest["probability"].is_between(0, 1).all()
    fd001 = results[-1]
    if "skipped" not in fd001:
        assert fd001["engines"] == 100 and fd001["rmse"] <= 11.5 and fd001["score"] <= 220


CHECKS = {
    "01_explore_the_lake.ipynb": _check_explore_the_lake,
    "02_simulated_degradation.ipynb": _check_simulated_degradation,
    "anomaly_detection.ipynb": _check_anomaly_detection,
    "predictive_maintenance.ipynb": _check_predictive_maintenance,
}


def test_every_notebook_is_checked() -> None:
    assert sorted(CHECKS) == [n.name for n in NOTEBOOKS]


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_code_runs(notebook: Path, acme, write_file, monkeypatch) -> None:
    ingest_file(acme, "acme", write_file("a.csv", "machine_id,sensor,ts,value\nCNC-01,spindle_temp,2026-02-01 10:00:00,30\nCNC-01,spindle_temp,2026-02-01 11:00:00,999\n"), now=NOW)
    monkeypatch.setenv("FACTORYHUB_DATA_DIR", str(acme.settings.data_dir))
    from analytics.config import get_settings

    get_settings.cache_clear()
    try:
        results = _run(notebook)
    finally:
        get_settings.cache_clear()
    CHECKS[notebook.name]([r for r in results if r is not None])
