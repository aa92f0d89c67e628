"""NAB (Numenta Anomaly Benchmark) scoring, reimplemented from NAB's own scorer.

Reference: github.com/numenta/NAB — ``nab/scorer.py`` (the pandas ``Scorer``/``Window`` classes
of NAB v1.0, 2015), ``nab/sweeper.py`` (the ``Sweeper`` that replaced them; read at commit
``ea702d75cc2258d9d7dd35ca8e5e2539d71f3140``, the one the data in ``shared/datasets/nab`` comes
from), ``nab/optimizer.py`` / ``nab/sweep_optimizer.py`` (threshold search), ``nab/runner.py``
(``normalize``) and ``nab/util.py`` (``getProbationPeriod``, ``convertAnomalyScoresToDetections``).
Papers: Lavin & Ahmad (2015), "Evaluating
Real-time Anomaly Detection Algorithms – the Numenta Anomaly Benchmark", arXiv:1510.03336;
Ahmad, Lavin, Purdy & Agha (2017), Neurocomputing 262:134–147. No NAB code is copied here: the
rules below are re-implemented from the published protocol and validated against NAB's published
per-file results (``tests/test_nab_scoring.py``).

NAB behaviours reproduced exactly
---------------------------------
* **Detections**: a row is a detection when ``anomaly_score >= threshold``
  (``convertAnomalyScoresToDetections``). A NaN score is never a detection.
* **Probationary period**: the first ``min(floor(0.15 * n), 0.15 * 5000)`` rows (i.e.
  ``min(floor(0.15 n), 750)``) are not scored at all: no TP/FP/TN/FN count, no credit, no
  penalty (``getProbationPeriod``; row ``i`` is probationary when ``i < that value``).
* **Windows** come from ``labels/combined_windows.json``; a row belongs to a window when
  ``start <= timestamp <= end`` (membership by timestamp, not by position). The window length
  ``L`` is its number of rows, *including* probationary rows.
* **True positives**: only the *first* non-probationary detection in a window counts. Its
  credit is ``A_TP * sigma(-(e - j + 1) / L) / sigma(-1)`` where ``j`` is its row index, ``e``
  the window's last row index and ``sigma(x) = 2 / (1 + exp(5 x)) - 1`` the scaled sigmoid
  (so the earliest row of a window earns exactly ``A_TP`` and the last one a little more than 0).
  NAB's sweeper takes the *maximum* credit over the detected rows of a window; the credit
  decreases along the window, so this is the same as the first detection.
* **Missed windows** cost ``-A_FN`` each.
* **False positives** (detections outside every window) cost ``A_FP * sigma(d / (L_p - 1))``
  where ``d`` is the distance in rows past the end of the closest *preceding* window and
  ``L_p`` that window's length; ``sigma`` is clamped to exactly ``-1`` for positions ``> 3``
  (strictly: a false positive exactly ``3 (L_p - 1)`` rows after a window costs
  ``-A_FP tanh(7.5)``, as NAB's published ``S(t)`` columns show). A false positive before the
  first window costs ``-A_FP``. The preceding window may lie (partly or wholly) inside the
  probationary period.
* **Counts** (TP/FP/TN/FN) are per *row*, over the non-probationary rows: TP = detected rows
  inside windows, FN = undetected rows inside windows, FP / TN likewise outside windows.
* **Raw score** of a file = sum of window credits/penalties + false-positive penalties;
  corpus raw score = sum over files.
* **Normalisation** (``runner.normalize``):
  ``100 * (raw - raw_null) / (raw_perfect - raw_null)``, ``raw_perfect`` = number of windows
  × ``A_TP`` and ``raw_null`` = raw score of a detector that never fires (``-A_FN`` per window).
* **Threshold optimisation** (``sweep_optimizer.py`` / ``Sweeper.calcScoreByThreshold``): all
  rows of the corpus are pooled, sorted by anomaly score, and the summed raw score is computed
  at every distinct score value; the threshold with the highest corpus score wins (ties go to
  the highest threshold, as NAB's stable ``sorted(..., reverse=True)``). The "no detection"
  candidate has threshold 1.1 as in NAB.

Two scorer versions (``ScorerVersion``)
---------------------------------------
NAB's published results were written by two generations of its scorer, which differ in a few
small points; both are implemented so that every published per-file number can be reproduced:

``LEGACY`` (``nab/scorer.py`` ``Scorer``; NAB v1.0 results: numenta, knncad, windowedGaussian,
null, ...):

* a window lying entirely inside the probationary period still counts (as a miss, ``-A_FN``);
* ``Total_Count`` is the number of rows of the file;
* the raw score is summed as ``(sum TP credits + sum FP penalties) + sum FN penalties``.

``SWEEPER`` (``nab/sweeper.py`` as at the commit above; NAB's current code, which scored
ARTime; the default):

* a window entirely inside the probationary period is ignored (neither credit nor penalty);
* ``Total_Count`` = TP + TN + FP + FN (probationary rows left out);
* windows are entered and left only at rows whose timestamps *equal* the window limits, so
  this version requires both limits to be timestamps of the file (``ValueError`` otherwise;
  NAB would silently skip that window and every later one);
* a window's rows run from the first row stamped with its start to the next row stamped with
  its end (rather than every row with a timestamp between the limits — the two agree unless
  the file's timestamps are out of order inside a window);
* the raw score is summed in NAB's order (FP penalties in decreasing-score order, then windows).

Timestamps need not be sorted: NAB files have repeated timestamps and a backward jump of an hour
(``ec2_request_latency_system_failure``, ``machine_temperature_system_failure``), and NAB scores
by row position, so this module does too. Deliberate deviations (where NAB would crash, or
silently mis-score): windows of fewer than two rows raise ``ValueError`` (NAB divides by
``L - 1``); windows whose rows are not in order or overlap raise ``ValueError``; a threshold
below every anomaly score scores "everything detected" (NAB's ``scoreDataSet`` returns ``None``
there).

NAB v1.0 chose its thresholds with ``twiddle``, a local hill-climbing search started at 0.5 (the
published ``numenta`` thresholds, e.g. 0.5421876907348634 = 0.5 + a sum of powers of two, bear
its mark). That search is *not* reproduced: :func:`optimise_threshold` is NAB's later exhaustive
sweep, which finds the global maximum of the same objective, so on the same corpus it scores at
least as well as a published threshold.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

Window = tuple[datetime, datetime]
"""An anomaly window: (first timestamp, last timestamp), both inclusive."""

PROBATION_PERCENT = 0.15
"""NAB's probationary fraction of each file."""

NO_DETECTION_THRESHOLD = 1.1
"""Threshold NAB's sweeper gives to the "nothing detected" point of a threshold sweep."""

_TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S"


class ScorerVersion(StrEnum):
    """Which generation of NAB's scorer to reproduce (see the module docstring)."""

    LEGACY = "legacy"
    """``nab/scorer.py`` ``Scorer`` (NAB v1.0 results)."""
    SWEEPER = "sweeper"
    """``nab/sweeper.py`` (NAB's current code)."""


@dataclass(frozen=True)
class CostMatrix:
    """Weights of one NAB application profile (``config/profiles.json`` ``CostMatrix``)."""

    tp_weight: float
    fp_weight: float
    fn_weight: float
    tn_weight: float = 1.0

    @classmethod
    def from_nab(cls, cost_matrix: Mapping[str, float]) -> CostMatrix:
        """Build from NAB's ``{"tpWeight", "fpWeight", "fnWeight", "tnWeight"}`` mapping."""
        return cls(
            tp_weight=float(cost_matrix["tpWeight"]),
            fp_weight=float(cost_matrix["fpWeight"]),
            fn_weight=float(cost_matrix["fnWeight"]),
            tn_weight=float(cost_matrix.get("tnWeight", 1.0)),
        )


NAB_PROFILES: dict[str, CostMatrix] = {
    "standard": CostMatrix(tp_weight=1.0, fp_weight=0.11, fn_weight=1.0),
    "reward_low_FP_rate": CostMatrix(tp_weight=1.0, fp_weight=0.22, fn_weight=1.0),
    "reward_low_FN_rate": CostMatrix(tp_weight=1.0, fp_weight=0.11, fn_weight=2.0),
}
"""NAB's three profiles, as in ``config/profiles.json``."""


@dataclass(frozen=True)
class FileScore:
    """NAB score of one data file at one threshold.

    ``row_scores`` is the per-row contribution as NAB v1.0 wrote it in its ``S(t)_<profile>``
    columns (in either version): each scored window's credit (or ``-A_FN``) at the window's
    *first* row, each false positive's penalty at its row, zero elsewhere; it sums to ``raw``
    (up to rounding). NAB's current scorer writes :func:`sweep_scores` there instead.
    """

    raw: float
    tp: int
    fp: int
    fn: int
    tn: int
    total_count: int
    threshold: float | None
    probationary_rows: int
    windows: int
    """Windows that were scored (in ``SWEEPER`` mode, windows wholly probationary are not)."""
    detected_windows: int
    tp_score: float
    fp_score: float
    fn_score: float
    row_scores: np.ndarray = field(repr=False, compare=False)


@dataclass(frozen=True)
class ThresholdScore:
    """Corpus raw score and row counts at one threshold (NAB's ``ThresholdScore``)."""

    threshold: float
    score: float
    tp: int
    tn: int
    fp: int
    fn: int
    total: int


@dataclass(frozen=True)
class CorpusScore:
    """NAB score of a detector on several files for one profile."""

    threshold: float
    raw: float
    null: float
    perfect: float
    normalised: float
    tp: int
    fp: int
    fn: int
    tn: int
    files: dict[str, FileScore] = field(repr=False)


# --------------------------------------------------------------------------------------------
# Loading


def _parse_timestamp(value: str) -> datetime:
    return datetime.fromisoformat(value)


def load_windows(labels_path: str | Path) -> dict[str, list[Window]]:
    """Anomaly windows per data file from NAB's ``combined_windows.json``.

    Keys are NAB's relative data paths (e.g. ``"realKnownCause/nyc_taxi.csv"``); each window is
    a pair of naive datetimes (NAB's timestamps carry no time zone).
    """
    raw = json.loads(Path(labels_path).read_text(encoding="utf-8"))
    return {name: [(_parse_timestamp(a), _parse_timestamp(b)) for a, b in windows] for name, windows in raw.items()}


def load_profiles(path: str | Path) -> dict[str, CostMatrix]:
    """Profiles from NAB's ``config/profiles.json`` (``{name: {"CostMatrix": {...}}}``)."""
    raw = json.loads(Path(path).read_text(encoding="utf-8"))
    return {name: CostMatrix.from_nab(spec["CostMatrix"]) for name, spec in raw.items()}


def load_thresholds(path: str | Path) -> dict[str, dict[str, float]]:
    """``{detector: {profile: threshold}}`` from NAB's ``config/thresholds.json``."""
    raw: dict[str, dict[str, dict[str, float]]] = json.loads(Path(path).read_text(encoding="utf-8"))
    return {det: {prof: float(v["threshold"]) for prof, v in profs.items()} for det, profs in raw.items()}


def load_detector_output(path: str | Path) -> pl.DataFrame:
    """A NAB results (or data) CSV, in file order, with ``timestamp`` parsed to ``Datetime``
    (``YYYY-MM-DD hh:mm:ss``, naive) and ``anomaly_score`` (when present) as ``Float64``; the
    other columns as polars infers them."""
    df = pl.read_csv(path, schema_overrides={"timestamp": pl.String}, infer_schema_length=None)
    casts: list[pl.Expr] = [pl.col("timestamp").str.strptime(pl.Datetime("us"), _TIMESTAMP_FORMAT)]
    if "anomaly_score" in df.columns:
        casts.append(pl.col("anomaly_score").cast(pl.Float64))
    return df.with_columns(casts)


# --------------------------------------------------------------------------------------------
# Building blocks


def probationary_rows(n_rows: int, probation_percent: float = PROBATION_PERCENT) -> int:
    """Number of leading rows NAB does not score: rows ``i < min(floor(p n), p * 5000)``."""
    limit = min(math.floor(probation_percent * n_rows), probation_percent * 5000)
    return min(n_rows, max(0, math.ceil(limit)))


def scaled_sigmoid(position: float) -> float:
    """NAB's scaled sigmoid ``2 * sigmoid(-5 x) - 1 = 2 / (1 + exp(5 x)) - 1`` of a relative
    position ``x`` (equal to ``-tanh(2.5 x)``).

    ``x = -1`` (window start) gives ``0.98661``, ``x = 0`` (window end) ``0``, ``x = 1`` one
    window length past the end ``-0.98661``. Positions ``> 3`` give exactly ``-1`` (NAB's
    ``if relativePositionInWindow > 3.0``; ``x = 3`` itself gives ``-tanh(7.5)``).
    """
    if position > 3.0:
        return -1.0
    return 2 * (1 / (1 + math.exp(5 * position))) - 1.0


def scaled_sigmoid_array(position: np.ndarray) -> np.ndarray:
    """Vectorised :func:`scaled_sigmoid` (agrees with it to within an ulp of ``exp``)."""
    x = np.asarray(position, dtype=np.float64)
    clamp = x > 3.0
    with np.errstate(over="ignore"):
        out = 2 * (1 / (1 + np.exp(5 * np.where(clamp, 0.0, x)))) - 1.0
    return np.where(clamp, -1.0, out)


def normalise(raw_total: float, null_total: float, perfect_total: float) -> float:
    """NAB's normalised score ``100 (raw - null) / (perfect - null)`` (``runner.normalize``)."""
    return 100.0 * (raw_total - null_total) / (perfect_total - null_total)


def _as_datetime64(timestamps: Any) -> np.ndarray:
    if isinstance(timestamps, pl.Series):
        arr = timestamps.cast(pl.Datetime("us")).to_numpy()
    else:
        arr = np.asarray(timestamps)
        if arr.dtype.kind not in "M":
            arr = np.array([np.datetime64(t, "us") for t in arr], dtype="datetime64[us]")
    return arr.astype("datetime64[us]")


@dataclass(frozen=True)
class _ResolvedWindow:
    rows: np.ndarray  # row indices of the window (membership by timestamp)

    @property
    def first(self) -> int:
        return int(self.rows[0])

    @property
    def last(self) -> int:
        return int(self.rows[-1])

    @property
    def length(self) -> int:
        return int(self.rows.size)


def _resolve_windows(ts: np.ndarray, windows: Sequence[Window], version: ScorerVersion) -> list[_ResolvedWindow]:
    """Row indices of each window, following the chosen NAB version.

    ``LEGACY`` takes every row with ``start <= timestamp <= end`` (NAB's ``Window`` class);
    ``SWEEPER`` walks the rows as NAB's sweeper does: the window opens at the first row whose
    timestamp equals ``start`` and closes at the next row whose timestamp equals ``end``.
    Timestamps need not be sorted (some NAB files jump back an hour or repeat a timestamp), but
    the windows' row ranges must come in order and not overlap.
    """
    out: list[_ResolvedWindow] = []
    for start, end in windows:
        s, e = np.datetime64(start, "us"), np.datetime64(end, "us")
        if e < s:
            raise ValueError(f"window ({start}, {end}) ends before it starts")
        if version is ScorerVersion.SWEEPER:
            starts = np.flatnonzero(ts == s)
            ends_at = np.flatnonzero(ts == e)
            if starts.size == 0 or ends_at.size == 0:
                raise ValueError(
                    f"window ({start}, {end}): NAB's sweeper only enters and leaves a window at rows whose "
                    "timestamps equal its limits; both limits must be timestamps of the file"
                )
            i_s = int(starts[0])
            after = ends_at[ends_at >= i_s]
            if after.size == 0 or int(after[0]) != int(ends_at[0]):
                raise ValueError(f"window ({start}, {end}): its end timestamp occurs before its start in the file")
            rows = np.arange(i_s, int(after[0]) + 1)
        else:
            rows = np.flatnonzero((ts >= s) & (ts <= e))
        if rows.size < 2:
            raise ValueError(f"window ({start}, {end}) covers {rows.size} row(s); NAB needs at least 2 (it divides by L - 1)")
        if out and int(rows[0]) <= out[-1].last:
            raise ValueError("windows must be sorted and must not overlap")
        out.append(_ResolvedWindow(rows))
    return out


def _detections(values: Any, threshold: float | None) -> tuple[np.ndarray, np.ndarray]:
    """(detections, ordering scores) from anomaly scores + threshold or from binary detections."""
    arr = values.to_numpy() if isinstance(values, pl.Series) else np.asarray(values)
    if threshold is None:
        if arr.dtype != np.bool_:
            finite = arr[~np.isnan(arr)] if arr.dtype.kind == "f" else arr
            if not np.isin(finite, (0, 1)).all():
                raise ValueError("without a threshold, scores_or_detections must be binary (bool or 0/1)")
        det = np.nan_to_num(arr.astype(np.float64), nan=0.0) != 0
        return det, det.astype(np.float64)
    score = arr.astype(np.float64)
    with np.errstate(invalid="ignore"):
        det = score >= threshold
    return det, score


# --------------------------------------------------------------------------------------------
# Per-file scoring


def score_file(
    timestamps: Any,
    scores_or_detections: Any,
    windows: Sequence[Window],
    profile: CostMatrix,
    threshold: float | None = None,
    *,
    version: ScorerVersion = ScorerVersion.SWEEPER,
    probation_percent: float = PROBATION_PERCENT,
) -> FileScore:
    """NAB raw score and row counts of one file.

    ``timestamps``: the file's timestamps (datetimes, ``datetime64`` or a polars ``Datetime``
    series), in file order. ``scores_or_detections``: anomaly scores, turned into
    detections with ``score >= threshold``; with ``threshold=None`` they must already be binary
    detections. ``windows``: the file's anomaly windows (see :func:`load_windows`).
    """
    ts = _as_datetime64(timestamps)
    det, order_score = _detections(scores_or_detections, threshold)
    n = ts.size
    if det.size != n:
        raise ValueError(f"{n} timestamps but {det.size} scores")
    n_prob = probationary_rows(n, probation_percent)
    scored = np.arange(n) >= n_prob
    resolved = _resolve_windows(ts, windows, version)

    label = np.zeros(n, dtype=bool)
    for w in resolved:
        label[w.rows] = True
    tp = int(np.count_nonzero(det & label & scored))
    fp_mask = det & ~label & scored
    fp = int(np.count_nonzero(fp_mask))
    fn = int(np.count_nonzero(~det & label & scored))
    tn = int(np.count_nonzero(~det & ~label & scored))

    row_scores = np.zeros(n, dtype=np.float64)
    max_tp = scaled_sigmoid(-1.0)
    counted: list[tuple[_ResolvedWindow, float, bool]] = []  # (window, score, detected)
    for w in resolved:
        if version is ScorerVersion.SWEEPER and w.last < n_prob:
            continue  # the sweeper never creates a score part for a wholly probationary window
        hits = w.rows[det[w.rows] & scored[w.rows]]
        if hits.size:
            position = -(w.last - int(hits[0]) + 1) / float(w.length)
            value = scaled_sigmoid(position) * profile.tp_weight / max_tp
        else:
            value = -profile.fn_weight
        row_scores[w.first] = value
        counted.append((w, value, bool(hits.size)))

    ends = np.array([w.last for w in resolved], dtype=np.int64)
    lengths = np.array([w.length for w in resolved], dtype=np.int64)
    fp_rows = np.flatnonzero(fp_mask)
    prev = np.searchsorted(ends, fp_rows, side="left") - 1  # last window ending before the row
    for i, k in zip(fp_rows.tolist(), prev.tolist(), strict=True):
        if k < 0:
            value = -profile.fp_weight
        else:
            position = abs(int(ends[k]) - i) / float(int(lengths[k]) - 1)
            value = scaled_sigmoid(position) * profile.fp_weight
        row_scores[i] = value

    tp_values = [v for _, v, d in counted if d]
    fn_values = [v for _, v, d in counted if not d]
    tp_score = _seq_sum(tp_values)
    fn_score = _seq_sum(fn_values)
    if version is ScorerVersion.LEGACY:
        fp_score = _seq_sum(row_scores[fp_rows].tolist())
        raw = tp_score + fp_score + fn_score
        total = n
    else:
        # NAB's sweeper: sum(scoreParts.values()) — the FP part accumulated in decreasing
        # anomaly-score order (stable), then the windows in order of first appearance in that
        # same ordering of the non-probationary rows.
        order = np.argsort(-np.nan_to_num(order_score[n_prob:], nan=-np.inf), kind="stable") + n_prob
        fp_in_order = order[fp_mask[order]]
        fp_score = _seq_sum(row_scores[fp_in_order].tolist())
        window_of_row = np.full(n, -1, dtype=np.int64)
        for k, (w, _, _) in enumerate(counted):
            window_of_row[w.rows] = k
        seen = window_of_row[order]
        seen = seen[seen >= 0]
        uniq, first_pos = np.unique(seen, return_index=True)
        window_order = uniq[np.argsort(first_pos)]
        raw = _seq_sum([fp_score] + [counted[k][1] for k in window_order.tolist()])
        total = tp + tn + fp + fn
    return FileScore(
        raw=raw,
        tp=tp,
        fp=fp,
        fn=fn,
        tn=tn,
        total_count=total,
        threshold=threshold,
        probationary_rows=n_prob,
        windows=len(counted),
        detected_windows=len(tp_values),
        tp_score=tp_score,
        fp_score=fp_score,
        fn_score=fn_score,
        row_scores=row_scores,
    )


def _seq_sum(values: Sequence[float]) -> float:
    """Left-to-right float sum starting from 0, as Python's ``sum`` / NAB's ``+=`` loops."""
    total = 0.0
    for v in values:
        total += v
    return total


def null_score(
    timestamps: Any,
    windows: Sequence[Window],
    profile: CostMatrix,
    *,
    version: ScorerVersion = ScorerVersion.SWEEPER,
    probation_percent: float = PROBATION_PERCENT,
) -> float:
    """Raw score of a detector that never fires on this file (``-A_FN`` per scored window)."""
    n = _as_datetime64(timestamps).size
    none = np.zeros(n, dtype=bool)
    return score_file(timestamps, none, windows, profile, None, version=version, probation_percent=probation_percent).raw


def sweep_scores(
    timestamps: Any,
    windows: Sequence[Window],
    profile: CostMatrix,
    *,
    version: ScorerVersion = ScorerVersion.SWEEPER,
) -> np.ndarray:
    """Per-row score a detection at that row would get (NAB's ``Sweeper.calcSweepScore``).

    Inside a window: the TP credit ``A_TP sigma(-(e - i + 1) / L) / sigma(-1)``; outside:
    the FP penalty relative to the preceding window (``-A_FP`` before the first window). Filled
    for every row, probationary ones included (NAB's ``S(t)`` columns of its current scorer).
    """
    ts = _as_datetime64(timestamps)
    resolved = _resolve_windows(ts, windows, version)
    n = ts.size
    idx = np.arange(n)
    out = np.empty(n, dtype=np.float64)
    inside = np.zeros(n, dtype=bool)
    max_tp = scaled_sigmoid(-1.0)
    for w in resolved:
        pos = -(w.last - w.rows + 1) / float(w.length)
        out[w.rows] = scaled_sigmoid_array(pos) * profile.tp_weight / max_tp
        inside[w.rows] = True
    ends = np.array([w.last for w in resolved], dtype=np.int64)
    lengths = np.array([w.length for w in resolved], dtype=np.int64)
    outside = idx[~inside]
    prev = np.searchsorted(ends, outside, side="left") - 1
    has_prev = prev >= 0
    pos = np.full(outside.size, np.inf)  # no preceding window: "really far away", -1
    k = prev[has_prev]
    pos[has_prev] = np.abs(ends[k] - outside[has_prev]) / (lengths[k] - 1).astype(np.float64)
    unweighted = scaled_sigmoid_array(pos)
    out[outside] = unweighted * profile.fp_weight
    return out


# --------------------------------------------------------------------------------------------
# Corpus scoring and threshold optimisation

DetectorResults = Mapping[str, pl.DataFrame]
"""Detector output per NAB data file name: frames with ``timestamp`` and ``anomaly_score``."""


def _file_inputs(frame: pl.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    return _as_datetime64(frame["timestamp"]), frame["anomaly_score"].cast(pl.Float64).to_numpy()


def threshold_curve(
    results: DetectorResults,
    windows: Mapping[str, Sequence[Window]],
    profile: CostMatrix,
    *,
    version: ScorerVersion = ScorerVersion.SWEEPER,
    probation_percent: float = PROBATION_PERCENT,
) -> pl.DataFrame:
    """Corpus raw score and counts at every candidate threshold (NAB's threshold sweep).

    Columns ``threshold, score, tp, tn, fp, fn, total``, thresholds decreasing: first the
    "nothing detected" point (threshold 1.1, or just above the highest score if that is
    >= 1.1), then one row per distinct anomaly score ``t`` with every row scoring ``>= t``
    detected. Vectorised: the score at each threshold is a cumulative sum of FP penalties plus
    the per-window running maximum of TP credits over the rows sorted by decreasing score.
    """
    parts: list[pl.DataFrame] = []
    base = 0.0
    n_out_total = n_in_total = 0
    window_offset = 0
    for name, frame in results.items():
        ts, score = _file_inputs(frame)
        n = ts.size
        n_prob = probationary_rows(n, probation_percent)
        resolved = _resolve_windows(ts, windows[name], version)
        sweep = sweep_scores(ts, windows[name], profile, version=version)
        win = np.full(n, -1, dtype=np.int64)
        for k, w in enumerate(resolved):
            win[w.rows] = window_offset + k
            counts = version is ScorerVersion.LEGACY or w.last >= n_prob
            if counts:
                base -= profile.fn_weight
        window_offset += len(resolved)
        keep = slice(n_prob, None)
        n_in_total += int(np.count_nonzero(win[keep] >= 0))
        n_out_total += int(np.count_nonzero(win[keep] < 0))
        parts.append(pl.DataFrame({"a": score[keep], "s": sweep[keep], "w": win[keep]}))
    if not parts:
        raise ValueError("no files to score")
    rows = pl.concat(parts).filter(pl.col("a").is_not_nan())
    rows = rows.with_row_index("order").sort("a", "order", descending=[True, False])
    fn_w = profile.fn_weight
    rows = rows.with_columns(
        pl.when(pl.col("w") >= 0).then(pl.col("s").cum_max().over("w")).otherwise(None).alias("best"),
    ).with_columns(
        pl.when(pl.col("w") >= 0)
        .then(pl.max_horizontal(pl.col("best"), pl.lit(-fn_w)) - pl.max_horizontal(pl.col("best"), pl.lit(-fn_w)).shift(1).over("w").fill_null(-fn_w))
        .otherwise(pl.col("s"))
        .alias("delta"),
        (pl.col("w") >= 0).cast(pl.Int64).alias("is_in"),
    )
    curve = (
        rows.with_columns(
            (pl.lit(base) + pl.col("delta").cum_sum()).alias("score"),
            pl.col("is_in").cum_sum().alias("tp"),
            (1 - pl.col("is_in")).cum_sum().alias("fp"),
        )
        .group_by("a", maintain_order=True)
        .agg(pl.col("score").last(), pl.col("tp").last(), pl.col("fp").last())
        .rename({"a": "threshold"})
    )
    max_score = float(rows["a"].max()) if rows.height else -math.inf  # type: ignore[arg-type]
    top = NO_DETECTION_THRESHOLD if max_score < NO_DETECTION_THRESHOLD else float(np.nextafter(max_score, np.inf))
    head = pl.DataFrame({"threshold": [top], "score": [base], "tp": [0], "fp": [0]})
    curve = pl.concat([head, curve.cast({"tp": pl.Int64, "fp": pl.Int64})], how="vertical_relaxed")
    return curve.with_columns(
        (n_out_total - pl.col("fp")).alias("tn"),
        (n_in_total - pl.col("tp")).alias("fn"),
        pl.lit(n_in_total + n_out_total).alias("total"),
    ).select("threshold", "score", "tp", "tn", "fp", "fn", "total")


def optimise_threshold(
    results: DetectorResults,
    windows: Mapping[str, Sequence[Window]],
    profile: CostMatrix,
    *,
    version: ScorerVersion = ScorerVersion.SWEEPER,
    probation_percent: float = PROBATION_PERCENT,
) -> ThresholdScore:
    """The threshold maximising the corpus raw score (NAB's sweep optimiser).

    Ties go to the highest threshold (NAB sorts the sweep with a stable descending sort).
    """
    curve = threshold_curve(results, windows, profile, version=version, probation_percent=probation_percent)
    best = int(np.argmax(curve["score"].to_numpy()))
    row = curve.row(best, named=True)
    return ThresholdScore(**{k: row[k] for k in ("threshold", "score", "tp", "tn", "fp", "fn", "total")})


def score_corpus(
    results: DetectorResults,
    windows: Mapping[str, Sequence[Window]],
    profile: CostMatrix,
    threshold: float | None = None,
    *,
    version: ScorerVersion = ScorerVersion.SWEEPER,
    probation_percent: float = PROBATION_PERCENT,
) -> CorpusScore:
    """Score a detector on several files with one threshold and normalise as NAB.

    ``threshold=None`` optimises it first (:func:`optimise_threshold`). ``raw_perfect`` counts
    every window of the scored files (NAB's ``tpCount``); ``raw_null`` is the never-firing
    detector's score on the same files.
    """
    if threshold is None:
        threshold = optimise_threshold(results, windows, profile, version=version, probation_percent=probation_percent).threshold
    files: dict[str, FileScore] = {}
    raw = null = perfect = 0.0
    for name, frame in results.items():
        ts, score = _file_inputs(frame)
        fs = score_file(ts, score, windows[name], profile, threshold, version=version, probation_percent=probation_percent)
        files[name] = fs
        raw += fs.raw
        null += null_score(ts, windows[name], profile, version=version, probation_percent=probation_percent)
        perfect += len(windows[name]) * profile.tp_weight
    return CorpusScore(
        threshold=threshold,
        raw=raw,
        null=null,
        perfect=perfect,
        normalised=normalise(raw, null, perfect),
        tp=sum(f.tp for f in files.values()),
        fp=sum(f.fp for f in files.values()),
        fn=sum(f.fn for f in files.values()),
        tn=sum(f.tn for f in files.values()),
        files=files,
    )
