"""Thresholds, calibration and persistence: separate, swappable objects.

A detector's raw scores live on its own scale (a Mahalanobis distance, an isolation depth, a
log-likelihood). A *calibrator* maps them to a common scale so detectors can be combined and
compared; a *threshold* turns scores into labels from the scores of a healthy period; a
*persistence* rule turns labels into alarms only when they repeat ("k of the last n windows"),
so that one spike does not wake anyone.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np
from scipy import stats

# MAD of a normal distribution is 0.6745 sigma.
MAD_TO_SIGMA = 1.4826


class Threshold(ABC):
    @abstractmethod
    def fit(self, scores: np.ndarray) -> Threshold:
        """Set ``threshold_`` from the scores of a (mostly) healthy period; returns self."""


class QuantileThreshold(Threshold):
    """The ``quantile`` of the healthy period's scores (default 0.99)."""

    def __init__(self, quantile: float = 0.99) -> None:
        if not 0 < quantile < 1:
            raise ValueError("quantile must lie strictly between 0 and 1")
        self.quantile = quantile

    def fit(self, scores: np.ndarray) -> QuantileThreshold:
        finite = np.asarray(scores, dtype=float)
        finite = finite[np.isfinite(finite)]
        if not len(finite):
            raise ValueError("no finite scores to set a threshold from")
        self.threshold_ = float(np.quantile(finite, self.quantile))
        return self


class ContaminationThreshold(QuantileThreshold):
    """PyOD's and scikit-learn's convention: the share of training rows taken as anomalous."""

    def __init__(self, contamination: float = 0.01) -> None:
        if not 0 < contamination < 0.5:
            raise ValueError("contamination must lie in (0, 0.5)")
        self.contamination = contamination
        super().__init__(1.0 - contamination)


class FixedThreshold(Threshold):
    """A threshold set by hand (e.g. a control limit, or 0.99 on a calibrated scale)."""

    def __init__(self, value: float) -> None:
        self.value = value

    def fit(self, scores: np.ndarray) -> FixedThreshold:
        self.threshold_ = float(self.value)
        return self


class EmpiricalCalibrator:
    """Scores to [0, 1]: the share of healthy-period scores below each score (the training ECDF),
    so 0.99 means "higher than 99 % of healthy windows" whatever the detector."""

    def fit(self, scores: np.ndarray) -> EmpiricalCalibrator:
        finite = np.asarray(scores, dtype=float)
        self.reference_ = np.sort(finite[np.isfinite(finite)])
        if not len(self.reference_):
            raise ValueError("no finite scores to calibrate on")
        return self

    def transform(self, scores: np.ndarray) -> np.ndarray:
        scores = np.asarray(scores, dtype=float)
        below = np.searchsorted(self.reference_, scores, side="left")
        equal = np.searchsorted(self.reference_, scores, side="right") - below
        # Mid-rank for ties, so a constant training score maps to 0.5, not 0 or 1.
        return np.where(np.isfinite(scores), (below + 0.5 * equal) / len(self.reference_), np.nan)


class RobustZCalibrator:
    """Scores to robust z-scores: (score - median) / (1.4826 MAD) of the healthy period."""

    def fit(self, scores: np.ndarray) -> RobustZCalibrator:
        finite = np.asarray(scores, dtype=float)
        finite = finite[np.isfinite(finite)]
        self.median_ = float(np.median(finite))
        mad = float(stats.median_abs_deviation(finite))
        self.scale_ = MAD_TO_SIGMA * mad if mad > 0 else (float(np.std(finite)) or 1.0)
        return self

    def transform(self, scores: np.ndarray) -> np.ndarray:
        return (np.asarray(scores, dtype=float) - self.median_) / self.scale_


class Persistence:
    """An alarm where at least ``k`` of the last ``n`` labels (this one included) are anomalous."""

    def __init__(self, k: int = 3, n: int = 5) -> None:
        if not 1 <= k <= n:
            raise ValueError("need 1 <= k <= n")
        self.k, self.n = k, n

    def apply(self, labels: np.ndarray) -> np.ndarray:
        flags = np.asarray(labels, dtype=np.int64)
        counts = np.convolve(flags, np.ones(self.n, dtype=np.int64))[: len(flags)]
        return (counts >= self.k).astype(int)
