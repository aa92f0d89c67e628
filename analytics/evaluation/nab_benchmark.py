"""Run a streaming detector through the NAB protocol on a NAB-layout folder.

Layout (NAB's own, ``github.com/numenta/NAB``): ``data/<category>/*.csv`` (``timestamp,value``),
``labels/combined_windows.json`` (``{"<category>/<file>.csv": [[start, end], ...]}``) and,
optionally, ``config/profiles.json`` (NAB's three cost matrices; NAB's published values are used
when it is absent). Every CSV under ``data/`` that has an entry in the windows file is scored; the
others are skipped (logged).

Protocol, as NAB's ``run.py --detect --optimize --score --normalize``:

1. the detector runs online over each file from a fresh state (a clone of the one given); a
   detector with a ``warmup`` parameter gets the file's probationary length
   (``min(floor(0.15 n), 750)`` rows), as NAB hands every detector that length;
2. for each profile one threshold is chosen for the whole corpus (NAB's sweep,
   :func:`analytics.evaluation.nab.optimise_threshold`);
3. the files are scored at that threshold and the summed raw score normalised:
   ``100 (raw - raw_null) / (raw_perfect - raw_null)`` over the files scored
   (:func:`analytics.evaluation.nab.score_corpus`, NAB's current "sweeper" scorer).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from sklearn.base import clone

from analytics.errors import HubError, InputFileError
from analytics.evaluation import nab

logger = logging.getLogger(__name__)

PROFILE_KEYS = {"standard": "standard", "reward_low_FP_rate": "low_fp", "reward_low_FN_rate": "low_fn"}
"""NAB profile name -> key of the figures."""

WINDOWS_FILE = Path("labels") / "combined_windows.json"
PROFILES_FILE = Path("config") / "profiles.json"
_TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S"


def default_detector() -> Any:
    """The hub's streaming detector with its a-priori defaults."""
    from analytics.models.anomaly.streaming import StreamingNovelty

    return StreamingNovelty()


def nab_files(root: str | Path) -> tuple[dict[str, Path], dict[str, list[nab.Window]]]:
    """(``{NAB name: csv path}`` of the data files that have windows, windows per NAB name).

    NAB names are paths relative to ``data/`` with ``/`` separators (``"realKnownCause/nyc_taxi.csv"``).
    """
    base = Path(root)
    if not base.is_dir():
        raise HubError(f"{base}: NAB folder not found")
    data_dir = base / "data"
    if not data_dir.is_dir():
        raise HubError(f"{base}: no data/ folder (NAB layout: data/<category>/*.csv, labels/combined_windows.json)")
    labels = base / WINDOWS_FILE
    if not labels.is_file():
        raise HubError(f"{base}: no {WINDOWS_FILE.as_posix()} (NAB's anomaly windows); cannot score without labels")
    try:
        windows = nab.load_windows(labels)
    except (ValueError, TypeError, KeyError) as exc:
        raise InputFileError(labels, f"not a NAB windows file ({{\"<category>/<file>.csv\": [[start, end], ...]}}): {exc}") from exc
    found: dict[str, Path] = {}
    skipped: list[str] = []
    for path in sorted(data_dir.rglob("*.csv")):
        name = path.relative_to(data_dir).as_posix()
        if name in windows:
            found[name] = path
        else:
            skipped.append(name)
    if skipped:
        logger.info("NAB: %d data file(s) without windows in %s skipped: %s", len(skipped), labels, ", ".join(skipped))
    if not found:
        raise HubError(f"{data_dir}: no CSV file here has windows in {labels}")
    return found, {name: windows[name] for name in found}


def load_profiles(root: str | Path) -> dict[str, nab.CostMatrix]:
    """NAB's three profiles from ``config/profiles.json`` (NAB's published ones if it is absent)."""
    path = Path(root) / PROFILES_FILE
    if not path.is_file():
        logger.info("NAB: %s absent, using NAB's published profiles", path)
        return dict(nab.NAB_PROFILES)
    try:
        profiles = nab.load_profiles(path)
    except (ValueError, TypeError, KeyError) as exc:
        raise InputFileError(path, f"not a NAB profiles file: {exc}") from exc
    missing = [p for p in PROFILE_KEYS if p not in profiles]
    if missing:
        raise InputFileError(path, f"missing profile(s) {', '.join(missing)}")
    return {p: profiles[p] for p in PROFILE_KEYS}


def read_nab_csv(path: str | Path) -> pl.DataFrame:
    """A NAB data file as ``timestamp`` (naive ``Datetime``) and ``value`` (``Float64``), file order."""
    try:
        df = pl.read_csv(path, schema_overrides={"timestamp": pl.String, "value": pl.String}, infer_schema_length=0)
    except (pl.exceptions.PolarsError, OSError, UnicodeDecodeError) as exc:
        raise InputFileError(path, f"cannot read as CSV: {exc}") from exc
    missing = [c for c in ("timestamp", "value") if c not in df.columns]
    if missing:
        raise InputFileError(path, f"missing column(s) {', '.join(missing)} (NAB files are timestamp,value)")
    if df.height < 2:
        raise InputFileError(path, f"{df.height} data row(s); need at least 2")
    ts = df["timestamp"].str.strip_chars().str.strptime(pl.Datetime("us"), _TIMESTAMP_FORMAT, strict=False)
    if ts.null_count():
        ts = df["timestamp"].str.strip_chars().str.to_datetime(time_unit="us", strict=False)
        if ts.dtype != pl.Datetime("us"):
            ts = ts.cast(pl.Datetime("us"))
    bad_ts = ts.is_null()
    if bad_ts.any():
        row = int(bad_ts.arg_true()[0])
        raise InputFileError(path, f"unreadable timestamp {df['timestamp'][row]!r} (expected YYYY-MM-DD hh:mm:ss)", row=row + 2, column="timestamp")
    value = df["value"].str.strip_chars().cast(pl.Float64, strict=False)
    bad_value = value.is_null() & df["value"].is_not_null() & (df["value"].str.strip_chars() != "")
    if bad_value.any():
        row = int(bad_value.arg_true()[0])
        raise InputFileError(path, f"non-numeric value {df['value'][row]!r}", row=row + 2, column="value")
    return pl.DataFrame({"timestamp": ts, "value": value.fill_null(float("nan"))})


def _prepare(detector: Any, n_rows: int) -> Any:
    det = clone(detector)
    if "warmup" in det.get_params():
        det.set_params(warmup=nab.probationary_rows(n_rows))
    return det


def evaluate_nab(
    root: str | Path,
    detector: Any = None,
    *,
    on_file: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Score ``detector`` (default :class:`~analytics.models.anomaly.streaming.StreamingNovelty`)
    on the NAB-layout folder ``root``; returns JSON-ready figures.

    ``detector``: an estimator with ``decision_function(X)`` scoring a one-column series online
    (cloned per file; ``warmup`` set to the file's probationary length when it has that
    parameter), or a callable ``f(values, n_probationary) -> scores``. Scores must lie in
    ``[0, 1]`` (NAB sweeps thresholds up to its "no detection" point 1.1).

    Figures: ``standard``, ``low_fp``, ``low_fn`` (normalised NAB scores over the files scored),
    ``thresholds`` and ``raw`` (corpus raw score) per profile, ``null_raw``/``perfect_raw``,
    ``files`` (per file: rows, windows, and per profile the raw score, its share of the
    normalised total, the file's own normalised score, detected windows and NAB's row counts
    TP/FP/FN/TN), ``rows``, ``windows``, ``detector`` and ``seconds``.
    """
    started = time.perf_counter()
    det = default_detector() if detector is None else detector
    files, windows = nab_files(root)
    profiles = load_profiles(root)
    results: dict[str, pl.DataFrame] = {}
    for name, path in files.items():
        df = read_nab_csv(path)
        ts = nab._as_datetime64(df["timestamp"])  # noqa: SLF001 - the scorer's own conversion
        try:
            for profile in profiles.values():
                nab.null_score(ts, windows[name], profile)
        except ValueError as exc:
            raise InputFileError(path, f"its windows in {WINDOWS_FILE.as_posix()} cannot be scored: {exc}") from exc
        values = df["value"].to_numpy()
        if callable(det) and not hasattr(det, "decision_function"):
            scores = np.asarray(det(values, nab.probationary_rows(values.size)), dtype=np.float64)
        else:
            scores = np.asarray(_prepare(det, values.size).decision_function(values.reshape(-1, 1)), dtype=np.float64)
        if scores.shape != values.shape:
            raise HubError(f"{path}: the detector returned {scores.size} scores for {values.size} rows")
        finite = scores[np.isfinite(scores)]
        if finite.size and (finite.min() < 0.0 or finite.max() > 1.0):
            raise HubError(f"{path}: anomaly scores must lie in [0, 1] for NAB; got {finite.min():.4g} .. {finite.max():.4g}")
        results[name] = df.with_columns(pl.Series("anomaly_score", scores))
        if on_file is not None:
            on_file(name)
    detected = time.perf_counter()

    figures: dict[str, Any] = {
        "benchmark": "nab",
        "detector": _detector_name(det),
        "files_scored": len(results),
        "rows": int(sum(f.height for f in results.values())),
        "windows": int(sum(len(windows[n]) for n in results)),
    }
    per_file: dict[str, dict[str, Any]] = {n: {"rows": results[n].height, "windows": len(windows[n])} for n in results}
    thresholds: dict[str, float] = {}
    raws: dict[str, float] = {}
    for nab_name, key in PROFILE_KEYS.items():
        profile = profiles[nab_name]
        best = nab.optimise_threshold(results, windows, profile)
        corpus = nab.score_corpus(results, windows, profile, best.threshold)
        figures[key] = corpus.normalised
        thresholds[key] = corpus.threshold
        raws[key] = corpus.raw
        figures.setdefault("null_raw", {})[key] = corpus.null
        figures.setdefault("perfect_raw", {})[key] = corpus.perfect
        span = corpus.perfect - corpus.null
        for name, fs in corpus.files.items():
            ts = nab._as_datetime64(results[name]["timestamp"])  # noqa: SLF001
            null = nab.null_score(ts, windows[name], profile)
            perfect = len(windows[name]) * profile.tp_weight
            per_file[name][key] = {
                "raw": fs.raw,
                "contribution": 100.0 * (fs.raw - null) / span if span else math.nan,
                "normalised": 100.0 * (fs.raw - null) / (perfect - null) if perfect != null else math.nan,
                "detected_windows": fs.detected_windows,
                "scored_windows": fs.windows,
                "tp": fs.tp,
                "fp": fs.fp,
                "fn": fs.fn,
                "tn": fs.tn,
            }
    figures["thresholds"] = thresholds
    figures["raw"] = raws
    figures["files"] = per_file
    figures["detect_seconds"] = round(detected - started, 3)
    figures["seconds"] = round(time.perf_counter() - started, 3)
    logger.info("NAB: %d files, standard %.2f, low FP %.2f, low FN %.2f", len(results), figures["standard"], figures["low_fp"], figures["low_fn"])
    return figures


def _detector_name(detector: Any) -> str:
    if hasattr(detector, "get_params"):
        return type(detector).__name__
    return getattr(detector, "__name__", type(detector).__name__)
