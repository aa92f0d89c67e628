"""Detection metrics shared by the evaluations (:mod:`.skab`, :mod:`.generic`).

Point-wise: :func:`confusion` counts, :func:`binary_metrics` (fractions), :func:`f1_far_mar`
(SKAB's reporting: F1 a fraction, FAR / MAR in percent). Event-wise: :func:`anomaly_events`
(maximal runs of 1s) and :func:`event_metrics` (share of events with a detection inside, delay
from event start to the first detection).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np


def confusion(labels: Any, predictions: Any) -> tuple[int, int, int, int]:
    """(TP, TN, FP, FN) of 0/1 labels against 0/1 predictions."""
    y = np.asarray(labels) == 1
    p = np.asarray(predictions) == 1
    if y.shape != p.shape:
        raise ValueError(f"{y.shape} labels but {p.shape} predictions")
    return int(np.sum(y & p)), int(np.sum(~y & ~p)), int(np.sum(~y & p)), int(np.sum(y & ~p))


def _ratio(num: float, den: float) -> float:
    return num / den if den else math.nan


def binary_metrics(tp: int, tn: int, fp: int, fn: int) -> dict[str, float]:
    """precision, recall, f1, far (FP / (FP + TN)) and mar (FN / (FN + TP)), all fractions;
    NaN where undefined. ``f1 = TP / (TP + (FP + FN) / 2)``, i.e. the harmonic mean of
    precision and recall."""
    return {
        "precision": _ratio(tp, tp + fp),
        "recall": _ratio(tp, tp + fn),
        "f1": _ratio(tp, tp + (fp + fn) / 2),
        "far": _ratio(fp, fp + tn),
        "mar": _ratio(fn, fn + tp),
    }


def f1_far_mar(tp: int, tn: int, fp: int, fn: int) -> tuple[float, float, float]:
    """SKAB's binary metrics: F1 as a fraction, FAR and MAR in percent (NaN where undefined)."""
    m = binary_metrics(tp, tn, fp, fn)
    return m["f1"], 100.0 * m["far"], 100.0 * m["mar"]


def anomaly_events(labels: Any) -> list[tuple[int, int]]:
    """Maximal runs of 1s in 0/1 ``labels`` as (first, last) row indices, inclusive."""
    y = (np.asarray(labels) == 1).astype(np.int8)
    if y.size == 0:
        return []
    edges = np.diff(np.concatenate(([0], y, [0])))
    starts = np.flatnonzero(edges == 1)
    ends = np.flatnonzero(edges == -1) - 1
    return list(zip(starts.tolist(), ends.tolist(), strict=True))


def event_metrics(labels: Any, predictions: Any, timestamps: Any | None = None) -> dict[str, Any]:
    """Event-wise figures over the labelled anomaly events (runs of 1s in ``labels``).

    ``events``, ``detected_events`` (an event counts when at least one of its rows is predicted
    1), ``event_recall`` (their share; NaN without events), ``mean_delay_rows`` (mean over detected
    events of rows from the event's first row to its first detection) and, with ``timestamps``
    (``datetime64``), ``mean_delay_s`` in seconds (else None). Delays are NaN when no event is
    detected.
    """
    p = np.asarray(predictions) == 1
    events = anomaly_events(labels)
    if p.shape != np.asarray(labels).shape:
        raise ValueError(f"{np.asarray(labels).shape} labels but {p.shape} predictions")
    ts = None if timestamps is None else np.asarray(timestamps).astype("datetime64[us]")
    delays_rows: list[int] = []
    delays_s: list[float] = []
    for first, last in events:
        hits = np.flatnonzero(p[first : last + 1])
        if hits.size == 0:
            continue
        hit = first + int(hits[0])
        delays_rows.append(hit - first)
        if ts is not None:
            delays_s.append(float((ts[hit] - ts[first]) / np.timedelta64(1, "s")))
    detected = len(delays_rows)
    return {
        "events": len(events),
        "detected_events": detected,
        "event_recall": _ratio(detected, len(events)),
        "mean_delay_rows": float(np.mean(delays_rows)) if delays_rows else math.nan,
        "mean_delay_s": (float(np.mean(delays_s)) if delays_s else math.nan) if ts is not None else None,
    }
