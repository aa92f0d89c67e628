"""Operating points as clusters: the one k-means-with-silhouette rule the anomaly monitor (machine
operating modes) and the failure models (engine operating conditions) both use."""

from __future__ import annotations

import logging
from functools import cache

import numpy as np
from sklearn.cluster import KMeans
from sklearn.metrics import silhouette_score
from threadpoolctl import ThreadpoolController

log = logging.getLogger(__name__)


@cache
def _thread_pools() -> ThreadpoolController:
    """The process's BLAS/OpenMP pools, found once: finding them reads every loaded library
    (about 10 ms, more than a small k-means), and k-means runs once per machine refit."""
    return ThreadpoolController()


def operating_clusters(
    Z: np.ndarray,
    *,
    max_k: int,
    min_silhouette: float,
    min_rows: int = 1,
    random_state: int = 0,
    fit_rows: int = 20_000,
    score_rows: int = 5_000,
) -> tuple[KMeans | None, float]:
    """k-means on the (standardised) rows ``Z`` for k = 2 .. ``max_k``, k chosen by the silhouette
    (Rousseeuw 1987); the fitted model only when the clusters are well separated (silhouette ≥
    ``min_silhouette``) and each holds ``min_rows`` rows, else None. Returns (model, silhouette).

    Operating points are few and dense, so k-means sees at most ``fit_rows`` rows (a random
    subsample) and the silhouette, O(n²), the first ``score_rows`` of them.
    """
    if len(Z) > fit_rows:
        Z = Z[np.random.default_rng(random_state).permutation(len(Z))[:fit_rows]]
    scored = Z[:score_rows]
    best: tuple[float, KMeans | None] = (-1.0, None)
    for k in range(2, max_k + 1):
        if len(Z) < k * min_rows or len(np.unique(Z, axis=0)) <= k:
            break
        # One thread: k-means on a few thousand rows gains nothing from more, and on a busy
        # 2-core host its thread pool fights the hub's other workers (100x slower, measured).
        with _thread_pools().limit(limits=1):
            model = KMeans(n_clusters=k, n_init=4, random_state=random_state).fit(Z)
        if np.bincount(model.labels_, minlength=k).min() < min_rows:
            continue
        labels = model.labels_[: len(scored)]
        if len(np.unique(labels)) < 2:
            continue
        quality = float(silhouette_score(scored, labels))
        log.debug("k=%d silhouette %.3f", k, quality)
        if quality > best[0]:
            best = (quality, model)
    if best[1] is None or best[0] < min_silhouette:
        return None, best[0]
    return best[1], best[0]
