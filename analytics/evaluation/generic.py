"""Generic anomaly evaluation: a normal-operation training file and a labelled test file.

``factoryhub eval anomaly --train TRAIN.csv --test TEST.csv``. Both files are wide CSV: one row
per time stamp, numeric sensor columns, and in the test file a 0/1 label column. The delimiter
(``,`` ``;`` tab ``|``) and the encoding (UTF-8 or CP949) are detected as the ingest does; with a
delimiter other than ``,`` a decimal comma (``1,5``) is accepted too.

* sensor columns: the numeric columns common to both files, other than the time and label
  columns (numeric: every non-empty value parses as a number);
* the detector is fitted on every training row (a label column there is ignored) and predicts
  every test row, through :func:`analytics.evaluation.skab.evaluate` (one split);
* point-wise ``precision``, ``recall``, ``f1``, ``far``, ``mar`` as fractions; event-wise
  ``event_recall`` (labelled events, maximal runs of 1s, with at least one detection inside) and
  ``mean_delay_s`` (event start to first detection, over detected events; needs a time column,
  ``mean_delay_rows`` is always given). Undefined figures are ``None`` (JSON ``null``).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from analytics.errors import InputFileError
from analytics.evaluation.metrics import binary_metrics, event_metrics
from analytics.evaluation.skab import Split, evaluate
from analytics.models.anomaly.catalog import detector_factory
from analytics.ingest.sources import detect_delimiter, detect_encoding

TIME_CANDIDATES = ("datetime", "timestamp", "time", "date", "ts")
"""Time column names tried (case-insensitively) when ``--time-column`` is not given."""
LABEL_CANDIDATES = ("anomaly", "label", "is_anomaly")
"""Label column names tried (case-insensitively) when ``--label-column`` is not given."""


@dataclass
class WideCsv:
    path: Path
    frame: pl.DataFrame
    """Every column as text, as read."""
    delimiter: str
    numeric: dict[str, pl.Series]
    """The numeric columns, parsed to Float64 (null where empty)."""


def _read_text(path: Path) -> tuple[pl.DataFrame, str]:
    if not path.is_file():
        raise InputFileError(path, "file not found")
    encoding = detect_encoding(path)
    with path.open(encoding=encoding, errors="replace", newline="") as handle:
        header = handle.readline().strip("\r\n")
    if not header.strip():
        raise InputFileError(path, "empty file: no header line")
    delimiter = detect_delimiter(header)
    try:
        frame = pl.read_csv(path, separator=delimiter, infer_schema=False, encoding="utf8" if encoding == "utf-8" else encoding)
    except (pl.exceptions.PolarsError, OSError, UnicodeError) as exc:
        raise InputFileError(path, f"cannot read as CSV: {exc}") from exc
    if frame.height == 0:
        raise InputFileError(path, "no data rows")
    return frame, delimiter


def _as_number(text: pl.Series, decimal_comma: bool) -> pl.Series | None:
    """Float64 of a text column when every non-empty value is a number, else None."""
    stripped = text.str.strip_chars()
    blank = stripped.is_null() | (stripped == "")
    for candidate in ([stripped, stripped.str.replace(",", ".", literal=True)] if decimal_comma else [stripped]):
        values = candidate.cast(pl.Float64, strict=False)
        if not (values.is_null() & ~blank).any() and not blank.all():
            return values
    return None


def read_wide_csv(path: str | Path) -> WideCsv:
    """A wide CSV with its numeric columns parsed."""
    p = Path(path)
    frame, delimiter = _read_text(p)
    numeric = {}
    for name in frame.columns:
        values = _as_number(frame[name], decimal_comma=delimiter != ",")
        if values is not None:
            numeric[name] = values
    return WideCsv(p, frame, delimiter, numeric)


def _pick(csv: WideCsv, given: str | None, candidates: tuple[str, ...], what: str, option: str) -> str | None:
    if given is not None:
        if given not in csv.frame.columns:
            raise InputFileError(csv.path, f"no {what} column (columns: {', '.join(csv.frame.columns)})", column=given)
        return given
    lower = {c.lower(): c for c in csv.frame.columns}
    found = next((lower[c] for c in candidates if c in lower), None)
    if found is None and what == "label":
        raise InputFileError(
            csv.path,
            f"no label column: none of {', '.join(candidates)} found; name it with {option} (columns: {', '.join(csv.frame.columns)})",
        )
    return found


def _timestamps(csv: WideCsv, column: str) -> np.ndarray:
    text = csv.frame[column].str.strip_chars()
    if column in csv.numeric:  # epoch seconds
        secs = csv.numeric[column]
        if secs.is_null().any():
            raise InputFileError(csv.path, f"empty time value on line {int(secs.is_null().arg_true()[0]) + 2}", column=column)
        return (secs.to_numpy() * 1e6).astype("int64").astype("datetime64[us]")
    try:
        parsed = text.str.to_datetime(time_unit="us", strict=False)
    except pl.exceptions.PolarsError as exc:
        raise InputFileError(csv.path, f"time values are not dates/times: {exc}", column=column) from exc
    if parsed.dtype.time_zone is not None:  # type: ignore[attr-defined]
        parsed = parsed.dt.convert_time_zone("UTC").dt.replace_time_zone(None)
    bad = parsed.is_null()
    if bad.any():
        line = int(bad.arg_true()[0]) + 2
        raise InputFileError(csv.path, f"time value {text[line - 2]!r} on line {line} is not a date/time", column=column)
    return parsed.to_numpy().astype("datetime64[us]")


def _matrix(csv: WideCsv, sensors: list[str]) -> np.ndarray:
    for name in sensors:
        missing = csv.numeric[name].is_null()
        if missing.any():
            raise InputFileError(csv.path, f"empty sensor value on line {int(missing.arg_true()[0]) + 2}", column=name)
    return np.column_stack([csv.numeric[name].to_numpy() for name in sensors]).astype(np.float64)


def _json_safe(value: Any) -> Any:
    return None if isinstance(value, float) and not math.isfinite(value) else value


def evaluate_files(
    train: str | Path,
    test: str | Path,
    detector: str = "pca",
    *,
    time_column: str | None = None,
    label_column: str | None = None,
) -> dict[str, Any]:
    """Fit ``detector`` on ``train``, score ``test`` against its labels: the figures (module doc)."""
    started = time.perf_counter()
    # Files first: they are read in a moment, while the detectors' libraries take seconds to import.
    tr, te = read_wide_csv(train), read_wide_csv(test)

    label = _pick(te, label_column, LABEL_CANDIDATES, "label", "--label-column")
    assert label is not None
    time_test = _pick(te, time_column, TIME_CANDIDATES, "time", "--time-column")
    # The training file needs no time column; one found there is only kept out of the sensors.
    time_train = _pick(tr, None if time_column not in tr.frame.columns else time_column, TIME_CANDIDATES, "time", "--time-column")
    excluded = {c for c in (label, time_test, time_train) if c is not None}

    sensors = [c for c in tr.numeric if c in te.numeric and c not in excluded]
    if not sensors:
        raise InputFileError(
            te.path,
            f"no numeric sensor column in common with {tr.path} "
            f"(numeric here: {', '.join(c for c in te.numeric if c not in excluded) or 'none'}; "
            f"there: {', '.join(c for c in tr.numeric if c not in excluded) or 'none'})",
        )

    factory = detector_factory(detector)
    raw = te.frame[label].str.strip_chars()
    values = te.numeric.get(label)
    bad = pl.Series([True] * te.frame.height) if values is None else ~values.is_in([0.0, 1.0]).fill_null(False)
    if bad.any():
        line = int(bad.arg_true()[0]) + 2
        raise InputFileError(te.path, f"labels must be 0 or 1: {raw[line - 2]!r} on line {line}", column=label)
    assert values is not None
    labels = (values.to_numpy() == 1).astype(np.int8)

    x_train, x_test = _matrix(tr, sensors), _matrix(te, sensors)
    ts = _timestamps(te, time_test) if time_test is not None else None
    if ts is not None and ts.size > 1 and (np.diff(ts) < np.timedelta64(0, "us")).any():
        order = np.argsort(ts, kind="stable")  # events are runs in time order
        ts, x_test, labels = ts[order], x_test[order], labels[order]

    predictions: list[np.ndarray] = []
    split = Split(name=str(te.path), train=x_train, test=x_test, labels=labels, timestamps=ts)
    pooled = evaluate(factory, [split], on_predictions=lambda _s, pred: predictions.append(pred))
    figures: dict[str, Any] = {
        "detector": detector.lower(),
        **binary_metrics(pooled["tp"], pooled["tn"], pooled["fp"], pooled["fn"]),
        **event_metrics(labels, predictions[0], ts),
        "tp": pooled["tp"], "tn": pooled["tn"], "fp": pooled["fp"], "fn": pooled["fn"],
        "rows": int(x_test.shape[0]),
        "train_rows": int(x_train.shape[0]),
        "sensors": sensors,
        "time_column": time_test,
        "label_column": label,
        "train": str(tr.path),
        "test": str(te.path),
    }
    figures["seconds"] = time.perf_counter() - started
    return {k: _json_safe(v) for k, v in figures.items()}
