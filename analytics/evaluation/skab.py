"""SKAB (Skoltech Anomaly Benchmark) evaluation, "proposed" protocol.

The protocol (``shared/datasets/skab/SOURCE.md``; SKAB's ``core/utils.py``, ``core/metrics.py``
and notebooks at commit ``b2c0d46``):

* the 34 anomaly files (``valve1/``, ``valve2/``, ``other/``; ``anomaly-free.csv`` is not used),
  ``;``-separated, ``datetime`` + 8 sensor columns + ``anomaly`` + ``changepoint``;
* each file is split in time order: the **first 400 rows train** the detector (labels unused),
  the rest is the test part; nothing is shuffled;
* **outlier problem**: the 0/1 predictions and ``anomaly`` labels of all test parts are pooled;
  ``F1 = TP / (TP + (FP + FN) / 2)`` (a fraction, as SKAB reports it),
  ``FAR = FP / (FP + TN) * 100``, ``MAR = FN / (FN + TP) * 100`` (percent);
* **changepoint problem**: the predicted changepoints are the switches of the outlier
  predictions (SKAB's notebooks: ``abs(prediction.diff())`` with the first row equal to the first
  prediction); each true changepoint opens a 60 s detection window to its right; NAB scores
  with the standard / low-FP / low-FN profiles.

NAB figures come in two flavours, both reported:

``nab_*`` — the project's NAB scorer (:mod:`analytics.evaluation.nab`, NAB's own rules: sigmoid
  TP credit by position in the window, FP penalty by distance after the preceding window). SKAB
  settings on top: no probationary period (only test parts are scored, as SKAB does), windows
  ``[changepoint, changepoint + 60 s]`` snapped to the file's timestamps; overlapping windows are
  cut as SKAB does (``intersection_mode="cut right window"``: the later window starts after the
  earlier one ends). NAB needs windows of at least two rows; a cut window left with one row is
  widened by one row to the right (none on the real data is left with zero rows). The raw score is
  summed over files and normalised once (NAB's ``normalize``).

``nab_skab_*`` — SKAB's own NAB variant (tsad's ``chp_score(metric="nab")``), which the SKAB
  leaderboard numbers come from: flat ``A_fp`` per false positive wherever it lies, the TP credit
  read off SKAB's "improved" scaled tanh over the window, windows by timestamp. Use these to
  compare with the published table.

:func:`evaluate` is generic: any detector factory over a list of :class:`Split` (train matrix,
test matrix, test labels, test timestamps, optional changepoints), so a plain ``--train/--test``
evaluation can reuse it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from analytics.errors import HubError
from analytics.evaluation import nab
from analytics.evaluation.metrics import confusion, f1_far_mar
from analytics.models.anomaly.catalog import DetectorFactory, detector_factory

TRAIN_ROWS = 400
"""SKAB's proposed protocol: the first 400 rows of each file train the detector."""

WINDOW = timedelta(seconds=60)
"""Changepoint detection window, to the right of each true changepoint."""

SENSOR_COLUMNS = (
    "Accelerometer1RMS",
    "Accelerometer2RMS",
    "Current",
    "Pressure",
    "Temperature",
    "Thermocouple",
    "Voltage",
    "Volume Flow RateRMS",
)
ANOMALY_FOLDERS = ("valve1", "valve2", "other")

SKAB_PROFILES: dict[str, tuple[float, float, float]] = {
    # (A_tp, A_fp, A_fn), as tsad's default table_of_coef
    "standard": (1.0, -0.11, -1.0),
    "low_fp": (1.0, -0.22, -1.0),
    "low_fn": (1.0, -0.11, -2.0),
}
NAB_PROFILE_NAMES = {"standard": "standard", "low_fp": "reward_low_FP_rate", "low_fn": "reward_low_FN_rate"}


@dataclass(frozen=True)
class Split:
    """One evaluation unit: fit on ``train``, score ``test`` against ``labels``."""

    name: str
    train: np.ndarray
    test: np.ndarray
    labels: np.ndarray
    """0/1 point labels of the test rows."""
    timestamps: np.ndarray | None = None
    """``datetime64[us]`` of the test rows (needed for changepoint scoring)."""
    changepoints: np.ndarray | None = None
    """0/1 changepoint labels of the test rows (None: no changepoint scoring)."""


# --------------------------------------------------------------------------------------------
# Loading


def skab_files(root: str | Path) -> list[Path]:
    """The anomaly files of a SKAB copy (``root`` or ``root/data``), in a stable order."""
    base = Path(root)
    if not base.is_dir():
        raise HubError(f"{base}: SKAB data folder not found")
    if (base / "data").is_dir():
        base = base / "data"
    files = sorted(
        (p for folder in ANOMALY_FOLDERS for p in (base / folder).glob("*.csv")),
        key=lambda p: (ANOMALY_FOLDERS.index(p.parent.name), int(p.stem) if p.stem.isdigit() else math.inf, p.stem),
    )
    if not files:
        raise HubError(f"{base}: no SKAB anomaly files (expected {', '.join(f + '/*.csv' for f in ANOMALY_FOLDERS)})")
    return files


def read_skab_file(path: str | Path) -> pl.DataFrame:
    """One SKAB CSV (``;``-separated) with ``datetime`` parsed and the other columns as floats."""
    try:
        df = pl.read_csv(path, separator=";", schema_overrides={"datetime": pl.String}, infer_schema_length=None)
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise HubError(f"{path}: cannot read as a SKAB file: {exc}") from exc
    missing = [c for c in ("datetime", *SENSOR_COLUMNS, "anomaly", "changepoint") if c not in df.columns]
    if missing:
        raise HubError(f"{path}: missing column(s) {', '.join(missing)}")
    return df.with_columns(
        pl.col("datetime").str.strptime(pl.Datetime("us"), "%Y-%m-%d %H:%M:%S"),
        pl.col([*SENSOR_COLUMNS, "anomaly", "changepoint"]).cast(pl.Float64),
    )


def split_skab(df: pl.DataFrame, name: str, train_rows: int = TRAIN_ROWS) -> Split:
    """SKAB's proposed split: the first ``train_rows`` rows train, the rest test."""
    if df.height <= train_rows:
        raise HubError(f"{name}: {df.height} rows, need more than {train_rows} (the first {train_rows} train)")
    train, test = df.head(train_rows), df.slice(train_rows)
    return Split(
        name=name,
        train=train.select(SENSOR_COLUMNS).to_numpy(),
        test=test.select(SENSOR_COLUMNS).to_numpy(),
        labels=(test["anomaly"].to_numpy() == 1).astype(np.int8),
        timestamps=test["datetime"].to_numpy().astype("datetime64[us]"),
        changepoints=(test["changepoint"].to_numpy() == 1).astype(np.int8),
    )


def load_skab(root: str | Path, train_rows: int = TRAIN_ROWS) -> list[Split]:
    """Every SKAB anomaly file of ``root``, split by the proposed protocol."""
    base = Path(root)
    files = skab_files(base)
    top = base / "data" if (base / "data").is_dir() else base
    return [split_skab(read_skab_file(p), p.relative_to(top).as_posix(), train_rows) for p in files]


# --------------------------------------------------------------------------------------------
# Metrics


def changepoint_predictions(predictions: Any) -> np.ndarray:
    """SKAB's changepoints from outlier predictions: 1 where the prediction switches
    (``abs(diff)``), and at the first row when the first prediction is 1."""
    p = np.asarray(predictions, dtype=np.int64)
    out = np.zeros_like(p)
    if p.size:
        out[0] = p[0]
        out[1:] = np.abs(np.diff(p))
    return out


def changepoint_windows(timestamps: np.ndarray, changepoints: Any, width: timedelta = WINDOW) -> list[tuple[int, int]]:
    """Row ranges (first, last; inclusive) of the right-side windows of the true changepoints.

    A window holds the rows stamped ``cp <= t <= cp + width``; an overlapping later window is cut
    to start after the earlier one ends (SKAB's "cut right window"); a window of one row is
    widened by a row to the right when the file allows (NAB needs two rows).
    """
    ts = np.asarray(timestamps).astype("datetime64[us]")
    n = ts.size
    cps = np.flatnonzero(np.asarray(changepoints) == 1)
    out: list[tuple[int, int]] = []
    for i in cps.tolist():
        end = int(np.searchsorted(ts, ts[i] + np.timedelta64(width), side="right")) - 1
        start = i if not out else max(i, out[-1][1] + 1)
        if start >= n:
            break  # nothing of the file left for this window
        end = max(end, min(start + 1, n - 1))
        if end - start + 1 < 2:
            continue  # a changepoint on the very last row: NAB cannot score a 1-row window
        out.append((start, end))
    return out


def nab_project(splits_preds: Sequence[tuple[np.ndarray, np.ndarray, list[tuple[int, int]]]]) -> dict[str, Any]:
    """NAB (project scorer) over files of (timestamps, 0/1 detections, row windows)."""
    out: dict[str, Any] = {}
    for short, profile_name in NAB_PROFILE_NAMES.items():
        profile = nab.NAB_PROFILES[profile_name]
        raw = null = perfect = 0.0
        windows = detected = 0
        for ts, det, rows in splits_preds:
            wins = [(ts[a].astype("datetime64[us]").item(), ts[b].astype("datetime64[us]").item()) for a, b in rows]
            fs = nab.score_file(ts, det.astype(bool), wins, profile, None, probation_percent=0.0)
            raw += fs.raw
            null += nab.null_score(ts, wins, profile, probation_percent=0.0)
            perfect += fs.windows * profile.tp_weight
            windows += fs.windows
            detected += fs.detected_windows
        out[f"nab_{short}"] = nab.normalise(raw, null, perfect) if perfect != null else math.nan
        if short == "standard":
            out["changepoint_windows"] = windows
            out["missed_changepoints"] = windows - detected
    return out


def _skab_scale(start: np.datetime64, hit: np.datetime64, end: np.datetime64, a_tp: float, a_fp: float) -> float:
    """tsad's ``my_scale`` (clear-anomalies mode, koef 1, 1000 steps) at the detection ``hit``."""
    steps = 1000
    x = np.linspace(-np.pi / 2, np.pi / 2, steps)
    y = (a_tp - a_fp) / 2 * -1 * np.tanh(x) / np.tanh(np.pi / 2) + (a_tp - a_fp) / 2 + a_fp
    span = (end - start) / np.timedelta64(1, "us")
    event = int((hit - start) / np.timedelta64(1, "us") / span * steps) if span > 0 else 0
    return float(y[min(event, steps - 1)])


def nab_skab(files: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]], width: timedelta = WINDOW) -> dict[str, Any]:
    """SKAB's NAB variant (tsad ``chp_score``: righter windows, "cut right window", flat FP cost)
    over files of (timestamps, true changepoints 0/1, predicted changepoints 0/1)."""
    td = np.timedelta64(width)
    scores = dict.fromkeys(SKAB_PROFILES, 0.0)
    nulls = dict.fromkeys(SKAB_PROFILES, 0.0)
    perfects = dict.fromkeys(SKAB_PROFILES, 0.0)
    fps = missed = 0
    for ts, true_cp, pred_cp in files:
        ts = np.asarray(ts).astype("datetime64[us]")
        bounds = [[t, t + td] for t in ts[np.asarray(true_cp) == 1]]
        for i in range(len(bounds) - 1):
            if bounds[i][1] >= bounds[i + 1][0]:
                bounds[i + 1][0] = bounds[i][1]
        times = ts[np.asarray(pred_cp) == 1]
        if not bounds:
            n_fp, n_fn, tps = times.size, 0, []
        else:
            fp_parts = [times[times < bounds[0][0]]]
            n_fn, tps = 0, []
            for i, (a, b) in enumerate(bounds):
                inside = times[(times >= a) & (times <= b)]
                if inside.size:
                    tps.append((a, inside[0], b))
                else:
                    n_fn += 1
                nxt = bounds[i + 1][0] if i + 1 < len(bounds) else None
                fp_parts.append(times[(times > b) & (times < nxt)] if nxt is not None else times[times > b])
            n_fp = int(sum(p.size for p in fp_parts))
        fps += n_fp
        missed += n_fn
        for name, (a_tp, a_fp, a_fn) in SKAB_PROFILES.items():
            scores[name] += a_fp * n_fp + a_fn * n_fn + sum(_skab_scale(a, h, b, a_tp, a_fp) for a, h, b in tps)
            nulls[name] += len(bounds) * a_fn
            perfects[name] += len(bounds) * a_tp
    out: dict[str, Any] = {
        f"nab_skab_{name}": 100 * (scores[name] - nulls[name]) / (perfects[name] - nulls[name]) if perfects[name] != nulls[name] else math.nan
        for name in SKAB_PROFILES
    }
    out["skab_missed_changepoints"] = missed
    out["skab_false_changepoints"] = fps
    return out


# --------------------------------------------------------------------------------------------
# Evaluation

"""Returns a fresh unfitted detector (``fit(X)``, ``predict(X)`` with 0/1), one per split."""


def evaluate(
    factory: DetectorFactory,
    splits: Sequence[Split],
    *,
    on_split: Callable[[Split], None] | None = None,
    on_predictions: Callable[[Split, np.ndarray], None] | None = None,
) -> dict[str, Any]:
    """Fit a fresh detector per split on its training rows, predict the test rows, and pool.

    ``on_predictions(split, predictions)`` sees each split's 0/1 test predictions (for figures
    beyond the pooled ones, e.g. event-wise metrics).

    Returns the pooled counts, ``f1`` (fraction), ``far`` / ``mar`` (percent), and, when every
    split carries timestamps and changepoints, the NAB figures (see the module docstring).
    """
    if not splits:
        raise ValueError("no splits to evaluate")
    started = time.perf_counter()
    tp = tn = fp = fn = 0
    project_inputs: list[tuple[np.ndarray, np.ndarray, list[tuple[int, int]]]] = []
    skab_inputs: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    with_cp = all(s.timestamps is not None and s.changepoints is not None for s in splits)
    for split in splits:
        if not np.isfinite(split.train).all() or not np.isfinite(split.test).all():
            raise HubError(f"{split.name}: missing or non-numeric sensor values")
        detector = factory().fit(split.train)
        pred = np.asarray(detector.predict(split.test), dtype=np.int64)
        if on_predictions is not None:
            on_predictions(split, pred)
        a, b, c, d = confusion(split.labels, pred)
        tp, tn, fp, fn = tp + a, tn + b, fp + c, fn + d
        if with_cp:
            assert split.timestamps is not None and split.changepoints is not None
            cp_pred = changepoint_predictions(pred)
            project_inputs.append((split.timestamps, cp_pred, changepoint_windows(split.timestamps, split.changepoints)))
            skab_inputs.append((split.timestamps, split.changepoints, cp_pred))
        if on_split is not None:
            on_split(split)
    f1, far, mar = f1_far_mar(tp, tn, fp, fn)
    figures: dict[str, Any] = {
        "f1": f1, "far": far, "mar": mar,
        "tp": tp, "tn": tn, "fp": fp, "fn": fn,
        "files": len(splits),
        "train_rows": int(sum(len(s.train) for s in splits)),
        "test_rows": int(sum(len(s.test) for s in splits)),
    }
    if with_cp:
        figures.update(nab_project(project_inputs))
        figures.update(nab_skab(skab_inputs))
        figures["true_changepoints"] = int(sum(int(np.sum(s.changepoints == 1)) for s in splits if s.changepoints is not None))
    figures["seconds"] = time.perf_counter() - started
    return figures


# --------------------------------------------------------------------------------------------
# Detectors


BENCHMARKS = ("skab",)


def evaluate_benchmark(benchmark: str, data: str | Path, detector: str = "pca", *, on_split: Callable[[Split], None] | None = None) -> dict[str, Any]:
    """``factoryhub eval anomaly``: one benchmark, one detector; the figures plus their names."""
    if benchmark.lower() not in BENCHMARKS:
        raise HubError(f"unknown benchmark {benchmark!r}; available: {', '.join(BENCHMARKS)}")
    factory = detector_factory(detector)
    started = time.perf_counter()
    splits = load_skab(data)
    figures = evaluate(factory, splits, on_split=on_split)
    figures["seconds"] = time.perf_counter() - started
    return {"benchmark": benchmark.lower(), "protocol": "proposed (first 400 rows train; 60 s right window)", "detector": detector.lower(), **figures}
