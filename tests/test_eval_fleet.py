"""Fleet evaluation against the simulator's truth: alarm runs and judgement by hand, end to end on
a small simulation."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl

from analytics.evaluation.fleet import alarm_starts, evaluate_simulation, judge_machine
from analytics.simulate import SimulationConfig, simulate_hub

ROOT = Path(__file__).resolve().parents[1]
T0 = datetime(2026, 9, 1, tzinfo=UTC)


def _h(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def test_alarm_runs_start_where_they_begin() -> None:
    starts = [_h(h) for h in range(8)]
    assert alarm_starts(starts, np.array([0, 1, 1, 0, 0, 1, 0, 1])) == [_h(1), _h(5), _h(7)]
    assert alarm_starts(starts, np.zeros(8)) == []


def test_judging_by_hand() -> None:
    truth = pl.DataFrame(
        {
            "onset": [_h(10), _h(100), _h(200), _h(400)],
            "visible_from": [_h(15), _h(101), _h(205), _h(430)],
            "end": [_h(60), _h(130), _h(220), _h(440)],
            "outcome": ["failure", "failure", "maintenance", "failure"],
        }
    )
    # 20 h: inside the first degradation, 40 h before its failure -> caught in time (lead 40 h).
    # 120 h: inside the second, only 10 h before -> not in time (lead 10 h).
    # 70 h: within a day after the first failure (repair time) -> not false. 90 h: false.
    # 210 h: inside a degradation ended by maintenance -> not false. 300 h: false.
    # The failure at 440 h was visible only 10 h ahead: no detector can flag it 24 h ahead, so it
    # counts in failures_all but not in failures; its alarm at 435 h is a lead of 5 h, not false.
    starts = [_h(20), _h(70), _h(90), _h(120), _h(210), _h(300), _h(435)]
    judged = judge_machine(starts, truth, scored_from=_h(0), lead_hours=24)
    assert judged == {"failures": 2, "failures_all": 3, "caught": 1, "leads": [40.0, 10.0], "false_alarms": 2}
    # A failure before scoring began is not counted.
    assert judge_machine(starts, truth, scored_from=_h(61))["failures"] == 1


def test_fleet_evaluation_end_to_end(tmp_path: Path) -> None:
    out = tmp_path / "sim"
    simulate_hub(SimulationConfig(factories=1, machines=4, days=16, seed=4, start=date(2026, 9, 7), failure_rate=3.0), out, workers=1)
    figures = evaluate_simulation(out, "pca", workdir=tmp_path)
    assert figures["machines"] + figures["skipped_machines"] == 4
    assert figures["machines"] >= 1 and figures["machine_weeks"] > 0
    assert 0 <= figures["caught"] <= figures["failures"]
    assert figures["false_alarms_per_machine_month"] == round(figures["false_alarms"] / figures["machine_weeks"] * 30 / 7, 3)
    env = {**os.environ, "FACTORYHUB_DATA_DIR": str(tmp_path / "hub"), "COLUMNS": "200", "PYTHONPATH": str(ROOT)}
    bad = subprocess.run([sys.executable, "-m", "analytics.cli", "eval", "anomaly", "--benchmark", "simulator", "--data", str(tmp_path)], env=env, capture_output=True, text=True)
    assert bad.returncode == 1 and "not a simulation folder" in bad.stderr
    proc = subprocess.run(
        [sys.executable, "-m", "analytics.cli", "eval", "anomaly", "--benchmark", "simulator", "--data", str(out), "--detector", "pca"],
        env=env, capture_output=True, text=True,
    )
    assert proc.returncode == 0, proc.stderr
    last = json.loads(proc.stdout.strip().splitlines()[-1])
    assert {"caught_share", "median_lead_hours", "false_alarms_per_machine_month", "machines"} <= set(last)
