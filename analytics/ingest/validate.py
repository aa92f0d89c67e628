"""Turning raw chunks into canonical rows, and deciding which rows go to quarantine and why.

Every check is a column expression. A row gets the *first* reason that applies, in the order of
``REASON_ORDER``, with the source column it concerns, so a person can open the file and find it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import polars as pl

from analytics.errors import InputFileError
from analytics.ingest.mapping import ImportMapping
from analytics.ingest.parse import TS_GAP, TS_UTC, RepeatedHours, float_column, is_blank, timestamp_columns
from analytics.ingest.sources import ROW
from analytics.schemas import MACHINE_ID_PATTERN, EventKind

MACHINE = "__machine"
SENSOR = "__sensor"
VALUE_RAW = "__value_raw"
COLUMN = "__column"
REASON = "__reason"
REASON_COLUMN = "__reason_column"
RAW = "__raw"
TS_RAW = "__ts_raw"

# Reasons that mean the reading itself is bad (as opposed to an unknown key or a duplicate).
INVALID_PREFIXES = ("unparseable", "non-finite", "outside valid range", "missing value", "missing timestamp", "nonexistent local time", "timestamp in the future")


@dataclass(frozen=True)
class Shaped:
    """A chunk in long form with the source column names needed for messages."""

    frame: pl.DataFrame
    ts_column: str
    machine_column: str
    sensor_column: str | None
    blank_cells: pl.DataFrame  # wide form: (machine, sensor) counts of empty cells = missing samples
    value_columns: dict[str, str]  # sensor name -> the source column its values come from


def _require(path: str, columns: Sequence[str], needed: Sequence[str]) -> None:
    missing = [c for c in needed if c not in columns]
    if missing:
        raise InputFileError(
            path,
            f"missing column(s) {', '.join(repr(c) for c in missing)}; the file has "
            f"{', '.join(repr(c) for c in columns)} (wrong delimiter, format or mapping?)",
            row=1,
            column=missing[0],
        )


def _machine(mapping: ImportMapping) -> pl.Expr:
    """The machine id of each row: a constant of the mapping, or a column with an optional prefix.

    Blanks around ids are trimmed later, on the distinct pairs (see :func:`_pair_codes`).
    """
    if mapping.machine_id is not None:
        return pl.lit(mapping.machine_id)
    if not mapping.machine_prefix:
        return pl.col(mapping.machine_column)  # may stay categorical (see sources.read_chunks)
    return pl.lit(mapping.machine_prefix) + pl.col(mapping.machine_column).cast(pl.String)


def shape_readings(chunk: pl.DataFrame, mapping: ImportMapping, path: str) -> Shaped:
    """Long form with ``__machine``, ``__sensor``, ``__value_raw``, ``__column`` and the ts column."""
    ts_col = mapping.timestamp.column
    columns = [c for c in chunk.columns if c != ROW]
    if mapping.format == "long":
        needed = [ts_col, mapping.sensor_column, mapping.value_column]
        if mapping.machine_id is None:
            needed.append(mapping.machine_column)
        _require(path, columns, needed)
        machine = _machine(mapping)
        frame = chunk.select(
            pl.col(ROW),
            pl.col(ts_col).alias(TS_RAW),
            machine.alias(MACHINE),
            pl.col(mapping.sensor_column).alias(SENSOR),
            pl.col(mapping.value_column).alias(VALUE_RAW),
            pl.lit(mapping.value_column).alias(COLUMN),
        )
        empty = pl.DataFrame(schema={MACHINE: pl.String, SENSOR: pl.String, "blank": pl.UInt32})
        return Shaped(frame, ts_col, mapping.machine_column, mapping.sensor_column, empty, {})

    needed = [ts_col] + ([] if mapping.machine_id is not None else [mapping.machine_column])
    _require(path, columns, needed)
    if mapping.sensors is not None:
        if mapping.missing_sensor_columns == "error":
            _require(path, columns, list(mapping.sensors))
        sensor_columns = [c for c in mapping.sensors if c in columns]
        if not sensor_columns:
            raise InputFileError(
                path, f"none of the mapping's sensor columns ({', '.join(repr(c) for c in mapping.sensors)}) is in the file", row=1
            )
        names = {c: mapping.sensors[c] for c in sensor_columns}
    else:
        skip = {ts_col, mapping.machine_column}
        sensor_columns = [c for c in columns if c not in skip]
        names = {c: c for c in sensor_columns}
    if not sensor_columns:
        raise InputFileError(path, "wide file has no sensor columns", row=1)
    machine = _machine(mapping)
    dtypes = {chunk.schema[c] for c in sensor_columns}
    value_type = pl.String if len(dtypes) > 1 or pl.String in dtypes else next(iter(dtypes))
    base = chunk.select(
        pl.col(ROW), pl.col(ts_col).alias(TS_RAW), machine.alias(MACHINE), *[pl.col(c).cast(value_type) for c in sensor_columns]
    )
    long = base.unpivot(index=[ROW, TS_RAW, MACHINE], on=sensor_columns, variable_name=COLUMN, value_name=VALUE_RAW)
    long = long.with_columns(pl.col(COLUMN).replace_strict(names, return_dtype=pl.String).alias(SENSOR))
    blank = is_blank(pl.col(VALUE_RAW), value_type)
    blank_cells = long.filter(blank).group_by(MACHINE, SENSOR).agg(pl.len().alias("blank"))
    frame = long.filter(~blank).select(ROW, TS_RAW, MACHINE, SENSOR, VALUE_RAW, COLUMN)
    return Shaped(frame, ts_col, mapping.machine_column, None, blank_cells, {v: k for k, v in names.items()})


SID = "__sid"
CODE = "__code"

# Reason codes, in the order they are checked; a row gets the first that applies.
# (message, which source column it concerns: "machine", "sensor", "ts" or "value").
REASONS: dict[int, tuple[str, str]] = {
    1: ("missing machine id", "machine"),
    2: ("invalid machine id '{machine}'", "machine"),
    3: ("unknown machine '{machine}'", "machine"),
    4: ("missing sensor name", "sensor"),
    5: ("unknown sensor '{sensor}' of machine '{machine}'", "sensor"),
    6: ("missing timestamp", "ts"),
    7: ("nonexistent local time (skipped by a daylight-saving change)", "ts"),
    8: ("unparseable timestamp '{ts}'", "ts"),
    9: ("timestamp in the future", "ts"),
    10: ("missing value", "value"),
    11: ("unparseable value '{value}'", "value"),
    12: ("non-finite value", "value"),
    13: ("outside valid range [{min}, {max}]", "value"),
}


def sensor_table(sensors: pl.DataFrame) -> pl.DataFrame:
    """Registered sensors sorted by (machine, sensor) with a dense integer id ``__sid``.

    Rows are keyed by this id inside an ingest: sorting and joining on an integer is several
    times faster than on two strings, and sorting by it equals sorting by (machine, sensor).
    """
    return (
        sensors.select("machine_id", "sensor", "min_value", "max_value", "interval_s")
        .sort("machine_id", "sensor")
        .with_row_index(SID)
    )


def _pair_codes(pairs: pl.DataFrame, table: pl.DataFrame) -> pl.DataFrame:
    """Reason code of each distinct (machine, sensor) of a chunk, with its sensor id.

    Ids are matched after trimming blanks around them, as spreadsheets often leave some.
    """
    machine = pl.col(MACHINE).cast(pl.String).fill_null("").str.strip_chars()
    sensor = pl.col(SENSOR).cast(pl.String).fill_null("").str.strip_chars()
    known_machines = table.get_column("machine_id").unique().implode()
    keyed = pairs.with_columns(machine.alias("__m"), sensor.alias("__s"))
    joined = keyed.join(
        table.select(pl.col("machine_id").alias("__m"), pl.col("sensor").alias("__s"), SID),
        on=["__m", "__s"],
        how="left",
    )
    m, s = pl.col("__m"), pl.col("__s")
    code = (
        pl.when(m == "").then(1)
        .when(~m.str.contains(MACHINE_ID_PATTERN.pattern)).then(2)
        .when(~m.is_in(known_machines)).then(3)
        .when(s == "").then(4)
        .when(pl.col(SID).is_null()).then(5)
    )
    return joined.with_columns(code.cast(pl.UInt8).alias("__pair_code")).drop("__m", "__s")


def _attach_sensors(frame: pl.DataFrame, table: pl.DataFrame) -> pl.DataFrame:
    """Add ``__sid``, ``min_value``, ``max_value`` and ``__pair_code`` to every row.

    The (machine, sensor) strings are turned into one integer key through categorical codes, the
    few distinct pairs are checked, and the results are mapped back by that key: a join on two
    string columns of millions of rows costs ten times more.
    """
    none = (1 << 32) - 1  # code of a missing id: a null would drop out of the lookups

    def code_of(column: str) -> pl.Expr:
        return pl.col(column).cast(pl.Categorical).to_physical().cast(pl.UInt64).fill_null(none)

    frame = frame.with_columns((code_of(MACHINE) * (1 << 32) + code_of(SENSOR)).alias("__pair"))
    pairs = _pair_codes(frame.group_by("__pair").agg(pl.col(MACHINE).first(), pl.col(SENSOR).first()), table)
    keys = pairs.get_column("__pair")
    sid = pl.col("__pair").replace_strict(keys, pairs.get_column(SID), default=None, return_dtype=pl.UInt32)
    pair_code = pl.lit(None, pl.UInt8)
    if pairs.get_column("__pair_code").is_not_null().any():  # only chunks with unknown ids pay for this
        pair_code = pl.col("__pair").replace_strict(keys, pairs.get_column("__pair_code"), default=None, return_dtype=pl.UInt8)
    frame = frame.with_columns(sid.alias(SID), pair_code.alias("__pair_code")).drop("__pair")
    sids = table.get_column(SID)
    return frame.with_columns(
        pl.col(SID).replace_strict(sids, table.get_column("min_value"), default=None, return_dtype=pl.Float64).alias("min_value"),
        pl.col(SID).replace_strict(sids, table.get_column("max_value"), default=None, return_dtype=pl.Float64).alias("max_value"),
    )


def validate_readings(
    shaped: Shaped,
    mapping: ImportMapping,
    sensors: pl.DataFrame,
    tz: str,
    now: datetime,
    future_tolerance_s: float,
    repeated: RepeatedHours | None = None,
) -> pl.DataFrame:
    """Add ``__sid``, ``ts``, ``value`` and ``__code`` (null = a good row) to a shaped chunk.

    ``sensors`` is :func:`sensor_table` of the registry. Checks on the machine and sensor are made
    once per distinct pair; the per-row checks are integer codes, and messages are only built for
    the rows that fail (:func:`reason_messages`).
    """
    frame = shaped.frame
    frame = _attach_sensors(frame, sensors)
    frame = timestamp_columns(frame, TS_RAW, mapping.timestamp, tz, repeated)
    value, ts = pl.col("value"), pl.col(TS_UTC)
    lo, hi = pl.col("min_value"), pl.col("max_value")
    limit = pl.lit(now).cast(pl.Datetime("us", "UTC")) + pl.duration(seconds=future_tolerance_s)
    # Blank and unparseable share a code here (6 and 10 are told apart on the failing rows only,
    # in reason_messages): a blank test on every row would copy every string.
    code = (
        pl.when(pl.col("__pair_code").is_not_null()).then(pl.col("__pair_code"))
        .when(pl.col(TS_GAP)).then(7)
        .when(ts.is_null()).then(8)
        .when(ts > limit).then(9)
        .when(value.is_null()).then(11)
        .when(~value.is_finite()).then(12)
        .when((value < lo) | (value > hi)).then(13)
    )
    frame = float_column(frame, VALUE_RAW, "value", mapping.decimal_comma)
    return frame.with_columns(code.cast(pl.UInt8).alias(CODE), ts.alias("ts")).drop(TS_GAP, TS_UTC, "__pair_code")


def reason_messages(bad: pl.DataFrame, shaped: Shaped) -> pl.DataFrame:
    """Add ``__reason`` and ``__reason_column`` to the failing rows of a validated chunk."""
    fields = {
        "machine": pl.col(MACHINE).cast(pl.String).fill_null(""),
        "sensor": pl.col(SENSOR).cast(pl.String).fill_null(""),
        "ts": pl.col(TS_RAW).cast(pl.String).fill_null(""),
        "value": pl.col(VALUE_RAW).cast(pl.String).fill_null(""),
        "min": pl.col("min_value").fill_null(float("-inf")).cast(pl.String),
        "max": pl.col("max_value").fill_null(float("inf")).cast(pl.String),
    }
    columns = {
        "machine": pl.lit(shaped.machine_column),
        "sensor": pl.lit(shaped.sensor_column) if shaped.sensor_column else pl.col(COLUMN),
        "ts": pl.lit(shaped.ts_column),
        "value": pl.col(COLUMN),
    }
    bad = bad.with_columns(
        pl.when((pl.col(CODE) == 8) & is_blank(pl.col(TS_RAW), bad.schema[TS_RAW])).then(6)
        .when((pl.col(CODE) == 11) & is_blank(pl.col(VALUE_RAW), bad.schema[VALUE_RAW])).then(10)
        .otherwise(pl.col(CODE))
        .cast(pl.UInt8)
        .alias(CODE)
    )
    reason: pl.Expr = pl.lit(None, pl.String)
    where: pl.Expr = pl.lit(None, pl.String)
    for code, (template, column) in REASONS.items():
        names = re.findall(r"\{(\w+)\}", template)  # in the template's order
        text = pl.format(template.format(**{n: "{}" for n in names}), *[fields[n] for n in names]) if names else pl.lit(template)
        hit = pl.col(CODE) == code
        reason = pl.when(hit).then(text).otherwise(reason)
        where = pl.when(hit).then(columns[column]).otherwise(where)
    return bad.with_columns(reason.alias(REASON), where.alias(REASON_COLUMN))


def shape_events(
    chunk: pl.DataFrame,
    mapping: ImportMapping,
    path: str,
    tz: str,
    now: datetime,
    tolerance_s: float,
    machines: pl.Series,
    repeated: RepeatedHours | None = None,
) -> pl.DataFrame:
    """Validated events with ``__reason``/``__reason_column`` (columns machine_id, ts, kind, component, text)."""
    ts_col = mapping.timestamp.column
    columns = [c for c in chunk.columns if c != ROW]
    needed = [ts_col, "kind"] + ([] if mapping.machine_id is not None else [mapping.machine_column])
    _require(path, columns, needed)
    machine = _machine(mapping)
    frame = chunk.select(
        pl.col(ROW),
        pl.col(ts_col).alias(TS_RAW),
        machine.cast(pl.String).str.strip_chars().alias(MACHINE),
        pl.col("kind").cast(pl.String).str.strip_chars().str.to_lowercase().alias("kind"),
        (pl.col("component").cast(pl.String) if "component" in columns else pl.lit("")).fill_null("").alias("component"),
        (pl.col("text").cast(pl.String) if "text" in columns else pl.lit("")).fill_null("").alias("text"),
    )
    frame = timestamp_columns(frame, TS_RAW, mapping.timestamp, tz, repeated)
    kinds = [k.value for k in EventKind]
    limit = pl.lit(now).cast(pl.Datetime("us", "UTC")) + pl.duration(seconds=tolerance_s)
    ts, machine_c = pl.col(TS_UTC), pl.col(MACHINE)
    checks = [
        (machine_c.is_null() | ~machine_c.is_in(machines.implode()), pl.format("unknown machine '{}'", machine_c), mapping.machine_column),
        (~pl.col("kind").is_in(kinds), pl.format("unknown event kind '{}' (use {})", pl.col("kind"), pl.lit("/".join(kinds))), "kind"),
        (pl.col(TS_GAP), pl.lit("nonexistent local time (skipped by a daylight-saving change)"), ts_col),
        (ts.is_null(), pl.format("unparseable timestamp '{}'", pl.col(TS_RAW).cast(pl.String)), ts_col),
        (ts > limit, pl.lit("timestamp in the future"), ts_col),
    ]
    reason: pl.Expr = pl.lit(None, pl.String)
    where: pl.Expr = pl.lit(None, pl.String)
    for condition, text, column in reversed(checks):
        reason = pl.when(condition.fill_null(False)).then(text).otherwise(reason)
        where = pl.when(condition.fill_null(False)).then(pl.lit(column)).otherwise(where)
    return frame.with_columns(reason.alias(REASON), where.alias(REASON_COLUMN), ts.alias("ts")).drop(TS_GAP, TS_UTC)
