"""Out-of-fold calibration (Calibrated) and operating-mode awareness (ModeAware), against naive
re-implementations, hand-computable cases and the false-alarm shares they promise."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from sklearn.base import clone
from threadpoolctl import threadpool_limits

from analytics.models.anomaly.calibrated import Calibrated, out_of_fold_scores
from analytics.models.anomaly.modes import ModeAware
from analytics.models.anomaly.process import PCAResidual
from analytics.models.anomaly.thresholds import FixedThreshold, QuantileThreshold

COLUMNS = ["load", "current", "temperature", "vibration"]


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """k-means on a few hundred rows needs no OpenMP threads; on a busy machine they spin and
    make each fit ~100x slower."""
    with threadpool_limits(limits=1):
        yield


def correlated(n: int, seed: int) -> np.ndarray:
    """Six sensors driven by two hidden factors plus noise: healthy Gaussian data."""
    rng = np.random.default_rng(seed)
    latent = rng.normal(size=(n, 2))
    mixing = np.array([[1.0, 0.8, 0.5, 0.0, 0.3, -0.6], [0.0, 0.4, 0.9, 1.0, -0.5, 0.2]])
    return latent @ mixing + 0.1 * rng.normal(size=(n, 6))


def machine(n: int, seed: int, modes: np.ndarray | None = None, loads=(20.0, 80.0)) -> tuple[np.ndarray, np.ndarray]:
    """A two-mode machine (light jobs at 20 % load, heavy ones at 80 %) in runs of 25 windows:
    current = 10 + 0.5 load, temperature = 40 + 0.2 load, vibration independent of the mode."""
    rng = np.random.default_rng(seed)
    if modes is None:
        modes = (np.arange(n) // 25) % 2
    load = np.where(modes == 1, loads[1], loads[0]) + rng.normal(0, 2, n)
    current = 10 + 0.5 * load + rng.normal(0, 1, n)
    temperature = 40 + 0.2 * load + rng.normal(0, 1, n)
    vibration = 3 + rng.normal(0, 0.3, n)
    return np.c_[load, current, temperature, vibration], modes


def one_mode(n: int, seed: int, mode: int) -> np.ndarray:
    return machine(n, seed, modes=np.full(n, mode))[0]


# --------------------------------------------------------------------------- Calibrated


def naive_oof(detector, X: np.ndarray, folds: int, train: np.ndarray | None = None) -> np.ndarray:
    """Contiguous blocks by hand (the first n % folds blocks one row longer), a fresh clone each."""
    n = len(X)
    sizes = [n // folds + (1 if b < n % folds else 0) for b in range(folds)]
    edges = np.concatenate([[0], np.cumsum(sizes)])
    scores = np.full(n, np.nan)
    for start, stop in zip(edges[:-1], edges[1:], strict=True):
        others = np.r_[0:start, stop:n]
        if train is not None:
            others = others[train[others]]
        model = clone(detector).fit(X[others])
        scores[start:stop] = model.decision_function(X[start:stop])
    return scores


def naive_calibration(X: np.ndarray, quantile: float, folds: int, trim: float) -> tuple[np.ndarray, float]:
    """(kept mask, scale): trimmed core, out-of-fold rescoring, Tukey's outer fence, quantile."""
    detector = PCAResidual()
    kept = np.ones(len(X), dtype=bool)
    if trim < 1:
        first = naive_oof(detector, X, folds)
        core = first <= np.quantile(first, trim)
        second = naive_oof(detector, X, folds, train=core)
        q1, q3 = np.quantile(second, [0.25, 0.75])
        kept = core | (second <= max(q3 + 3 * (q3 - q1), np.quantile(second, trim)))
    scores = naive_oof(detector, X[kept], folds)
    return kept, float(np.quantile(scores, quantile))


def test_out_of_fold_scores_equal_a_naive_blocked_loop() -> None:
    X = correlated(103, seed=0)  # 103 = 21 + 21 + 21 + 20 + 20
    np.testing.assert_allclose(out_of_fold_scores(PCAResidual(), X, 5), naive_oof(PCAResidual(), X, 5), rtol=1e-10)
    # Not in-sample: each row is scored by a model that never saw it, so the scores differ
    # from (and are on the whole higher than) the in-sample scores.
    in_sample = PCAResidual().fit(X).decision_scores_
    assert out_of_fold_scores(PCAResidual(), X, 5).mean() > in_sample.mean()
    # With a training mask, the fold models are fitted on the masked rows of the other blocks only.
    mask = np.random.default_rng(1).random(len(X)) > 0.2
    np.testing.assert_allclose(
        out_of_fold_scores(PCAResidual(), X, 4, train=mask), naive_oof(PCAResidual(), X, 4, train=mask), rtol=1e-10
    )


@pytest.mark.parametrize(("quantile", "folds", "trim"), [(0.99, 5, 1.0), (0.9, 3, 1.0), (0.99, 5, 0.95), (0.95, 4, 0.8)])
def test_scale_is_the_quantile_of_out_of_fold_scores(quantile: float, folds: int, trim: float) -> None:
    X = correlated(400, seed=2)
    X[::37, 4] += 4.0  # a few contaminated windows, for the trimming to act on
    model = Calibrated(PCAResidual(), quantile=quantile, folds=folds, trim=trim).fit(X)
    kept, scale = naive_calibration(X, quantile, folds, trim)
    np.testing.assert_array_equal(model.kept_, kept)
    assert model.scale_ == pytest.approx(scale, rel=1e-10)
    # Scores are the final model's (fitted on the kept rows) divided by the scale; 1.0 is the threshold.
    final = PCAResidual().fit(X[kept])
    fresh = correlated(50, seed=3)
    np.testing.assert_allclose(model.decision_function(fresh), final.decision_function(fresh) / scale, rtol=1e-10)
    assert model.threshold_ == 1.0
    np.testing.assert_array_equal(model.predict(fresh), (final.decision_function(fresh) > scale).astype(int))
    if trim == 1.0:
        assert model.kept_.all()


def test_scale_by_hand_on_a_tiny_case() -> None:
    """quantile 0.5 of four out-of-fold scores = mean of the middle two (numpy's linear rule)."""
    X = correlated(40, seed=4)
    model = Calibrated(PCAResidual(), quantile=0.5, folds=4, trim=1.0).fit(X)
    s = np.sort(naive_oof(PCAResidual(), X, 4))
    assert model.scale_ == pytest.approx((s[19] + s[20]) / 2)


@pytest.mark.parametrize(("quantile", "low", "high"), [(0.99, 0.002, 0.03), (0.95, 0.03, 0.08)])
def test_false_alarm_share_on_new_healthy_data_is_one_minus_quantile(quantile: float, low: float, high: float) -> None:
    model = Calibrated(PCAResidual(), quantile=quantile).fit(correlated(2000, seed=5))
    share = model.predict(correlated(20000, seed=6)).mean()
    assert low <= share <= high, share
    # Trimming (on by default) must not eat the healthy tail: a clean period keeps nearly every row.
    assert model.kept_.mean() > 0.98


def test_out_of_fold_calibration_beats_in_sample_thresholds_when_rows_are_few() -> None:
    """60 windows of 20 independent sensors: in-sample thresholds are far too low on new data."""
    rng = np.random.default_rng(7)
    X, fresh = rng.normal(size=(60, 20)), rng.normal(size=(20000, 20))
    calibrated = Calibrated(PCAResidual()).fit(X).predict(fresh).mean()
    own_limit = PCAResidual().fit(X).predict(fresh).mean()
    in_sample_quantile = PCAResidual(threshold=QuantileThreshold(0.99)).fit(X).predict(fresh).mean()
    # (over seeds the calibrated share ranges about 0.3-6 %: 60 rows pin a 99 % quantile loosely)
    assert calibrated <= 0.07, calibrated
    assert own_limit >= 0.2 and in_sample_quantile >= 0.2, (own_limit, in_sample_quantile)
    assert min(own_limit, in_sample_quantile) > 3 * calibrated


def gross(X: np.ndarray, seed: int, share: float = 0.03) -> tuple[np.ndarray, np.ndarray]:
    """Column 4 knocked ±8 (about 4 of its standard deviations) off its relation in ``share`` of rows."""
    rng = np.random.default_rng(seed)
    X = X.copy()
    rows = rng.choice(len(X), int(round(share * len(X))), replace=False)
    X[rows, 4] += rng.choice([-8.0, 8.0], len(rows))
    return X, rows


def test_trimming_sets_gross_outliers_aside_and_keeps_the_envelope_tight() -> None:
    X, rows = gross(correlated(1000, seed=8), seed=9)
    trimmed = Calibrated(PCAResidual()).fit(X)
    untrimmed = Calibrated(PCAResidual(), trim=1.0).fit(X)
    assert not trimmed.kept_[rows].any()  # every contaminated window set aside
    clean = np.setdiff1d(np.arange(len(X)), rows)
    assert trimmed.kept_[clean].mean() > 0.98  # and (almost) only them
    assert untrimmed.kept_.all()
    # New faults like the contamination: the untrimmed model learnt them as normal.
    faults, _ = gross(correlated(2000, seed=10), seed=11, share=1.0)
    missed_trimmed = 1 - trimmed.predict(faults).mean()
    missed_untrimmed = 1 - untrimmed.predict(faults).mean()
    assert missed_trimmed < 0.05 and missed_untrimmed > 0.3, (missed_trimmed, missed_untrimmed)
    # ... while the trimmed model still does not alarm on healthy data.
    assert trimmed.predict(correlated(5000, seed=12)).mean() < 0.03


def test_calibrated_explain_names_the_shifted_column() -> None:
    model = Calibrated(PCAResidual()).fit(correlated(1000, seed=13))
    broken = correlated(200, seed=14)
    broken[:, 4] += 1.5
    shares = model.explain(broken)
    np.testing.assert_allclose(shares.sum(axis=1), 1.0)
    assert (shares.argmax(axis=1) == 4).mean() > 0.95
    np.testing.assert_allclose(shares, model.detector_.explain(broken))  # scaling does not change shares
    assert model.predict(broken).mean() > 0.95


def test_calibrated_clone_is_unfitted_with_the_same_params() -> None:
    model = Calibrated(PCAResidual(variance=0.8), quantile=0.95, folds=3, trim=0.9, threshold=FixedThreshold(2.0))
    model.fit(correlated(200, seed=15))
    copy = clone(model)
    assert not hasattr(copy, "scale_") and not hasattr(copy, "detector_") and not hasattr(copy, "n_features_in_")
    assert copy.detector is not model.detector and not hasattr(copy.detector, "limit_")
    params, copied = model.get_params(deep=True), copy.get_params(deep=True)
    assert params.keys() == copied.keys()
    for key, value in params.items():
        if key in {"detector", "threshold"}:
            assert type(copied[key]) is type(value)
        else:
            assert copied[key] == value, key
    assert copy.detector.variance == 0.8 and copy.threshold.value == 2.0
    # A threshold given by hand replaces the 1.0 default.
    assert model.threshold_ == 2.0


@pytest.mark.parametrize("quantile", [0.0, 1.0, -0.1, 1.5])
def test_calibrated_rejects_a_quantile_outside_zero_one(quantile: float) -> None:
    with pytest.raises(ValueError, match="quantile must be in"):
        Calibrated(PCAResidual(), quantile=quantile).fit(correlated(50, seed=16))


def test_calibrated_rejects_too_few_rows() -> None:
    with pytest.raises(ValueError, match="at least 4 rows"):
        Calibrated(PCAResidual()).fit(correlated(3, seed=17))
    # An aggressive trim leaves the fold models nothing to learn from: a clear error, not a crash.
    with pytest.raises(ValueError, match="too few rows"):
        Calibrated(PCAResidual(), trim=0.1).fit(correlated(10, seed=18))
    with pytest.raises(ValueError, match="not fitted"):
        Calibrated(PCAResidual()).decision_function(correlated(3, seed=19))


# --------------------------------------------------------------------------- ModeAware


@pytest.fixture(scope="module")
def two_modes() -> dict:
    X, modes = machine(1000, seed=20)
    frame = pl.DataFrame(X, schema=COLUMNS)
    aware = ModeAware(Calibrated(PCAResidual()), ["load"]).fit(frame)
    pooled = Calibrated(PCAResidual()).fit(X)
    return {"X": X, "modes": modes, "frame": frame, "aware": aware, "pooled": pooled}


def test_two_load_modes_are_found(two_modes: dict) -> None:
    aware = two_modes["aware"]
    assert aware.n_modes_ == 2 and len(aware.detectors_) == 2
    assert aware.mode_index_ == [0] and aware.feature_names_in_ == COLUMNS
    # The centres sit at ±1 standardised unit (two equal groups at 20 and 80 % load).
    np.testing.assert_allclose(np.sort(aware.mode_centers_[:, 0]), [-1.0, 1.0], atol=0.01)
    new, truth = machine(2000, seed=21)
    found = aware.modes(pl.DataFrame(new, schema=COLUMNS))
    light = found[truth == 0][0]
    assert set(found[truth == 0]) == {light} and set(found[truth == 1]) == {1 - light}
    # Each mode's detector learnt from its own group only.
    assert aware.detectors_[light].detector_.mean_[0] == pytest.approx(20, abs=0.5)
    assert aware.detectors_[1 - light].detector_.mean_[0] == pytest.approx(80, abs=0.5)


def test_switching_between_modes_is_not_an_alarm(two_modes: dict) -> None:
    aware = two_modes["aware"]
    new, truth = machine(6000, seed=22)
    flags = aware.predict(pl.DataFrame(new, schema=COLUMNS))
    assert flags.mean() <= 0.03
    for mode in (0, 1):
        assert flags[truth == mode].mean() <= 0.035  # neither mode pays for the other
    # Windows right after a switch (the first of each run) are no more alarming than the rest.
    first = np.arange(0, len(new), 25)
    assert flags[first].mean() <= 0.05


def test_a_broken_relation_inside_one_mode(two_modes: dict) -> None:
    aware, pooled = two_modes["aware"], two_modes["pooled"]
    light = one_mode(300, seed=23, mode=0)
    # Mode A's load, mode B's current: a gross break. Both see it, but the pooled model, whose
    # envelope spans both modes, scores it several times lower.
    gross_break = light.copy()
    gross_break[:, 1] += 30.0  # 10 + 0.5 * 80 instead of 10 + 0.5 * 20
    assert aware.predict(gross_break).mean() == 1.0
    assert np.median(aware.decision_function(gross_break)) > 3 * np.median(pooled.decision_function(gross_break))
    # A subtler break (current 6 A above its relation, inside the pooled spread of current):
    # the per-mode model flags it, the pooled one misses most of it.
    subtle = light.copy()
    subtle[:, 1] += 6.0
    caught, pooled_caught = aware.predict(subtle).mean(), pooled.predict(subtle).mean()
    assert caught > 0.95 and pooled_caught < 0.6, (caught, pooled_caught)
    assert np.median(aware.decision_function(subtle)) > 2 * np.median(pooled.decision_function(subtle))
    # A consistent operating point between the modes (50 % load, current and temperature on their
    # relation) was never seen: new for the per-mode models, mid-cloud for the pooled one.
    between = light.copy()
    between[:, 0] += 30.0
    between[:, 1] += 15.0
    between[:, 2] += 6.0
    assert aware.predict(between).mean() > 0.95 and pooled.predict(between).mean() < 0.1


def test_scores_are_in_each_modes_threshold_units() -> None:
    X, _ = machine(1000, seed=24)
    aware = ModeAware(PCAResidual(), [0]).fit(X)  # raw PCA limits differ between the modes
    assert aware.n_modes_ == 2 and aware.threshold_ == 1.0
    limits = [model.threshold_ for model in aware.detectors_]
    assert limits == [model.limit_ for model in aware.detectors_]
    new, _ = machine(500, seed=25)
    new[::7, 3] += 2.0  # some vibration faults
    which = aware.modes(new)
    expected = np.empty(len(new))
    for mode, model in enumerate(aware.detectors_):
        expected[which == mode] = model.decision_function(new[which == mode]) / model.threshold_
    np.testing.assert_allclose(aware.decision_function(new), expected, rtol=1e-12)
    np.testing.assert_array_equal(aware.predict(new), (expected > 1.0).astype(int))
    assert aware.predict(new)[::7].mean() > 0.9
    np.testing.assert_allclose(aware.decision_scores_, aware.decision_function(X))


def test_explain_uses_each_modes_model() -> None:
    X, _ = machine(1000, seed=26)
    aware = ModeAware(Calibrated(PCAResidual()), ["load"]).fit(pl.DataFrame(X, schema=COLUMNS))
    light, heavy = one_mode(100, seed=27, mode=0), one_mode(100, seed=28, mode=1)
    # (Not current: it moves with load inside a mode, so a current fault's residual is shared
    # between current and load, the smearing of contribution plots.)
    light[:, 2] += 6.0  # temperature off its relation in light jobs
    heavy[:, 3] += 1.5  # vibration up in heavy jobs
    rows = np.r_[light, heavy]
    shares = aware.explain(pl.DataFrame(rows, schema=COLUMNS))
    np.testing.assert_allclose(shares.sum(axis=1), 1.0)
    assert (shares[:100].argmax(axis=1) == 2).mean() > 0.9
    assert (shares[100:].argmax(axis=1) == 3).mean() > 0.9
    assert aware.predict(rows).mean() > 0.9
    which = aware.modes(rows)
    assert len(set(which[:100])) == 1 and set(which[100:]) == {1 - which[0]}
    np.testing.assert_allclose(shares[:100], aware.detectors_[which[0]].explain(light))
    np.testing.assert_allclose(shares[100:], aware.detectors_[which[100]].explain(heavy))


def assert_single_mode_equals_wrapped(aware: ModeAware, X, fresh: np.ndarray) -> None:
    assert aware.n_modes_ == 1 and len(aware.detectors_) == 1
    plain = PCAResidual().fit(X)
    np.testing.assert_allclose(aware.decision_function(fresh), plain.decision_function(fresh) / plain.threshold_, rtol=1e-12)
    np.testing.assert_array_equal(aware.predict(fresh), plain.predict(fresh))
    np.testing.assert_allclose(aware.explain(fresh), plain.explain(fresh))
    assert (aware.modes(fresh) == 0).all()


def test_one_mode_behaves_like_the_wrapped_detector() -> None:
    X = one_mode(600, seed=29, mode=0)
    fresh = one_mode(200, seed=30, mode=0)
    fresh[::5, 1] += 5.0
    assert_single_mode_equals_wrapped(ModeAware(PCAResidual(), ["load"]).fit(pl.DataFrame(X, schema=COLUMNS)), X, fresh)


@pytest.mark.parametrize(
    ("mode_columns", "as_frame"),
    [(["speed"], True), ([], True), ((), False), (["load"], False)],  # last: numpy has no names
    ids=["absent-column", "none", "none-numpy", "name-without-names"],
)
def test_no_usable_mode_column_means_one_mode(mode_columns, as_frame: bool) -> None:
    X, _ = machine(600, seed=31)
    data = pl.DataFrame(X, schema=COLUMNS) if as_frame else X
    fresh, _ = machine(200, seed=32)
    assert_single_mode_equals_wrapped(ModeAware(PCAResidual(), mode_columns).fit(data), X, fresh)


def test_mode_columns_by_index_name_or_single_name_agree() -> None:
    X, _ = machine(600, seed=33)
    frame = pl.DataFrame(X, schema=COLUMNS)
    fresh, _ = machine(200, seed=34)
    by_index = ModeAware(PCAResidual(), [0]).fit(X)
    by_name = ModeAware(PCAResidual(), ["load"]).fit(frame)
    by_string = ModeAware(PCAResidual(), "load").fit(frame)  # a bare name, not its letters
    for model in (by_index, by_name, by_string):
        assert model.n_modes_ == 2 and model.mode_index_ == [0]
    np.testing.assert_allclose(by_name.decision_function(fresh), by_index.decision_function(fresh))
    np.testing.assert_allclose(by_string.decision_function(pl.DataFrame(fresh, schema=COLUMNS)), by_index.decision_function(fresh))


def test_a_mode_with_too_few_rows_is_not_split_off() -> None:
    modes = np.r_[np.zeros(600, dtype=int), np.ones(30, dtype=int)]  # 30 heavy windows only
    X, _ = machine(630, seed=35, modes=modes)
    assert ModeAware(PCAResidual(), ["load"], min_rows=40).fit(pl.DataFrame(X, schema=COLUMNS)).n_modes_ == 1
    # The same data with a lower bar does split: it is the row count that kept it whole.
    assert ModeAware(PCAResidual(), ["load"], min_rows=20).fit(pl.DataFrame(X, schema=COLUMNS)).n_modes_ == 2


@pytest.mark.parametrize("kind", ["uniform", "normal", "exponential"])
def test_unclear_separation_is_one_mode(kind: str) -> None:
    rng = np.random.default_rng(36)
    n = 1000
    load = {"uniform": rng.uniform(10, 90, n), "normal": rng.normal(50, 15, n), "exponential": 10 + rng.exponential(20, n)}[kind]
    X = np.c_[load, 10 + 0.5 * load + rng.normal(0, 1, n), 40 + 0.2 * load + rng.normal(0, 1, n), 3 + rng.normal(0, 0.3, n)]
    assert ModeAware(PCAResidual(), [0]).fit(X).n_modes_ == 1


def test_three_clear_modes_are_found() -> None:
    modes = np.repeat(np.arange(3), 300)
    X, _ = machine(900, seed=38, modes=(modes > 0).astype(int))
    X[modes == 2, 0] += 30.0  # a third job at 50 % load
    assert ModeAware(PCAResidual(), [0]).fit(X).n_modes_ == 3
    assert ModeAware(PCAResidual(), [0], max_modes=2).fit(X).n_modes_ <= 2


def test_mode_aware_clone_and_errors() -> None:
    model = ModeAware(Calibrated(PCAResidual()), ["load"], max_modes=3, min_rows=50, min_silhouette=0.8)
    copy = clone(model)
    assert copy.get_params()["mode_columns"] == ["load"] and copy.max_modes == 3 and copy.min_rows == 50
    assert copy.min_silhouette == 0.8 and isinstance(copy.detector, Calibrated) and copy.detector is not model.detector
    with pytest.raises(ValueError, match="not fitted"):
        model.decision_function(np.zeros((2, 4)))
    X, _ = machine(400, seed=39)
    model.fit(pl.DataFrame(X, schema=COLUMNS))
    with pytest.raises(ValueError, match="expected 4 columns"):
        model.decision_function(np.zeros((2, 3)))
