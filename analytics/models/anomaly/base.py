"""The one API every detector follows: scikit-learn estimators in PyOD's conventions.

- parameters are set in ``__init__`` only; ``fit(X)`` learns from (mostly) healthy data and
  returns ``self``; fitted attributes end in ``_``;
- ``decision_function(X)``: one score per row, **higher = more abnormal**;
- after ``fit``: ``decision_scores_`` (the training rows' scores), ``threshold_`` (from the
  detector's threshold object) and ``labels_`` (0 normal, 1 anomaly, for the training rows);
- ``predict(X)``: 0/1 by ``threshold_``;
- ``explain(X)``: per row and input column, the column's share in the row's score (rows sum to 1
  where the score is positive), so every anomaly says which sensors drive it.

``X`` is a 2-D float array (rows = time windows, columns = features) or a Polars frame of float
columns; column names, when given, are kept in ``feature_names_in_``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import numpy as np
import polars as pl
from sklearn.base import BaseEstimator

from analytics.models.anomaly.thresholds import QuantileThreshold, Threshold


def as_matrix(X: Any) -> tuple[np.ndarray, list[str] | None]:
    """(float64 matrix, column names or None) of a numpy array or a Polars/pandas frame."""
    if isinstance(X, pl.DataFrame):
        return X.cast(pl.Float64).to_numpy(), list(X.columns)
    columns = getattr(X, "columns", None)
    matrix = np.asarray(X, dtype=np.float64)
    if matrix.ndim == 1:
        matrix = matrix.reshape(-1, 1)
    if matrix.ndim != 2:
        raise ValueError(f"expected a 2-D array of rows x features, got shape {matrix.shape}")
    return matrix, [str(c) for c in columns] if columns is not None else None


class BaseDetector(BaseEstimator, ABC):
    """Common fit/score/threshold plumbing; subclasses implement ``_fit`` and ``_score``."""

    def __init__(self, threshold: Threshold | None = None) -> None:
        self.threshold = threshold

    @abstractmethod
    def _fit(self, X: np.ndarray) -> None:
        """Learn from the training matrix (no missing values)."""

    @abstractmethod
    def _score(self, X: np.ndarray) -> np.ndarray:
        """Scores of rows, higher = more abnormal."""

    @abstractmethod
    def _contributions(self, X: np.ndarray) -> np.ndarray:
        """Non-negative contribution of each column to each row's score (rows x columns)."""

    def _default_threshold(self) -> Threshold:
        """The threshold used when none is given (called after ``_fit``)."""
        return QuantileThreshold()

    def fit(self, X: Any, y: Any = None) -> BaseDetector:
        matrix, names = as_matrix(X)
        if len(matrix) < 2:
            raise ValueError("need at least two rows to fit a detector")
        if not np.isfinite(matrix).all():
            raise ValueError("training data holds missing or infinite values: impute or drop them first")
        self.n_features_in_ = matrix.shape[1]
        self.feature_names_in_ = names
        self._fit(matrix)
        self.decision_scores_ = self._score(matrix)
        self.threshold_object_ = (self.threshold or self._default_threshold()).fit(self.decision_scores_)
        self.threshold_ = float(self.threshold_object_.threshold_)
        self.labels_ = (self.decision_scores_ > self.threshold_).astype(int)
        return self

    def _check(self, X: Any) -> np.ndarray:
        if not hasattr(self, "n_features_in_"):
            raise ValueError(f"{type(self).__name__} is not fitted: call fit() first")
        matrix, _ = as_matrix(X)
        if matrix.shape[1] != self.n_features_in_:
            raise ValueError(f"expected {self.n_features_in_} columns, got {matrix.shape[1]}")
        return matrix

    def decision_function(self, X: Any) -> np.ndarray:
        return self._score(self._check(X))

    def predict(self, X: Any) -> np.ndarray:
        return (self.decision_function(X) > self.threshold_).astype(int)

    def explain(self, X: Any) -> np.ndarray:
        """Each column's share of each row's score (rows sum to 1; all 0 where nothing stands out)."""
        contributions = np.clip(self._contributions(self._check(X)), 0.0, None)
        total = contributions.sum(axis=1, keepdims=True)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(total > 0, contributions / total, 0.0)
