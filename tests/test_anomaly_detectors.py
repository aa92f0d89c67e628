"""Detectors, thresholds and calibration against hand computations and reference libraries."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.decomposition import PCA

from analytics.models.anomaly import (
    ContaminationThreshold,
    EmpiricalCalibrator,
    Ensemble,
    FixedThreshold,
    PCAResidual,
    Persistence,
    PyODDetector,
    QuantileThreshold,
    RobustZCalibrator,
)


def correlated(n: int = 3000, seed: int = 0) -> np.ndarray:
    """Six sensors driven by two hidden factors (load, temperature) plus noise: healthy data."""
    rng = np.random.default_rng(seed)
    latent = rng.normal(size=(n, 2))
    mixing = np.array([[1.0, 0.8, 0.5, 0.0, 0.3, -0.6], [0.0, 0.4, 0.9, 1.0, -0.5, 0.2]])
    return latent @ mixing + 0.1 * rng.normal(size=(n, 6))


def test_pca_indices_match_sklearn_by_hand() -> None:
    X = correlated()
    model = PCAResidual(variance=0.9).fit(X)
    Z = (X - X.mean(axis=0)) / X.std(axis=0, ddof=1)
    pca = PCA(n_components=model.n_components_).fit(Z)
    scores = pca.transform(Z)
    t2 = (scores**2 / pca.explained_variance_).sum(axis=1)
    spe = ((Z - pca.inverse_transform(scores)) ** 2).sum(axis=1)
    np.testing.assert_allclose(model.t2(X), t2, rtol=1e-8)
    np.testing.assert_allclose(model.spe(X), spe, rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose(model.decision_scores_, t2 / model.t2_limit_ + spe / model.spe_limit_, rtol=1e-6)
    assert model.n_components_ == 2  # two hidden factors explain the variance


def test_pca_control_limit_gives_its_false_alarm_rate() -> None:
    """On healthy Gaussian data the 99 % limit flags about 1 % of new healthy windows."""
    model = PCAResidual(alpha=0.99).fit(correlated(5000, seed=1))
    fresh = correlated(20000, seed=2)
    rate = model.predict(fresh).mean()
    assert 0.004 < rate < 0.02, rate
    assert model.threshold_ == model.limit_


def test_pca_names_the_sensor_that_broke_away() -> None:
    X = correlated()
    model = PCAResidual().fit(X)
    broken = correlated(200, seed=3)
    broken[:, 4] += 1.5  # one sensor drifts off its correlation with the others
    assert model.predict(broken).mean() > 0.95
    shares = model.explain(broken)
    np.testing.assert_allclose(shares.sum(axis=1), 1.0)
    assert (shares.argmax(axis=1) == 4).mean() > 0.95


@pytest.mark.parametrize("name", ["ECOD", "IForest", "HBOS", "KNN", "PCA", "COPOD"])
def test_any_pyod_detector_by_name(name: str) -> None:
    rng = np.random.default_rng(4)
    X = rng.normal(size=(600, 4))
    params = {"random_state": 0} if name == "IForest" else None
    detector = PyODDetector(name, params, threshold=ContaminationThreshold(0.05))
    assert detector.fit(X) is detector
    assert 0.03 <= detector.labels_.mean() <= 0.07  # the contamination it was given
    outlier = np.zeros((1, 4))
    outlier[0, 2] = 8.0
    normal = np.zeros((1, 4))
    assert detector.decision_function(outlier)[0] > detector.decision_function(normal)[0]  # higher = more abnormal
    assert detector.explain(outlier).argmax() == 2
    # Far out in every column: every detector flags it (single-column extremes saturate
    # ECDF-based detectors such as ECOD at 1/n, so they are not all flagged).
    assert detector.predict(np.full((1, 4), 8.0))[0] == 1
    assert clone(detector).get_params()["model"] == name


def test_unknown_detector_and_unfitted_use_are_clear_errors() -> None:
    with pytest.raises(ValueError, match="unknown PyOD detector 'Nope'"):
        PyODDetector("Nope").fit(np.zeros((10, 2)) + np.arange(10)[:, None])
    with pytest.raises(ValueError, match="not fitted"):
        PCAResidual().decision_function(np.zeros((2, 2)))
    with pytest.raises(ValueError, match="missing or infinite"):
        PCAResidual().fit(np.array([[1.0, np.nan], [2.0, 3.0], [3.0, 4.0]]))


def test_ensemble_combines_calibrated_scores() -> None:
    X = correlated()
    members = [PCAResidual(), PyODDetector("ECOD")]
    mean = Ensemble(members).fit(X)
    most = Ensemble(members, combine="max").fit(X)
    broken = correlated(50, seed=5)
    broken[:, 4] += 1.5
    # ECOD looks at each column alone and misses a broken correlation; PCA sees it.
    calibrated = mean._member_scores(broken)
    assert calibrated[:, 0].mean() > 0.99 and calibrated[:, 1].mean() < 0.99
    np.testing.assert_allclose(mean.decision_function(broken), calibrated.mean(axis=1))
    np.testing.assert_allclose(most.decision_function(broken), calibrated.max(axis=1))
    assert most.predict(broken).mean() > mean.predict(broken).mean()
    assert (most.explain(broken).argmax(axis=1) == 4).mean() > 0.9


def test_thresholds_by_hand() -> None:
    scores = np.arange(1, 101, dtype=float)  # 1 .. 100
    assert QuantileThreshold(0.9).fit(scores).threshold_ == pytest.approx(np.quantile(scores, 0.9)) == pytest.approx(90.1)
    assert ContaminationThreshold(0.1).fit(scores).threshold_ == pytest.approx(90.1)
    assert FixedThreshold(3.5).fit(scores).threshold_ == 3.5
    with pytest.raises(ValueError):
        QuantileThreshold(1.0)


def test_calibrators_by_hand() -> None:
    calibrator = EmpiricalCalibrator().fit(np.array([1.0, 2.0, 2.0, 4.0]))
    # below + half of the equal ones, over 4
    np.testing.assert_allclose(calibrator.transform(np.array([0.0, 2.0, 3.0, 5.0])), [0.0, 0.5, 0.75, 1.0])
    robust = RobustZCalibrator().fit(np.array([1.0, 2.0, 3.0, 4.0, 100.0]))
    # median 3, MAD = median(|x - 3|) = median(2, 1, 0, 1, 97) = 1
    np.testing.assert_allclose(robust.transform(np.array([3.0, 4.4826])), [0.0, 1.0], rtol=1e-6)


def test_persistence_k_of_n_by_hand() -> None:
    labels = np.array([1, 0, 0, 1, 1, 0, 1, 0, 0, 0])
    np.testing.assert_array_equal(Persistence(2, 3).apply(labels), [0, 0, 0, 0, 1, 1, 1, 0, 0, 0])
    np.testing.assert_array_equal(Persistence(1, 1).apply(labels), labels)
