"""Operating-mode awareness: one detector per operating mode, so a change of product or load is
not an anomaly.

A machine that alternates between, say, light finishing and heavy roughing jobs has two clouds
of normal points; one model of both either calls each mode's edge abnormal or is so wide that a
fault inside one mode hides in the other's spread. :class:`ModeAware` finds the modes in the
healthy period from a few *mode columns* (the load sensor's level, by default in the hub), by
k-means with the number of modes chosen by the silhouette (Rousseeuw 1987) and accepted only
when the modes are clearly separated and each has enough windows to learn from; then fits a
clone of the detector per mode. A window is scored by the model of its nearest mode, in units
of that model's threshold, so 1.0 means "at the threshold" whatever the mode.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.base import clone

from analytics.models.anomaly.base import BaseDetector
from analytics.models.anomaly.thresholds import FixedThreshold, Threshold
from analytics.models.clusters import operating_clusters


class ModeAware(BaseDetector):
    """A clone of ``detector`` per operating mode found in ``mode_columns``.

    ``mode_columns``: names (or indices) of the input columns that describe the operating point;
    none found (or none given) means a single mode. ``max_modes``: most modes tried.
    ``min_rows``: fewest training windows a mode needs (else fewer modes are used).
    ``min_silhouette``: how clearly the modes must separate (0.7: "strong structure" in Kaufman &
    Rousseeuw's reading of the silhouette; their 0.5, "reasonable structure", is too lax here:
    k-means halves of a single uniform or normal load column already reach 0.63 and 0.56);
    below it the machine is one mode.
    Fitted: ``n_modes_``, ``mode_centers_`` (in the mode columns' standardised units),
    ``detectors_`` (one per mode), ``mode_index_`` (the mode columns' positions).
    """

    def __init__(
        self,
        detector: BaseDetector,
        mode_columns: Sequence[str | int] = (),
        max_modes: int = 4,
        min_rows: int = 40,
        min_silhouette: float = 0.7,
        random_state: int = 0,
        threshold: Threshold | None = None,
    ) -> None:
        super().__init__(threshold)
        self.detector = detector
        self.mode_columns = mode_columns
        self.max_modes = max_modes
        self.min_rows = min_rows
        self.min_silhouette = min_silhouette
        self.random_state = random_state

    def _resolve(self) -> list[int]:
        names = self.feature_names_in_ or []
        index = []
        columns = [self.mode_columns] if isinstance(self.mode_columns, str) else self.mode_columns
        for column in columns:
            if isinstance(column, int | np.integer):
                index.append(int(column))
            elif column in names:
                index.append(names.index(column))
        return index

    def _modes(self, M: np.ndarray) -> tuple[int, np.ndarray]:
        """(number of modes, centres) chosen on the standardised mode columns ``M``."""
        model, _ = operating_clusters(
            M, max_k=self.max_modes, min_silhouette=self.min_silhouette, min_rows=self.min_rows, random_state=self.random_state
        )
        if model is None:
            return 1, M.mean(axis=0, keepdims=True)
        return int(model.n_clusters), model.cluster_centers_

    def _standard(self, X: np.ndarray) -> np.ndarray:
        return (X[:, self.mode_index_] - self.mode_mean_) / self.mode_scale_

    def _fit(self, X: np.ndarray) -> None:
        self.mode_index_ = self._resolve()
        if self.mode_index_:
            M = X[:, self.mode_index_]
            self.mode_mean_ = M.mean(axis=0)
            scale = M.std(axis=0)
            self.mode_scale_ = np.where(scale > 0, scale, 1.0)
            self.n_modes_, self.mode_centers_ = self._modes(self._standard(X))
        else:
            self.mode_mean_ = self.mode_scale_ = np.zeros(0)
            self.n_modes_, self.mode_centers_ = 1, np.zeros((1, 0))
        modes = self._mode_of(X)
        self.detectors_ = [clone(self.detector).fit(X[modes == m]) for m in range(self.n_modes_)]

    def modes(self, X: Any) -> np.ndarray:
        """Operating mode (0 .. n_modes_ - 1) of each row: its nearest mode centre."""
        return self._mode_of(self._check(X))

    def _mode_of(self, matrix: np.ndarray) -> np.ndarray:
        if self.n_modes_ == 1:
            return np.zeros(len(matrix), dtype=int)
        distance = ((self._standard(matrix)[:, None, :] - self.mode_centers_[None, :, :]) ** 2).sum(axis=2)
        return distance.argmin(axis=1)

    def _default_threshold(self) -> Threshold:
        return FixedThreshold(1.0)

    def _per_mode(self, X: np.ndarray, what: str) -> np.ndarray:
        modes = self._mode_of(X)
        out = np.zeros(len(X)) if what == "score" else np.zeros(X.shape)
        for m, model in enumerate(self.detectors_):
            rows = modes == m
            if rows.any():
                if what == "score":
                    out[rows] = model.decision_function(X[rows]) / model.threshold_
                else:
                    out[rows] = model._contributions(X[rows])
        return out

    def _score(self, X: np.ndarray) -> np.ndarray:
        return self._per_mode(X, "score")

    def _contributions(self, X: np.ndarray) -> np.ndarray:
        return self._per_mode(X, "contributions")
