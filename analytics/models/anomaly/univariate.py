"""Univariate control charts: Shewhart (Western Electric rules), EWMA, CUSUM, STL residuals.

Each column of ``X`` is one sensor's series and rows are in time order. ``fit`` on a healthy
period learns each column's parameters (centre and sigma, or level, seasonal profile and residual
scale); every column gets its own chart. The score of a row is the largest, over the columns, of
the column's statistic divided by its control limit, so **a score above 1 means out of control**
and the default threshold is ``FixedThreshold(1.0)``. ``explain`` splits a row's score over the
columns in proportion to those statistic / limit ratios.

Sigma of the Shewhart, EWMA and CUSUM charts is estimated the individuals-chart way (Montgomery,
*Introduction to Statistical Quality Control*, §6.4): the average moving range of consecutive
training values divided by ``d2 = 1.128``, which is insensitive to slow drift in the training
period. Known standards can be given instead (``center``, ``sigma``: a scalar or one value per
column). A constant training column (moving range 0) gets sigma 1, as in :class:`PCAResidual`.

Missing values (NaN) in scored data: that cell's statistic is NaN, the row's score ignores it
(NaN only where the whole row is missing), a recursive chart carries its state over the gap
unchanged, and for the Western Electric rules a missing value counts as a point in no zone (it
breaks a rule-4 run and takes a place in the rule-2 and rule-3 windows).
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import stats

from analytics.models.anomaly.base import BaseDetector
from analytics.models.anomaly.thresholds import MAD_TO_SIGMA, FixedThreshold, Threshold

# E[|X_t - X_{t-1}|] = d2 sigma for independent normal values, d2 = 2 / sqrt(pi) = 1.128.
D2 = 1.128
# Score of a row/column where a Western Electric run rule (2, 3 or 4) fires and the point itself
# lies within 3 sigma: just above the control limit 1, so it is labelled out of control while
# the ranking of scores keeps reflecting distance from the centre.
RUN_RULE_SCORE = 1.0 + 1e-6

WESTERN_ELECTRIC_RULES = ("1", "2", "3", "4")


def _row_max(ratios: np.ndarray) -> np.ndarray:
    """Largest finite ratio of each row, NaN only where the whole row is NaN (no warning)."""
    return np.fmax.reduce(ratios, axis=1)


def _per_column(value: Any, m: int, name: str) -> np.ndarray:
    array = np.broadcast_to(np.asarray(value, dtype=np.float64), (m,)).copy()
    if not np.isfinite(array).all():
        raise ValueError(f"{name} must be finite")
    return array


class _ControlChart(BaseDetector):
    """Shared plumbing: per-column centre and sigma, score = max over columns of ``_ratios``."""

    center: Any
    sigma: Any

    def _fit(self, X: np.ndarray) -> None:
        m = X.shape[1]
        self.center_ = X.mean(axis=0) if self.center is None else _per_column(self.center, m, "center")
        if self.sigma is None:
            sigma = np.abs(np.diff(X, axis=0)).mean(axis=0) / D2
        else:
            sigma = _per_column(self.sigma, m, "sigma")
            if (sigma <= 0).any():
                raise ValueError("sigma must be positive")
        self.sigma_ = np.where(sigma > 0, sigma, 1.0)

    def _z(self, X: np.ndarray) -> np.ndarray:
        return (X - self.center_) / self.sigma_

    @abstractmethod
    def _ratios(self, X: np.ndarray) -> np.ndarray:
        """Each column's statistic divided by its control limit (rows x columns, >= 0)."""

    def _default_threshold(self) -> Threshold:
        return FixedThreshold(1.0)

    def _score(self, X: np.ndarray) -> np.ndarray:
        return _row_max(self._ratios(X))

    def _contributions(self, X: np.ndarray) -> np.ndarray:
        return np.nan_to_num(np.clip(self._ratios(X), 0.0, None), nan=0.0)


def _window_count(flags: np.ndarray, width: int) -> np.ndarray:
    """How many of the last ``width`` rows (this one included) are flagged, per column; rows
    before the start of the block count as not flagged."""
    counts = np.cumsum(flags, axis=0, dtype=np.int64)
    shifted = np.zeros_like(counts)
    shifted[width:] = counts[:-width]
    return counts - shifted


class Shewhart(_ControlChart):
    """Individuals (X) chart with Western Electric run rules.

    Centre line: the training mean; sigma: average moving range / 1.128. With ``z`` the
    standardised value, the rules (Western Electric 1956; Montgomery §5.3.6) are

    - ``"1"``: one point beyond 3 sigma;
    - ``"2"``: two of three consecutive points beyond 2 sigma on the same side;
    - ``"3"``: four of five consecutive points beyond 1 sigma on the same side;
    - ``"4"``: eight consecutive points on the same side of the centre line.

    "Beyond" is strict (``z > 2``); a value exactly on the centre line breaks a rule-4 run. A
    rule fires at the row that *completes* the pattern: the row itself is beyond the zone on
    that side and the window ending at it holds enough such rows (so a normal point after a
    pattern is not flagged, and the first signal of a run is the same as in the Markov-chain
    analysis of Champ & Woodall 1987). Windows do not reach across blocks: each scored block
    starts with no history, and its first rows are judged on the rows available.

    Score of a row and column: ``|z| / 3``, raised to :data:`RUN_RULE_SCORE` (just above 1)
    where a run rule fires; if rule ``"1"`` is not among ``rules`` the ``|z| / 3`` part is capped
    at 1, so ``predict`` always agrees with :meth:`violations`.
    """

    def __init__(
        self,
        rules: Sequence[str | int] = WESTERN_ELECTRIC_RULES,
        center: Any = None,
        sigma: Any = None,
        threshold: Threshold | None = None,
    ) -> None:
        super().__init__(threshold)
        self.rules = rules
        self.center = center
        self.sigma = sigma

    def _rules(self) -> tuple[str, ...]:
        rules = tuple(str(r) for r in self.rules)
        unknown = set(rules) - set(WESTERN_ELECTRIC_RULES)
        if unknown:
            raise ValueError(f"unknown Western Electric rules {sorted(unknown)}; use some of 1, 2, 3, 4")
        return tuple(r for r in WESTERN_ELECTRIC_RULES if r in rules)

    def _fit(self, X: np.ndarray) -> None:
        self._rules()
        super()._fit(X)

    def _violations(self, X: np.ndarray) -> dict[str, np.ndarray]:
        z = self._z(X)
        fired: dict[str, np.ndarray] = {}
        with np.errstate(invalid="ignore"):
            for rule in self._rules():
                if rule == "1":
                    fired[rule] = np.abs(z) > 3
                    continue
                zone, width, needed = {"2": (2.0, 3, 2), "3": (1.0, 5, 4), "4": (0.0, 8, 8)}[rule]
                above, below = z > zone, z < -zone
                fired[rule] = (above & (_window_count(above, width) >= needed)) | (
                    below & (_window_count(below, width) >= needed)
                )
        return fired

    def violations(self, X: Any) -> dict[str, np.ndarray]:
        """Rule name (``"1"`` .. ``"4"``, the enabled ones) -> boolean matrix (rows x columns),
        True where that rule fires at that row for that column."""
        return self._violations(self._check(X))

    def _ratios(self, X: np.ndarray) -> np.ndarray:
        ratio = np.abs(self._z(X)) / 3.0
        fired = self._violations(X)
        if "1" not in fired:
            ratio = np.minimum(ratio, 1.0)
        run = np.zeros(X.shape, dtype=bool)
        for rule in ("2", "3", "4"):
            if rule in fired:
                run |= fired[rule]
        return np.where(run, np.fmax(ratio, RUN_RULE_SCORE), ratio)


class EWMA(_ControlChart):
    """Exponentially weighted moving average chart (Roberts 1959; Montgomery §9.2).

    ``z_t = lam x_t + (1 - lam) z_{t-1}``, ``z_0 = mu`` (the centre), with the exact
    time-varying control limits ``mu +/- L sigma sqrt(lam / (2 - lam) (1 - (1 - lam)^(2t)))``;
    the score of a row and column is ``|z_t - mu| / (L sigma sqrt(...))``. Every scored block
    (and the training block in ``fit``) starts from the in-control state ``z_0 = mu``, ``t = 0``:
    blocks are scored independently, each as a fresh chart (a "zero-state" start), so scores do
    not depend on what was scored before. Score one contiguous block to carry the state along.
    """

    def __init__(self, lam: float = 0.2, L: float = 3.0, center: Any = None, sigma: Any = None, threshold: Threshold | None = None) -> None:
        super().__init__(threshold)
        self.lam = lam
        self.L = L
        self.center = center
        self.sigma = sigma

    def _fit(self, X: np.ndarray) -> None:
        if not 0 < self.lam <= 1:
            raise ValueError("lam must lie in (0, 1]")
        if self.L <= 0:
            raise ValueError("L must be positive")
        super()._fit(X)

    def _chart(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(EWMA statistic z_t, half-width of the control limits) per row and column."""
        lam = self.lam
        n, m = X.shape
        z = np.empty((n, m))
        steps = np.empty((n, m))
        state = self.center_.copy()
        count = np.zeros(m)
        for t in range(n):
            x = X[t]
            seen = np.isfinite(x)
            state = np.where(seen, lam * x + (1.0 - lam) * state, state)
            count += seen
            z[t] = np.where(seen, state, np.nan)
            steps[t] = count
        width = self.L * self.sigma_ * np.sqrt(lam / (2.0 - lam) * (1.0 - (1.0 - lam) ** (2.0 * steps)))
        return z, width

    def ewma(self, X: Any) -> tuple[np.ndarray, np.ndarray]:
        """(EWMA statistic, control-limit half-width) of each row and column: the limits are
        ``center_ +/- half-width``."""
        return self._chart(self._check(X))

    def _ratios(self, X: np.ndarray) -> np.ndarray:
        z, width = self._chart(X)
        return np.abs(z - self.center_) / width


class CUSUM(_ControlChart):
    """Two-sided tabular CUSUM in sigma units (Page 1954; Montgomery §9.1).

    With ``z_t = (x_t - mu) / sigma``: ``C+_t = max(0, z_t - k + C+_{t-1})``,
    ``C-_t = max(0, -z_t - k + C-_{t-1})``, ``C+_0 = C-_0 = 0``; the chart signals when either
    exceeds ``h``, and the score of a row and column is ``max(C+_t, C-_t) / h``. ``k = 0.5`` is
    tuned to detect a one-sigma shift fastest; ``h = 5`` gives an in-control ARL of about 465.
    The sums are not reset after a signal (the score keeps showing the accumulated evidence).
    Every scored block (and the training block) starts from the in-control state ``C = 0``
    (zero-state), independent of earlier calls; score one contiguous block to carry the state.
    """

    def __init__(self, k: float = 0.5, h: float = 5.0, center: Any = None, sigma: Any = None, threshold: Threshold | None = None) -> None:
        super().__init__(threshold)
        self.k = k
        self.h = h
        self.center = center
        self.sigma = sigma

    def _fit(self, X: np.ndarray) -> None:
        if self.k < 0:
            raise ValueError("k must be non-negative")
        if self.h <= 0:
            raise ValueError("h must be positive")
        super()._fit(X)

    def _sums(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        Z = self._z(X)
        n, m = Z.shape
        upper, lower = np.empty((n, m)), np.empty((n, m))
        up, low = np.zeros(m), np.zeros(m)
        for t in range(n):
            z = Z[t]
            seen = np.isfinite(z)
            up = np.where(seen, np.maximum(0.0, z - self.k + up), up)
            low = np.where(seen, np.maximum(0.0, -z - self.k + low), low)
            upper[t] = np.where(seen, up, np.nan)
            lower[t] = np.where(seen, low, np.nan)
        return upper, lower

    def cusum(self, X: Any) -> tuple[np.ndarray, np.ndarray]:
        """(C+, C-) of each row and column, in sigma units."""
        return self._sums(self._check(X))

    def _ratios(self, X: np.ndarray) -> np.ndarray:
        upper, lower = self._sums(X)
        return np.fmax(upper, lower) / self.h


class STLResidual(BaseDetector):
    """Robust z-score of what remains after removing each column's healthy level and seasonality.

    ``fit``: per column, an STL decomposition (Cleveland et al. 1990; statsmodels' ``STL`` with
    ``period``, ``seasonal`` and ``robust``) of the training series. The *seasonal profile* is
    the median of the STL seasonal component at each phase (position within the period) over
    the training cycles, centred to mean 0; the *level* is the median of the deseasonalised
    training values. The residual of any value is ``x - level - profile[phase]`` and its robust
    z-score is ``(r - median) / (1.4826 MAD)`` with the median and MAD of the training residuals.
    Score of a row and column: ``|z| / z_limit``.

    Scoring new data: the profile learned in ``fit`` is applied by phase, rather than running STL
    again on the new segment. That works for blocks of any length (STL needs two full periods),
    is the same function of the data on the training and the new rows (so the training MAD
    calibrates the new scores), and keeps the healthy level fixed: a level shift or a drift away
    from the healthy period is reported instead of being absorbed into a re-estimated trend (STL
    on a new segment would follow a step within about one trend window and only flag its edges).
    The price is that the phase of the new rows must be known: row ``i`` of a scored block is at
    time index ``start + i`` counted from the first training row, so its phase is
    ``(start + i) mod period``. ``start=None`` (default) means the block follows the training
    rows directly (``start = number of training rows``); set ``start`` (``set_params``) when it
    does not, e.g. ``start=0`` for blocks that begin at the same phase as the training data. The
    training rows themselves are always scored from phase 0.

    The STL decomposition is used to *learn* the profile: it separates the seasonal pattern from
    a trend in the training period, which a plain per-phase average would confuse.
    """

    def __init__(
        self,
        period: int = 24,
        robust: bool = True,
        z_limit: float = 3.5,
        seasonal: int = 7,
        start: int | None = None,
        threshold: Threshold | None = None,
    ) -> None:
        super().__init__(threshold)
        self.period = period
        self.robust = robust
        self.z_limit = z_limit
        self.seasonal = seasonal
        self.start = start

    def fit(self, X: Any, y: Any = None) -> STLResidual:
        # The training rows are scored in BaseDetector.fit from phase 0; later blocks from start.
        self._fitting = True
        try:
            super().fit(X, y)
        finally:
            self._fitting = False
        return self

    def _fit(self, X: np.ndarray) -> None:
        from statsmodels.tsa.seasonal import STL

        period = int(self.period)
        if period < 2:
            raise ValueError("period must be at least 2")
        if self.z_limit <= 0:
            raise ValueError("z_limit must be positive")
        n, m = X.shape
        if n < 2 * period:
            raise ValueError(f"STL needs at least two full periods of training data ({2 * period} rows), got {n}")
        self.n_training_rows_ = n
        phase = np.arange(n) % period
        profile = np.empty((period, m))
        self.seasonal_ = np.empty((n, m))
        self.trend_ = np.empty((n, m))
        for j in range(m):
            result = STL(X[:, j], period=period, seasonal=self.seasonal, robust=self.robust).fit()
            seasonal = np.asarray(result.seasonal)
            self.seasonal_[:, j] = seasonal
            self.trend_[:, j] = np.asarray(result.trend)
            profile[:, j] = [np.median(seasonal[phase == p]) for p in range(period)]
        self.profile_ = profile - profile.mean(axis=0)
        self.level_ = np.median(X - self.profile_[phase], axis=0)
        residual = X - self.level_ - self.profile_[phase]
        self.residual_median_ = np.median(residual, axis=0)
        mad = stats.median_abs_deviation(residual, axis=0)
        fallback = residual.std(axis=0)
        self.residual_scale_ = np.where(mad > 0, MAD_TO_SIGMA * mad, np.where(fallback > 0, fallback, 1.0))

    def _start(self) -> int:
        if getattr(self, "_fitting", False):
            return 0
        return int(self.n_training_rows_ if self.start is None else self.start)

    def _residual_z(self, X: np.ndarray) -> np.ndarray:
        phase = (self._start() + np.arange(len(X))) % int(self.period)
        residual = X - self.level_ - self.profile_[phase]
        return (residual - self.residual_median_) / self.residual_scale_

    def residual_z(self, X: Any) -> np.ndarray:
        """Robust z-score of each row's and column's residual (phase from ``start``)."""
        return self._residual_z(self._check(X))

    def _default_threshold(self) -> Threshold:
        return FixedThreshold(1.0)

    def _ratios(self, X: np.ndarray) -> np.ndarray:
        return np.abs(self._residual_z(X)) / self.z_limit

    def _score(self, X: np.ndarray) -> np.ndarray:
        return _row_max(self._ratios(X))

    def _contributions(self, X: np.ndarray) -> np.ndarray:
        return np.nan_to_num(self._ratios(X), nan=0.0)


__all__ = ["CUSUM", "D2", "EWMA", "RUN_RULE_SCORE", "WESTERN_ELECTRIC_RULES", "STLResidual", "Shewhart"]
