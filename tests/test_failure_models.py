"""Failure risk and time-to-failure models: features and labels by hand, validation splits that
cannot leak, calibration and survival against known generating distributions, explanations that
add up, the model registry's champion and the per-factory sharing switch."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.base import clone
from sklearn.metrics import brier_score_loss

from analytics.models.failure.dataset import MODEL_SENSOR_FEATURES, SENSOR_FEATURES, TREND_DAYS, add_labels, failure_features, feature_columns
from analytics.models.failure.risk import (
    FailureRiskClassifier,
    FailureTimeModel,
    FineTunedRiskClassifier,
    NotEnoughFailuresError,
    describe_sensor,
    explain,
    time_grouped_splits,
    validate,
)
from analytics.schemas import FactorySpec
from analytics.store.hub import Hub
from analytics.store.models import ModelStore

T0 = datetime(2026, 1, 1, tzinfo=UTC)
UTC_US = pl.Datetime("us", "UTC")


def _sensor_table(hours: int, value: callable) -> pl.DataFrame:  # type: ignore[valid-type]
    """Hourly sensor features of one machine and sensor whose trailing 24 h mean is ``value(h)``."""
    rows = []
    for h in range(hours):
        v = float(value(h))
        rows.append(
            {"machine_id": "M1", "sensor": "temp", "window_start": T0 + timedelta(hours=h), "window_end": T0 + timedelta(hours=h + 1),
             "mean": v, "q90": v + 1, "mean_24h": v, "std_24h": 0.5, "mean_7d": v - 2, "z_24h": 0.1, "z_7d": 0.2}  # fmt: skip
        )
    return pl.DataFrame(rows).with_columns(pl.col("window_start", "window_end").cast(UTC_US))


def _machine_table(hours: int) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "machine_id": ["M1"] * hours,
            "window_start": [T0 + timedelta(hours=h) for h in range(hours)],
            "window_end": [T0 + timedelta(hours=h + 1) for h in range(hours)],
            "share_running": [1.0 if h % 2 else 0.0 for h in range(hours)],
            "hours_since_maintenance": [float(h) for h in range(hours)],
            "hours_since_failure": [None] * hours,
        },
        schema_overrides={"window_start": UTC_US, "window_end": UTC_US, "hours_since_failure": pl.Float64},
    )


def test_failure_features_by_hand() -> None:
    hours = 24 * 12
    feats = failure_features(_sensor_table(hours, lambda h: 20 + 0.1 * h), _machine_table(hours))
    assert [c for c in feats.columns if c.startswith("temp__")] == [f"temp__{f}" for f in SENSOR_FEATURES]
    row = feats.filter(pl.col("window_end") == T0 + timedelta(hours=200)).row(0, named=True)
    level = 20 + 0.1 * 199
    assert row["temp__level"] == pytest.approx(level)
    assert row["temp__shift"] == pytest.approx(2.0)
    # The 24 h mean rose 0.1 per hour: 2.4 per day over the last 5 days.
    assert row["temp__trend"] == pytest.approx(2.4)
    # 28-day mean of the hourly means so far (window ends 1..200 h): mean of 20 + 0.1 h, h = 0..199.
    month_mean = 20 + 0.1 * 99.5
    assert row["temp__dev_28d"] == pytest.approx(level - month_mean)
    assert row["temp__devz_28d"] == pytest.approx((level - month_mean) / np.std(20 + 0.1 * np.arange(200), ddof=1))
    # Running share over the trailing 24 h: every other hour ran.
    assert row["running_24h"] == pytest.approx(0.5)
    # No trend before 5 days of history.
    early = feats.filter(pl.col("window_end") < T0 + timedelta(days=TREND_DAYS)).get_column("temp__trend")
    assert early.null_count() == early.len()
    # A sensor the model knows but the machine lacks is a column of nulls, not a missing column.
    wider = failure_features(_sensor_table(48, lambda h: 1.0), _machine_table(48), sensors=["temp", "vibration"])
    assert wider.get_column("vibration__level").null_count() == wider.height
    inputs = feature_columns(wider)
    assert "vibration__z_7d" in inputs and "window_end" not in inputs
    # The model learns from changes and offsets against each machine's own normal only: levels
    # would tell the trees which machine a row is.
    assert {c.split("__")[1] for c in inputs if "__" in c} == set(MODEL_SENSOR_FEATURES)
    assert not {"temp__level", "temp__q90", "temp__spread", "vibration__level"} & set(inputs)
    assert {"running_24h", "hours_since_maintenance", "hours_since_failure", "max_offset", "sensors_off"} <= set(inputs)


def test_labels_censor_at_maintenance() -> None:
    windows = pl.DataFrame(
        {"machine_id": ["M1"] * 4, "window_start": [T0 + timedelta(hours=h) for h in (0, 10, 20, 30)], "window_end": [T0 + timedelta(hours=h + 1) for h in (0, 10, 20, 30)]},
        schema_overrides={"window_start": UTC_US, "window_end": UTC_US},
    )
    events = pl.DataFrame(
        {"machine_id": ["M1", "M1", "M1"], "ts": [T0 + timedelta(hours=15), T0 + timedelta(hours=25), T0 + timedelta(hours=27)], "kind": ["maintenance", "failure", "repair"], "component": ["", "bearing_wear", ""]},
        schema_overrides={"ts": UTC_US},
    )
    out = add_labels(windows, events, horizon_hours=30, observed_until=T0 + timedelta(hours=100)).sort("window_end")
    # Hour 1: the failure at 25 h is 24 h ahead (within 30 h), but a maintenance at 15 h renewed the
    # machine first: censored at the maintenance, observed 14 h.
    first = out.row(0, named=True)
    assert first["failure_within"] is True and first["censored"] is True and first["hours_observed"] == pytest.approx(14)
    # Hour 21: failure 4 h ahead, uncensored, mode from the event's component.
    third = out.row(2, named=True)
    assert third["hours_to_failure"] == pytest.approx(4) and third["censored"] is False and third["failure_mode"] == "bearing_wear"
    # Hour 31: after the repair, nothing more happens: censored at the end of observation.
    last = out.row(3, named=True)
    assert last["censored"] is True and last["hours_observed"] == pytest.approx(69) and last["failure_within"] is False


@settings(max_examples=30, deadline=None)
@given(
    machines=st.integers(1, 9),
    hours=st.integers(24 * 10, 24 * 40),
    horizon=st.sampled_from([12.0, 48.0, 168.0]),
    blocks=st.integers(1, 3),
    groups=st.integers(2, 4),
    seed=st.integers(0, 5),
)
def test_splits_never_leak(machines: int, hours: int, horizon: float, blocks: int, groups: int, seed: int) -> None:
    times = np.array([np.datetime64("2026-01-01T00:00") + np.timedelta64(h, "h") for h in range(hours)] * machines)
    owners = np.repeat([f"F/M{i}" for i in range(machines)], hours)
    splits = time_grouped_splits(times, owners, horizon_hours=horizon, n_blocks=blocks, n_groups=groups, random_state=seed)
    assert splits
    tested = np.zeros(times.size, dtype=int)
    for train, test in splits:
        # No machine on both sides; every training label was known before the first test window.
        assert not set(owners[train]) & set(owners[test])
        if train.size:
            assert times[train].max() <= times[test].min() - np.timedelta64(int(horizon * 3600), "s")
        tested[test] += 1
    # Each row is tested at most once, and the tests cover the last half of the time range.
    assert tested.max() == 1
    assert times[tested == 1].min() >= times.min() + (times.max() - times.min()) / 2 - np.timedelta64(1, "h")
    if machines == 1:
        assert all(train.size == 0 for train, _ in splits)


def _risk_data(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A known risk: P(failure) = sigmoid(3 x0 - 4), rare (about 6 %), x1 noise."""
    gen = np.random.default_rng(seed)
    X = gen.normal(size=(n, 3)).astype(np.float32)
    p = 1 / (1 + np.exp(-(3 * X[:, 0] - 4)))
    y = (gen.random(n) < p).astype(int)
    groups = np.repeat(np.arange(n // 200), 200)[:n]
    return X, y, p, groups


@pytest.mark.parametrize("class_weight", [None, "balanced"])
def test_classifier_is_calibrated_against_the_true_probability(class_weight: str | None) -> None:
    X, y, _, groups = _risk_data(6000, 0)
    model = FailureRiskClassifier(n_estimators=150, class_weight=class_weight, n_jobs=2)
    assert model.fit(X, y, groups) is model
    Xt, yt, pt, _ = _risk_data(6000, 1)
    prob = model.predict_proba(Xt)[:, 1]
    # Calibrated, with or without weighting: the mean matches the failure rate and the Brier
    # score comes close to the true probabilities' own.
    assert abs(prob.mean() - yt.mean()) < 0.015
    assert brier_score_loss(yt, prob) < brier_score_loss(yt, pt) * 1.1
    assert brier_score_loss(yt, prob) < 0.75 * brier_score_loss(yt, np.full(yt.size, y.mean()))
    raw = model.calibrated_.calibrated_classifiers_[0].estimator.predict_proba(Xt)[:, 1]
    if class_weight == "balanced":
        assert raw.mean() > 2 * yt.mean()  # what the weighting does before calibration
    else:
        assert abs(raw.mean() - yt.mean()) < 0.03  # unweighted trees are near the rate already
    # TreeSHAP contributions plus bias add up to the trees' log-odds, and x0 carries the risk.
    contrib = model.contributions(Xt[:50])
    margin = model.booster_.predict(__import__("xgboost").DMatrix(Xt[:50]), output_margin=True)
    assert np.allclose(contrib.sum(axis=1), margin, atol=1e-3)
    assert np.abs(contrib[:, 0]).mean() > 5 * np.abs(contrib[:, 1]).mean()


def test_positive_weight_by_hand() -> None:
    assert FailureRiskClassifier().positive_weight(10, 110) == 1.0
    assert FailureRiskClassifier(class_weight="balanced").positive_weight(10, 110) == pytest.approx(10.0)


def test_risk_over_the_horizon_compounds_the_learned_hazard() -> None:
    """A calibrated 24 h probability p becomes 1 - (1 - p)^7 over 7 days, by hand."""
    from analytics.models.failure.training import FailureModel

    X, y, _, groups = _risk_data(3000, 5)
    classifier = FailureRiskClassifier(n_estimators=60, n_jobs=2).fit(X, y, groups)
    model = FailureModel(classifier, None, ["a", "b", "c"], [], horizon_hours=168, hazard_hours=24, machine_type="pump", recipe="factory")
    near, week = model.risk(X[:20])
    assert np.allclose(near, classifier.predict_proba(X[:20])[:, 1])
    assert np.allclose(week, 1 - (1 - near) ** 7) and (week >= near).all()
    same = FailureModel(classifier, None, ["a", "b", "c"], [], horizon_hours=24, hazard_hours=24, machine_type="pump", recipe="factory")
    assert np.allclose(same.risk(X[:20])[1], near)


def test_classifier_refuses_data_without_failures() -> None:
    X, _, _, groups = _risk_data(600, 2)
    with pytest.raises(NotEnoughFailuresError):
        FailureRiskClassifier().fit(X, np.zeros(600, dtype=int), groups)


def _shifted_factory(n: int, drift: float, gen: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows of a factory whose failures follow the machine type's law, sigmoid(1.5 x0 + x1 - 3.2),
    plus ``drift`` x2: a driver of its own (its duty, its environment) the others lack."""
    X = gen.normal(size=(n, 4)).astype(np.float32)
    p = 1 / (1 + np.exp(-(1.5 * X[:, 0] + X[:, 1] + drift * X[:, 2] - 3.2)))
    return X, (gen.random(n) < p).astype(int), p


def test_fine_tuning_learns_the_factory_on_top_of_the_shared_trees() -> None:
    """Many donor rows that follow the type's law, few rows of a factory with a driver of its own:
    the fine-tuned model beats both the pooled model (which cannot see the factory's driver) and
    the factory's own (too few failures to learn the shared law well), against the truth."""
    import xgboost as xgb

    gen = np.random.default_rng(1)
    X_donors, y_donors, _ = _shifted_factory(30000, 0.0, gen)
    X_own, y_own, _ = _shifted_factory(600, 1.5, gen)
    X_test, y_test, p_test = _shifted_factory(20000, 1.5, gen)
    X = np.vstack([X_donors, X_own])
    y = np.concatenate([y_donors, y_own])
    groups = np.concatenate([np.repeat(np.arange(60), 500), 100 + np.repeat(np.arange(6), 100)])
    own = np.arange(y.size) >= y_donors.size
    assert 40 < y_own.sum() < 100  # a few dozen failures of its own
    tuned = FineTunedRiskClassifier(FailureRiskClassifier(n_jobs=2))
    assert tuned.fit(X, y, groups, own=own) is tuned
    pooled = FailureRiskClassifier(n_jobs=2).fit(X, y, groups)
    alone = FailureRiskClassifier(n_jobs=2).fit(X_own, y_own, groups[own])
    brier = {name: brier_score_loss(y_test, m.predict_proba(X_test)[:, 1]) for name, m in (("tuned", tuned), ("pooled", pooled), ("factory", alone))}
    assert brier["tuned"] < 0.95 * brier["pooled"] and brier["tuned"] < 0.97 * brier["factory"], brier
    assert brier["tuned"] < 1.25 * brier_score_loss(y_test, p_test)  # near the truth's own score
    # Calibrated on the factory's rows: the mean forecast matches its failure rate.
    assert abs(tuned.predict_proba(X_test)[:, 1].mean() - y_test.mean()) < 0.02

    # One booster: the shared trees first, exactly the pooled trees of every row, then the rounds
    # its own out-of-fold rows chose.
    shape = FailureRiskClassifier(n_jobs=2)
    assert 0 < tuned.tuned_rounds_ <= tuned.n_estimators and tuned.shared_rounds_ == shape.n_estimators
    assert tuned.booster_.num_boosted_rounds() == shape.n_estimators + tuned.tuned_rounds_
    every_row = xgb.train(shape.booster_params(shape.positive_weight(int(y.sum()), y.size)), xgb.DMatrix(X, y), num_boost_round=shape.n_estimators)
    shared = tuned.booster_[: shape.n_estimators]
    assert np.allclose(shared.predict(xgb.DMatrix(X_test[:500]), output_margin=True), every_row.predict(xgb.DMatrix(X_test[:500]), output_margin=True), atol=1e-5)
    # The factory's rounds learned its own driver: x2 moves the tuned trees and hardly the shared.
    contributions = tuned.contributions(X_test[:2000])
    shared_contributions = shared.predict(xgb.DMatrix(X_test[:2000]), pred_contribs=True)
    assert np.abs(contributions[:, 2]).mean() > 3 * np.abs(shared_contributions[:, 2]).mean()
    # TreeSHAP stays exact for the whole booster: contributions add up to its log-odds.
    margin = tuned.booster_.predict(xgb.DMatrix(X_test[:2000]), output_margin=True)
    assert np.allclose(contributions.sum(axis=1), margin, atol=1e-3)

    # Validation passes each split its own rows of ``own``; a clone stays unfitted.
    times = np.concatenate([np.tile(np.arange(500), 60), np.tile(np.arange(100) * 5, 6)]).astype("datetime64[h]")
    splits = [(train, test) for train, test in time_grouped_splits(times[own], groups[own], horizon_hours=12, n_blocks=1, n_groups=2)]
    splits = [(np.concatenate([np.flatnonzero(own)[train], np.flatnonzero(~own)]), np.flatnonzero(own)[test]) for train, test in splits]
    v = validate(X, y, groups, splits, FineTunedRiskClassifier(FailureRiskClassifier(n_estimators=60, n_jobs=2), n_estimators=30), ["a", "b", "c", "d"], fit_rows={"own": own})
    assert set(v.test_index.tolist()) <= set(np.flatnonzero(own).tolist()) and v.metrics["splits"] == len(splits)
    assert not hasattr(clone(tuned), "booster_")


def test_fine_tuning_keeps_the_shared_trees_for_a_factory_that_does_not_differ() -> None:
    """A factory whose failures follow the type's law: its own out-of-fold rows show that no
    continued round helps, and the shared trees are kept as they are, calibrated on its rows."""
    import xgboost as xgb

    gen = np.random.default_rng(2)
    X_donors, y_donors, _ = _shifted_factory(30000, 0.0, gen)
    X_own, y_own, _ = _shifted_factory(600, 0.0, gen)
    X = np.vstack([X_donors, X_own])
    y = np.concatenate([y_donors, y_own])
    groups = np.concatenate([np.repeat(np.arange(60), 500), 100 + np.repeat(np.arange(6), 100)])
    tuned = FineTunedRiskClassifier(FailureRiskClassifier(n_jobs=2)).fit(X, y, groups, own=np.arange(y.size) >= y_donors.size)
    assert tuned.tuned_rounds_ == 0 and tuned.booster_.num_boosted_rounds() == tuned.shared_rounds_
    data = xgb.DMatrix(X_own[:100])
    assert np.allclose(tuned.predict_proba(X_own[:100])[:, 1], 1 / (1 + np.exp(tuned.slope_ * tuned.booster_.predict(data) + tuned.intercept_)))


def test_fine_tuning_needs_the_factory_rows_and_their_failures() -> None:
    gen = np.random.default_rng(2)
    X, y, _ = _shifted_factory(3000, 0.0, gen)
    own = np.arange(3000) >= 2000
    with pytest.raises(ValueError, match="own"):
        FineTunedRiskClassifier().fit(X, y)
    with pytest.raises(NotEnoughFailuresError, match="factory"):
        FineTunedRiskClassifier().fit(X, np.where(own, 0, y), own=own)
    with pytest.raises(NotEnoughFailuresError, match="other factories"):
        FineTunedRiskClassifier().fit(X, np.where(own, y, 0), own=own)


def test_survival_model_recovers_a_known_lognormal_time() -> None:
    """T = exp(4 + x0 + Z), Z standard normal, censored at 150 h: the AFT model's median and
    P(T <= t) follow the true distribution."""
    gen = np.random.default_rng(3)
    n = 4000
    X = gen.normal(size=(n, 2)).astype(np.float32)
    T = np.exp(4 + X[:, 0] + gen.normal(size=n))
    observed = np.minimum(T, 150.0)
    lower, upper = observed, np.where(T <= 150.0, observed, np.inf)
    model = FailureTimeModel(n_estimators=300, scale=1.0, n_jobs=2).fit(X, lower, upper)
    grid = np.array([[-1.0, 0.0], [0.0, 0.0], [0.5, 0.0]], dtype=np.float32)
    true_median = np.exp(4 + grid[:, 0])
    assert np.allclose(model.predict(grid), true_median, rtol=0.3)
    p = model.prob_within(grid, 100.0)
    from scipy.stats import norm

    assert np.allclose(p, norm.cdf(np.log(100.0) - 4 - grid[:, 0]), atol=0.1)
    assert (np.diff(model.prob_within(grid[:1], np.array([10.0, 50.0, 200.0]))) > 0).all()
    assert model.quantile(grid[:1], 0.1)[0] < model.predict(grid[:1])[0] < model.quantile(grid[:1], 0.9)[0]
    with pytest.raises(NotEnoughFailuresError):
        FailureTimeModel().fit(X, lower, np.full(n, np.inf))


def test_validation_reports_every_figure_beside_a_baseline() -> None:
    X, y, _, groups = _risk_data(4000, 4)
    times = np.tile(np.array([np.datetime64("2026-01-01T00:00") + np.timedelta64(h, "h") for h in range(200)]), 20)
    splits = time_grouped_splits(times, groups, horizon_hours=12, n_blocks=2, n_groups=2)
    v = validate(X, y, groups, splits, FailureRiskClassifier(n_estimators=80, n_jobs=2), ["a__z_7d", "b__z_7d", "c"])
    m = v.metrics
    for key in ("brier", "log_loss", "pr_auc", "roc_auc", "precision", "recall"):
        assert m[key] is not None
        assert any(k.startswith(key.split("_")[0]) and k != key for k in m), key
    assert m["brier"] < m["brier_baseline"] and m["pr_auc"] > m["prevalence"]
    assert m["rows"] == v.test_index.size == len(set(v.test_index.tolist()))
    # Naive score: the largest |z_7d| of any sensor column.
    assert np.allclose(v.naive_score, np.abs(X[v.test_index][:, :2]).max(axis=1), atol=1e-5)
    assert m["reliability"] and all(0 <= b["observed"] <= 1 for b in m["reliability"])
    # A clone of an unfitted classifier is what each split fits: the template stays unfitted.
    assert not hasattr(clone(FailureRiskClassifier()), "calibrated_")


def test_explanations_add_up_and_speak() -> None:
    columns = ["temp__trend", "temp__dev_28d", "temp__z_7d", "vib__level", "running_24h"]
    contributions = np.array([[0.5, 0.3, 0.0, 0.2, -0.1, -2.0], [-0.5, 0.0, 0.0, -0.2, 0.4, -2.0]])
    features = np.array([[3.0, 12.0, 2.5, 4.0, 0.8], [-1.0, 0.0, 0.0, 1.0, 0.5]])
    first, second = explain(contributions, features, columns, units={"temp": "°C", "vib": "mm/s"})
    assert [r.sensor for r in first] == ["temp", "vib"]
    assert first[0].contribution == pytest.approx(0.8) and first[0].share == pytest.approx(0.8)
    assert first[0].text_en == "temp rising 3 °C/day over 5 days, +12 °C against its 28-day mean, 2.5 standard deviations above its week"
    assert "5일간 하루 3 °C씩 상승" in first[0].text_ko
    # Nothing pushed the second row's risk up through a sensor: no invented reason.
    assert second == []
    # A model without trend inputs still speaks of the trend: the words come from the table.
    described = {"temp__trend": np.array([3.0, -1.0]), "temp__dev_28d": np.array([12.0, np.nan]), "temp__z_7d": np.array([2.5, 0.0])}
    pushes = np.array([[0.6, 0.2, -0.1, -2.0], [0.0, 0.0, 0.1, -2.0]])  # temp__z_7d, vib__level, running_24h, bias
    only_z = explain(pushes, features[:, [2, 3, 4]], columns[2:], units={"temp": "°C"}, described=described)
    assert [r.sensor for r in only_z[0]] == ["temp", "vib"]
    assert only_z[0][0].text_en.startswith("temp rising 3 °C/day over 5 days, +12 °C against its 28-day mean")
    en, ko = describe_sensor("flow", {"trend": -0.25, "dev_28d": None, "z_7d": None}, "m³/h")
    assert en == "flow falling 0.25 m³/h/day over 5 days" and "하락" in ko
    assert math.isfinite(first[1].share)


def test_sharing_is_off_until_a_factory_turns_it_on(hub: Hub) -> None:
    for fid in ("acme-01", "beta-02"):
        hub.registry.add_factory(FactorySpec(id=fid, name_en=fid, timezone="Asia/Seoul"))
    assert hub.registry.model_sharing("acme-01") is False and hub.registry.sharing_factories() == []
    hub.registry.set_model_sharing("beta-02", True)
    assert hub.registry.sharing_factories() == ["beta-02"]
    hub.registry.set_model_sharing("beta-02", False)
    assert hub.registry.sharing_factories() == []


def test_champion_changes_only_by_promotion(hub: Hub) -> None:
    hub.registry.add_factory(FactorySpec(id="acme-01", name_en="Acme", timezone="Asia/Seoul"))
    store = ModelStore(hub, "acme-01")
    assert store.champion("failure", "cnc") is None
    store.save("failure", "cnc", "aaa111", {"w": 1}, {"recipe": "factory", "fitted_until": T0.isoformat()})
    store.save("failure", "cnc", "bbb222", {"w": 2}, {"recipe": "pooled", "fitted_until": T0.isoformat()})
    assert store.champion("failure", "cnc") is None
    store.promote("failure", "cnc", "aaa111", "first model")
    store.promote("failure", "cnc", "bbb222", "pooled recipe beat factory")
    champion = store.champion("failure", "cnc")
    assert champion["model_id"] == "bbb222" and champion["promotion"] == "pooled recipe beat factory"
    assert store.load("failure", "cnc", champion["model_id"]) == {"w": 2}
    assert sorted(c["model_id"] for c in store.cards("failure", "cnc")) == ["aaa111", "bbb222"]  # champion.json is no card
    with pytest.raises(ValueError):
        store.promote("failure", "cnc", "ccc333", "no such model")
    pooled = ModelStore.pooled(hub)
    assert pooled.root != store.root and pooled.champion("failure", "cnc") is None


def test_a_model_serves_only_while_the_factories_it_learned_from_share(hub: Hub) -> None:
    """usable_card by hand: the champion, or for a past day the newest model fitted before it,
    and never one that learned from a factory that has stopped sharing (nor a factory's model of
    the pooled recipe once the factory itself stops), with no training in between."""
    from analytics.models.failure.predict import usable_card

    for fid in ("acme-01", "beta-02", "gamma-03"):
        hub.registry.add_factory(FactorySpec(id=fid, name_en=fid, timezone="Asia/Seoul"))
        hub.registry.set_model_sharing(fid, True)
    store = ModelStore(hub, "acme-01")
    day = [T0 + timedelta(days=d) for d in range(4)]
    # Oldest first: its own recipe; then the pooled recipe with beta's rows; then the pooled
    # model fine-tuned on acme's rows, its shared trees learned from gamma's.
    for model_id, recipe, until, donors in (("own1", "factory", day[0], []), ("pool2", "pooled", day[1], ["beta-02"]), ("pool3", "tuned", day[2], ["gamma-03"])):
        store.save("failure", "cnc", model_id, {}, {"recipe": recipe, "fitted_until": until.isoformat()})
        store.write_private("failure", "cnc", model_id, {"donors": donors})
    store.promote("failure", "cnc", "pool3", "pooled recipe beat factory")

    def used(day_end: datetime) -> str | None:
        card = usable_card(store, "cnc", day_end, set(hub.registry.sharing_factories()))
        return card["model_id"] if card else None

    # A day is scored by a model fitted to its end at the latest; none was fitted before day 0.
    assert [used(d) for d in day] == ["own1", "pool2", "pool3", "pool3"]
    assert used(day[0] - timedelta(hours=1)) is None
    hub.registry.set_model_sharing("beta-02", False)
    # The champion learned from gamma only; a re-run of day 1 now falls back past beta's model.
    assert [used(d) for d in day] == ["own1", "own1", "pool3", "pool3"]
    hub.registry.set_model_sharing("gamma-03", False)
    # The champion learned from gamma: not used, though not yet retired (no older one replaces a
    # champion that is current; the next training does).
    assert [used(d) for d in day] == ["own1", "own1", None, None]
    hub.registry.set_model_sharing("beta-02", True)
    hub.registry.set_model_sharing("gamma-03", True)
    hub.registry.set_model_sharing("acme-01", False)
    # The factory itself stops sharing: its pooled and tuned models stop, its own recipe's does not.
    assert [used(d) for d in day] == ["own1", "own1", None, None]
    # The hub's pooled models: usable while every factory they learned from shares.
    pooled = ModelStore.pooled(hub)
    pooled.save("failure", "cnc", "hub1", {}, {"recipe": "pooled", "fitted_until": day[0].isoformat()})
    pooled.write_private("failure", "cnc", "hub1", {"factories": ["beta-02", "gamma-03"]})
    pooled.promote("failure", "cnc", "hub1", "first pooled model")
    assert usable_card(pooled, "cnc", day[1], {"beta-02", "gamma-03"})["model_id"] == "hub1"
    assert usable_card(pooled, "cnc", day[1], {"beta-02"}) is None
    # A model saved without the note of where it learned: not used (it cannot be shown to be allowed).
    pooled.save("failure", "cnc", "hub0", {}, {"recipe": "pooled", "fitted_until": T0.isoformat()})
    pooled.promote("failure", "cnc", "hub0", "no note")
    assert usable_card(pooled, "cnc", day[1], {"beta-02", "gamma-03"}) is None


def test_time_model_verdict_by_hand() -> None:
    from analytics.models.failure.training import time_model_verdict

    assert time_model_verdict({"survival_brier": 0.08, "brier_baseline": 0.1}) == {
        "kept": True, "reason": "its failure probability validated at Brier 0.08 against the base rate's 0.1"
    }  # fmt: skip
    worse = time_model_verdict({"survival_brier": 0.1, "brier_baseline": 0.1})  # equal is not better
    assert worse["kept"] is False and "not below the base rate's 0.1" in worse["reason"]
    assert time_model_verdict({"survival_brier": None, "brier_baseline": 0.1})["kept"] is False
    assert time_model_verdict({"brier_baseline": 0.1})["kept"] is False
