"""Training, promotion and daily prediction of failure models on a simulated fleet (2 factories x
5 machines x 36 days, failures raised so a month holds enough): recipes, sharing between tenants,
the registry's cards, leak-free re-runs of past days, the fleet evaluation and the CLI."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from analytics.config import FailureSettings
from analytics.demo import build_factory
from analytics.evaluation.failure_fleet import Truth, by_machine_type, evaluate_failure_hub, failure_recall_at_precision, truth_bound, truth_forecast, truth_state
from analytics.features import MACHINE_HEALTH, FeatureStore, build_features
from analytics.models.anomaly.scoring import day_bounds
from analytics.models.failure.predict import RISK_SCHEMA, latest_risk, predict_day, read_risk
from analytics.models.failure.training import KIND, WINDOW, train_factory, withdrawn
from analytics.pipeline.daily import training_due
from analytics.simulate import SimulationConfig, simulate_hub
from analytics.store.hub import Hub
from analytics.store.models import ModelStore

ROOT = Path(__file__).resolve().parents[1]
FACTORY, OTHER = "daeyang-02", "hanbit-01"  # injection moulding and pumps; machining and pumps
TYPE = "injection_molding"
# Five weeks of data: the classifier learns the 48 h label itself (hazard = horizon).
SETTINGS = FailureSettings(default_horizon_hours=48, hazard_hours=48, min_failures=3)
DAY = date(2026, 10, 5)
UNTIL = day_bounds(DAY, "Asia/Seoul")[1]  # models trained on data to the end of DAY


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("failure")
    simulate_hub(SimulationConfig(factories=2, machines=5, days=36, seed=5, interval="20min", start=date(2026, 9, 1), failure_rate=6.0), root / "sim", workers=1)
    hub = Hub.open(data_dir=root / "hub")
    for fid in (FACTORY, OTHER):
        build_factory(hub, root / "sim" / fid, now=datetime(2100, 1, 1, tzinfo=UTC))
        build_features(hub, fid, window="1h")
    return root / "hub"


@pytest.fixture
def hub(fleet: Path, tmp_path: Path) -> Hub:
    shutil.copytree(fleet, tmp_path / "hub")
    return Hub.open(data_dir=tmp_path / "hub")


def test_own_recipe_without_sharing(hub: Hub) -> None:
    results = {r.machine_type: r for r in train_factory(hub, FACTORY, until=UNTIL, settings=SETTINGS)}
    own = results[TYPE]
    assert own.status == "promoted" and own.recipe == "factory" and own.own_failures >= SETTINGS.min_failures
    assert set(own.metrics) == {"factory"}  # no sharing: no pooled recipe competes
    # Promoted only because it beat the base-rate forecast on validation.
    assert own.metrics["factory"]["brier"] < own.metrics["factory"]["brier_baseline"]
    # A pump alone in its factory, without sharing: no model, and the reason says what would help.
    pump = results["centrifugal_pump"]
    assert pump.status == "no_model" and "sharing" in pump.reason
    card = ModelStore(hub, FACTORY).champion(KIND, TYPE)
    assert card["model_id"] == own.model_id and card["promotion"].startswith("first model")
    assert card["feature_set"] == "machine_health/v1" and card["horizon_hours"] == 48 and card["hazard_hours"] == 48
    assert datetime.fromisoformat(card["training"]["to"]) <= UNTIL and card["training"]["factories"] == 1
    assert card["parameters"]["classifier"]["calibration"] == "sigmoid"
    m = card["metrics"]
    assert m["brier"] is not None and m["brier_baseline"] is not None and m["validated_on"]["machines"] >= 2
    assert datetime.fromisoformat(m["validated_on"]["to"]) <= UNTIL
    # The time-to-failure model is kept only where its probability beat the base rate too.
    kept = m["survival_brier"] is not None and m["survival_brier"] < m["brier_baseline"]
    assert card["time_to_failure"]["kept"] is kept and str(m["survival_brier"]) in card["time_to_failure"]["reason"]
    model = ModelStore(hub, FACTORY).load(KIND, TYPE, own.model_id)
    assert (model.time_model is not None) is kept and (card["parameters"]["time_model"] is not None) is kept
    # Retraining on the same data refreshes the champion's recipe, recorded as such.
    again = {r.machine_type: r for r in train_factory(hub, FACTORY, until=UNTIL, settings=SETTINGS, machine_types=[TYPE])}
    card = ModelStore(hub, FACTORY).champion(KIND, TYPE)
    assert card["model_id"] == again[TYPE].model_id != own.model_id
    assert card["promotion"].startswith("refresh")


def test_a_model_worse_than_the_base_rate_is_not_promoted(hub: Hub) -> None:
    """Five weeks of three machining centres whose failures are mostly tool wear (hours of
    warning at most): the validated model forecasts worse than the base rate and is refused."""
    cnc = {r.machine_type: r for r in train_factory(hub, OTHER, until=UNTIL, settings=SETTINGS)}["cnc_machining_center"]
    figures = cnc.metrics["factory"]
    assert figures["brier"] >= figures["brier_baseline"]
    assert cnc.status == "no_model" and "base-rate" in cnc.reason
    assert ModelStore(hub, OTHER).champion(KIND, "cnc_machining_center") is None


def test_pooled_recipe_when_factories_share(hub: Hub) -> None:
    for fid in (FACTORY, OTHER):
        hub.registry.set_model_sharing(fid, True)
    results = {r.machine_type: r for r in train_factory(hub, FACTORY, until=UNTIL, settings=SETTINGS)}
    pump = results["centrifugal_pump"]
    assert pump.status == "promoted" and pump.recipe == "pooled"
    assert pump.metrics["pooled"]["brier"] < pump.metrics["pooled"]["brier_baseline"]
    card = ModelStore(hub, FACTORY).champion(KIND, "centrifugal_pump")
    assert card["training"]["factories"] == 2 and "pooled" in card["note"]
    # Only models and aggregate figures cross tenants: the card never names the other factory.
    assert OTHER not in json.dumps(card)
    # The pooled recipe was judged on this factory's own machine only.
    assert card["metrics"]["validated_on"]["machines"] == 1

    # The other factory stops sharing: the model learned from its rows is due for retraining at
    # once and is not used again, though nothing replaces it (one pump of its own is too few).
    store = ModelStore(hub, FACTORY)
    day = date(2026, 10, 5)
    assert withdrawn(hub, store, "centrifugal_pump") is None and not training_due(hub, FACTORY, day)
    assert predict_day(hub, FACTORY, day).filter(pl.col("machine_type") == "centrifugal_pump").height > 0
    hub.registry.set_model_sharing(OTHER, False)
    assert withdrawn(hub, store, "centrifugal_pump") == "1 of the factories whose rows it learned from no longer share"
    # Not used from that moment, before any training retires it.
    assert predict_day(hub, FACTORY, day).filter(pl.col("machine_type") == "centrifugal_pump").height == 0
    assert training_due(hub, FACTORY, day)
    again = {r.machine_type: r for r in train_factory(hub, FACTORY, until=UNTIL, settings=SETTINGS)}
    assert again["centrifugal_pump"].status == "no_model"
    assert store.champion(KIND, "centrifugal_pump") is None and store.retired(KIND, "centrifugal_pump")
    assert predict_day(hub, FACTORY, day).filter(pl.col("machine_type") == "centrifugal_pump").height == 0
    # Its own recipe's model of the other type is untouched, and nothing is due any more.
    assert store.champion(KIND, TYPE) is not None and not training_due(hub, FACTORY, day)


def test_daily_risk_is_stored_explained_and_leak_free(hub: Hub) -> None:
    train_factory(hub, FACTORY, until=UNTIL, settings=SETTINGS)
    risk = predict_day(hub, FACTORY, DAY)
    assert dict(risk.schema) == RISK_SCHEMA
    own = {m.machine_id for m in hub.registry.machines(FACTORY) if m.machine_type == TYPE}
    assert set(risk.get_column("machine_id")) == own  # the types without a model are left out
    start, end = day_bounds(DAY, "Asia/Seoul")
    assert risk.select((pl.col("window_end") > start).all() & (pl.col("window_end") <= end).all()).item()
    assert risk.select(pl.col("probability").is_between(0, 1).all()).item()
    # The time-to-failure distribution is a distribution: P(1 d) <= P(3 d) <= P(7 d), p10 <= median.
    assert risk.select((pl.col("p_1d") <= pl.col("p_3d") + 1e-12).all() & (pl.col("p_3d") <= pl.col("p_7d") + 1e-12).all()).item()
    assert risk.select((pl.col("ttf_p10_h") <= pl.col("ttf_median_h")).all()).item()
    champion = ModelStore(hub, FACTORY).champion(KIND, TYPE)
    assert set(risk.get_column("model_id")) == {champion["model_id"]} and set(risk.get_column("recipe")) == {"factory"}
    # Reasons name sensors of the machine with shares of at most 1 in total.
    named = risk.filter(pl.col("sensors").list.len() > 0)
    assert named.height > 0 and named.select((pl.col("shares").list.sum() <= 1 + 1e-9).all()).item()
    assert named.select(pl.col("reason_en").str.len_chars().min()).item() > 0
    # Stored and idempotent.
    assert_frame_equal(read_risk(hub, FACTORY, DAY, DAY).collect(), risk)
    assert_frame_equal(predict_day(hub, FACTORY, DAY), risk)
    assert latest_risk(risk).height == len(own)
    # A window is measured when the machine ran and a sensor read in it (the feature store's
    # samples used), idle ones are not. DAY is a public holiday (substitute for National
    # Foundation Day): every machine idles; the next day they work.
    scored = pl.concat([risk, predict_day(hub, FACTORY, DAY + timedelta(days=1))])
    used = (
        FeatureStore(hub, FACTORY).read(MACHINE_HEALTH, WINDOW, "sensor", DAY - timedelta(days=1), DAY + timedelta(days=2))
        .group_by("machine_id", "window_end").agg((pl.col("n_used") > 0).any().alias("used")).collect()
    )  # fmt: skip
    both = scored.join(used, on=["machine_id", "window_end"], how="left")
    assert both.select((pl.col("measured") == pl.col("used").fill_null(False)).all()).item()
    assert not risk.get_column("measured").any() and scored.get_column("measured").any()
    # A day before the model's training cut-off is not scored with it (it saw that day's future).
    assert predict_day(hub, FACTORY, date(2026, 9, 20)).height == 0


def test_fleet_evaluation_figures(fleet: Path) -> None:
    truth = Truth.read(fleet.parent / "sim", [FACTORY, OTHER])
    figures = evaluate_failure_hub(Hub.open(data_dir=fleet), settings=SETTINGS, truth=truth)
    for key in ("precision", "recall", "median_lead_h", "brier", "brier_baseline", "failures", "machine_days"):
        assert key in figures
    assert figures["failures"] >= 1 and figures["machine_days"] > 100
    assert 0 <= figures["recall"] <= 1 and figures["failures_warned"] <= figures["failures"]
    assert figures["brier_baseline"] > 0
    # The bound knows more than the sensors show: no model reaches below it.
    assert 0 <= figures["brier_bound"] <= figures["brier"]
    assert 0 < figures["recall_days_bound"] <= 1
    # The machine types' figures add up to the fleet's.
    types = figures["by_machine_type"].values()
    assert sum(t["machine_days"] for t in types) == figures["machine_days"]
    assert sum(t["failures"] for t in types) == figures["failures"]
    assert sum(t["failures_warned"] for t in types) == figures["failures_warned"]
    assert sum(t["positives"] for t in types) == figures["positives"]
    assert sum(t["brier"] * t["machine_days"] for t in types) / figures["machine_days"] == pytest.approx(figures["brier"], abs=1e-4)


def test_cli_eval_failure_simulator(fleet: Path, tmp_path: Path) -> None:
    """The command an operator runs on a simulation: its figures on the last line, the fleet's and
    each machine type's (the same as the library's, which the test above checks)."""
    env = {**os.environ, "FACTORYHUB_DATA_DIR": str(tmp_path / "unused"), "PYTHONPATH": str(ROOT), "COLUMNS": "200"}
    done = subprocess.run(
        [sys.executable, "-m", "analytics.cli", "eval", "failure", "--benchmark", "simulator", "--data", str(fleet.parent / "sim")],
        check=False, capture_output=True, text=True, env=env, cwd=ROOT, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    assert {"precision", "recall", "median_lead_h", "brier", "brier_baseline", "brier_bound"} <= set(figures)
    # The target beside what a forecaster knowing the truth reaches on the same rows.
    assert 0 <= figures["recall_at_precision_0.8"] <= 1 and 0 <= figures["recall_at_precision_0.8_bound"] <= 1
    assert "recall at daily-alarm precision 0.8" in done.stderr
    registry = Hub.open(data_dir=fleet).registry
    assert set(figures["by_machine_type"]) == {m.machine_type for f in (FACTORY, OTHER) for m in registry.machines(f)}
    assert sum(t["failures_warned"] for t in figures["by_machine_type"].values()) == figures["failures_warned"]
    assert "daily decisions by machine type" in done.stderr and "cnc_machining_center" in done.stderr


def test_by_machine_type_by_hand() -> None:
    daily = pl.DataFrame(
        {"machine_type": ["pump", "pump", "pump", "pump", "fan", "fan"], "failure_within": [True, False, False, True, False, True],
         "probability": [0.9, 0.6, 0.2, 0.4, 0.5, 0.5], "baseline": 0.5, "naive": [4.0, 1.0, 0.0, 3.5, 0.0, 1.0]},
    )  # fmt: skip
    out = by_machine_type(daily, failure_types=["pump", "pump", "fan"], warned_types=["pump"])
    assert list(out) == ["fan", "pump"]
    pump, fan = out["pump"], out["fan"]
    assert (pump["machine_days"], pump["positives"], pump["failures"], pump["failures_warned"]) == (4, 2, 2, 1)
    # (0.1² + 0.6² + 0.2² + 0.6²) / 4; the base rate's 0.5 is off by 0.5 everywhere.
    assert pump["brier"] == pytest.approx(0.1925) and pump["brier_baseline"] == pytest.approx(0.25)
    # Positives at 0.9 and 0.4 against negatives at 0.6 and 0.2: three of four pairs in order.
    assert pump["roc_auc"] == pytest.approx(0.75) and pump["roc_auc_naive"] == pytest.approx(1.0)
    assert pump["precision"] == pytest.approx(0.5)  # alarms at 0.9 and 0.6
    # A tie ranks at chance; both days alarm at 0.5, one followed by a failure.
    assert (fan["failures"], fan["failures_warned"], fan["roc_auc"], fan["precision"]) == (1, 0, pytest.approx(0.5), pytest.approx(0.5))


def test_truth_bound_by_hand() -> None:
    """Five daily decisions of one machine, times in the factory's zone (KST = UTC+9)."""
    kst = ZoneInfo("Asia/Seoul")

    def at(day: int, hour: int) -> datetime:
        return datetime(2026, 1, day, hour, tzinfo=UTC)

    truth = Truth(
        degradations=pl.DataFrame(
            {"factory_id": "f", "machine_id": "M", "mode": ["bearing_wear", "clogging", "overheating"],
             "onset": [at(1, 0), at(5, 10), at(9, 0)], "visible_from": [at(1, 12), None, at(9, 12)], "end": [at(3, 0), at(6, 5), at(10, 0)]},
        ),
        preventive=pl.DataFrame({"factory_id": ["f"], "machine_id": ["M"], "start": [at(6, 5)]}),
    )  # fmt: skip
    decisions = [at(1, 23), at(2, 23), at(5, 23), at(7, 23), at(8, 23)]
    daily = pl.DataFrame(
        {"factory_id": "f", "machine_id": "M", "machine_type": "pump",
         "window_end": [d.astimezone(kst) for d in decisions], "failure_within": [True, True, False, False, True]},
    )  # fmt: skip
    state = truth_state(daily, truth)
    assert state.get_column("state").to_list() == ["visible", "visible", "hidden", "none", "none"]
    assert state.get_column("mode").to_list() == ["bearing_wear", "bearing_wear", "clogging", None, None]
    # Whole days to the maintenance of 01-06 05:00: 4 d 6 h, 3 d 6 h, 6 h; none after it (8).
    assert state.get_column("days_to_pm").to_list() == [4, 3, 0, 8, 8]
    # Visible rows exact, the hidden one alone with 0 days to maintenance (rate 0, exact), the last
    # two share a rate of 1/2: Brier (0.25 + 0.25) / 5. Two of the three failure-days show their
    # degradation.
    assert truth_forecast(daily, state).to_list() == [1.0, 1.0, 0.0, 0.5, 0.5]
    assert truth_bound(daily, truth) == {"brier_bound": pytest.approx(0.1), "recall_days_bound": pytest.approx(2 / 3, abs=1e-4)}
    # Without the maintenance the hidden day joins the healthy ones: no sensor tells them apart,
    # so the forecast does not either (rate 1/3 on all three).
    unplanned = Truth(truth.degradations, truth.preventive.clear())
    assert truth_forecast(daily, truth_state(daily, unplanned)).to_list() == pytest.approx([1.0, 1.0, 1 / 3, 1 / 3, 1 / 3])

    # Failures at the ends of the two visible degradations (01-03 00:00 and 01-10 00:00 UTC).
    failures = pl.DataFrame({"factory_id": "f", "machine_id": "M", "ts": [at(3, 0), at(10, 0)]})
    # The truth's forecast is 1, 1, 0, 1/2, 1/2: alarms at 1 are all right and warn the first
    # failure; at 1/2 three of four are right (0.75 < 0.8). Half the failures.
    bound = truth_bound(daily, truth, failures=failures)
    assert bound["recall_at_precision_0.8_bound"] == pytest.approx(0.5)
    # A model's 0.9, 0.3, 0.2, 0.6, 0.7: alarms from 0.7 up (days 1 and 5) are both right and warn
    # both failures; from 0.6 up two of three are right. A threshold above 0.9 warns none.
    scored = daily.with_columns(pl.Series("probability", [0.9, 0.3, 0.2, 0.6, 0.7]))
    assert failure_recall_at_precision(scored, "probability", failures) == pytest.approx(1.0)
    assert failure_recall_at_precision(scored, "probability", failures, precision=0.9) == pytest.approx(1.0)
    assert failure_recall_at_precision(scored.with_columns(pl.Series("probability", [0.2, 0.3, 0.9, 0.6, 0.7])), "probability", failures) == 0.0
    # An alarm warns only within the horizon before a failure: with one day, days 1 and 5 (25 h
    # before) are too early and day 2's 0.3 too low to be precise; with two days both count.
    assert failure_recall_at_precision(scored, "probability", failures, horizon_days=1) == 0.0
    assert failure_recall_at_precision(scored, "probability", failures, horizon_days=2) == pytest.approx(1.0)
    assert failure_recall_at_precision(scored.with_columns(pl.Series("probability", [0.9, 0.3, 0.2, 0.6, 0.0])), "probability", failures) == pytest.approx(0.5)
    assert failure_recall_at_precision(scored, "probability", failures.clear()) is None


def test_cli_train_and_predict(hub: Hub) -> None:
    env = {**os.environ, "FACTORYHUB_DATA_DIR": str(hub.settings.data_dir), "PYTHONPATH": str(ROOT), "COLUMNS": "200",
           "FACTORYHUB_FAILURE__DEFAULT_HORIZON_HOURS": "48", "FACTORYHUB_FAILURE__HAZARD_HOURS": "48", "FACTORYHUB_FAILURE__MIN_FAILURES": "3"}  # fmt: skip

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "analytics.cli", *args], check=False, capture_output=True, text=True, env=env, cwd=ROOT, timeout=600)

    trained = run("train", "--factory", FACTORY, "--until", "2026-10-05", "--type", TYPE)
    assert trained.returncode == 0, trained.stderr
    models = json.loads(trained.stdout.strip().splitlines()[-1])["models"]
    assert set(models) == {TYPE} and models[TYPE]["status"] == "promoted"
    predicted = run("predict", "--factory", FACTORY, "--start", "2026-10-05", "--end", "2026-10-06")
    assert predicted.returncode == 0, predicted.stderr
    last = json.loads(predicted.stdout.strip().splitlines()[-1])
    assert {m["model_id"] for m in last["machines"]} == {models[TYPE]["model_id"]}
    # Each machine's answer is the risk of its last window with readings on the last date (a
    # working day), said with its local time.
    stored = read_risk(hub, FACTORY, date(2026, 10, 6), date(2026, 10, 6)).filter(pl.col("measured")).collect()
    expected = stored.sort("window_end").group_by("machine_id").last()
    shown = {m["machine_id"]: (datetime.fromisoformat(m["window_end"]), m["probability"]) for m in last["machines"]}
    assert shown == {r["machine_id"]: (r["window_end"], round(r["probability"], 4)) for r in expected.iter_rows(named=True)}
    assert "as of" in predicted.stderr
    bad = run("predict", "--factory", "no-such-factory", "--date", "2026-10-05")
    assert bad.returncode != 0 and "no-such-factory" in bad.stderr


def test_truth_tables_keep_their_types_when_empty(tmp_path: Path) -> None:
    """A factory whose degradations never showed and that had no maintenance yet (a short run):
    its truth's time columns must still be times, or the bound cannot compare them."""
    from analytics.simulate.output import read_truth

    folder = tmp_path / "truth" / "f"
    folder.mkdir(parents=True)
    (folder / "degradations.csv").write_text(
        "machine_id,machine_type,mode,onset,visible_from,end,outcome,lead_running_hours,sensors\n"
        "M,pump,clogging,2026-01-01T00:00:00Z,,2026-01-03T00:00:00Z,maintenance,50.0,flow:-\n"
    )
    (folder / "maintenance.csv").write_text("machine_id,kind,start,end,mode\n")
    utc = pl.Datetime("us", "UTC")
    degradations, maintenance = read_truth(tmp_path, "f", "degradations"), read_truth(tmp_path, "f", "maintenance")
    assert degradations.schema["visible_from"] == utc and maintenance.schema["start"] == utc and maintenance.height == 0
    daily = pl.DataFrame({"factory_id": "f", "machine_id": "M", "machine_type": "pump", "window_end": [datetime(2026, 1, 2, tzinfo=UTC)], "failure_within": [False]})
    state = truth_state(daily, Truth.read(tmp_path, ["f"]))
    assert state.row(0) == ("hidden", "clogging", 8)
    with pytest.raises(ValueError, match="no truth table"):
        read_truth(tmp_path, "f", "secrets")


def test_daily_decisions_are_the_last_measured_window_of_each_local_day() -> None:
    from analytics.evaluation.failure_fleet import daily_decisions

    ends = [datetime(2026, 1, 1, h, tzinfo=UTC) for h in (14, 15, 16)]  # 23:00, 24:00, 01:00 in Seoul
    rows = pl.DataFrame(
        {"factory_id": ["seoul"] * 3 + ["utc"] * 3, "machine_id": "M", "window_end": ends * 2, "probability": [0.1, 0.2, 0.3] * 2,
         "measured": [True, False, False, True, True, None]},
    )  # fmt: skip
    daily = daily_decisions(rows, {"seoul": "Asia/Seoul"}).sort("factory_id", "day")
    # Seoul: the window 23:00-24:00 closes 1 January, the one from midnight opens 2 January; the
    # factory without a zone is judged on UTC days: all three windows are 1 January's.
    # 1 January in Seoul ends idle: its answer is 22:00-23:00, the last measured window; 2 January
    # has no measured window: its last one. A null (a day stored before the column) counts as measured.
    assert daily.select("factory_id", "day", "window_end").rows() == [
        ("seoul", date(2026, 1, 1), ends[0]),
        ("seoul", date(2026, 1, 2), ends[2]),
        ("utc", date(2026, 1, 1), ends[2]),
    ]


def test_the_days_answer_is_each_machines_last_measured_window() -> None:
    hours = [datetime(2026, 1, 1, h, tzinfo=UTC) for h in (10, 11, 12)]
    risk = pl.DataFrame(
        {"machine_id": ["A"] * 3 + ["B"] * 3, "window_end": hours * 2, "probability": [0.7, 0.2, 0.1, 0.3, 0.4, 0.05],
         "measured": [True, False, False, False, False, False]},
    )  # fmt: skip
    # A stopped after 10:00: its day is told by the risk it had when it last ran, not by the
    # features carried forward since; B never ran: its last window is all there is.
    assert latest_risk(risk).select("machine_id", "window_end", "probability").rows() == [("A", hours[0], 0.7), ("B", hours[2], 0.05)]
