"""PCA process monitoring: Hotelling's T² in the model plane, SPE (Q) off it, combined.

The classic multivariate statistical process control toolbox (MacGregor & Kourti 1995): a PCA
model of healthy operation; T² measures how far a window lies *inside* the model plane (an
unusual but consistent operating point), SPE how far it lies *off* it (a broken correlation: a
sensor that no longer agrees with the others). The score is Yue & Qin's combined index
``phi = SPE / delta² + T² / tau²`` (2001), with ``delta²`` the SPE limit (Jackson & Mudholkar
1979) and ``tau²`` the T² limit (chi-squared), and its control limit from the chi-squared
approximation ``phi ~ g chi²(h)``. Every index decomposes exactly over the input columns (the
complete decomposition of Alcala & Qin 2009), so each anomaly says which sensors drive it.
"""

from __future__ import annotations

import numpy as np
from scipy import special

from analytics.models.anomaly.base import BaseDetector
from analytics.models.anomaly.thresholds import FixedThreshold, Threshold


def _chi2_ppf(q: float, df: float) -> float:
    """The chi-squared quantile, computed as ``scipy.stats.chi2.ppf`` does, without the
    distribution object's per-call argument handling, which costs more than the quantile (a
    machine's refit fits a model per fold and operating mode, each asking for two limits)."""
    return float(2 * special.gammaincinv(df / 2, q))


class PCAResidual(BaseDetector):
    """PCA T² + SPE combined index.

    ``variance``: share of the standardised variance the model plane keeps (the number of
    components is the smallest that reaches it, at most columns - 1); ``alpha``: confidence of
    the control limits. Without a ``threshold`` the combined index's own control limit is used.
    """

    def __init__(self, variance: float = 0.9, alpha: float = 0.99, threshold: Threshold | None = None) -> None:
        super().__init__(threshold)
        self.variance = variance
        self.alpha = alpha

    def _fit(self, X: np.ndarray) -> None:
        n, m = X.shape
        self.mean_ = X.mean(axis=0)
        scale = X.std(axis=0, ddof=1)
        # A constant column carries no information: keep it out of the model (scale 1, so
        # any later departure from the constant shows in the residual).
        self.scale_ = np.where(scale > 0, scale, 1.0)
        Z = (X - self.mean_) / self.scale_
        _, singular, vt = np.linalg.svd(Z, full_matrices=False)
        eigen = singular**2 / (n - 1)
        share = np.cumsum(eigen) / eigen.sum() if eigen.sum() > 0 else np.ones_like(eigen)
        k = int(min(np.searchsorted(share, self.variance) + 1, max(m - 1, 1)))
        self.n_components_ = k
        self.components_ = vt[:k].T  # m x k
        self.explained_variance_ = eigen[:k]
        residual = eigen[k:]
        # SPE limit (Jackson & Mudholkar 1979).
        theta1, theta2, theta3 = (float(np.sum(residual**i)) for i in (1, 2, 3))
        if theta1 > 0 and theta2 > 0:
            h0 = 1 - 2 * theta1 * theta3 / (3 * theta2**2)
            c = special.ndtri(self.alpha)
            self.spe_limit_ = theta1 * (c * np.sqrt(2 * theta2 * h0**2) / theta1 + 1 + theta2 * h0 * (h0 - 1) / theta1**2) ** (1 / h0)
        else:
            self.spe_limit_ = float(np.finfo(float).eps)
        self.t2_limit_ = _chi2_ppf(self.alpha, k)
        # Combined index limit: phi ~ g chi²(h) (Yue & Qin 2001).
        t4, d4 = self.t2_limit_**2, self.spe_limit_**2
        a = k / t4 + theta2 / d4
        b = k / self.t2_limit_ + theta1 / self.spe_limit_
        g, h = a / b, b**2 / a
        self.limit_ = float(g * _chi2_ppf(self.alpha, h))

    def _default_threshold(self) -> Threshold:
        # The combined index has its own control limit.
        return FixedThreshold(self.limit_)

    def _parts(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per column: T² contribution, SPE contribution (each sums to its index)."""
        Z = (X - self.mean_) / self.scale_
        P = self.components_
        # T² = || Lambda^-1/2 P' z ||² = || P Lambda^-1/2 P' z ||² (P has orthonormal columns).
        whitened = (Z @ P) / np.sqrt(self.explained_variance_)
        t2_parts = (whitened @ P.T) ** 2
        residual = Z - (Z @ P) @ P.T
        return t2_parts, residual**2

    def _score(self, X: np.ndarray) -> np.ndarray:
        return self._contributions(X).sum(axis=1)

    def _contributions(self, X: np.ndarray) -> np.ndarray:
        t2_parts, spe_parts = self._parts(X)
        return t2_parts / self.t2_limit_ + spe_parts / self.spe_limit_

    def t2(self, X) -> np.ndarray:
        """Hotelling's T² of each row."""
        return self._parts(self._check(X))[0].sum(axis=1)

    def spe(self, X) -> np.ndarray:
        """Squared prediction error (Q) of each row."""
        return self._parts(self._check(X))[1].sum(axis=1)
