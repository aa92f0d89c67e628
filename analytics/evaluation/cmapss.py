"""NASA C-MAPSS turbofan benchmark: file reader, metrics and the standard RUL protocol.

Data: Saxena, Goebel, Simon, Eklund, "Damage Propagation Modeling for Aircraft Engine
Run-to-Failure Simulation", PHM08 (``shared/datasets/cmapss/SOURCE.md``). Each file is
space-separated numbers without a header (data lines end with spaces), 26 columns: unit, cycle,
three operational settings, 21 sensors. ``train_FD00x`` holds run-to-failure trajectories,
``test_FD00x`` trajectories cut before failure, ``RUL_FD00x`` the true RUL after each test unit's
last cycle, one per line in unit order.

Protocol (:func:`evaluate_rul`), as in most published results: train on every cycle with the
piecewise-linear target ``min(RUL, 125)`` (Heimes 2008); predict one RUL per test unit at its last
observed cycle; ``rmse`` and the PHM08 ``score`` (:func:`nasa_score`) against the true RUL capped
at the same 125, and ``rmse_uncapped`` against the raw true RUL. Beside every figure, two naive
baselines: the training mean of the capped target for every unit (``baseline_*``) and a ridge
regression on the same features (``linear_*``).
"""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from analytics.errors import HubError, InputFileError
from analytics.evaluation.textfile import read_text_file
from analytics.models.failure.rul import RUL_CAP, RULRegressor, run_to_failure_rul

log = logging.getLogger(__name__)

SETTINGS: tuple[str, ...] = ("setting_1", "setting_2", "setting_3")
SENSORS: tuple[str, ...] = tuple(f"s_{i}" for i in range(1, 22))
COLUMNS: tuple[str, ...] = ("unit", "cycle", *SETTINGS, *SENSORS)
"""The 26 C-MAPSS columns, in file order."""


def _lines(path: Path) -> pl.DataFrame:
    """Non-blank lines of ``path`` with their 1-based line numbers (``row``, ``line``)."""
    text = read_text_file(path, "utf-8")
    frame = pl.DataFrame({"line": text.splitlines()}, schema={"line": pl.String}).with_row_index("row", offset=1)
    frame = frame.filter(pl.col("line").str.strip_chars() != "")
    if frame.is_empty():
        raise InputFileError(path, "no data rows")
    return frame


def _numbers(path: Path, lines: pl.DataFrame, names: tuple[str, ...]) -> pl.DataFrame:
    """Split each line on whitespace into ``names`` (Float64); the first malformed row and
    column raise :class:`InputFileError`."""
    tokens = lines.select("row", pl.col("line").str.extract_all(r"\S+").alias("tokens"))
    counts = tokens.with_columns(pl.col("tokens").list.len().alias("n")).filter(pl.col("n") != len(names))
    if not counts.is_empty():
        row, n = counts.row(0)[0], counts.row(0)[2]
        raise InputFileError(path, f"expected {len(names)} whitespace-separated values, found {n}", row=row)
    text = tokens.select("row", *(pl.col("tokens").list.get(i).alias(name) for i, name in enumerate(names)))
    values = text.select("row", *(pl.col(name).cast(pl.Float64, strict=False) for name in names))
    bad = values.select(
        "row",
        *((pl.col(n).is_null() | ~pl.col(n).is_finite()).alias(n) for n in names),
    ).filter(pl.any_horizontal(*names))
    if not bad.is_empty():
        first = bad.row(0, named=True)
        column = next(n for n in names if first[n])
        token = text.filter(pl.col("row") == first["row"])[column].item()
        raise InputFileError(path, f"not a finite number: {token!r}", row=first["row"], column=column)
    return values


def read_cmapss(path: str | Path) -> pl.DataFrame:
    """Read a C-MAPSS ``train_``/``test_`` file: columns :data:`COLUMNS` (``unit``, ``cycle`` Int64,
    the rest Float64), in file order.

    Checks: 26 numeric values on every non-blank line; unit and cycle positive integers; each
    unit's rows contiguous with strictly increasing cycles. Errors name file, row (line number)
    and column.
    """
    path = Path(path)
    values = _numbers(path, _lines(path), COLUMNS)
    for column in ("unit", "cycle"):
        bad = values.filter((pl.col(column) != pl.col(column).round()) | (pl.col(column) < 1))
        if not bad.is_empty():
            raise InputFileError(path, f"must be a positive integer, got {bad[column][0]!r}", row=bad["row"][0], column=column)
    values = values.with_columns(pl.col("unit", "cycle").cast(pl.Int64))
    checked = values.with_columns(
        (pl.col("unit") != pl.col("unit").shift(1)).fill_null(True).cum_sum().alias("block"),
        (pl.col("unit") == pl.col("unit").shift(1)).fill_null(False).alias("same"),
        pl.col("cycle").shift(1).alias("prev_cycle"),
    ).with_columns(pl.col("block").min().over("unit").alias("first_block"))
    split = checked.filter(pl.col("block") != pl.col("first_block"))
    if not split.is_empty():
        raise InputFileError(path, f"rows of unit {split['unit'][0]} are not contiguous (the unit appears again after other units)", row=split["row"][0], column="unit")
    backwards = checked.filter(pl.col("same") & (pl.col("cycle") <= pl.col("prev_cycle")))
    if not backwards.is_empty():
        r = backwards.row(0, named=True)
        raise InputFileError(path, f"cycle {r['cycle']} of unit {r['unit']} does not follow cycle {r['prev_cycle']}", row=r["row"], column="cycle")
    return values.select(COLUMNS)


def read_rul(path: str | Path, *, units: int | None = None) -> np.ndarray:
    """Read a ``RUL_`` file: one non-negative number per line, in unit order. With ``units``, the
    count must match the test file's units."""
    path = Path(path)
    values = _numbers(path, _lines(path), ("RUL",))
    bad = values.filter(pl.col("RUL") < 0)
    if not bad.is_empty():
        raise InputFileError(path, f"RUL must be non-negative, got {bad['RUL'][0]!r}", row=bad["row"][0], column="RUL")
    if units is not None and values.height != units:
        raise InputFileError(path, f"{values.height} RUL values for {units} test units")
    return values["RUL"].to_numpy()


# --- metrics -----------------------------------------------------------------------------------
def rmse(predicted: Any, true: Any, *, cap: float | None = None) -> float:
    """Root mean squared error; with ``cap``, against ``min(true, cap)``."""
    p, t = np.asarray(predicted, dtype=np.float64), np.asarray(true, dtype=np.float64)
    if p.shape != t.shape or p.size == 0:
        raise ValueError(f"{p.shape} predictions for {t.shape} true values")
    if cap is not None:
        t = np.minimum(t, cap)
    return float(np.sqrt(np.mean((p - t) ** 2)))


def nasa_score(predicted: Any, true: Any, *, cap: float | None = None) -> float:
    """PHM08 scoring function (Saxena et al. 2008): ``Σ s_i`` with ``d = predicted − true``,
    ``s = exp(−d/13) − 1`` for early (``d < 0``) and ``exp(d/10) − 1`` for late predictions;
    with ``cap``, against ``min(true, cap)``."""
    p, t = np.asarray(predicted, dtype=np.float64), np.asarray(true, dtype=np.float64)
    if p.shape != t.shape or p.size == 0:
        raise ValueError(f"{p.shape} predictions for {t.shape} true values")
    if cap is not None:
        t = np.minimum(t, cap)
    d = p - t
    return float(np.sum(np.where(d < 0, np.expm1(-d / 13.0), np.expm1(d / 10.0))))


def _figures(prefix: str, predicted: np.ndarray, true: np.ndarray, cap: float) -> dict[str, float]:
    return {
        f"{prefix}rmse": rmse(predicted, true, cap=cap),
        f"{prefix}score": nasa_score(predicted, true, cap=cap),
        f"{prefix}rmse_uncapped": rmse(predicted, true),
    }


# --- protocol ----------------------------------------------------------------------------------
def evaluate_rul(
    train: str | Path,
    test: str | Path,
    rul: str | Path,
    *,
    cap: float = RUL_CAP,
    model: RULRegressor | None = None,
) -> dict[str, Any]:
    """The standard C-MAPSS protocol on one subset's three files.

    Returns ``rmse``, ``score``, ``rmse_uncapped`` (the model), the same with ``baseline_``
    (training mean of the capped target) and ``linear_`` (ridge regression on the model's
    features) prefixes, ``engines`` (test units), ``cap``, ``train_units``, ``train_rows``,
    ``test_rows``, ``operating_conditions``, ``sensors`` (kept), ``features``, ``seconds``.
    """
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    start = time.perf_counter()
    train_frame, test_frame = read_cmapss(train), read_cmapss(test)
    true = read_rul(rul, units=test_frame["unit"].n_unique())
    if train_frame["unit"].n_unique() < 2:
        raise HubError(f"{train}: need run-to-failure trajectories of at least 2 units")
    model = model if model is not None else RULRegressor(setting_columns=SETTINGS, sensor_columns=SENSORS, cap=cap)
    model.fit(train_frame)
    last = model.predict_last(test_frame)
    predicted = last["rul"].to_numpy()
    target = run_to_failure_rul(train_frame, cap=cap)

    # Naive baselines beside every figure.
    constant = np.full_like(true, float(target.mean()), dtype=np.float64)
    train_feats = model.features(train_frame)
    sorted_target = np.minimum(run_to_failure_rul(train_feats), cap)
    names = model.feature_names_in_.tolist()
    test_feats = model.features(test_frame).filter(pl.col("cycle") == pl.col("cycle").max().over("unit"))
    linear = make_pipeline(StandardScaler(), Ridge(alpha=1.0)).fit(train_feats.select(names).fill_nan(None).fill_null(0.0).to_numpy(), sorted_target)
    linear_pred = np.clip(linear.predict(test_feats.select(names).fill_nan(None).fill_null(0.0).to_numpy()), 0.0, cap)

    figures: dict[str, Any] = {
        **_figures("", predicted, true, cap),
        "engines": int(len(true)),
        "cap": cap,
        **_figures("baseline_", constant, true, cap),
        **_figures("linear_", linear_pred, true, cap),
        "train_units": int(train_frame["unit"].n_unique()),
        "train_rows": train_frame.height,
        "test_rows": test_frame.height,
        "operating_conditions": model.normalizer_.n_conditions_,
        "sensors": model.normalizer_.sensors_,
        "features": model.n_features_in_,
        "seconds": round(time.perf_counter() - start, 2),
    }
    log.info("C-MAPSS: rmse %.2f score %.1f (baseline rmse %.2f)", figures["rmse"], figures["score"], figures["baseline_rmse"])
    if not math.isfinite(figures["score"]):
        log.warning("C-MAPSS: score overflowed (a prediction far too late)")
    return figures
