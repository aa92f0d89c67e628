"""Univariate control charts against hand computations, naive recursions and textbook ARLs.

Textbook figures used (Montgomery, *Introduction to Statistical Quality Control*):
- Shewhart rule 1 (3 sigma): false alarm probability 0.0027 per point, ARL0 370, ARL(1 sigma) 43.9;
- Shewhart with all four Western Electric rules: ARL0 91.75 (Champ & Woodall 1987);
- tabular CUSUM k = 0.5, h = 5: ARL0 465, ARL(1 sigma) 10.4 (Table 9.3);
- EWMA lam = 0.2, L = 2.962: ARL0 500, ARL(1 sigma) 10.2 (Table 9.11, asymptotic limits; the
  exact time-varying limits used here make early signals a little likelier, so slightly less).
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone

from analytics.models.anomaly import CUSUM, EWMA, BaseDetector, FixedThreshold, Shewhart, STLResidual
from analytics.models.anomaly.univariate import RUN_RULE_SCORE

# Charts with known standards (centre 0, sigma 1): the training data only sets the column count.
DUMMY = np.zeros((2, 1))


def run_lengths(signals: np.ndarray) -> np.ndarray:
    """Per column (one independent chart each): the 1-based row of the first signal."""
    assert signals.any(axis=0).all(), "a chart never signalled: run too short"
    return signals.argmax(axis=0) + 1


# --------------------------------------------------------------------------- hand computations


def test_shewhart_hand_computed_limits() -> None:
    # Training 1, 3, 2, 4, 5: mean 3; moving ranges 2, 1, 2, 1 -> MR-bar 1.5; sigma 1.5 / 1.128.
    model = Shewhart().fit(np.array([[1.0], [3.0], [2.0], [4.0], [5.0]]))
    assert model.center_[0] == pytest.approx(3.0)
    assert model.sigma_[0] == pytest.approx(1.5 / 1.128)
    assert model.threshold_ == 1.0
    # 7: |7 - 3| / (3 * 1.5 / 1.128) = 4 * 1.128 / 4.5 = 1.0026667 -> just out of control.
    # 3.5: 0.5 * 1.128 / 4.5 = 0.1253333.
    scores = model.decision_function(np.array([[7.0], [3.5]]))
    np.testing.assert_allclose(scores, [4 * 1.128 / 4.5, 0.5 * 1.128 / 4.5])
    np.testing.assert_array_equal(model.predict(np.array([[7.0], [3.5]])), [1, 0])


def test_ewma_hand_computed() -> None:
    # lam 0.5, L 3, mu 0, sigma 1; x = 2, 0, 4 -> z = 1, 0.5, 2.25.
    # Half-widths 3 sqrt(1/3 (1 - 0.25^t)): t=1: 3 * 0.5 = 1.5; t=2: 3 sqrt(0.3125) = 1.677051;
    # t=3: 3 sqrt(0.328125) = 1.718466. Scores 0.666667, 0.298142, 1.309310.
    model = EWMA(lam=0.5, L=3.0, center=0.0, sigma=1.0).fit(DUMMY)
    X = np.array([[2.0], [0.0], [4.0]])
    z, width = model.ewma(X)
    np.testing.assert_allclose(z[:, 0], [1.0, 0.5, 2.25])
    np.testing.assert_allclose(width[:, 0], [1.5, 1.677051, 1.718466], rtol=1e-6)
    np.testing.assert_allclose(model.decision_function(X), [0.666667, 0.298142, 1.309310], rtol=1e-5)
    np.testing.assert_array_equal(model.predict(X), [0, 0, 1])


def test_cusum_hand_computed_in_sigma_units() -> None:
    # mu 10, sigma 2, k 0.5, h 5; x = 12, 14, 8, 16, 10 -> z = 1, 2, -1, 3, 0.
    # C+ = 0.5, 2.0, 0.5, 3.0, 2.5; C- = 0, 0, 0.5, 0, 0; scores max / 5 = 0.1, 0.4, 0.1, 0.6, 0.5.
    model = CUSUM(k=0.5, h=5.0, center=10.0, sigma=2.0).fit(np.zeros((2, 1)))
    X = np.array([[12.0], [14.0], [8.0], [16.0], [10.0]])
    upper, lower = model.cusum(X)
    np.testing.assert_allclose(upper[:, 0], [0.5, 2.0, 0.5, 3.0, 2.5])
    np.testing.assert_allclose(lower[:, 0], [0.0, 0.0, 0.5, 0.0, 0.0])
    np.testing.assert_allclose(model.decision_function(X), [0.1, 0.4, 0.1, 0.6, 0.5])


def test_score_is_max_over_columns_and_explain_names_the_column() -> None:
    model = CUSUM(center=0.0, sigma=[1.0, 2.0]).fit(np.zeros((2, 2)))
    X = np.array([[1.0, 6.0], [1.0, 6.0]])  # z: column 0 = 1, column 1 = 3
    # C+ column 0: 0.5, 1.0; column 1: 2.5, 5.0 -> ratios / 5.
    np.testing.assert_allclose(model.decision_function(X), [0.5, 1.0])
    np.testing.assert_allclose(model.explain(X), [[0.1 / 0.6, 0.5 / 0.6], [0.2 / 1.2, 1.0 / 1.2]])


# --------------------------------------------------------------------------- naive references


def naive_ewma(x: list[float], mu: float, sigma: float, lam: float, L: float) -> list[float]:
    z, out = mu, []
    for t, value in enumerate(x, start=1):
        z = lam * value + (1 - lam) * z
        limit = L * sigma * (lam / (2 - lam) * (1 - (1 - lam) ** (2 * t))) ** 0.5
        out.append(abs(z - mu) / limit)
    return out


def naive_cusum(x: list[float], mu: float, sigma: float, k: float, h: float) -> list[float]:
    hi = lo = 0.0
    out = []
    for value in x:
        z = (value - mu) / sigma
        hi = max(0.0, z - k + hi)
        lo = max(0.0, -z - k + lo)
        out.append(max(hi, lo) / h)
    return out


@pytest.fixture(scope="module")
def shifted_series() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    train = rng.normal(5.0, 2.0, size=(300, 3))
    new = rng.normal(5.0, 2.0, size=(120, 3))
    new[60:, 1] += 3.0  # a 1.5 sigma shift in sensor 1
    new[80:, 2] -= 2.0
    return train, new


def test_ewma_matches_naive_recursion(shifted_series) -> None:
    train, new = shifted_series
    model = EWMA(lam=0.15, L=2.8).fit(train)
    mu = train.mean(axis=0)
    sigma = np.abs(np.diff(train, axis=0)).mean(axis=0) / 1.128
    ratios = np.column_stack([naive_ewma(list(new[:, j]), mu[j], sigma[j], 0.15, 2.8) for j in range(3)])
    np.testing.assert_allclose(model.decision_function(new), ratios.max(axis=1), rtol=1e-10)
    explained = ratios / ratios.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(model.explain(new), explained, rtol=1e-10)
    # The training rows' scores come from the same zero-state recursion.
    train_ratios = np.column_stack([naive_ewma(list(train[:, j]), mu[j], sigma[j], 0.15, 2.8) for j in range(3)])
    np.testing.assert_allclose(model.decision_scores_, train_ratios.max(axis=1), rtol=1e-10)


def test_cusum_matches_naive_recursion(shifted_series) -> None:
    train, new = shifted_series
    model = CUSUM(k=0.5, h=4.0).fit(train)
    mu = train.mean(axis=0)
    sigma = np.abs(np.diff(train, axis=0)).mean(axis=0) / 1.128
    ratios = np.column_stack([naive_cusum(list(new[:, j]), mu[j], sigma[j], 0.5, 4.0) for j in range(3)])
    np.testing.assert_allclose(model.decision_function(new), ratios.max(axis=1), rtol=1e-10)
    assert model.predict(new)[100:].all()  # both shifts are caught by the end
    assert model.explain(new)[-1].argmax() in (1, 2)


def test_each_block_starts_from_the_in_control_state(shifted_series) -> None:
    train, new = shifted_series
    for model in (EWMA().fit(train), CUSUM().fit(train)):
        whole = model.decision_function(new)
        tail = model.decision_function(new[70:])
        fresh = type(model)(**model.get_params()).fit(train).decision_function(new[70:])
        np.testing.assert_allclose(tail, fresh)  # no state leaks from earlier calls
        assert not np.allclose(tail, whole[70:])  # the state inside one block does carry over
        # A block scored from the in-control state equals the naive recursion started afresh.
        mu, sigma = model.center_, model.sigma_
        if isinstance(model, CUSUM):
            ref = [naive_cusum(list(new[70:, j]), mu[j], sigma[j], 0.5, 5.0) for j in range(3)]
        else:
            ref = [naive_ewma(list(new[70:, j]), mu[j], sigma[j], 0.2, 3.0) for j in range(3)]
        np.testing.assert_allclose(tail, np.column_stack(ref).max(axis=1))


def test_missing_values_carry_the_state_over() -> None:
    model = CUSUM(center=0.0, sigma=1.0).fit(np.zeros((2, 2)))
    X = np.array([[2.0, 0.0], [np.nan, 0.0], [2.0, np.nan], [np.nan, np.nan]])
    upper, _ = model.cusum(X)
    np.testing.assert_allclose(upper[:, 0], [1.5, np.nan, 3.0, np.nan])
    np.testing.assert_allclose(model.decision_function(X), [0.3, 0.0, 0.6, np.nan])
    ewma = EWMA(lam=0.5, center=0.0, sigma=1.0).fit(np.zeros((2, 1)))
    z, width = ewma.ewma(np.array([[2.0], [np.nan], [2.0]]))
    np.testing.assert_allclose(z[[0, 2], 0], [1.0, 1.5])  # the gap does not count as a step
    np.testing.assert_allclose(width[2, 0], 3 * np.sqrt(1 / 3 * (1 - 0.5**4)))


# --------------------------------------------------------------------------- Western Electric rules


def fired_rows(model: Shewhart, values: list[float]) -> dict[str, list[int]]:
    found = model.violations(np.array(values)[:, None])
    return {rule: np.flatnonzero(flags[:, 0]).tolist() for rule, flags in found.items()}


def test_rule_1_beyond_three_sigma() -> None:
    model = Shewhart(center=0.0, sigma=1.0).fit(DUMMY)
    # 3.0 is on the limit, not beyond it.
    assert fired_rows(model, [0.0, 3.5, 0.0, -3.2, 3.0]) == {"1": [1, 3], "2": [], "3": [], "4": []}


def test_rule_2_two_of_three_beyond_two_sigma_same_side() -> None:
    model = Shewhart(center=0.0, sigma=1.0).fit(DUMMY)
    values = [2.5, 0.0, 2.5, 0.0, 0.0, 2.5, -2.5, 2.5, 0.0, 0.0, -2.1, -2.2]
    # Above 2: rows 0, 2, 5, 7. Windows ending at 2 = {0, 2} and at 7 = {5, 7} (row 6 is on the
    # other side and does not break it) fire; at 5 the window 3..5 holds one. Below: 6, 10, 11:
    # the window 9..11 fires at 11. A normal row after a pattern (3, 8) is not flagged.
    assert fired_rows(model, values) == {"1": [], "2": [2, 7, 11], "3": [], "4": []}
    scores = model.decision_function(np.array(values)[:, None])
    np.testing.assert_allclose(scores[[2, 7, 11]], RUN_RULE_SCORE)
    np.testing.assert_allclose(scores[[0, 1, 6]], [2.5 / 3, 0.0, 2.5 / 3])
    np.testing.assert_array_equal(np.flatnonzero(model.predict(np.array(values)[:, None])), [2, 7, 11])


def test_rule_3_four_of_five_beyond_one_sigma_same_side() -> None:
    model = Shewhart(center=0.0, sigma=1.0).fit(DUMMY)
    # Above 1: rows 0, 1, 3, 4, 5. Windows 0..4 and 1..5 hold four each; row 6 is below.
    assert fired_rows(model, [1.5, 1.5, 0.5, 1.5, 1.5, 1.5, -1.5]) == {"1": [], "2": [], "3": [4, 5], "4": []}
    # Three of five is not enough, and four of six spread out is not four of five.
    assert fired_rows(model, [1.5, 0.5, 1.5, 0.5, 1.5])["3"] == []
    assert fired_rows(model, [-1.5, -1.5, 0.0, 0.0, -1.5, -1.5])["3"] == []
    assert fired_rows(model, [-1.5, -1.5, 0.0, -1.5, -1.5])["3"] == [4]


def test_rule_4_eight_in_a_row_on_one_side() -> None:
    model = Shewhart(center=0.0, sigma=1.0).fit(DUMMY)
    # Seven above, one on the centre line (breaks the run), nine above (rows 8..16), one below.
    values = [0.1] * 7 + [0.0] + [0.1] * 9 + [-0.1]
    assert fired_rows(model, values) == {"1": [], "2": [], "3": [], "4": [15, 16]}
    assert fired_rows(model, [-0.2] * 8)["4"] == [7]
    assert fired_rows(model, [-0.2] * 7)["4"] == []


def test_rule_selection() -> None:
    values = np.array([2.5, 2.5, 3.5])[:, None]
    only_1 = Shewhart(rules=("1",), center=0.0, sigma=1.0).fit(DUMMY)
    assert set(only_1.violations(values)) == {"1"}
    np.testing.assert_array_equal(only_1.predict(values), [0, 0, 1])
    only_2 = Shewhart(rules=[2], center=0.0, sigma=1.0).fit(DUMMY)
    # Without rule 1 the 3.5 point is not flagged by its size; it is by rule 2 (with row 1).
    np.testing.assert_array_equal(only_2.predict(values), [0, 1, 1])
    np.testing.assert_allclose(only_2.decision_function(values), [2.5 / 3, RUN_RULE_SCORE, RUN_RULE_SCORE])
    assert only_2.decision_function(np.array([[3.5]]))[0] == 1.0  # capped at the limit
    with pytest.raises(ValueError, match="unknown Western Electric"):
        Shewhart(rules=("5",)).fit(DUMMY)


# --------------------------------------------------------------------------- textbook run lengths


def test_shewhart_rule_1_false_alarm_rate() -> None:
    rng = np.random.default_rng(11)
    model = Shewhart(rules=("1",)).fit(rng.normal(3.0, 2.0, size=(200_000, 5)))
    rate = model.violations(rng.normal(3.0, 2.0, size=(400_000, 5)))["1"].mean()
    assert 0.0024 < rate < 0.0030, rate  # theory 0.0027


def test_western_electric_in_control_arl() -> None:
    rng = np.random.default_rng(12)
    model = Shewhart(center=0.0, sigma=1.0).fit(np.zeros((2, 1000)))
    signals = model._ratios(rng.normal(size=(1500, 1000))) > model.threshold_
    arl = run_lengths(signals).mean()
    assert 82 < arl < 102, arl  # Champ & Woodall: 91.75


def test_cusum_and_ewma_in_control_arl() -> None:
    rng = np.random.default_rng(13)
    X = rng.normal(size=(6000, 600))
    cusum = CUSUM(k=0.5, h=5.0, center=0.0, sigma=1.0).fit(np.zeros((2, 600)))
    arl = run_lengths(cusum._ratios(X) > 1).mean()
    assert 400 < arl < 530, arl  # 465
    ewma = EWMA(lam=0.2, L=2.962, center=0.0, sigma=1.0).fit(np.zeros((2, 600)))
    arl = run_lengths(ewma._ratios(X) > 1).mean()
    assert 420 < arl < 580, arl  # 500


def test_one_sigma_shift_is_found_within_textbook_arl() -> None:
    rng = np.random.default_rng(14)
    train = rng.normal(size=(3000, 500))  # parameters estimated, as in use
    shifted = rng.normal(size=(400, 500)) + 1.0
    cusum = CUSUM().fit(train)
    ewma = EWMA(lam=0.2, L=2.962).fit(train)
    shewhart = Shewhart(rules=("1",)).fit(train)
    cusum_arl = run_lengths(cusum._ratios(shifted) > 1).mean()
    ewma_arl = run_lengths(ewma._ratios(shifted) > 1).mean()
    shewhart_arl = run_lengths(shewhart.violations(shifted)["1"]).mean()
    assert 8 < cusum_arl < 13, cusum_arl  # 10.4
    assert 7.5 < ewma_arl < 12.5, ewma_arl  # 10.2 (asymptotic limits)
    assert 33 < shewhart_arl < 56, shewhart_arl  # 43.9: why CUSUM/EWMA exist
    # In-control training cells are rarely out of control. (Rows are not: a row's score is the
    # largest of 500 charts, so with many sensors some chart is in false alarm most of the time.)
    assert (cusum._ratios(train) > 1).mean() < 0.02 and (ewma._ratios(train) > 1).mean() < 0.02


# --------------------------------------------------------------------------- STL residuals


def hourly(days: int, seed: int, start: int = 0) -> np.ndarray:
    """Two sensors with a daily cycle (period 24): amplitude 5 and 2, noise 0.5 and 0.3; the
    first row is at hour ``start``."""
    rng = np.random.default_rng(seed)
    hour = start + np.arange(days * 24)
    a = 10 + 5 * np.sin(2 * np.pi * hour / 24) + rng.normal(0, 0.5, len(hour))
    b = 50 + 2 * np.cos(2 * np.pi * hour / 24) + rng.normal(0, 0.3, len(hour))
    return np.column_stack([a, b])


@pytest.fixture(scope="module")
def stl_model() -> STLResidual:
    return STLResidual(period=24).fit(hourly(40, seed=1))


def test_stl_learns_the_daily_profile(stl_model: STLResidual) -> None:
    hour = np.arange(24)
    np.testing.assert_allclose(stl_model.profile_[:, 0], 5 * np.sin(2 * np.pi * hour / 24), atol=0.3)
    np.testing.assert_allclose(stl_model.profile_[:, 1], 2 * np.cos(2 * np.pi * hour / 24), atol=0.2)
    np.testing.assert_allclose(stl_model.level_, [10, 50], atol=0.2)
    np.testing.assert_allclose(stl_model.residual_scale_, [0.5, 0.3], rtol=0.15)
    assert stl_model.threshold_ == 1.0
    assert stl_model.labels_.mean() < 0.01


def test_stl_seasonal_peak_is_normal_but_a_level_shift_is_not(stl_model: STLResidual) -> None:
    # The next 10 days: the block follows the training rows (default start = 40 * 24).
    new = hourly(10, seed=2, start=40 * 24)
    peaks = np.flatnonzero(np.arange(7 * 24) % 24 == 6)  # sensor a at its daily maximum, +5
    healthy = stl_model.predict(new[: 7 * 24])
    assert healthy.mean() < 0.01
    assert (stl_model.decision_function(new)[peaks] < 1).all()
    # A plain Shewhart chart on the same data calls the daily peaks anomalies.
    shewhart = Shewhart(rules=("1",)).fit(hourly(40, seed=1))
    assert shewhart.predict(new)[peaks].all()
    # Level shift of +3 (6 residual sigmas) on sensor a for the last 3 days.
    broken = new.copy()
    broken[7 * 24 :, 0] += 3.0
    flags = stl_model.predict(broken)
    assert flags[7 * 24 :].mean() > 0.95
    assert flags[: 7 * 24].mean() < 0.01
    assert (stl_model.explain(broken)[7 * 24 :].argmax(axis=1) == 0).all()


def test_stl_phase_of_new_blocks(stl_model: STLResidual) -> None:
    new = hourly(10, seed=2, start=40 * 24)
    z_default = stl_model.residual_z(new)
    np.testing.assert_allclose(clone(stl_model).set_params(start=40 * 24).fit(hourly(40, seed=1)).residual_z(new), z_default)
    # Days are 24 rows, so any whole number of days gives the same phase.
    np.testing.assert_allclose(clone(stl_model).set_params(start=0).fit(hourly(40, seed=1)).residual_z(new), z_default)
    # Half a day off, the peaks meet the troughs and everything looks abnormal.
    wrong = clone(stl_model).set_params(start=12).fit(hourly(40, seed=1))
    assert wrong.predict(new).mean() > 0.5
    # The training rows are always scored from phase 0.
    np.testing.assert_allclose(wrong.decision_scores_, stl_model.decision_scores_)


def test_stl_needs_two_periods() -> None:
    with pytest.raises(ValueError, match="two full periods"):
        STLResidual(period=24).fit(np.zeros((30, 1)))


# --------------------------------------------------------------------------- API conventions


@pytest.mark.parametrize("detector", [Shewhart(), EWMA(), CUSUM(), STLResidual(period=12)])
def test_common_api(detector: BaseDetector) -> None:
    X = hourly(5, seed=3)
    fitted = clone(detector).fit(X)
    assert fitted.threshold_ == 1.0
    assert fitted.decision_scores_.shape == (len(X),)
    assert isinstance(clone(detector, safe=True), type(detector))
    custom = clone(detector).set_params(threshold=FixedThreshold(0.5)).fit(X)
    assert custom.threshold_ == 0.5
    shares = fitted.explain(X)
    np.testing.assert_allclose(shares.sum(axis=1)[shares.sum(axis=1) > 0], 1.0)
    with pytest.raises(ValueError, match="expected 2 columns"):
        fitted.decision_function(np.zeros((3, 3)))
