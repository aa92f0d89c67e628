"""Any PyOD detector by name, and a score-normalised ensemble of detectors.

PyOD detectors score rows but, apart from a few plots, do not say which columns drive a score.
:class:`PyODDetector` explains any of them the same model-agnostic way (occlusion): a column's
contribution to a row's score is how much the score drops when that column alone is set back to
its healthy median. :class:`Ensemble` puts detectors on one scale (each score's rank among the
healthy period's scores) before averaging them, so no detector dominates by its units.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from typing import Any

import numpy as np

from analytics.models.anomaly.base import BaseDetector
from analytics.models.anomaly.thresholds import EmpiricalCalibrator, Threshold

# PyOD detectors that need no deep-learning framework (see STACK_NOTES): name -> module.
PYOD_MODELS = {
    "ECOD": "pyod.models.ecod",
    "COPOD": "pyod.models.copod",
    "IForest": "pyod.models.iforest",
    "HBOS": "pyod.models.hbos",
    "KNN": "pyod.models.knn",
    "LOF": "pyod.models.lof",
    "PCA": "pyod.models.pca",
    "OCSVM": "pyod.models.ocsvm",
    "MCD": "pyod.models.mcd",
    "LODA": "pyod.models.loda",
    "INNE": "pyod.models.inne",
    "CBLOF": "pyod.models.cblof",
    "GMM": "pyod.models.gmm",
    "KDE": "pyod.models.kde",
}


def pyod_model(name: str, params: dict[str, Any] | None = None) -> Any:
    """A PyOD detector instance by its class name (e.g. ``"ECOD"``), imported on demand."""
    if name not in PYOD_MODELS:
        raise ValueError(f"unknown PyOD detector {name!r}; available: {', '.join(sorted(PYOD_MODELS))}")
    module = importlib.import_module(PYOD_MODELS[name])
    return getattr(module, name)(**(params or {}))


class PyODDetector(BaseDetector):
    """A PyOD detector (``model``: class name, ``model_params``: its parameters) on standardised
    columns (robust: median and IQR of the training data), with occlusion attribution."""

    def __init__(self, model: str = "ECOD", model_params: dict[str, Any] | None = None, threshold: Threshold | None = None) -> None:
        super().__init__(threshold)
        self.model = model
        self.model_params = model_params

    def _standardise(self, X: np.ndarray) -> np.ndarray:
        return (X - self.center_) / self.spread_

    def _fit(self, X: np.ndarray) -> None:
        self.center_ = np.median(X, axis=0)
        q75, q25 = np.percentile(X, [75, 25], axis=0)
        spread = q75 - q25
        fallback = X.std(axis=0)
        self.spread_ = np.where(spread > 0, spread, np.where(fallback > 0, fallback, 1.0))
        self.estimator_ = pyod_model(self.model, self.model_params).fit(self._standardise(X))

    def _score(self, X: np.ndarray) -> np.ndarray:
        return np.asarray(self.estimator_.decision_function(self._standardise(X)), dtype=float)

    def _contributions(self, X: np.ndarray) -> np.ndarray:
        base = self._score(X)
        n, m = X.shape
        # All occluded copies in one scoring call: row block j has column j set to the median.
        stacked = np.repeat(X[None, :, :], m, axis=0)
        stacked[np.arange(m), :, np.arange(m)] = self.center_[:, None]
        occluded = self._score(stacked.reshape(m * n, -1)).reshape(m, n).T
        return np.clip(base[:, None] - occluded, 0.0, None)


class Ensemble(BaseDetector):
    """The members' calibrated scores (each score's rank among the healthy period's scores of that
    member, in [0, 1]) combined by ``mean`` (consensus: fewer false alarms) or ``max`` (any member
    that sees something); attribution is the members' shares weighted by their scores."""

    def __init__(self, detectors: Sequence[BaseDetector] = (), combine: str = "mean", threshold: Threshold | None = None) -> None:
        super().__init__(threshold)
        self.detectors = detectors
        self.combine = combine

    def _fit(self, X: np.ndarray) -> None:
        if not self.detectors:
            raise ValueError("an ensemble needs at least one detector")
        if self.combine not in {"mean", "max"}:
            raise ValueError("combine must be 'mean' or 'max'")
        self.detectors_ = [type(d)(**d.get_params()).fit(X) for d in self.detectors]
        self.calibrators_ = [EmpiricalCalibrator().fit(d.decision_scores_) for d in self.detectors_]

    def _member_scores(self, X: np.ndarray) -> np.ndarray:
        return np.column_stack([c.transform(d.decision_function(X)) for d, c in zip(self.detectors_, self.calibrators_, strict=True)])

    def _score(self, X: np.ndarray) -> np.ndarray:
        members = self._member_scores(X)
        return members.mean(axis=1) if self.combine == "mean" else members.max(axis=1)

    def _contributions(self, X: np.ndarray) -> np.ndarray:
        weights = self._member_scores(X)
        shares = [d.explain(X) for d in self.detectors_]
        return sum(w[:, None] * s for w, s in zip(weights.T, shares, strict=True)) / len(shares)
