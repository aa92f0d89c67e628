"""Streaming (causal, online) univariate anomaly detection for NAB-style benchmarks.

:class:`StreamingNovelty` reads a series one row at a time; the score of row ``t`` depends on
rows ``<= t`` only (and on the parameters), so a prefix of a series scores exactly as the whole
series does on that prefix. Scores lie in ``[0, 1]``, as the Numenta Anomaly Benchmark (NAB)
requires: a benchmark then picks one threshold for a whole corpus.

The detector combines three published ideas:

1. **Pattern novelty, discord style** (the nearest-neighbour "discord" of Keogh, Lin & Fu 2005,
   "HOT SAX", ICDM; the k-NN conformal detector KNN-CAD of Burnaev & Ishimtsev 2016,
   arXiv:1608.04585; ARTime's "no known category matches the recent pattern", M. Hampton 2021,
   github.com/markNZed/ARTimeNAB.jl). The series is cut into blocks; the recent pattern is the
   vector of the last ``embed`` blocks' means and ranges (a range keeps a one-row spike visible
   after downsampling, as ARTime's spike-preserving downsampling does). Its raw score is the
   Euclidean distance to the most similar *earlier, non-overlapping* pattern, in units of the
   running standard deviation of the block means.
2. **Anomaly likelihood** (Ahmad, Lavin, Purdy & Agha 2017, Neurocomputing 262:134–147, §3.3):
   a raw score is judged against the detector's own history of raw scores. Here ``log`` of the
   distance is compared with the running mean and standard deviation of the earlier ``log``
   distances (the log makes the heavy-tailed distances roughly Gaussian), and the Gaussian tail
   probability ``p = Q(z)`` is turned into a score with Numenta's log scale
   ``s = -log10(p) / 10`` (clipped to ``[0, 1]``; ``s = 1`` at ``p = 1e-10``). Every series is
   so put on one probability scale, which is what a single corpus-wide threshold needs.
3. **Spatial anomaly** (Numenta's NAB HTM detector, ``SPATIAL_TOLERANCE = 0.05``): a value
   outside the range seen so far, widened by ``tolerance`` × that range on each side, scores 1.

Finally a causal **refractory suppression** (non-maximum suppression in time): a candidate
score is reported only if it beats a bar that is set to ``reported score + margin`` when a row
is reported and decays linearly to 0 over ``refractory`` × ``warmup`` rows; rows not reported
score 0. (A score at the ceiling 1 clears a bar of ``1 + margin`` once ``margin / (1 + margin)``
of the refractory period has passed, about 9 % by default: a sustained run of saturated scores
is reported about every ``0.045 warmup`` rows rather than every row. A bar held flat for the
whole period reports less; on NAB ``realKnownCause`` it scored 60.5 standard against 64.1,
i.e. within the benchmark's noise of a window or two.) NAB credits only the first detection in a window and charges ``A_FP`` for each
detection outside one, so one report per episode is what the protocol rewards, whatever the
threshold; a markedly more surprising event (``margin`` = one order of magnitude of ``p``) can
still be reported within the refractory period.

Defaults, chosen a priori (none was fitted to a benchmark's labels):

* ``warmup = 750`` rows: NAB's probationary period is ``min(15 % of the file, 750)`` rows, and
  NAB tells every detector its length; :func:`analytics.evaluation.nab_benchmark.evaluate_nab`
  sets it per file. The detector reports nothing during the warm-up, but learns from it.
* ``blocks_per_warmup = 104``: the warm-up is summarised by about a hundred block points, enough
  for a distribution of distances to be estimated before scoring starts; ARTime downsamples
  its probationary period to the same ``8 × 13`` points. Block length = ``warmup / 104`` rows
  (7 rows for a 750-row warm-up), so the time resolution follows the series' length, as NAB's
  windows (10 % of the file / number of anomalies) do.
* ``embed = 8`` blocks: ARTime's feature window; the pattern spans ``warmup / 13`` rows, well
  inside a NAB window, so a detection can come early in it.
* ``tolerance = 0.05``: Numenta's spatial tolerance.
* ``refractory = 0.5`` (× warmup rows): NAB's windows are 10 % of a file divided by its number
  of anomalies, i.e. for one to three anomalies 2/3 to 2/9 of a 15 % warm-up; half a warm-up is
  about one window length, past which a repeat report is a new episode.
* ``margin = 0.1``: one decade of tail probability on the ``-log10(p) / 10`` scale.
* ``max_history = 5000`` patterns: bounds memory and time per row (NAB's longest files have
  about 3,300 blocks, so it does not bind there).
"""

from __future__ import annotations

import logging
import math
from typing import Any

import numpy as np
from numba import njit

from analytics.models.anomaly.base import BaseDetector, as_matrix
from analytics.models.anomaly.thresholds import FixedThreshold, Threshold

logger = logging.getLogger(__name__)

_LOG10 = math.log(10.0)
_SQRT2 = math.sqrt(2.0)


@njit(cache=True, nogil=True)
def _surprise(z: float) -> float:
    """``-log10(Q(z)) / 10`` clipped to ``[0, 1]`` (Numenta's log-likelihood scale)."""
    q = 0.5 * math.erfc(z / _SQRT2)
    if q <= 1e-10:
        return 1.0
    s = -math.log(q) / _LOG10 / 10.0
    return min(1.0, max(0.0, s))


@njit(cache=True, nogil=True)
def _stream(
    x: np.ndarray,
    warmup: int,
    block: int,
    embed: int,
    tolerance: float,
    refractory_rows: int,
    margin: float,
    max_history: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Run the detector over ``x``; returns (reported scores, candidate scores before suppression)."""
    n = x.shape[0]
    out = np.zeros(n)
    cand_out = np.zeros(n)
    dim = 2 * embed
    hist = np.empty((max_history, dim))  # ring buffer of past patterns
    n_hist = 0
    means = np.empty(embed)  # ring of the last block means / ranges
    ranges = np.empty(embed)
    vec = np.empty(dim)
    n_blocks = 0
    # current block
    b_sum = 0.0
    b_cnt = 0
    b_min = math.inf
    b_max = -math.inf
    # running range of the values (spatial anomaly)
    v_min = math.inf
    v_max = -math.inf
    # Welford: block means (scale) and log distances (likelihood)
    m_n = 0
    m_mean = 0.0
    m_m2 = 0.0
    d_n = 0
    d_mean = 0.0
    d_m2 = 0.0
    # refractory bar
    bar_top = 0.0
    since = refractory_rows + 1
    pend = np.empty((embed, dim))  # the last `embed` patterns, not yet comparable (overlapping)
    for t in range(n):
        v = x[t]
        since += 1
        if math.isnan(v):
            continue
        cand = -1.0
        # 1. spatial anomaly against the range of the earlier rows
        if v_max >= v_min:
            tol = tolerance * (v_max - v_min)
            if v > v_max + tol or v < v_min - tol:
                cand = 1.0
        v_min = min(v_min, v)
        v_max = max(v_max, v)
        # 2. block accumulation and pattern novelty at each block's last row
        b_sum += v
        b_cnt += 1
        b_min = min(b_min, v)
        b_max = max(b_max, v)
        if b_cnt == block:
            mean = b_sum / b_cnt
            k = n_blocks % embed
            means[k] = mean
            ranges[k] = b_max - b_min
            n_blocks += 1
            b_sum = 0.0
            b_cnt = 0
            b_min = math.inf
            b_max = -math.inf
            m_n += 1
            delta = mean - m_mean
            m_mean += delta / m_n
            m_m2 += delta * (mean - m_mean)
            if n_blocks >= embed:
                # the pattern of the last `embed` blocks, oldest first
                for i in range(embed):
                    j = (n_blocks - embed + i) % embed
                    vec[i] = means[j]
                    vec[embed + i] = ranges[j]
                # pattern q = n_blocks - embed covers blocks q .. q + embed - 1; pattern q - embed
                # is the latest one that does not overlap it: it joins the history now
                slot = (n_blocks - embed) % embed
                if n_blocks - embed >= embed:
                    hist[n_hist % max_history, :] = pend[slot, :]
                    n_hist += 1
                pend[slot, :] = vec
                # distance to the nearest earlier pattern
                best = math.inf
                filled = min(n_hist, max_history)
                for h in range(filled):
                    d = 0.0
                    for i in range(dim):
                        z = vec[i] - hist[h, i]
                        d += z * z
                        if d >= best:
                            break
                    best = min(best, d)
                sd = math.sqrt(m_m2 / m_n) if m_n > 1 else 0.0
                if best < math.inf and sd > 0.0:
                    logd = math.log(math.sqrt(best) / sd + 1e-12)
                    if d_n >= 10:
                        d_sd = math.sqrt(d_m2 / d_n)
                        z = (logd - d_mean) / d_sd if d_sd > 0.0 else 0.0
                        cand = max(cand, _surprise(z))
                    d_n += 1
                    delta = logd - d_mean
                    d_mean += delta / d_n
                    d_m2 += delta * (logd - d_mean)
        if t < warmup or cand < 0.0:
            continue
        cand_out[t] = cand
        # 3. refractory suppression
        bar = bar_top * (1.0 - since / refractory_rows) if since < refractory_rows else 0.0
        if cand > bar:
            out[t] = cand
            bar_top = cand + margin
            since = 0
    return out, cand_out


class StreamingNovelty(BaseDetector):
    """Causal univariate detector: pattern novelty + range exceedance, on a likelihood scale,
    with refractory suppression (see the module docstring for the method and its sources).

    ``decision_function(x)`` runs the stream from a fresh state over ``x`` (one column, rows in
    time order) and returns one score in ``[0, 1]`` per row; it needs no ``fit``. ``fit(x)`` runs
    it too and stores ``decision_scores_``, ``threshold_`` (default ``FixedThreshold(0.5)``, i.e.
    tail probability about ``1e-5``) and ``labels_``. Missing values score 0 and leave the
    state unchanged.

    Parameters (defaults and their reasons in the module docstring): ``warmup`` rows of learning
    without reporting; ``blocks_per_warmup``; ``embed`` blocks per pattern; ``tolerance`` of the
    range test; ``refractory`` (suppression length as a fraction of ``warmup``); ``margin``;
    ``max_history`` patterns kept; ``block`` forces the block length in rows.
    """

    def __init__(
        self,
        warmup: int = 750,
        blocks_per_warmup: int = 104,
        embed: int = 8,
        tolerance: float = 0.05,
        refractory: float = 0.5,
        margin: float = 0.1,
        max_history: int = 5000,
        block: int | None = None,
        threshold: Threshold | None = None,
    ) -> None:
        super().__init__(threshold)
        self.warmup = warmup
        self.blocks_per_warmup = blocks_per_warmup
        self.embed = embed
        self.tolerance = tolerance
        self.refractory = refractory
        self.margin = margin
        self.max_history = max_history
        self.block = block

    # -- parameters ------------------------------------------------------------------------
    def block_length(self) -> int:
        """Rows per block: ``block`` if given, else ``round(warmup / blocks_per_warmup)`` (>= 1)."""
        if self.block is not None:
            return int(self.block)
        return max(1, round(self.warmup / self.blocks_per_warmup))

    def _validate(self) -> None:
        if self.warmup < 0:
            raise ValueError("warmup must be >= 0")
        if self.blocks_per_warmup < 1 or self.embed < 1 or self.max_history < 1:
            raise ValueError("blocks_per_warmup, embed and max_history must be >= 1")
        if self.block is not None and self.block < 1:
            raise ValueError("block must be >= 1")
        if self.tolerance < 0 or self.refractory < 0 or self.margin < 0:
            raise ValueError("tolerance, refractory and margin must be >= 0")

    @staticmethod
    def _series(X: Any) -> np.ndarray:
        matrix, _ = as_matrix(X)
        if matrix.shape[1] != 1:
            raise ValueError(f"StreamingNovelty is univariate: expected one column, got {matrix.shape[1]}")
        return np.ascontiguousarray(matrix[:, 0])

    def _run(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        self._validate()
        refractory_rows = max(1, round(self.refractory * self.warmup))
        return _stream(
            x,
            int(self.warmup),
            self.block_length(),
            int(self.embed),
            float(self.tolerance),
            int(refractory_rows),
            float(self.margin),
            int(self.max_history),
        )

    # -- BaseDetector hooks -----------------------------------------------------------------
    def _fit(self, X: np.ndarray) -> None:
        self._validate()

    def _score(self, X: np.ndarray) -> np.ndarray:
        return self._run(np.ascontiguousarray(X[:, 0], dtype=np.float64))[0]

    def _contributions(self, X: np.ndarray) -> np.ndarray:
        return np.ones((X.shape[0], 1))

    def _default_threshold(self) -> Threshold:
        return FixedThreshold(0.5)

    def fit(self, X: Any, y: Any = None) -> StreamingNovelty:
        self._series(X)  # univariate check before BaseDetector's
        super().fit(X, y)
        return self

    def decision_function(self, X: Any) -> np.ndarray:
        """Scores in ``[0, 1]`` of a fresh stream over ``X`` (no ``fit`` needed)."""
        return self._run(self._series(X))[0]

    def candidate_scores(self, X: Any) -> np.ndarray:
        """The scores before refractory suppression (0 where a row has no candidate), for
        diagnostics: the likelihood-scale novelty at block ends and 1 at range exceedances."""
        return self._run(self._series(X))[1]
