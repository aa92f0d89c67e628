"""Ingesting one file into a factory's lake: read, validate, quarantine, deduplicate, commit.

The steps, per chunk of rows (memory stays bounded whatever the file size):

1. shape the chunk to long form and validate every row (:mod:`analytics.ingest.validate`);
2. rows that fail go to the quarantine table with file, row, column and reason;
3. good rows are deduplicated on (machine, sensor, ts): against earlier rows of the same file and
   against what the lake already holds for the same local dates. An exact repeat is counted as a
   duplicate; the same key with a different value is quarantined as a conflict, so the stored
   reading never changes silently;
4. new rows are staged as Parquet files inside the table, invisible to readers.

After the last chunk, the staged files are committed in *one* Delta transaction per table. A process
killed at any moment leaves the readings table as it was before the file or after it, never in
between; running the same ingest again completes it and stores every reading once.
"""

from __future__ import annotations

import itertools
import logging
import queue
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import NamedTuple, TypeVar

import polars as pl
from deltalake.transaction import AddAction
from upath import UPath

from analytics.errors import HubError, InputFileError
from analytics.ingest.mapping import ImportMapping
from analytics.ingest.parse import RepeatedHours
from analytics.ingest.quality import QualityAccumulator
from analytics.ingest.sources import ROW, read_chunks, sha256_file
from analytics.ingest.validate import (
    CODE,
    COLUMN,
    MACHINE,
    REASON,
    REASON_COLUMN,
    SENSOR,
    SID,
    VALUE_RAW,
    Shaped,
    reason_messages,
    sensor_table,
    shape_events,
    shape_readings,
    validate_readings,
)
from analytics.schemas import EVENTS_KEY
from analytics.store.hub import Hub
from analytics.store.lake import PARTITION_COLUMN
from analytics.store.storage import is_local, local_copy, storage_path, uri

log = logging.getLogger(__name__)

_T = TypeVar("_T")

ProgressCallback = Callable[[int], None]


@dataclass
class IngestResult:
    """What happened to one file."""

    source_file: str
    table: str
    status: str  # "ok", "skipped" (same content already ingested) or "failed"
    ingest_id: str = ""
    file_sha256: str = ""
    rows_read: int = 0
    accepted: int = 0
    duplicate: int = 0
    quarantined: int = 0
    message: str = ""
    quality: pl.DataFrame | None = field(default=None, repr=False)
    reasons: dict[str, int] = field(default_factory=dict)


def _local_date(ts: pl.Expr, tz: str) -> pl.Expr:
    """The factory-local calendar date of each UTC timestamp, as the partition string."""
    return ts.dt.convert_time_zone(tz).dt.date().cast(pl.String).alias(PARTITION_COLUMN)


def _with_local_date(frame: pl.DataFrame, tz: str) -> pl.DataFrame:
    """Add the partition date, converting only the distinct quarter hours (time zones are offset
    from UTC by multiples of 15 minutes, so a quarter hour never straddles local midnight)."""
    if frame.height == 0:
        return frame.with_columns(pl.lit(None, pl.String).alias(PARTITION_COLUMN))
    bounds = frame.select(_local_date(pl.col("ts").min(), tz).alias("lo"), _local_date(pl.col("ts").max(), tz).alias("hi")).row(0)
    if bounds[0] == bounds[1]:
        return frame.with_columns(pl.lit(bounds[0], pl.String).alias(PARTITION_COLUMN))
    quarter = pl.col("ts").dt.truncate("15m")
    slots = frame.select(quarter.unique().alias("ts")).with_columns(_local_date(pl.col("ts"), tz))
    return frame.with_columns(
        quarter.replace_strict(slots.get_column("ts"), slots.get_column(PARTITION_COLUMN), return_dtype=pl.String).alias(PARTITION_COLUMN)
    )


class _Staging:
    """Files this run has staged but not committed, by table and date."""

    def __init__(self) -> None:
        self.adds: dict[str, list] = {"readings": [], "events": [], "quarantine": []}
        self.paths: dict[str, dict[str, list[UPath]]] = {"readings": {}, "events": {}, "quarantine": {}}

    def record(self, table: str, root: UPath, adds: list) -> None:
        self.adds[table].extend(adds)
        for add in adds:
            day = add.partition_values[PARTITION_COLUMN]
            self.paths[table].setdefault(day, []).append(root / add.path)

    def files(self, table: str, days: list[str]) -> list[str]:
        return [uri(p) for d in days for p in self.paths[table].get(d, [])]

    def discard(self) -> None:
        """Remove the staged files (on a local disk or the object store alike)."""
        for per_day in self.paths.values():
            for files in per_day.values():
                for file in files:
                    file.unlink(missing_ok=True)


def existing_rows(
    hub: Hub, factory_id: str, table: str, days: list[str], machines: list[str], columns: list[str], staged: Sequence[str] = ()
) -> pl.DataFrame | None:
    """Rows already stored on these dates for these machines: committed, or in the ``staged``
    files of the running ingest (a preview, which stages nothing, passes none)."""
    files = hub.lake.snapshot_files(factory_id, table, dates=days) + list(staged)
    if not files:
        return None
    return (
        pl.scan_parquet(files, hive_partitioning=False, glob=False)
        .filter(pl.col("machine_id").is_in(machines))
        .select(columns)
        .collect()
    )


def _split_duplicates(good: pl.DataFrame, key: list[str], existing: pl.DataFrame | None, compare: str) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """(new rows, exact duplicates, conflicting rows with a reason) of ``good``, for events.

    Rows with the same ``key`` are exact duplicates when ``compare`` is equal too, else conflicts.
    First occurrence in file order wins inside the file; what is stored wins over the file.
    """
    first = pl.struct(key).is_first_distinct()
    firsts = good.filter(first)
    repeats = good.filter(~first)
    conflicts = []
    duplicates = []
    if repeats.height:
        paired = repeats.join(firsts.select(*key, pl.col(compare).alias("__first"), pl.col(ROW).alias("__first_row")), on=key, how="left")
        same = paired.get_column(compare) == paired.get_column("__first")
        duplicates.append(paired.filter(same).drop("__first", "__first_row"))
        conflicts.append(
            paired.filter(~same).with_columns(
                pl.format("duplicate key with a different value (first at row {})", pl.col("__first_row")).alias(REASON)
            ).drop("__first", "__first_row")
        )
    new = firsts
    if existing is not None and existing.height:
        stored = existing.select(*key, pl.col(compare).alias("__stored")).unique(subset=key, keep="first")
        joined = new.join(stored, on=key, how="left")
        found = joined.get_column("__stored").is_not_null()
        same = (joined.get_column("__stored") == joined.get_column(compare)).fill_null(False)
        duplicates.append(joined.filter(found & same).drop("__stored"))
        conflicts.append(
            joined.filter(found & ~same).with_columns(
                pl.format("conflicts with the stored value {}", pl.col("__stored")).alias(REASON)
            ).drop("__stored")
        )
        new = joined.filter(~found).drop("__stored")
    dup = pl.concat(duplicates, how="diagonal_relaxed") if duplicates else good.clear()
    con = pl.concat(conflicts, how="diagonal_relaxed") if conflicts else good.clear().with_columns(pl.lit(None, pl.String).alias(REASON))
    return new, dup, con


def split_events(good: pl.DataFrame, existing: pl.DataFrame | None) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """(new events, exact duplicates, conflicts with ``__reason`` and ``__reason_column``) of a
    chunk's valid events, against earlier rows of the file and ``existing`` (:func:`existing_rows`)."""
    new, dup, conflicts = _split_duplicates(good, list(EVENTS_KEY), existing, "text")
    return new, dup, conflicts.with_columns(pl.lit("text").alias(REASON_COLUMN))


def quarantine_rows(bad: pl.DataFrame, factory_id: str, ingest_id: str, source: str, sha: str, tz: str, now: datetime) -> pl.DataFrame:
    """Failing rows as the quarantine table holds them; ``raw`` is the cell as read (value, else text)."""
    raw_value = pl.coalesce(
        pl.col(VALUE_RAW).cast(pl.String) if VALUE_RAW in bad.columns else pl.lit(None, pl.String),
        pl.col("value").cast(pl.String) if "value" in bad.columns else pl.lit(None, pl.String),
        pl.col("text") if "text" in bad.columns else pl.lit(None, pl.String),
    )
    sensor = pl.col(SENSOR) if SENSOR in bad.columns else pl.lit(None, pl.String)
    return bad.select(
        pl.lit(factory_id).alias("factory_id"),
        pl.lit(ingest_id).alias("ingest_id"),
        pl.lit(source).alias("source_file"),
        pl.lit(sha).alias("file_sha256"),
        pl.col(ROW).cast(pl.Int64).alias("row"),
        pl.col(REASON_COLUMN).fill_null("").alias("column"),
        pl.col(REASON).alias("reason"),
        raw_value.alias("raw"),
        pl.col(MACHINE).alias("machine_id"),
        sensor.alias("sensor"),
        pl.col("ts"),
        pl.lit(now).cast(pl.Datetime("us", "UTC")).alias("quarantined_at"),
    ).with_columns(_local_date(pl.col("quarantined_at"), tz))


class _AlreadyIngested(Exception):
    def __init__(self, result: IngestResult) -> None:
        self.result = result


class _RunRecord:
    """The ingest's entry in the registry, opened once the file's hash is known.

    Hashing runs in a background thread while the first chunk is read and validated; the run is
    recorded (or found to be a repeat of a completed one) before anything is staged.
    """

    def __init__(self, hub: Hub, factory_id: str, path: Path, table: str, digest: Future[str], now: datetime, force: bool) -> None:
        self.hub, self.factory_id, self.path, self.table = hub, factory_id, path, table
        self.digest, self.force = digest, force
        self.ingest_id = f"{now.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}"
        self.started = False

    @property
    def sha(self) -> str:
        return self.digest.result()

    def begin(self) -> str:
        """Record the run and return the file's hash; raises _AlreadyIngested for a repeat."""
        if self.started:
            return self.sha
        if not self.force:
            previous = self.hub.registry.completed_ingest(self.factory_id, self.sha, self.table)
            if previous is not None:
                raise _AlreadyIngested(
                    IngestResult(
                        self.path.name, self.table, "skipped", previous.ingest_id, self.sha, previous.rows_read, 0,
                        previous.accepted + previous.duplicate, 0,
                        f"identical content already ingested at {previous.started_at} (run {previous.ingest_id})",
                    )
                )
        self.hub.registry.start_ingest(self.ingest_id, self.factory_id, str(self.path), self.sha, self.table)
        self.started = True
        return self.sha

    def fail(self, message: str) -> None:
        if not self.started:
            self.hub.registry.start_ingest(self.ingest_id, self.factory_id, str(self.path), self.sha, self.table)
            self.started = True
        self.hub.registry.finish_ingest(self.ingest_id, status="failed", message=message)


def ingest_file(
    hub: Hub,
    factory_id: str,
    path: Path | UPath | str,
    mapping: ImportMapping | None = None,
    *,
    now: datetime | None = None,
    progress: ProgressCallback | None = None,
    force: bool = False,
) -> IngestResult:
    """Ingest one file into ``factory_id``'s lake; raises :class:`InputFileError` if unreadable.

    ``now`` is the reference for "timestamp in the future" (default: the clock).
    A file whose exact content was already ingested successfully is skipped unless ``force``.
    A file on the hub's object storage (an inbox or upload there) is read from a local copy.
    """
    if not is_local(path := storage_path(path)):
        with local_copy(path) as readable:
            return ingest_file(hub, factory_id, readable, mapping, now=now, progress=progress, force=force)
    path = Path(path)
    mapping = mapping or ImportMapping()
    factory = hub.registry.factory(factory_id)
    now = now or datetime.now(UTC)
    if not path.is_file():
        raise InputFileError(path, "no such file")
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="ingest-hash") as hasher:
        run = _RunRecord(hub, factory.factory_id, path, mapping.table, hasher.submit(sha256_file, path), now, force)
        staging = _Staging()
        try:
            with hub.lake.lock(factory_id):
                result = _run(hub, factory.factory_id, factory.timezone, path, run, mapping, now, staging, progress)
        except _AlreadyIngested as repeat:
            staging.discard()
            return repeat.result
        except BaseException as exc:
            staging.discard()
            run.fail(str(exc) if isinstance(exc, HubError) else f"{type(exc).__name__}: {exc}")
            raise
    hub.registry.finish_ingest(
        run.ingest_id,
        status="ok",
        rows_read=result.rows_read,
        accepted=result.accepted,
        duplicate=result.duplicate,
        quarantined=result.quarantined,
        message=result.message,
    )
    return result


class PreparedChunk(NamedTuple):
    """One chunk of a file after reading, shaping and validating (which need no lake state)."""

    rows: int  # file rows in the chunk
    good: pl.DataFrame  # readings: __sid, ts, value, __row; events: the shaped columns + machine_id
    bad: pl.DataFrame  # failing rows with __reason and __reason_column
    shaped: Shaped | None  # readings only: the shaped chunk (source column names, blank cells)


def validation_tables(hub: Hub, factory_id: str) -> tuple[pl.DataFrame, pl.Series]:
    """The registry's sensors as :func:`~analytics.ingest.validate.sensor_table` and its machine
    ids: what every row of the factory's files is validated against."""
    registered = pl.DataFrame(
        [vars(s) for s in hub.registry.sensors(factory_id)],
        schema={"factory_id": pl.String, "machine_id": pl.String, "sensor": pl.String, "unit": pl.String, "min_value": pl.Float64, "max_value": pl.Float64, "interval_s": pl.Float64},
    )
    machines = pl.Series([m.machine_id for m in hub.registry.machines(factory_id)], dtype=pl.String)
    return sensor_table(registered), machines


def prepare_chunks(
    path: Path,
    mapping: ImportMapping,
    sensors: pl.DataFrame,
    machines: pl.Series,
    tz: str,
    now: datetime,
    future_tolerance_s: float,
    chunk_rows: int,
) -> Iterator[PreparedChunk]:
    """Read, shape and validate the file chunk by chunk: the one code path of ingest and preview,
    so a preview says exactly what an ingest will quarantine and why.

    Raises :class:`InputFileError` for a file that cannot be read (possibly after earlier chunks).
    """
    repeated = RepeatedHours()  # a repeated daylight-saving hour may straddle chunks
    for chunk in read_chunks(path, mapping, chunk_rows):
        if mapping.table == "readings":
            shaped = shape_readings(chunk, mapping, str(path))
            checked = validate_readings(shaped, mapping, sensors, tz, now, future_tolerance_s, repeated)
            bad = reason_messages(checked.filter(pl.col(CODE).is_not_null()), shaped)
            good = checked.filter(pl.col(CODE).is_null()).select(SID, "ts", "value", ROW)
            yield PreparedChunk(chunk.height, good, bad, shaped)
        else:
            checked = shape_events(chunk, mapping, str(path), tz, now, future_tolerance_s, machines, repeated)
            bad = checked.filter(pl.col(REASON).is_not_null())
            good = checked.filter(pl.col(REASON).is_null()).with_columns(pl.col(MACHINE).alias("machine_id"))
            yield PreparedChunk(chunk.height, good, bad, None)


# A reason's kind: its text without the quoted value, bracketed range or number it names.
_REASON_DETAIL = r" '.*'$| \(.*\)$| \[.*\]$| [-0-9.e+]+$"


def reason_kind(reason: pl.Expr) -> pl.Expr:
    """Quarantine reasons by kind: "outside valid range [0, 10]" -> "outside valid range"."""
    return reason.str.replace(_REASON_DETAIL, "")


def count_reasons(bad: pl.DataFrame, into: dict[str, int]) -> None:
    """Add the failing rows' counts per reason kind (as in :attr:`IngestResult.reasons`) to ``into``."""
    for reason, count in bad.group_by(reason_kind(pl.col(REASON))).len().iter_rows():
        into[reason] = into.get(reason, 0) + count


KEY = "__key"


def reading_key(sid: pl.Expr, ts: pl.Expr) -> pl.Expr:
    """One Int128 per (sensor id, ts) that sorts like the pair: joins and sorts on a single
    integer column are several times faster than on two."""
    return sid.cast(pl.Int128) * (1 << 64) + (ts.dt.epoch("us").cast(pl.Int128) + (1 << 63))


@dataclass
class _Run:
    """What one earlier chunk of the file stored: per-sensor time ranges, kept in memory, and the
    rows' keys, kept while they fit the memory budget (later they are re-read from the staged
    files, and only where a new chunk overlaps their time ranges)."""

    ranges: pl.DataFrame  # SID, lo, hi
    staged: Future[list[AddAction]] | None  # None: nothing on disk (a preview), rows always kept
    rows: pl.DataFrame | None  # KEY, value, sorted by KEY


class ReadingsDedupe:
    """De-duplicates readings on (sensor id, ts) against earlier chunks of the file and the lake.

    Memory stays bounded: earlier chunks leave their per-sensor time ranges behind, and their keys
    only within a fixed budget. A file in time order never overlaps them; a late or repeated row
    is looked up in the kept keys, or makes just the overlapping sensors of older chunks be read
    back from their staged files.
    Lookups are binary searches in sorted Int128 keys (which hash slowly but compare fast).
    A preview stages nothing to read back: its chunks' keys all stay in memory (24 bytes a reading).
    """

    def __init__(self, hub: Hub, factory_id: str, sensors: pl.DataFrame, memory_budget: int) -> None:
        self.hub = hub
        self.factory_id = factory_id
        self.sensors = sensors
        self.memory_budget = memory_budget
        self.runs: list[_Run] = []

    def _read(self, files: list[str], wanted: pl.DataFrame, t0: datetime, t1: datetime) -> pl.DataFrame:
        """Readings of ``files`` for the sensors in ``wanted`` (SID, machine_id, sensor) between
        t0 and t1, as (KEY, value) sorted by KEY."""
        return (
            pl.scan_parquet(files, hive_partitioning=False, glob=False)
            .filter(pl.col("machine_id").is_in(wanted.get_column("machine_id").unique().implode()))
            .filter(pl.col("ts").is_between(t0, t1))
            .select("machine_id", "sensor", "ts", "value")
            .join(wanted.lazy(), on=["machine_id", "sensor"], how="inner")
            .select(reading_key(pl.col(SID), pl.col("ts")).alias(KEY), "value")
            .sort(KEY)
            .collect()
        )

    def _stored(self, ranges: pl.DataFrame, days: list[str]) -> pl.DataFrame | None:
        """Committed readings of the same local dates and sensors, sorted by KEY."""
        files = self.hub.lake.snapshot_files(self.factory_id, "readings", dates=days)
        if not files:
            return None
        wanted = self.sensors.join(ranges.select(SID), on=SID).select(SID, "machine_id", "sensor")
        return self._read(files, wanted, ranges.get_column("lo").min(), ranges.get_column("hi").max())

    def _earlier(self, ranges: pl.DataFrame) -> Iterator[pl.DataFrame]:
        """Rows of earlier chunks whose sensors and times overlap this chunk's ``ranges``, one
        chunk at a time (so at most one earlier chunk is in memory)."""
        for run in self.runs:
            overlap = ranges.join(run.ranges, on=SID, suffix="_run").filter(
                (pl.col("lo") <= pl.col("hi_run")) & (pl.col("lo_run") <= pl.col("hi"))
            )
            if overlap.height == 0:
                continue
            if run.rows is not None:
                yield run.rows
                continue
            assert run.staged is not None  # only runs with staged files give up their rows
            files = [str(self.hub.lake.table_path(self.factory_id, "readings") / a.path) for a in run.staged.result()]
            wanted = self.sensors.join(overlap.select(SID), on=SID).select(SID, "machine_id", "sensor")
            yield self._read(files, wanted, overlap.get_column("lo").min(), overlap.get_column("hi").max())

    def _lookup(self, keys: pl.Series, runs: Iterable[pl.DataFrame]) -> pl.Series:
        """For each key (sorted), the value stored under it in any of the sorted ``runs`` (else null).

        Only the keys inside a run's key range are searched.
        """
        stored = pl.select(pl.repeat(None, keys.len(), dtype=pl.Float64).alias("__stored")).to_series()
        for run in runs:
            if run.height == 0:
                continue
            run_keys = run.get_column(KEY).set_sorted()
            lo = keys.search_sorted(run_keys[0], side="left")
            hi = keys.search_sorted(run_keys[-1], side="right")
            if hi <= lo:
                continue  # the run holds no key in this chunk's range
            window = keys.slice(lo, hi - lo)
            at = run_keys.search_sorted(window).clip(upper_bound=run.height - 1)
            hit = (run_keys.gather(at) == window) & stored.slice(lo, hi - lo).is_null()
            if hit.any():
                where = hit.arg_true()
                stored = stored.scatter(where + lo, run.get_column("value").gather(at.gather(where)))
        return stored

    def remember(self, new: pl.DataFrame, staged: Future[list[AddAction]] | None) -> None:
        """Record the rows a chunk stored (``new`` from :meth:`split`, with its keys) and their files.

        The keys of the most recent chunks stay in memory up to ``memory_budget`` readings
        (24 bytes each); older chunks are re-read from their files if ever needed. Without
        ``staged`` files (a preview) the keys stay in memory whatever the budget.
        """
        ranges = new.group_by(SID).agg(pl.col("ts").min().alias("lo"), pl.col("ts").max().alias("hi"))
        keys = new.select(KEY, "value")
        self.runs.append(_Run(ranges, staged, keys))
        held = 0
        for run in reversed(self.runs):
            if run.rows is not None and run.staged is not None:
                held += run.rows.height
                if held > self.memory_budget:
                    run.rows = None

    def split(self, good: pl.DataFrame, days: list[str]) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame, pl.DataFrame]:
        """(new rows with their ``__key``, distinct valid rows, exact duplicates, conflicts with ``__reason``).

        Rows come back sorted by (sensor id, ts); the first occurrence in the file wins within
        the file, and what is stored wins over the file.
        """
        ordered = good.with_columns(reading_key(pl.col(SID), pl.col("ts")).alias(KEY))
        # Many files come sorted by machine, sensor and time already: checking costs one pass,
        # sorting several. Equal keys must stay in file order; Polars' stable sort on the two
        # columns is 2-3 times faster than a stable sort on the Int128 key they make.
        if not ordered.select((pl.col(KEY) >= pl.col(KEY).shift()).all()).item():
            ordered = ordered.sort([SID, "ts"], maintain_order=True)
        repeat = (pl.col(KEY) == pl.col(KEY).shift()).fill_null(False)
        ordered = ordered.with_columns(repeat.alias("__repeat"))
        firsts = ordered.filter(~pl.col("__repeat")).drop("__repeat")
        repeats = ordered.filter(pl.col("__repeat")).drop("__repeat")
        duplicates: list[pl.DataFrame] = []
        conflicts: list[pl.DataFrame] = []
        if repeats.height:
            paired = repeats.join(
                firsts.select(KEY, pl.col("value").alias("__first"), pl.col(ROW).alias("__first_row")), on=KEY
            )
            same = pl.col("value") == pl.col("__first")
            duplicates.append(paired.filter(same).drop("__first", "__first_row"))
            conflicts.append(
                paired.filter(~same)
                .with_columns(pl.format("duplicate key with a different value (first at row {})", pl.col("__first_row")).alias(REASON))
                .drop("__first", "__first_row")
            )
        new = firsts
        if firsts.height:
            ranges = firsts.with_columns(pl.col(SID).set_sorted()).group_by(SID).agg(
                pl.col("ts").min().alias("lo"), pl.col("ts").max().alias("hi")
            )
            stored = self._stored(ranges, days)
            runs = itertools.chain(self._earlier(ranges), [stored] if stored is not None else [])
            looked = firsts.with_columns(self._lookup(firsts.get_column(KEY).set_sorted(), runs))
            if looked.get_column("__stored").is_not_null().any():
                found = pl.col("__stored").is_not_null()
                same = pl.col("__stored") == pl.col("value")
                duplicates.append(looked.filter(found & same).drop("__stored"))
                conflicts.append(
                    looked.filter(found & ~same)
                    .with_columns(pl.format("conflicts with the stored value {}", pl.col("__stored")).alias(REASON))
                    .drop("__stored")
                )
                new = looked.filter(~found).drop("__stored")
        empty = firsts.clear()
        dup = pl.concat(duplicates) if duplicates else empty
        con = pl.concat(conflicts) if conflicts else empty.with_columns(pl.lit(None, pl.String).alias(REASON))
        # ``new`` keeps its keys for remember(); the caller drops them before writing.
        return new, firsts.drop(KEY), dup.drop(KEY), con.drop(KEY)

    def classify(
        self, good: pl.DataFrame, days: list[str], shaped: Shaped, mapping: ImportMapping
    ) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame, pl.DataFrame]:
        """:meth:`split`, with the conflicts named for quarantine: machine, sensor and the source
        column (``__column`` and ``__reason_column``) their values came from."""
        new, distinct, dup, conflicts = self.split(good, days)
        conflicts = conflicts.with_columns(sensor_names(self.sensors, MACHINE, SENSOR))
        column = pl.col(SENSOR).replace_strict(shaped.value_columns, default=mapping.value_column)
        conflicts = conflicts.with_columns(column.alias(COLUMN), column.alias(REASON_COLUMN))
        return new, distinct, dup, conflicts


def _run(
    hub: Hub,
    factory_id: str,
    tz: str,
    path: Path,
    run: _RunRecord,
    mapping: ImportMapping,
    now: datetime,
    staging: _Staging,
    progress: ProgressCallback | None,
) -> IngestResult:
    lake, settings = hub.lake, hub.settings
    source, ingest_id = path.name, run.ingest_id
    table = mapping.table
    sensors, machines = validation_tables(hub, factory_id)
    result = IngestResult(source, table, "ok", ingest_id)
    quality = QualityAccumulator(sensors, tz, settings.flatline_min_samples)
    # Keys of up to eight chunks stay in memory (about 190 MB at the default chunk size).
    dedupe = ReadingsDedupe(hub, factory_id, sensors, memory_budget=8 * settings.ingest_chunk_rows)
    reasons: dict[str, int] = {}
    tol = settings.future_tolerance.total_seconds()
    table_root = lake.table_path(factory_id, table)
    q_root = lake.table_path(factory_id, "quarantine")
    prepared = prepare_chunks(path, mapping, sensors, machines, tz, now, tol, settings.ingest_chunk_rows)

    # Three stages overlap on the machine's cores: the next chunk is read and validated in a
    # background thread, and the previous chunk's Parquet files are written in another, while this
    # thread de-duplicates. Polars releases the GIL, so the threads run truly in parallel.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="ingest-write") as writer:
        writes: list[Future[list[AddAction]]] = []
        writes_done: list[Future[None]] = []
        quarantined: list[pl.DataFrame] = []

        def flush_quarantine() -> None:
            sha = result.file_sha256 = run.begin()
            if quarantined:
                rows = quarantine_rows(pl.concat(quarantined, how="diagonal_relaxed"), factory_id, ingest_id, source, sha, tz, now)
                staged = lake.stage(factory_id, "quarantine", _new_quarantine(hub, factory_id, rows), ingest_id)
                staging.record("quarantine", q_root, staged)
                quarantined.clear()

        try:
            for rows, good, bad, shaped in prefetch(prepared):
                result.rows_read += rows
                days = chunk_days(good, tz)
                if shaped is not None:
                    new, distinct, dup, conflicts = dedupe.classify(good, days, shaped, mapping)
                    new_rows = new.drop(KEY).with_columns(sensor_names(sensors, "machine_id", "sensor"))
                    # Quality counts need nothing from later chunks: computed on the writer thread.
                    writes_done.append(writer.submit(quality.add_blank, shaped.blank_cells))
                    writes_done.append(writer.submit(quality.add_chunk, distinct, new, dup, bad, conflicts))
                    bad = pl.concat([bad, conflicts], how="diagonal_relaxed")
                else:
                    machines_here = good.get_column("machine_id").unique().to_list()
                    existing = (
                        existing_rows(hub, factory_id, table, days, machines_here, [*EVENTS_KEY, "text"], staging.files(table, days))
                        if good.height
                        else None
                    )
                    new, dup, conflicts = split_events(good, existing)
                    new_rows = new
                    bad = pl.concat([bad, conflicts], how="diagonal_relaxed")
                if bad.height:
                    quarantined.append(bad)  # staged once the file's hash is known
                    if sum(q.height for q in quarantined) >= settings.ingest_chunk_rows:
                        flush_quarantine()  # a file of mostly bad rows must not fill memory
                new_rows = _with_local_date(new_rows.with_columns(pl.lit(factory_id).alias("factory_id")), tz)
                if table == "events":
                    # Events de-duplicate against staged files, so those must exist before the next chunk.
                    staging.record(table, table_root, lake.stage(factory_id, table, new_rows, ingest_id))
                else:
                    # Back-pressure: at most two chunks wait for the writer, or memory would grow
                    # with the file whenever writing is slower than de-duplicating.
                    if len(writes) >= 2:
                        writes[-2].result()
                    writes.append(writer.submit(lake.stage, factory_id, table, new_rows, ingest_id, presorted=True))
                    dedupe.remember(new, writes[-1])
                result.accepted += new.height
                result.duplicate += dup.height
                result.quarantined += bad.height
                count_reasons(bad, reasons)
                if progress is not None:
                    progress(rows)
        except BaseException:
            # Whatever was written must be known to be removed (ingest_file discards staging).
            for write in writes:
                if write.exception() is None:
                    staging.record(table, table_root, write.result())
            raise
        for write in writes:
            staging.record(table, table_root, write.result())
        # The hash was computed in the background meanwhile; a repeat of a completed ingest stops here
        # (ingest_file then removes everything staged).
        flush_quarantine()
        for done in writes_done:
            done.result()  # re-raise any error of the quality counts
    metadata = {"ingest_id": ingest_id, "source_file": source, "file_sha256": run.sha}
    lake.commit(factory_id, "quarantine", staging.adds["quarantine"], metadata)
    lake.commit(factory_id, table, staging.adds[table], metadata)
    touched = sorted({a.partition_values[PARTITION_COLUMN] for a in staging.adds[table]})
    lake.compact(factory_id, table, touched, min_files=settings.compact_min_files)
    result.reasons = reasons
    if table == "readings":
        result.quality = quality.report(hub, factory_id, ingest_id, source, now, min_days=settings.min_training_days)
        if result.quality.height:
            lake.append(factory_id, "quality", result.quality.with_columns(_local_date(pl.col("reported_at"), tz)), ingest_id, metadata)
    return result


def sensor_names(sensors: pl.DataFrame, machine: str, sensor: str) -> list[pl.Expr]:
    """Machine id and sensor name of each row's ``__sid`` (a lookup, not a join)."""
    sids = sensors.get_column(SID)
    return [
        pl.col(SID).replace_strict(sids, sensors.get_column("machine_id"), return_dtype=pl.String).alias(machine),
        pl.col(SID).replace_strict(sids, sensors.get_column("sensor"), return_dtype=pl.String).alias(sensor),
    ]


def prefetch(items: Iterator[_T], depth: int = 1) -> Iterator[_T]:
    """Iterate ``items`` in a background thread, ``depth`` items ahead; re-raises its errors."""
    buffer: queue.Queue[tuple[bool, object]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                if stop.is_set():
                    return
                buffer.put((True, item))
        except BaseException as exc:  # handed to the consumer, which re-raises it
            buffer.put((False, exc))
            return
        buffer.put((False, None))

    thread = threading.Thread(target=produce, name="ingest-read", daemon=True)
    thread.start()
    try:
        while True:
            ok, item = buffer.get()
            if not ok:
                if item is not None:
                    raise item  # type: ignore[misc]
                return
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        while thread.is_alive():
            try:
                buffer.get(timeout=0.1)
            except queue.Empty:
                pass
        thread.join()


def chunk_days(good: pl.DataFrame, tz: str) -> list[str]:
    """Local dates from the chunk's first to its last row: the partitions it may collide with."""
    if good.height == 0:
        return []
    lo, hi = good.select(_local_date(pl.col("ts").min(), tz), _local_date(pl.col("ts").max(), tz).alias("hi")).row(0)
    first, last = date.fromisoformat(lo), date.fromisoformat(hi)
    return [(first + timedelta(days=i)).isoformat() for i in range((last - first).days + 1)]


def _new_quarantine(hub: Hub, factory_id: str, rows: pl.DataFrame) -> pl.DataFrame:
    """Drop quarantine rows already recorded for the same file content (re-runs are idempotent)."""
    if rows.height == 0:
        return rows
    files = hub.lake.snapshot_files(factory_id, "quarantine")
    if not files:
        return rows
    sha = rows.get_column("file_sha256")[0]
    seen = (
        pl.scan_parquet(files, hive_partitioning=False, glob=False)
        .filter(pl.col("file_sha256") == sha)
        .select("file_sha256", "row", "column", "reason")
        .collect()
    )
    return rows.join(seen, on=["file_sha256", "row", "column", "reason"], how="anti", nulls_equal=True)
