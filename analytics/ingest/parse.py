"""Parsing raw columns into typed values: timestamps to UTC and numbers to float64.

All functions are Polars expressions over whole columns; nothing loops over rows.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import polars as pl

from analytics.ingest.mapping import TimestampSpec
from analytics.schemas import TS_DTYPE

# Formats tried, in order, when a file does not say. Offsets (``%z``) make a value absolute;
# the rest are local wall-clock times of the factory.
# Plain formats come before their fractional-second (``%.f``) variants: Polars parses them on a
# fast path about four times quicker.
AWARE_FORMATS = (
    "%Y-%m-%dT%H:%M:%S%z",
    "%Y-%m-%d %H:%M:%S%z",
    "%Y-%m-%dT%H:%M:%S%.f%z",
    "%Y-%m-%d %H:%M:%S%.f%z",
    "%Y-%m-%dT%H:%M%z",
    "%Y-%m-%d %H:%M%z",
)
NAIVE_FORMATS = (
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%d %H:%M:%S%.f",
    "%Y-%m-%dT%H:%M:%S%.f",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%dT%H:%M",
    "%Y/%m/%d %H:%M:%S%.f",
    "%Y/%m/%d %H:%M",
    "%Y.%m.%d %H:%M:%S%.f",
    "%Y.%m.%d %H:%M",
    "%Y. %m. %d. %H:%M:%S",
    "%Y-%m-%d %p %I:%M:%S",
    "%Y-%m-%d %p %I:%M",
    "%Y. %m. %d. %p %I:%M:%S",
    "%Y-%m-%d",
)

TS_LOCAL = "__ts_local"
TS_UTC = "__ts_utc"
TS_GAP = "__ts_nonexistent"


def _korean_meridiem(text: pl.Expr) -> pl.Expr:
    # Korean Excel writes "2024-03-05 오후 3:04:05"; chrono understands AM/PM.
    return text.str.replace("오전", "AM", literal=True).str.replace("오후", "PM", literal=True)


def _strip_utc_suffix(text: pl.Expr) -> pl.Expr:
    return text.str.strip_chars().str.replace(r"Z$", "+00:00")


def parse_timestamp_text(text: pl.Expr, spec: TimestampSpec, clean: bool = True) -> tuple[pl.Expr, pl.Expr]:
    """(aware UTC datetime or null, naive local datetime or null) parsed from text."""
    if spec.format in {"epoch_s", "epoch_ms", "epoch_us"}:
        unit = {"epoch_s": "s", "epoch_ms": "ms", "epoch_us": "us"}[spec.format]
        number = text.str.strip_chars().cast(pl.Int64, strict=False)
        return pl.from_epoch(number, time_unit=unit).dt.replace_time_zone("UTC"), pl.lit(None, pl.Datetime("us"))
    cleaned = _korean_meridiem(_strip_utc_suffix(text)) if clean else text
    if spec.format is not None:
        if "%z" in spec.format or "%Z" in spec.format:
            aware = cleaned.str.to_datetime(spec.format, strict=False, time_unit="us", time_zone="UTC")
            return aware, pl.lit(None, pl.Datetime("us"))
        return pl.lit(None, TS_DTYPE), cleaned.str.to_datetime(spec.format, strict=False, time_unit="us")
    aware = pl.coalesce(
        [cleaned.str.to_datetime(f, strict=False, time_unit="us", time_zone="UTC") for f in AWARE_FORMATS]
    )
    naive = pl.coalesce([cleaned.str.to_datetime(f, strict=False, time_unit="us") for f in NAIVE_FORMATS])
    return aware, naive


def detect_format(sample: pl.Series) -> str | None:
    """The one format that parses every non-null value of ``sample`` as it is, if any.

    This is the fast path: the whole column is then parsed with that format alone, without the
    clean-up (``Z`` suffix, Korean AM/PM) that the general path applies to every value.
    """
    values = sample.drop_nulls()
    if values.len() == 0:
        return None
    frame = values.to_frame("t")
    for fmt in AWARE_FORMATS + NAIVE_FORMATS:
        kwargs = {"time_zone": "UTC"} if "%z" in fmt else {}
        parsed = frame.select(pl.col("t").str.to_datetime(fmt, strict=False, time_unit="us", **kwargs))
        if parsed.to_series().null_count() == 0:
            return fmt
    return None


def _parse_text_column(frame: pl.DataFrame, column: str, spec: TimestampSpec) -> pl.DataFrame:
    """Add ``__aware`` and ``__ts_local`` parsed from a text column.

    Fast path: when one format fits a sample, parse everything with it, then re-parse only the rows
    it missed with every known format (a mixed file costs extra only for its odd rows).
    """
    text = pl.col(column).cast(pl.String)
    fmt = None if spec.format is not None else detect_format(frame.get_column(column).cast(pl.String).head(1000))
    first = spec if fmt is None else spec.model_copy(update={"format": fmt})
    aware, naive = parse_timestamp_text(text, first, clean=fmt is None)
    out = frame.with_columns(aware.alias("__aware"), naive.alias(TS_LOCAL))
    if fmt is None:
        return out
    missed = out.select(
        pl.col("__aware").is_null() & pl.col(TS_LOCAL).is_null() & pl.col(column).is_not_null()
    ).to_series()
    if not missed.any():
        return out
    rows = missed.arg_true()
    aware2, naive2 = parse_timestamp_text(text, spec)
    retry = frame.select(pl.col(column)).filter(missed).select(aware2.alias("a"), naive2.alias("n"))
    return out.with_columns(
        out.get_column("__aware").scatter(rows, retry.get_column("a")),
        out.get_column(TS_LOCAL).scatter(rows, retry.get_column("n")),
    )


class RepeatedHours:
    """Local times seen so far in the repeated hour of a DST fall-back, per series, across the
    chunks of one file: the second 02:30 of a series is the later instant even when the first
    02:30 was in an earlier chunk."""

    def __init__(self) -> None:
        self.seen: pl.DataFrame | None = None

    def repeats(self, ambiguous: pl.DataFrame, keys: list[str]) -> pl.Series:
        """Row ids (``__i``) of ``ambiguous`` rows that repeat a local time seen before."""
        counted = ambiguous.with_columns((pl.int_range(pl.len()).over(keys) + 1).alias("__occ"))
        if self.seen is not None:
            counted = counted.join(self.seen, on=keys, how="left", nulls_equal=True).with_columns(
                pl.col("__occ") + pl.col("__n").fill_null(0)
            )
        totals = counted.group_by(keys).agg(pl.col("__occ").max().alias("__n"))
        self.seen = totals if self.seen is None else pl.concat([self.seen, totals]).group_by(keys).agg(pl.col("__n").max())
        return counted.filter(pl.col("__occ") > 1).get_column("__i")


def timestamp_columns(
    frame: pl.DataFrame, column: str, spec: TimestampSpec, tz: str, repeated: RepeatedHours | None = None
) -> pl.DataFrame:
    """Add ``__ts_utc`` (UTC) and ``__ts_nonexistent`` (a local time the clock skipped) to frame.

    Naive timestamps are wall-clock time in ``spec.timezone`` or else ``tz``. At a DST fall-back the
    repeated hour is ambiguous: the first occurrence of a local time in a series is taken as the
    earlier instant and the second as the later, as a logger writing in order meant it (pass one
    ``repeated`` for all chunks of a file). A counter (``origin`` + ``step``) measures elapsed time,
    so a naive origin is placed in the zone once and the steps are added in UTC.
    """
    dtype = frame.schema[column]
    raw = pl.col(column)
    no_naive = pl.lit(None, pl.Datetime("us"))
    no_aware = pl.lit(None, TS_DTYPE)
    if spec.origin is not None:
        counter = raw.cast(pl.Float64, strict=False)
        offset = pl.duration(microseconds=(counter * (spec.step_seconds or 0) * 1e6).round(0).cast(pl.Int64))
        origin = spec.origin if spec.origin.tzinfo is not None else spec.origin.replace(tzinfo=ZoneInfo(spec.timezone or tz))
        start = pl.lit(origin.astimezone(UTC).replace(tzinfo=None)).cast(pl.Datetime("us")).dt.replace_time_zone("UTC")
        out = frame.with_columns((start + offset).alias("__aware"), no_naive.alias(TS_LOCAL))
    elif isinstance(dtype, pl.Datetime) and dtype.time_zone is not None:
        out = frame.with_columns(raw.dt.convert_time_zone("UTC").cast(TS_DTYPE).alias("__aware"), no_naive.alias(TS_LOCAL))
    elif isinstance(dtype, pl.Datetime) or dtype == pl.Date:
        out = frame.with_columns(no_aware.alias("__aware"), raw.cast(pl.Datetime("us")).alias(TS_LOCAL))
    else:
        out = _parse_text_column(frame, column, spec)
    return _localize(out, spec.timezone or tz, repeated or RepeatedHours())


def _fixed_offset(zone: str, local: pl.Series) -> timedelta | None:
    """The zone's UTC offset if it is the same over the whole span of ``local``, else None.

    Sampled at every local midnight of the span (and the day either side): zones change offset at
    most once a day, so equal offsets at all midnights mean no DST transition inside the span.
    """
    lo, hi = local.min(), local.max()
    if lo is None or hi is None:
        return None
    first, last = lo.date() - timedelta(days=1), hi.date() + timedelta(days=1)  # type: ignore[union-attr]
    if (last - first).days > 3700:
        return None
    tz = ZoneInfo(zone)
    offsets = {
        tz.utcoffset(datetime.combine(first + timedelta(days=i), time()))
        for i in range((last - first).days + 1)
    }
    return offsets.pop() if len(offsets) == 1 else None


def _localize(frame: pl.DataFrame, zone: str, repeated: RepeatedHours) -> pl.DataFrame:
    local = pl.col(TS_LOCAL)
    offset = _fixed_offset(zone, frame.get_column(TS_LOCAL))
    if offset is not None:
        # No DST in the span (always so in Asia/Seoul): plain arithmetic, nothing ambiguous.
        utc = (local - pl.lit(offset)).dt.replace_time_zone("UTC").cast(TS_DTYPE)
        out = frame.with_columns(
            pl.coalesce(pl.col("__aware"), utc).alias(TS_UTC), pl.lit(False).alias(TS_GAP)
        )
        return out.drop("__aware", TS_LOCAL)
    out = frame.with_columns(
        local.dt.replace_time_zone(zone, ambiguous="earliest", non_existent="null").alias("__early"),
        local.dt.replace_time_zone(zone, ambiguous="latest", non_existent="null").alias("__late"),
    )
    early, late = pl.col("__early"), pl.col("__late")
    if out.select((early != late).any()).item():
        series = [c for c in ("__machine", "__sensor") if c in out.columns]
        out = out.with_row_index("__i")
        ambiguous = out.filter(early != late).select("__i", *series, TS_LOCAL)
        later = repeated.repeats(ambiguous, [*series, TS_LOCAL])
        resolved = pl.when(early == late).then(early).when(pl.col("__i").is_in(later.implode())).then(late).otherwise(early)
        out = out.with_columns(resolved.alias("__early")).drop("__i")
        resolved = early
    else:
        resolved = early
    out = out.with_columns(
        pl.coalesce(pl.col("__aware"), resolved.dt.convert_time_zone("UTC").cast(TS_DTYPE)).alias(TS_UTC),
        (local.is_not_null() & early.is_null()).alias(TS_GAP),
    )
    return out.drop("__aware", TS_LOCAL, "__early", "__late")


def parse_float(raw: pl.Expr, dtype: pl.DataType, decimal_comma: bool = False) -> pl.Expr:
    """Float64 from a numeric or text column; text that is not a number becomes null."""
    if dtype.is_numeric():
        return raw.cast(pl.Float64)
    text = raw.cast(pl.String).str.strip_chars()
    if decimal_comma:
        text = text.str.replace(",", ".", literal=True)
    return text.cast(pl.Float64, strict=False)


def float_column(frame: pl.DataFrame, raw: str, out: str, decimal_comma: bool = False) -> pl.DataFrame:
    """Add ``out``: Float64 parsed from column ``raw``.

    Text is cast directly; only values that fail are tried again with blanks trimmed (and decimal
    commas), so the common clean file pays for one cast and no string copies.
    """
    dtype = frame.schema[raw]
    if dtype.is_numeric():
        return frame.with_columns(pl.col(raw).cast(pl.Float64).alias(out))
    text = pl.col(raw).cast(pl.String)
    frame = frame.with_columns((text.str.replace(",", ".", literal=True) if decimal_comma else text).cast(pl.Float64, strict=False).alias(out))
    missed = frame.select(pl.col(out).is_null() & pl.col(raw).is_not_null()).to_series()
    if not missed.any():
        return frame
    rows = missed.arg_true()
    retry = frame.select(parse_float(pl.col(raw), dtype, decimal_comma)).filter(missed).to_series()
    return frame.with_columns(frame.get_column(out).scatter(rows, retry))


def is_blank(raw: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    if dtype == pl.String:
        return raw.is_null() | (raw.str.strip_chars() == "")
    return raw.is_null()
