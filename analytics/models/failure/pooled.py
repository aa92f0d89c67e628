"""The hub's pooled failure models: one per machine type, learned from every factory that shares
(:meth:`~analytics.store.registry.Registry.set_model_sharing`), on this machine or on a Dask
cluster with XGBoost's own distributed training (``xgboost.dask``), by the same code.

A small factory sees few failures; the hub sees the failures of every factory that shares. The
pooled model of a machine type is that shared experience: a calibrated failure-risk classifier
and a time-to-failure model like a factory's own (:mod:`analytics.models.failure.training`),
trained on all sharing factories' rows of the type, validated, and kept with its card in the
hub's pooled model store (:meth:`~analytics.store.models.ModelStore.pooled`), whose champion
changes only when a new model beats the base-rate forecast on its validation.

How the work is laid out, the same on one machine and on a cluster:

- *Partitions*: each sharing factory's labelled rows are built where they will stay (a task per
  factory on a cluster: :func:`factory_part`), from the factory's own feature store. Nothing of
  them travels to the client: what comes back are counts, time ranges and histograms.
- *Trees*: every fit is ``xgboost.train`` on the selected rows of every partition (one process),
  or ``xgboost.dask.train`` on the same rows left on the workers (cluster): the only place the
  two paths differ (:class:`LocalTrainer`, :class:`DaskTrainer`).
- *Calibration*: Platt scaling on out-of-fold scores (folds by machine), fitted from the
  per-partition histograms of those scores (:func:`~analytics.models.failure.risk.platt_from_counts`).
- *Validation*: time-ordered and grouped by factory, so no factory is on both sides and no
  training label lies after a test block's start (:func:`validation_splits`). Its figures are
  those of :func:`~analytics.models.failure.risk.classification_figures`, computed from sums and
  fine histograms the partitions return (:class:`Tally`): Brier scores and log losses are exact,
  ranking figures (PR-AUC, ROC-AUC) exact up to ties within a histogram bin.

XGBoost's distributed training finds its histogram cut points from merged sketches, so the
cluster's trees can differ slightly from one machine's on the same rows; the card, the
validation protocol and the registry are the same.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import operator
import time
import uuid
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final, Protocol

import numpy as np
import polars as pl
import xgboost as xgb

from analytics.config import FailureSettings, get_settings
from analytics.models.failure.dataset import feature_columns
from analytics.models.failure.risk import FailureRiskClassifier, FailureTimeModel, NotEnoughFailuresError, PlattTrees, naive_score, platt_from_counts
from analytics.models.failure.training import (
    KIND,
    FailureModel,
    combine_summaries,
    factory_frame,
    machines_by_type,
    model_arrays,
    model_card,
    recipe_classifier,
    time_model_verdict,
    training_rows,
    training_summary,
    type_sensors,
    withdrawal,
)
from analytics.store.hub import Hub
from analytics.store.models import ModelStore

if TYPE_CHECKING:
    from distributed import Client, Future

log = logging.getLogger(__name__)

RECIPE: Final = "pooled"
CALIBRATION_FOLDS: Final = 3
# Histograms of probabilities: bins even in log-odds from -14 to 14 (probabilities from 1e-6 to
# 1 - 1e-6), 1/585 of a log-odds unit wide (at p = 0.5 a bin spans 0.0004), so that ranking
# figures from them match the exact ones to the third decimal (tested); the naive score (largest
# |z|) in steps of 0.005 up to 50.
PROBABILITY_BINS: Final = 16384
LOGIT_RANGE: Final = 14.0
NAIVE_STEP: Final = 0.005
NAIVE_BINS: Final = 10000
RELIABILITY_BINS: Final = 10
ALARM_AT: Final = 0.5
NAIVE_ALARM_AT: Final = 3.0


# --- partitions --------------------------------------------------------------------------------
@dataclass
class Part:
    """One factory's training rows of a machine type, as arrays: features ``X``, label ``y``
    (failure within the hazard horizon), survival bounds, window ends ``t`` (epoch seconds), the
    calibration fold of each row's machine, and the naive baseline's score."""

    factory_id: str
    X: np.ndarray
    y: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    t: np.ndarray
    fold: np.ndarray
    naive: np.ndarray
    summary: dict[str, Any]


@dataclass(frozen=True)
class Selection:
    """Rows of the partitions: of these factories, these calibration folds, with window ends in
    ``[since, before)`` and at most ``until`` (epoch seconds; None: no bound)."""

    factories: frozenset[str] | None = None
    folds: frozenset[int] | None = None
    since: int | None = None
    before: int | None = None
    until: int | None = None

    def mask(self, part: Part) -> np.ndarray:
        keep = np.ones(part.y.size, dtype=bool)
        if self.factories is not None and part.factory_id not in self.factories:
            keep[:] = False
        if self.folds is not None:
            keep &= np.isin(part.fold, list(self.folds))
        if self.since is not None:
            keep &= part.t >= self.since
        if self.before is not None:
            keep &= part.t < self.before
        if self.until is not None:
            keep &= part.t <= self.until
        return keep

    def narrowed(self, **changes: Any) -> Selection:
        return Selection(**{**self.__dict__, **changes})


def machine_fold(factory_id: str, machines: np.ndarray, folds: int) -> np.ndarray:
    """Calibration fold of each row's machine: a stable hash, the same on every worker."""
    codes = {m: zlib.crc32(f"{factory_id}/{m}".encode()) % folds for m in np.unique(machines)}
    return np.array([codes[m] for m in machines], dtype=np.int8)


@dataclass(frozen=True)
class Unavailable:
    """A factory whose rows could not be built (its error), left out of the pooled model."""

    factory_id: str
    error: str


def factory_rows(
    locations: tuple[str, str], factory_id: str, machine_type: str, sensors: list[str], until: datetime, settings: FailureSettings
) -> pl.DataFrame | Unavailable:
    """The factory's labelled training rows of the type (a task: it opens the hub itself at the
    given control folder and storage, :attr:`Hub.locations`). A factory whose data cannot be
    read is left out and said so, as the daily run records a factory's failure without stopping
    the others."""
    try:
        hub = Hub.at(locations)
        frame = factory_frame(hub, factory_id, machine_type, settings.hazard_hours, until=until, sensors=sensors)
        return training_rows(frame, settings.train_stride_hours)
    except Exception as exc:  # noqa: BLE001 - one factory's unreadable data never stops the pool
        log.error("pooled %s: rows of %s left out: %s: %s", machine_type, factory_id, type(exc).__name__, exc)
        return Unavailable(factory_id, f"{type(exc).__name__}: {exc}")


def _unavailable(frame: pl.DataFrame | Unavailable) -> Unavailable | None:
    return frame if isinstance(frame, Unavailable) else None


def row_columns(frame: pl.DataFrame | Unavailable) -> list[str]:
    return feature_columns(frame.drop("factory_id")) if isinstance(frame, pl.DataFrame) and frame.height else []


def factory_part(frame: pl.DataFrame | Unavailable, factory_id: str, template: FailureModel) -> Part | None:
    """The arrays of one factory's rows in the pooled model's columns (absent ones null), as
    :func:`~analytics.models.failure.training.model_arrays` gives a factory's model."""
    if not isinstance(frame, pl.DataFrame) or frame.height == 0:
        return None
    a = model_arrays(frame, template)
    return Part(
        factory_id=factory_id,
        X=a["X"],
        y=a["y"].astype(np.int8),
        lower=a["lower"].astype(np.float64),
        upper=a["upper"].astype(np.float64),
        t=a["times"].astype("datetime64[s]").astype(np.int64),
        fold=machine_fold(factory_id, frame.get_column("machine_id").to_numpy(), CALIBRATION_FOLDS),
        naive=naive_score(a["X"], template.columns),
        summary=training_summary(frame),
    )


# --- what partitions return ---------------------------------------------------------------------
def _probability_bin(p: np.ndarray) -> np.ndarray:
    logit = np.log(np.clip(p, 1e-12, 1.0)) - np.log(np.clip(1.0 - p, 1e-12, 1.0))
    return np.clip(((logit + LOGIT_RANGE) / (2 * LOGIT_RANGE) * PROBABILITY_BINS).astype(np.int64), 0, PROBABILITY_BINS - 1)


@dataclass
class Tally:
    """Sums and histograms of scored rows, which add up across partitions and splits."""

    rows: int = 0
    positives: int = 0
    brier: float = 0.0
    brier_base: float = 0.0
    log_loss: float = 0.0
    log_loss_base: float = 0.0
    survival_rows: int = 0
    survival_positives: int = 0
    survival_brier: float = 0.0
    hist: np.ndarray = field(default_factory=lambda: np.zeros((2, PROBABILITY_BINS)))
    survival_hist: np.ndarray = field(default_factory=lambda: np.zeros((2, PROBABILITY_BINS)))
    naive_hist: np.ndarray = field(default_factory=lambda: np.zeros((2, NAIVE_BINS + 1)))
    reliability: np.ndarray = field(default_factory=lambda: np.zeros((3, RELIABILITY_BINS)))  # rows, sum p, sum y
    alarms: np.ndarray = field(default_factory=lambda: np.zeros((2, 2)))  # [model, naive] x [alarms, true alarms]

    def __add__(self, other: Tally) -> Tally:
        return Tally(**{k: getattr(self, k) + getattr(other, k) for k in self.__dataclass_fields__})

    @classmethod
    def of(cls, y: np.ndarray, p: np.ndarray, base: float, naive: np.ndarray, survival: np.ndarray | None) -> Tally:
        y = y.astype(np.int64)
        clipped, b = np.clip(p, 1e-6, 1 - 1e-6), min(max(base, 1e-6), 1 - 1e-6)
        tally = cls(
            rows=int(y.size),
            positives=int(y.sum()),
            brier=float(((p - y) ** 2).sum()),
            brier_base=float(((base - y) ** 2).sum()),
            log_loss=float(-(y * np.log(clipped) + (1 - y) * np.log(1 - clipped)).sum()),
            log_loss_base=float(-(y * np.log(b) + (1 - y) * np.log(1 - b)).sum()),
        )
        np.add.at(tally.hist, (y, _probability_bin(p)), 1)
        np.add.at(tally.naive_hist, (y, np.minimum((naive / NAIVE_STEP).astype(np.int64), NAIVE_BINS)), 1)
        slot = np.minimum((p * RELIABILITY_BINS).astype(np.int64), RELIABILITY_BINS - 1)
        for row, values in enumerate((np.ones_like(p), p, y.astype(np.float64))):
            np.add.at(tally.reliability[row], slot, values)
        tally.alarms[0] = [(p >= ALARM_AT).sum(), ((p >= ALARM_AT) & (y == 1)).sum()]
        tally.alarms[1] = [(naive >= NAIVE_ALARM_AT).sum(), ((naive >= NAIVE_ALARM_AT) & (y == 1)).sum()]
        if survival is not None:
            ok = np.isfinite(survival)
            tally.survival_rows, tally.survival_positives = int(ok.sum()), int(y[ok].sum())
            tally.survival_brier = float(((survival[ok] - y[ok]) ** 2).sum())
            np.add.at(tally.survival_hist, (y[ok], _probability_bin(survival[ok])), 1)
        return tally


def _ranking(hist: np.ndarray) -> tuple[float | None, float | None]:
    """Average precision and ROC AUC from per-class histograms of a score (bins ascending);
    rows sharing a bin count as tied, as tied scores do in scikit-learn."""
    neg, pos = hist[0][::-1], hist[1][::-1]  # highest scores first
    n_pos, n_neg = pos.sum(), neg.sum()
    if n_pos == 0 or n_neg == 0:
        return None, None
    tp, fp = np.cumsum(pos), np.cumsum(neg)
    used = (pos + neg) > 0
    precision = np.divide(tp, tp + fp, out=np.zeros_like(tp), where=(tp + fp) > 0)
    recall_step = pos / n_pos
    average_precision = float((recall_step[used] * precision[used]).sum())
    # ROC AUC: for each positive, the negatives below it, and half of those tied with it.
    below = n_neg - fp
    roc = float((pos * (below + 0.5 * neg)).sum() / (n_pos * n_neg))
    return round(average_precision, 5), round(roc, 5)


def tally_figures(tally: Tally) -> dict[str, Any]:
    """The figures of :func:`~analytics.models.failure.risk.classification_figures` from a tally."""
    n = tally.rows
    if n == 0:
        raise NotEnoughFailuresError("no validation rows to judge the pooled model on")
    both = 0 < tally.positives < n
    pr_auc, roc_auc = _ranking(tally.hist) if both else (None, None)
    pr_naive, roc_naive = _ranking(tally.naive_hist) if both else (None, None)
    brier, brier_base = tally.brier / n, tally.brier_base / n
    # Python floats: NumPy rounds halves of its own floats differently from round() on the exact rows.
    (alarms, hits), (naive_alarms, naive_hits) = tally.alarms.tolist()
    count, sum_p, sum_y = tally.reliability
    figures: dict[str, Any] = {
        "rows": n,
        "positives": tally.positives,
        "prevalence": round(tally.positives / n, 5),
        "brier": round(brier, 5),
        "brier_baseline": round(brier_base, 5),
        "brier_skill": round(1 - brier / brier_base, 4) if brier_base else None,
        "log_loss": round(tally.log_loss / n, 5) if both else None,
        "log_loss_baseline": round(tally.log_loss_base / n, 5) if both else None,
        "pr_auc": pr_auc,
        "pr_auc_naive": pr_naive,
        "roc_auc": roc_auc,
        "roc_auc_naive": roc_naive,
        "threshold": ALARM_AT,
        "precision": round(hits / alarms, 4) if alarms else None,
        "recall": round(hits / tally.positives, 4) if tally.positives else None,
        "precision_naive": round(naive_hits / naive_alarms, 4) if naive_alarms else None,
        "recall_naive": round(naive_hits / tally.positives, 4) if tally.positives else None,
        "reliability": [
            {"predicted": round(float(sp / c), 4), "observed": round(float(sy / c), 4)} for c, sp, sy in zip(count, sum_p, sum_y, strict=True) if c
        ],
        "ranking_from": f"histograms of {PROBABILITY_BINS} bins",
    }
    if tally.survival_rows:
        figures["survival_brier"] = round(tally.survival_brier / tally.survival_rows, 5)
        survival_both = 0 < tally.survival_positives < tally.survival_rows
        figures["survival_pr_auc"] = _ranking(tally.survival_hist)[0] if survival_both else None
    return figures


# --- work on one partition (runs where the partition lives) --------------------------------------
def count_rows(part: Part | None, selection: Selection) -> tuple[int, int]:
    """(rows, positive rows) of the selection in the partition."""
    if part is None:
        return 0, 0
    keep = selection.mask(part)
    return int(keep.sum()), int(part.y[keep].sum())


def time_range(part: Part | None) -> tuple[int, int] | None:
    return (int(part.t.min()), int(part.t.max())) if part is not None and part.t.size else None


def selected_arrays(part: Part | None, selection: Selection, survival: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """The selected rows: (X, y, y) for the classifier, (X, lower, upper) for the survival model."""
    if part is None:
        return None
    keep = selection.mask(part)
    if not keep.any():
        return None
    if survival:
        lower, upper = FailureTimeModel.bounds(part.lower[keep], part.upper[keep])
        return part.X[keep], lower, upper
    y = part.y[keep].astype(np.float32)
    return part.X[keep], y, y


def trees_score_counts(part: Part | None, selection: Selection, booster: xgb.Booster) -> np.ndarray:
    """Histogram (negatives, positives) x bins of the trees' probability on the selected rows,
    with the sum of the probabilities in each bin (what Platt scaling is fitted from)."""
    counts = np.zeros((3, PROBABILITY_BINS))
    if part is None:
        return counts
    keep = selection.mask(part)
    if keep.any():
        s = booster.predict(xgb.DMatrix(part.X[keep]))
        bins = _probability_bin(s)
        np.add.at(counts, (part.y[keep].astype(np.int64), bins), 1)
        np.add.at(counts[2], bins, s)
    return counts


def tally_part(part: Part | None, selection: Selection, model: FailureModel, base_rate: float) -> Tally:
    """The validation tally of the selected rows, scored by ``model``."""
    if part is None:
        return Tally()
    keep = selection.mask(part)
    if not keep.any():
        return Tally()
    X = part.X[keep]
    p = model.classifier.predict_proba(X)[:, 1]
    survival = model.time_model.prob_within(X, model.hazard_hours) if model.time_model is not None else None
    return Tally.of(part.y[keep], p, base_rate, part.naive[keep], survival)


# --- where the trees are trained -------------------------------------------------------------------
class Trainer(Protocol):
    """Runs work on the partitions and trains trees on their rows."""

    def build(self, function: Callable[..., Any], calls: Sequence[tuple[Any, ...]]) -> list[Any]: ...

    def each(self, function: Callable[..., Any], parts: Sequence[Any], *args: Any) -> list[Any]: ...

    def total(self, function: Callable[..., Any], parts: Sequence[Any], *args: Any) -> Any: ...

    def train(self, params: dict[str, Any], rounds: int, parts: Sequence[Any], selection: Selection, *, survival: bool) -> xgb.Booster: ...

    def share(self, value: Any) -> Any: ...


class LocalTrainer:
    """Partitions in this process; trees by ``xgboost.train``."""

    def build(self, function: Callable[..., Any], calls: Sequence[tuple[Any, ...]]) -> list[Any]:
        return [function(*args) for args in calls]

    def each(self, function: Callable[..., Any], parts: Sequence[Any], *args: Any) -> list[Any]:
        return [function(part, *args) for part in parts]

    def total(self, function: Callable[..., Any], parts: Sequence[Any], *args: Any) -> Any:
        return functools.reduce(operator.add, self.each(function, parts, *args))

    def share(self, value: Any) -> Any:
        return value

    def train(self, params: dict[str, Any], rounds: int, parts: Sequence[Any], selection: Selection, *, survival: bool) -> xgb.Booster:
        chosen = [a for a in self.each(selected_arrays, parts, selection, survival) if a is not None]
        data = xgb.DMatrix(np.vstack([a[0] for a in chosen]))
        if survival:
            data.set_float_info("label_lower_bound", np.concatenate([a[1] for a in chosen]))
            data.set_float_info("label_upper_bound", np.concatenate([a[2] for a in chosen]))
        else:
            data.set_label(np.concatenate([a[1] for a in chosen]))
        return xgb.train(params, data, num_boost_round=rounds)


class DaskTrainer:
    """Partitions held by the workers of a Dask cluster (futures); trees by ``xgboost.dask``,
    each worker training on the rows it holds."""

    def __init__(self, client: Client) -> None:
        self.client = client

    def build(self, function: Callable[..., Any], calls: Sequence[tuple[Any, ...]]) -> list[Future]:
        return [self.client.submit(function, *args, pure=False) for args in calls]

    def each(self, function: Callable[..., Any], parts: Sequence[Future], *args: Any) -> list[Any]:
        return self.client.gather([self.client.submit(function, part, *args, pure=False) for part in parts])

    def total(self, function: Callable[..., Any], parts: Sequence[Any], *args: Any) -> Any:
        """The sum of ``function(part, *args)`` over the partitions, added up pairwise on the
        workers: one result comes back, however many partitions (a tally is a few hundred KB)."""
        pending = [self.client.submit(function, part, *args, pure=False) for part in parts]
        while len(pending) > 1:
            pairs = [self.client.submit(operator.add, a, b, pure=False) for a, b in zip(pending[::2], pending[1::2], strict=False)]
            pending = pairs + pending[len(pairs) * 2 :]
        return pending[0].result()

    def share(self, value: Any) -> Any:
        """Send a value (a fitted model) to every worker once, not with every task."""
        return self.client.scatter(value, broadcast=True, hash=False)

    def train(self, params: dict[str, Any], rounds: int, parts: Sequence[Future], selection: Selection, *, survival: bool) -> xgb.Booster:
        import dask
        import dask.array as da
        from xgboost import dask as dxgb

        client = self.client
        chosen = [client.submit(selected_arrays, part, selection, survival, pure=False) for part in parts]
        shapes = client.gather([client.submit(lambda a: None if a is None else a[0].shape, c, pure=False) for c in chosen])
        columns: list[Any] = [[], [], []]
        for future, shape in zip(chosen, shapes, strict=True):
            if shape is None:
                continue
            for i, (dims, dtype) in enumerate((((shape[0], shape[1]), np.float32), ((shape[0],), np.float64 if survival else np.float32), ((shape[0],), np.float64 if survival else np.float32))):
                piece = client.submit(lambda a, i=i: a[i], future, pure=False)
                columns[i].append(da.from_delayed(dask.delayed(piece), shape=dims, dtype=dtype))
        X, first, second = (da.concatenate(c) for c in columns)
        if survival:
            data = dxgb.DaskDMatrix(client, X, label_lower_bound=first, label_upper_bound=second)
        else:
            data = dxgb.DaskDMatrix(client, X, first)
        # xgboost.dask gives each worker as many threads as Dask gave it.
        return dxgb.train(client, {k: v for k, v in params.items() if k != "nthread"}, data, num_boost_round=rounds)["booster"]


# --- training --------------------------------------------------------------------------------------
@dataclass
class PooledResult:
    machine_type: str
    status: str  # "promoted", "no_model" or, from refresh_pooled, "failed"
    model_id: str | None = None
    reason: str = ""
    metrics: dict[str, Any] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)
    factories: int = 0
    unavailable: list[Unavailable] = field(default_factory=list)  # for the operator; the card only counts them
    seconds: float = 0.0


@dataclass
class _Calibrated:
    booster: xgb.Booster
    slope: float
    intercept: float
    base_rate: float


def _fit_classifier(trainer: Trainer, parts: Sequence[Any], selection: Selection, template: FailureRiskClassifier) -> _Calibrated:
    """Trees on the selected rows, Platt-scaled on out-of-fold scores (folds by machine), as
    :class:`FailureRiskClassifier` fits a factory's model."""
    counts = trainer.each(count_rows, parts, selection)
    rows, positives = sum(c[0] for c in counts), sum(c[1] for c in counts)
    negatives = rows - positives
    if positives < CALIBRATION_FOLDS or negatives < CALIBRATION_FOLDS:
        raise NotEnoughFailuresError(f"{positives} failure rows and {negatives} healthy rows: too few to fit and calibrate a failure model")
    params = template.booster_params(template.positive_weight(positives, rows))
    scores = np.zeros((3, PROBABILITY_BINS))
    for fold in range(CALIBRATION_FOLDS):
        others = selection.narrowed(folds=frozenset(range(CALIBRATION_FOLDS)) - {fold} if selection.folds is None else selection.folds - {fold})
        held = selection.narrowed(folds=frozenset({fold}) if selection.folds is None else selection.folds & {fold})
        train_counts = trainer.each(count_rows, parts, others)
        if not 0 < sum(c[1] for c in train_counts) < sum(c[0] for c in train_counts):
            continue  # a fold whose training part has no failure (or nothing else) cannot be fitted
        trees = trainer.train(params, template.n_estimators, parts, others, survival=False)
        shared = trainer.share(trees)
        scores += trainer.total(trees_score_counts, parts, held, shared)
    if scores[1].sum() == 0 or scores[0].sum() == 0:
        raise NotEnoughFailuresError("no calibration fold had failures on both sides")
    used = scores[:2].sum(axis=0) > 0
    mean_score = scores[2][used] / scores[:2].sum(axis=0)[used]
    slope, intercept = platt_from_counts(mean_score, scores[1][used], scores[0][used])
    trees = trainer.train(params, template.n_estimators, parts, selection, survival=False)
    return _Calibrated(trees, slope, intercept, positives / rows)


def _fit(trainer: Trainer, parts: Sequence[Any], selection: Selection, template: FailureModel) -> tuple[FailureModel, float]:
    """A pooled :class:`FailureModel` fitted on the selected rows, with its training base rate."""
    classifier = _fit_classifier(trainer, parts, selection, template.classifier)
    time_model = None
    if template.time_model is not None:
        time_model = template.time_model.with_booster(
            trainer.train(template.time_model.booster_params(), template.time_model.n_estimators, parts, selection, survival=True)
        )
    model = FailureModel(
        PlattTrees.fitted(template.classifier, classifier.booster, classifier.slope, classifier.intercept, classifier.base_rate),
        time_model, template.columns, template.sensors, template.horizon_hours, template.hazard_hours, template.machine_type, RECIPE,
    )  # fmt: skip
    return model, classifier.base_rate


def validation_splits(
    factories: Sequence[str], lo: int, hi: int, *, hazard_hours: float, n_blocks: int, n_groups: int, test_share: float = 0.5, random_state: int = 0
) -> list[tuple[Selection, Selection]]:
    """(train, test) selections: time-ordered and grouped by factory, as
    :func:`~analytics.models.failure.risk.time_grouped_splits` is by machine. The last
    ``test_share`` of ``[lo, hi]`` (epoch seconds) is cut into ``n_blocks`` test blocks and the
    factories into ``n_groups`` random groups; a group's rows in a block are tested on a model of
    the other groups' rows whose labels were known when the block began."""
    keys = np.array(sorted(factories))
    order = np.random.default_rng(random_state).permutation(keys.size)
    groups = min(n_groups, keys.size)
    group_of = {str(keys[i]): n % groups for n, i in enumerate(order)}
    cuts = lo + (hi + 1 - lo) * (1 - test_share + test_share * np.arange(n_blocks + 1) / n_blocks)
    gap = int(hazard_hours * 3600)
    splits = []
    for b in range(n_blocks):
        for g in range(groups):
            tested = frozenset(f for f, k in group_of.items() if k == g)
            train = Selection(factories=frozenset(group_of) - tested, until=int(cuts[b]) - gap)
            test = Selection(factories=tested, since=int(cuts[b]), before=int(cuts[b + 1]))
            splits.append((train, test))
    return splits


def train_pooled(
    hub: Hub,
    machine_type: str,
    *,
    until: datetime | None = None,
    settings: FailureSettings | None = None,
    client: Client | None = None,
) -> PooledResult:
    """Train, validate and (when it beats the base rate) promote the hub's pooled model of
    ``machine_type`` on every sharing factory's data up to ``until`` (default: now); on the
    Dask cluster of ``client`` when given (see the module doc)."""
    started = time.perf_counter()
    settings = settings or get_settings().failure
    until = (until or datetime.now(UTC)).astimezone(UTC)
    trainer: Trainer = DaskTrainer(client) if client is not None else LocalTrainer()
    factories = sharing_owners(hub, machine_type)
    result = PooledResult(machine_type, "no_model", factories=len(factories))
    if len(factories) < 2:
        result.reason = f"{len(factories)} sharing factories have machines of this type: a pooled model needs two"
        return result
    sensors = type_sensors(hub, factories, machine_type)
    frames = trainer.build(factory_rows, [(hub.locations, f, machine_type, sensors, until, settings) for f in factories])
    result.unavailable = [u for u in trainer.each(_unavailable, frames) if u is not None]
    if len(factories) - len(result.unavailable) < 2:
        result.reason = f"rows of {len(result.unavailable)} of {len(factories)} sharing factories could not be read: a pooled model needs two"
        return result
    columns: list[str] = []
    for names in trainer.each(row_columns, frames):
        columns += [c for c in names if c not in columns]
    if not columns:
        result.reason = "no features for this machine type yet"
        return result
    template = FailureModel(recipe_classifier(RECIPE), FailureTimeModel(), columns, sensors, settings.horizon(machine_type), settings.hazard_hours, machine_type, RECIPE)
    parts = trainer.build(factory_part, [(frame, f, template) for frame, f in zip(frames, factories, strict=True)])
    del frames  # the arrays are built; the workers may drop the tables
    ranges = [r for r in trainer.each(time_range, parts) if r is not None]
    summaries = [s for s in trainer.each(lambda p: None if p is None else p.summary, parts) if s is not None]
    result.training = combine_summaries(summaries) if summaries else {}
    try:
        splits = validation_splits(
            factories, min(r[0] for r in ranges), max(r[1] for r in ranges),
            hazard_hours=settings.hazard_hours, n_blocks=settings.validation_blocks, n_groups=settings.validation_groups,
        )  # fmt: skip
        tally, used, skipped = Tally(), 0, 0
        for train, test in splits:
            if not sum(rows for rows, _ in trainer.each(count_rows, parts, test)):
                continue  # a block and group without rows tests nothing (as time_grouped_splits leaves it out)
            try:
                model, base_rate = _fit(trainer, parts, train, template)
            except NotEnoughFailuresError:
                skipped += 1
                continue
            tally = tally + trainer.total(tally_part, parts, test, trainer.share(model), base_rate)
            used += 1
        if not used:
            raise NotEnoughFailuresError(f"none of the {skipped} validation splits had enough failures on its training side")
        metrics = {**tally_figures(tally), "splits": used, "splits_skipped": skipped}
        metrics["validated_on"] = {"rows": tally.rows, "factories": len(factories), "blocks": settings.validation_blocks, "groups": settings.validation_groups}
        time_verdict = time_model_verdict(metrics)
        if not time_verdict["kept"]:
            template = dataclasses.replace(template, time_model=None)
        model, _ = _fit(trainer, parts, Selection(), template)
    except NotEnoughFailuresError as exc:
        result.reason = str(exc)
        result.seconds = round(time.perf_counter() - started, 2)
        return result
    result.metrics = metrics
    result.seconds = round(time.perf_counter() - started, 2)
    if metrics["brier"] >= metrics["brier_baseline"]:
        result.reason = f"did not beat the base-rate forecast on validation: Brier {metrics['brier']} against {metrics['brier_baseline']}"
        log.info("pooled %s: %s", machine_type, result.reason)
        return result
    store = ModelStore.pooled(hub)
    model_id = uuid.uuid4().hex[:12]
    card = model_card(
        model, result.training, metrics, until=until,
        extra={
            "note": f"pooled model of {len(factories) - len(result.unavailable)} sharing factories",
            "factories_left_out": len(result.unavailable),
            "trained_on": "dask" if client is not None else "local",
            "time_to_failure": time_verdict,
        },
    )  # fmt: skip
    store.save(KIND, machine_type, model_id, model, card)
    # Which factories it learned from, for the hub alone (the card only counts them): a model
    # stops serving once one of them no longer shares (refresh_pooled).
    left_out = {u.factory_id for u in result.unavailable}
    store.write_private(KIND, machine_type, model_id, {"factories": [f for f in factories if f not in left_out]})
    previous = store.champion(KIND, machine_type)
    reason = (
        f"first pooled model: Brier {metrics['brier']} against {metrics['brier_baseline']} for the base rate"
        if previous is None
        else f"refresh of the pooled model on data to {until:%Y-%m-%d}: Brier {metrics['brier']} against {metrics['brier_baseline']}"
    )
    store.promote(KIND, machine_type, model_id, reason)
    result.status, result.model_id, result.reason = "promoted", model_id, reason
    log.info("pooled %s: %s", machine_type, reason)
    return result


def sharing_owners(hub: Hub, machine_type: str) -> list[str]:
    """The sharing factories that have machines of ``machine_type``, in id order."""
    return [f for f in hub.registry.sharing_factories() if machines_by_type(hub, f).get(machine_type)]


def pooled_due(hub: Hub, machine_type: str, until: datetime, settings: FailureSettings | None = None, *, sharing: list[str] | None = None) -> str | None:
    """Why the pooled model of ``machine_type`` should be trained again at ``until`` (None: it
    need not be): a factory it learned from no longer shares (or, for an old model, it is not
    known which did); it is ``retrain_days`` old; or there is none while two factories share and
    no attempt was made in the last ``retrain_days`` on the same sharing factories (a pool too
    small to validate a model is not retried every day). ``sharing``: :func:`sharing_owners` of
    the type, when the caller has them."""
    settings = settings or get_settings().failure
    store = ModelStore.pooled(hub)
    sharing = sharing_owners(hub, machine_type) if sharing is None else sharing
    champion = store.champion(KIND, machine_type)
    every = timedelta(days=settings.retrain_days)
    if champion is not None:
        if (why := withdrawal(store, machine_type, champion, sharing)) is not None:
            return why
        age = until - datetime.fromisoformat(champion["fitted_until"])
        return f"the pooled model is {age.days} days old" if age >= every else None
    if len(sharing) < 2:
        return None
    attempt = store.read_private(KIND, machine_type, "attempt")
    if attempt is not None and attempt["sharing"] == sharing and until - datetime.fromisoformat(attempt["at"]) < every:
        return None
    return "no pooled model yet"


def refresh_pooled(hub: Hub, until: datetime | None = None, *, settings: FailureSettings | None = None, client: Client | None = None) -> list[PooledResult]:
    """Train every pooled model that is due (:func:`pooled_due`) on data up to ``until`` (default:
    now), on the Dask cluster of ``client`` when given; what the daily run does after its
    factory-days. A model one of whose factories stopped sharing is retired when no new model
    replaces it: it never serves again. A type whose training fails is reported, not raised."""
    settings = settings or get_settings().failure
    until = (until or datetime.now(UTC)).astimezone(UTC)
    store = ModelStore.pooled(hub)
    types_of = {f: set(machines_by_type(hub, f)) for f in hub.registry.sharing_factories()}  # one registry pass
    results = []
    for machine_type in sorted(set().union(*types_of.values(), store.machine_ids(KIND))):
        sharing = [f for f, types in types_of.items() if machine_type in types]
        why = pooled_due(hub, machine_type, until, settings, sharing=sharing)
        if why is None:
            continue
        log.info("pooled %s: training: %s", machine_type, why)
        champion = store.champion(KIND, machine_type)
        gone = withdrawal(store, machine_type, champion, sharing) if champion is not None else None
        try:
            result = train_pooled(hub, machine_type, until=until, settings=settings, client=client)
        except Exception as exc:  # one type's failure must not stop the others' (nor the daily run)
            log.exception("pooled %s: training failed", machine_type)
            result = PooledResult(machine_type, "failed", reason=f"{type(exc).__name__}: {exc}", factories=len(sharing))
        store.write_private(KIND, machine_type, "attempt", {"at": until.isoformat(), "status": result.status, "sharing": sharing})
        if result.status != "promoted" and gone is not None:
            store.retire(KIND, machine_type, f"retired: {gone}, and no new pooled model replaced it ({result.reason})")
            result.reason += "; the previous pooled model is retired"
        results.append(result)
    return results


__all__ = [
    "DaskTrainer", "LocalTrainer", "Part", "PooledResult", "Selection", "Tally",
    "pooled_due", "refresh_pooled", "tally_figures", "train_pooled", "validation_splits",
]  # fmt: skip
