"""Out-of-sample calibration: a detector's score in units of its healthy-period threshold.

A detector scores the rows it was fitted on lower than rows it has never seen (a PCA plane passes
close to its own training points; a nearest-neighbour distance to oneself is zero), so a
threshold taken from in-sample scores is too low and a healthy machine alarms as soon as it is
scored on new data. :class:`Calibrated` takes the threshold from *out-of-fold* scores instead:
the healthy rows are cut into ``folds`` consecutive time blocks, each block is scored by a model
fitted on the others (blocked, not shuffled, cross-validation, so neighbouring windows cannot
vouch for each other), and the threshold is the ``quantile`` of those scores — the split
conformal recipe for anomaly detection (Laxhammar & Falkman 2015; Bates et al. 2023). Scores are
divided by it, so 1.0 is the threshold for every machine, mode and detector: the common scale
an ensemble, a mode-aware detector and a plant manager's "how far past normal" all need.

Healthy periods are never perfectly clean (an unlogged stoppage, a sensor glitch): before
calibrating, the training rows whose out-of-fold score is above the ``trim`` quantile are set
aside and the model refitted without them, a trimmed fit (as in robust PCA monitoring, e.g.
Hubert et al. 2005), so a few contaminated windows cannot widen the normal envelope. As in the
reweighting step that follows a trimmed robust fit (Rousseeuw & Van Driessen 1999), every row is
then scored out of fold by models of the trimmed rows and only the rows *far out* (beyond Tukey's
outer fence, Q3 + 3 IQR, of those scores; never more than the ``1 - trim`` share) stay out: the
healthy tail comes back, so the calibration still sees it and a clean period keeps its
``1 - quantile`` false-alarm share (calibrating on the trimmed rows alone would cut the healthy
tail and alarm on about ``1 - quantile * trim`` of new healthy windows).
"""

from __future__ import annotations

import numpy as np
from sklearn.base import clone

from analytics.models.anomaly.base import BaseDetector
from analytics.models.anomaly.thresholds import FixedThreshold, Threshold


def out_of_fold_scores(detector: BaseDetector, X: np.ndarray, folds: int, train: np.ndarray | None = None) -> np.ndarray:
    """Score of each row from a clone of ``detector`` fitted on the other time blocks (only on
    their rows where the boolean mask ``train`` is true, if given)."""
    scores = np.empty(len(X))
    for block in np.array_split(np.arange(len(X)), folds):
        others = np.ones(len(X), dtype=bool)
        others[block] = False
        if train is not None:
            others &= train
        if others.sum() < 2:
            raise ValueError(f"too few rows for out-of-fold calibration: a fold would be fitted on {others.sum()} row(s)")
        model = clone(detector).fit(X[others])
        scores[block] = model.decision_function(X[block])
    return scores


class Calibrated(BaseDetector):
    """``detector`` with out-of-fold calibration; ``decision_function`` is in threshold units.

    ``quantile``: share of out-of-fold healthy scores below the threshold (0.99: one healthy
    window in a hundred crosses it; persistence rules then keep single crossings from alarming).
    ``folds``: consecutive time blocks (5: each model sees 80 % of the data).
    ``trim``: rows above this quantile of the out-of-fold scores are set aside for a trimmed fit,
    and those of them (and only them) far out of its scores are dropped before the final fit and
    calibration (1.0 keeps every row). Fitted: ``detector_`` (the final model), ``scale_`` (the raw
    threshold the scores are divided by), ``kept_`` (mask of the training rows kept).
    """

    def __init__(
        self,
        detector: BaseDetector,
        quantile: float = 0.99,
        folds: int = 5,
        trim: float = 0.95,
        threshold: Threshold | None = None,
    ) -> None:
        super().__init__(threshold)
        self.detector = detector
        self.quantile = quantile
        self.folds = folds
        self.trim = trim

    def _fit(self, X: np.ndarray) -> None:
        if not 0 < self.quantile < 1:
            raise ValueError(f"quantile must be in (0, 1), got {self.quantile}")
        folds = int(min(self.folds, len(X) // 2))
        if folds < 2:
            raise ValueError(f"out-of-fold calibration needs at least 4 rows, got {len(X)}")
        kept = np.ones(len(X), dtype=bool)
        if self.trim < 1:
            first = out_of_fold_scores(self.detector, X, folds)
            core = first <= np.quantile(first, self.trim)
            # Reweighting: only rows far out of the trimmed models' scores stay out.
            second = out_of_fold_scores(self.detector, X, folds, train=core)
            q1, q3 = np.quantile(second, [0.25, 0.75])
            kept = core | (second <= max(q3 + 3 * (q3 - q1), float(np.quantile(second, self.trim))))
        training = X[kept]
        folds = int(min(folds, len(training) // 2))
        if folds < 2:
            raise ValueError(f"out-of-fold calibration needs at least 4 rows after trimming, got {len(training)}")
        scores = out_of_fold_scores(self.detector, training, folds)
        self.kept_ = kept
        self.detector_ = clone(self.detector).fit(training)
        scale = float(np.quantile(scores, self.quantile))
        self.scale_ = scale if scale > 0 else float(np.finfo(float).eps)

    def _default_threshold(self) -> Threshold:
        return FixedThreshold(1.0)

    def _score(self, X: np.ndarray) -> np.ndarray:
        return self.detector_.decision_function(X) / self.scale_

    def _contributions(self, X: np.ndarray) -> np.ndarray:
        return self.detector_._contributions(X)
