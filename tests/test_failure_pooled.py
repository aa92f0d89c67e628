"""The hub's pooled failure models (analytics.models.failure.pooled) on one machine: figures from
partition tallies against scikit-learn's on the same rows, Platt scaling from counts against
scikit-learn's, the factory-grouped time-ordered splits, and a pooled model trained, carded,
promoted and used for a sharing factory's daily risk. (On a Dask cluster: tests/test_cluster.py.)"""

from __future__ import annotations

import itertools
import shutil
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analytics.config import FailureSettings
from analytics.i18n import localize_text
from analytics.models.failure.pooled import RECIPE, Selection, Tally, pooled_due, refresh_pooled, tally_figures, train_pooled, validation_splits
from analytics.models.failure.predict import POOLED_NOTE, predict_day
from analytics.models.failure.risk import classification_figures, platt, platt_from_counts
from analytics.models.failure.training import KIND, learned_from
from analytics.store.hub import Hub
from analytics.store.models import ModelStore
from analytics.pipeline.runs import RunLog
from tests.conftest import POOLED_FACTORIES, untranslated_words

PUMP = "centrifugal_pump"
# The fleet holds five weeks: the classifier learns the 48 h label itself (as in test_failure_training).
SETTINGS = FailureSettings(default_horizon_hours=48, hazard_hours=48)
UNTIL = datetime(2026, 10, 6, tzinfo=UTC)


def _reads_in_korean(reason: str) -> bool:
    """What a pooled training did, as the hub admin page shows it to a Korean reader."""
    return untranslated_words(reason, localize_text(reason, "ko") or "") == []


def _scored_rows(seed: int, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.15).astype(int)
    p = np.clip(0.1 + 0.5 * y * rng.random(n) + 0.3 * rng.random(n), 0, 1)
    naive = np.abs(rng.normal(1 + 2 * y, 1.0))
    return y, p, naive


def test_tally_rounds_a_half_as_the_exact_figures_do() -> None:
    """131 of 160 naive alarms true: 0.81875, a half at the fourth decimal, which NumPy's rounding
    of its own floats makes 0.8188 and round() of the exact rows 0.8187 (hypothesis found it)."""
    y, naive, p = np.zeros(400, int), np.zeros(400), np.full(400, 0.1)
    naive[:160], y[:131], y[300:310] = 5.0, 1, 1
    mine = tally_figures(Tally.of(y, p, 0.2, naive, None))
    assert mine["precision_naive"] == classification_figures(y, p, np.full(400, 0.2), naive)["precision_naive"] == 0.8187


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(30, 5000), parts=st.integers(1, 5), base=st.floats(0.01, 0.5))
def test_figures_from_partition_tallies_are_scikit_learns_on_the_rows(seed: int, n: int, parts: int, base: float) -> None:
    y, p, naive = _scored_rows(seed, n)
    if not 0 < y.sum() < n:
        return
    cuts = np.linspace(0, n, parts + 1).astype(int)
    tally = sum((Tally.of(y[a:b], p[a:b], base, naive[a:b], None) for a, b in itertools.pairwise(cuts)), Tally())
    mine = tally_figures(tally)
    exact = classification_figures(y, p, np.full(n, base), naive)
    for key in ("rows", "positives", "prevalence", "brier", "brier_baseline", "log_loss", "log_loss_baseline", "precision", "recall", "precision_naive", "recall_naive"):
        assert mine[key] == pytest.approx(exact[key], abs=2e-5), key  # sums: exact up to rounding
    # Ranking figures from histograms: rows in one bin count as tied (bins 1/585 of a log-odds
    # unit wide; the naive score's 0.005). A tie near the top moves a small set's average
    # precision by up to 1/positives (0.017 seen at 100 rows), a validation's thousands of rows
    # by well under 0.002 (measured over 300 seeds: at most 0.0013 from 1,000 rows on).
    if n >= 1000:
        for key in ("pr_auc", "roc_auc", "pr_auc_naive", "roc_auc_naive"):
            assert mine[key] == pytest.approx(exact[key], abs=2e-3), key
    # Reliability: in tenths of the probability scale, the mean predicted probability (inside its
    # tenth) against the observed share, as the rows themselves give it.
    slot = np.minimum((p * 10).astype(int), 9)
    expected = [v for k in range(10) if (slot == k).any() for v in (float(p[slot == k].mean()), float(y[slot == k].mean()))]
    assert [v for r in mine["reliability"] for v in (r["predicted"], r["observed"])] == pytest.approx(expected, abs=1e-4)


def test_platt_scaling_from_counts_is_scikit_learns() -> None:
    from sklearn.calibration import _sigmoid_calibration

    y, s, _ = _scored_rows(3, 4000)
    a, b = _sigmoid_calibration(s, y)
    slope, intercept = platt_from_counts(s, y.astype(float), 1.0 - y)  # one row per score
    assert (slope, intercept) == pytest.approx((a, b), rel=1e-3, abs=1e-4)
    # Binned: the same fit from a histogram's per-bin means and counts, close to the rows' own.
    bins = np.minimum((s * 200).astype(int), 199)
    pos, neg, total = np.bincount(bins, y, 200), np.bincount(bins, 1 - y, 200), np.bincount(bins, s, 200)
    used = (pos + neg) > 0
    binned = platt_from_counts(total[used] / (pos + neg)[used], pos[used], neg[used])
    assert np.abs(platt(s, *binned) - platt(s, a, b)).max() < 5e-3


def test_validation_splits_keep_factories_apart_and_labels_before_each_block() -> None:
    factories = [f"f{i:02d}" for i in range(7)]
    lo, hi, hazard = 0, 100 * 86400, 48.0
    splits = validation_splits(factories, lo, hi, hazard_hours=hazard, n_blocks=2, n_groups=2)
    assert len(splits) == 4
    tested: dict[tuple[int, int], frozenset[str]] = {}
    for train, test in splits:
        assert train.factories and test.factories and train.factories.isdisjoint(test.factories)
        assert train.factories | test.factories == set(factories)
        assert test.since is not None and test.before is not None and train.until is not None
        assert train.until <= test.since - hazard * 3600  # every training label known when the block began
        assert test.since >= lo + (hi - lo) // 2 - 1  # blocks in the last half
        tested[(test.since, test.before)] = tested.get((test.since, test.before), frozenset()) | test.factories
    assert len(tested) == 2 and all(group == set(factories) for group in tested.values())  # each block tests every factory once


def test_a_selection_picks_rows_by_factory_fold_and_time() -> None:
    from analytics.models.failure.pooled import Part

    t = np.arange(10) * 3600
    part = Part("f1", np.zeros((10, 2), np.float32), np.zeros(10, np.int8), np.ones(10), np.ones(10), t, np.arange(10) % 3, np.zeros(10), {})
    assert Selection().mask(part).all()
    assert not Selection(factories=frozenset({"f2"})).mask(part).any()
    assert Selection(folds=frozenset({1})).mask(part).tolist() == [i % 3 == 1 for i in range(10)]
    assert Selection(since=2 * 3600, before=5 * 3600).mask(part).tolist() == [2 <= i < 5 for i in range(10)]
    assert Selection(until=3 * 3600).mask(part).tolist() == [i <= 3 for i in range(10)]


@pytest.fixture
def fleet(pooled_fleet_dir: Path, tmp_path: Path) -> Hub:
    shutil.copytree(pooled_fleet_dir, tmp_path / "hub")
    return Hub.open(data_dir=tmp_path / "hub")


def test_a_pooled_model_is_trained_carded_promoted_and_used_by_a_sharing_factory_without_its_own(fleet: Hub) -> None:
    result = train_pooled(fleet, PUMP, until=UNTIL, settings=SETTINGS)
    assert result.status == "promoted", result.reason
    assert _reads_in_korean(result.reason)
    assert result.factories == len(POOLED_FACTORIES) and result.training["factories"] == len(POOLED_FACTORIES)
    m = result.metrics
    assert m["brier"] < m["brier_baseline"] and m["splits"] >= 1 and m["validated_on"]["rows"] == m["rows"] > 0
    store = ModelStore.pooled(fleet)
    card = store.champion(KIND, PUMP)
    assert card["model_id"] == result.model_id and card["recipe"] == RECIPE and card["promotion"].startswith("first pooled model")
    assert card["training"] == result.training and card["metrics"]["brier"] == m["brier"]
    assert datetime.fromisoformat(card["fitted_until"]) == UNTIL and datetime.fromisoformat(card["training"]["to"]) <= UNTIL
    assert card["parameters"]["classifier"]["calibration"] == "sigmoid" and card["hazard_hours"] == 48
    # The time-to-failure model rides along only where it beat the base rate on the same validation.
    kept = m.get("survival_brier") is not None and m["survival_brier"] < m["brier_baseline"]
    assert card["time_to_failure"]["kept"] is kept and (store.load(KIND, PUMP, result.model_id).time_model is not None) is kept
    # Only aggregate figures cross tenants: the card counts factories and never names them.
    text = str(card)
    assert all(f not in text for f in POOLED_FACTORIES)

    # A sharing factory with no model of its own scores its day with the pooled model, and says so.
    day = date(2026, 10, 6)  # the fleet's last day, a Tuesday (the 5th is a substitute holiday), after UNTIL
    risk = predict_day(fleet, POOLED_FACTORIES[0], day).filter(pl.col("machine_type") == PUMP)
    assert risk.height > 0 and set(risk.get_column("model_id")) == {result.model_id}
    assert set(risk.get_column("recipe")) == {RECIPE} and set(risk.get_column("note")) == {POOLED_NOTE}
    assert risk.get_column("probability").is_between(0, 1).all()
    # A factory that stopped sharing gets nothing from the pool (it did while it shared).
    assert predict_day(fleet, POOLED_FACTORIES[1], day).filter(pl.col("machine_type") == PUMP).height > 0
    fleet.registry.set_model_sharing(POOLED_FACTORIES[1], False)
    assert predict_day(fleet, POOLED_FACTORIES[1], day).filter(pl.col("machine_type") == PUMP).height == 0


def test_a_tuned_model_is_carded_explains_a_day_and_stops_with_its_donors(fleet: Hub) -> None:
    """The tuned recipe as train_factory fits and stores it when it wins: hanbit-01's machining
    centres fine-tuned on top of the pooled trees of its and seoyeon-03's. Its card is plain JSON, its
    daily risk names it and explains itself with shares that add up, and it stops scoring the
    moment the factory it learned from stops sharing."""
    import json

    from analytics.models.failure.dataset import feature_columns
    from analytics.models.failure.risk import FineTunedRiskClassifier
    from analytics.models.failure.training import RECIPE_NOTES, _template, factory_frame, fit_model, model_card, training_rows, type_sensors

    own_id, donor_id, cnc = POOLED_FACTORIES[0], POOLED_FACTORIES[2], "cnc_machining_center"
    sensors = type_sensors(fleet, [own_id, donor_id], cnc)
    own, donors = (training_rows(factory_frame(fleet, f, cnc, SETTINGS.hazard_hours, until=UNTIL, sensors=sensors), SETTINGS.train_stride_hours) for f in (own_id, donor_id))
    frame = pl.concat([own, donors], how="diagonal_relaxed")
    template = _template(cnc, sensors, feature_columns(own.drop("factory_id")), 48.0, 48.0, "tuned")
    model = fit_model(frame, template, own=np.arange(frame.height) < own.height)
    assert isinstance(model.classifier, FineTunedRiskClassifier) and model.recipe == "tuned" and model.time_model is not None
    card = model_card(model, {"factories": 2}, {"brier": 0.1}, until=UNTIL, extra={"note": RECIPE_NOTES["tuned"]})
    parameters = json.loads(json.dumps(card))["parameters"]["classifier"]  # no object left to stringify
    assert parameters["tuned_rounds"] == model.classifier.tuned_rounds_ and parameters["pooled__calibration"] == "sigmoid"
    store = ModelStore(fleet, own_id)
    store.save(KIND, cnc, "tuned1", model, card)
    store.write_private(KIND, cnc, "tuned1", {"donors": [donor_id]})
    store.promote(KIND, cnc, "tuned1", "tuned recipe won")

    day = date(2026, 10, 6)
    risk = predict_day(fleet, own_id, day).filter(pl.col("machine_type") == cnc)
    assert risk.height > 0 and set(risk.get_column("model_id")) == {"tuned1"} and set(risk.get_column("recipe")) == {"tuned"}
    assert risk.get_column("probability").is_between(0, 1).all()
    assert set(risk.get_column("note")) == {RECIPE_NOTES["tuned"]} and localize_text(RECIPE_NOTES["tuned"], "ko") != RECIPE_NOTES["tuned"]
    # Explained by the one booster's exact TreeSHAP: each reason's shares add up to at most 1.
    explained = risk.filter(pl.col("sensors").list.len() > 0)
    assert explained.height > 0 and explained.select(pl.col("shares").list.sum().le(1 + 1e-6).all()).item()
    assert set(explained.get_column("sensors").explode()) <= set(sensors)
    fleet.registry.set_model_sharing(donor_id, False)
    assert predict_day(fleet, own_id, day).filter(pl.col("machine_type") == cnc).height == 0


def test_pooled_models_are_refreshed_when_due_and_retired_when_a_factory_stops_sharing(fleet: Hub) -> None:
    store = ModelStore.pooled(fleet)
    trained = {r.machine_type: r for r in refresh_pooled(fleet, UNTIL, settings=SETTINGS)}
    assert trained[PUMP].status == "promoted", trained[PUMP].reason
    model_id = trained[PUMP].model_id
    # The hub knows which factories it learned from; the cards (what tenants see) do not say.
    assert learned_from(store, PUMP, model_id) == set(POOLED_FACTORIES)
    assert all(f not in str(store.cards(KIND)) for f in POOLED_FACTORIES)
    # Nothing is due the same day, and a week later the model is due for its age.
    assert pooled_due(fleet, PUMP, UNTIL, SETTINGS) is None
    assert PUMP not in {r.machine_type for r in refresh_pooled(fleet, UNTIL, settings=SETTINGS)}
    assert pooled_due(fleet, PUMP, UNTIL + timedelta(days=SETTINGS.retrain_days), SETTINGS) == f"the pooled model is {SETTINGS.retrain_days} days old"

    # A factory it learned from stops sharing: due at once. The two left are too few to validate a
    # model on (see the test below), so the old model is retired: it serves no one any more.
    fleet.registry.set_model_sharing(POOLED_FACTORIES[1], False)
    assert pooled_due(fleet, PUMP, UNTIL, SETTINGS) == "1 of the factories whose rows it learned from no longer share"
    again = {r.machine_type: r for r in refresh_pooled(fleet, UNTIL, settings=SETTINGS)}
    assert again[PUMP].status == "no_model" and again[PUMP].reason.endswith("the previous pooled model is retired")
    assert _reads_in_korean(again[PUMP].reason)
    assert store.champion(KIND, PUMP) is None and store.retired(KIND, PUMP)
    day = date(2026, 10, 6)
    assert predict_day(fleet, POOLED_FACTORIES[0], day).filter(pl.col("machine_type") == PUMP).height == 0
    # The attempt is remembered: the same pool is not tried again every day.
    assert pooled_due(fleet, PUMP, UNTIL + timedelta(days=1), SETTINGS) is None
    assert pooled_due(fleet, PUMP, UNTIL + timedelta(days=SETTINGS.retrain_days), SETTINGS) == "no pooled model yet"


def test_the_daily_run_trains_the_pooled_models_that_are_due(fleet: Hub, tmp_path: Path) -> None:
    from analytics.models.anomaly.scoring import day_bounds
    from analytics.pipeline.scheduled import run_daily

    day, factory_id = date(2026, 10, 6), POOLED_FACTORIES[0]
    trained: list = []
    # One factory's run refreshes nothing by default (a re-run of one day); pooled=True asks for it.
    assert run_daily(fleet, day, [factory_id], send=False, out_dir=tmp_path / "out", settle_seconds=0, on_pooled=trained.extend)[1]
    assert trained == [] and ModelStore.pooled(fleet).machine_ids(KIND) == []
    run_id, results = run_daily(fleet, day, [factory_id], send=False, out_dir=tmp_path / "out", settle_seconds=0, pooled=True, on_pooled=trained.extend)
    assert [r.factory_id for r in results] == [factory_id]
    # The run records what each training did, for the hub admin page.
    recorded = RunLog(fleet).pooled(run_id)
    assert recorded.select("machine_type", "status", "model_id", "reason", "factories").rows() == sorted(
        (r.machine_type, r.status, r.model_id, r.reason, r.factories) for r in trained
    )
    assert all(_reads_in_korean(r.reason) for r in trained)
    # Every type of the sharing factories had no pooled model: each was tried, on data to the day's end.
    types = {m.machine_type for f in POOLED_FACTORIES for m in fleet.registry.machines(f)}
    assert {r.machine_type for r in trained} == types
    day_end = day_bounds(day, fleet.registry.factory(factory_id).timezone)[1]
    store = ModelStore.pooled(fleet)
    for r in trained:
        assert datetime.fromisoformat(store.read_private(KIND, r.machine_type, "attempt")["at"]) == day_end
        if r.status == "promoted":
            assert datetime.fromisoformat(store.champion(KIND, r.machine_type)["fitted_until"]) == day_end
    # Run again: nothing is due.
    again: list = []
    run_daily(fleet, day, [factory_id], send=False, out_dir=tmp_path / "out", settle_seconds=0, pooled=True, on_pooled=again.extend)
    assert again == []


def test_a_daily_run_whose_pooled_refresh_crashes_is_recorded_failed(fleet: Hub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from analytics.models.failure import pooled
    from analytics.pipeline.scheduled import run_daily

    def crash(*args: object, **kwargs: object) -> None:
        raise OSError("pooled model store unreachable")

    monkeypatch.setattr(pooled, "refresh_pooled", crash)
    day, factory_id = date(2026, 10, 6), POOLED_FACTORIES[0]
    with pytest.raises(OSError, match="unreachable"):
        run_daily(fleet, day, [factory_id], send=False, out_dir=tmp_path / "out", settle_seconds=0, pooled=True)
    run = RunLog(fleet).runs().row(0, named=True)
    # The factory-day went well; the run as a whole did not finish its work.
    assert (run["status"], run["factories"], run["failed"]) == ("failed", 1, 0)


def test_no_pooled_model_from_a_single_sharing_factory(fleet: Hub) -> None:
    for factory_id in POOLED_FACTORIES[1:]:
        fleet.registry.set_model_sharing(factory_id, False)
    result = train_pooled(fleet, PUMP, until=UNTIL, settings=SETTINGS)
    assert result.status == "no_model" and "needs two" in result.reason and _reads_in_korean(result.reason)
    assert ModelStore.pooled(fleet).champion(KIND, PUMP) is None


def test_a_factory_whose_rows_cannot_be_read_is_left_out_not_the_pool(fleet: Hub) -> None:
    """One sharing factory's features are unreadable (a corrupt pointer file): the pool goes on
    with the others and the operator is told which factory was left out and why."""
    from analytics.features import MACHINE_HEALTH, FeatureStore

    broken = POOLED_FACTORIES[1]
    store = FeatureStore(fleet, broken)
    day = store.dates(MACHINE_HEALTH, "1h")[-3]
    (store.root / MACHINE_HEALTH.name / f"v{MACHINE_HEALTH.version}" / "1h" / f"date={day.isoformat()}" / "_current.json").write_text("{not json", encoding="utf-8")
    result = train_pooled(fleet, PUMP, until=UNTIL, settings=SETTINGS)
    assert [u.factory_id for u in result.unavailable] == [broken] and "JSONDecodeError" in result.unavailable[0].error
    # The pool went on with the other two (on this small fleet their failures are too few to
    # validate a model on: the reason says so, not that a factory could not be read).
    assert result.training["factories"] == len(POOLED_FACTORIES) - 1 and result.factories == len(POOLED_FACTORIES)
    assert "could not be read" not in result.reason and result.status == "no_model" and "validation" in result.reason
    assert _reads_in_korean(result.reason)


def test_reasons_name_only_the_sensors_the_machines_have() -> None:
    """A pooled model knows every sharing factory's sensors; the trees give an absent sensor's
    missing values a share too, but a factory's reasons never name a sensor it does not have."""
    from analytics.models.failure.risk import explain

    columns = ["bearing_temp__level", "bearing_temp__z_7d", "oil_pressure__level"]
    X = np.array([[61.0, 2.5, np.nan]])
    contributions = np.array([[0.2, 0.1, 0.9, -1.0]])  # the absent oil_pressure pushes most
    everything = explain(contributions, X, columns)
    assert [r.sensor for r in everything[0]] == ["oil_pressure", "bearing_temp"]
    own = explain(contributions, X, columns, present={"bearing_temp"})
    assert [r.sensor for r in own[0]] == ["bearing_temp"] and own[0][0].share == pytest.approx(1.0)
