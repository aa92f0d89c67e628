"""The lake: one Delta Lake table per factory and dataset, partitioned by the factory's local date.

Layout under the storage root (a local folder or an object store, :mod:`analytics.store.storage`)::

    factories/<factory_id>/lake/<table>/_delta_log/...        transaction log
    factories/<factory_id>/lake/<table>/date=YYYY-MM-DD/*.parquet   zstd data files
    factories/<factory_id>/inbox/ processed/ failed/           drop folders

and in the local control folder ``locks/<factory_id>.lock``, the per-factory writer lock.

Why Delta Lake (``deltalake``): a commit is one atomic put of a log entry, so a reader sees a write
completely or not at all, on a local disk and on an object store; old versions stay readable (time
travel) until vacuumed; compaction is built in. Why one table per factory: writers of different
factories never contend for a commit, every file path of a tenant lies under its own directory, and
deleting a factory removes every data file *and* every log entry that ever described its data,
which a shared table's history could never forget.

Writers stage Parquet files inside the table directory and then commit them in one transaction
(:meth:`Lake.commit`). A writer killed before the commit leaves only unreferenced files, invisible to
every reader and removed by :meth:`Lake.vacuum`.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl
from deltalake import DeltaTable, WriterProperties
from deltalake.exceptions import TableNotFoundError
from deltalake.transaction import AddAction, CommitProperties
from filelock import FileLock
from upath import UPath

from analytics.schemas import (
    EVENTS_KEY,
    EVENTS_SCHEMA,
    QUALITY_SCHEMA,
    QUARANTINE_KEY,
    QUARANTINE_SCHEMA,
    READINGS_KEY,
    READINGS_SCHEMA,
    arrow_schema,
    validate_factory_id,
)
from analytics.store.storage import remove_tree, storage_path, uri

log = logging.getLogger(__name__)

PARTITION_COLUMN = "date"


@dataclass(frozen=True)
class TableSpec:
    name: str
    schema: dict[str, pl.DataType]
    key: tuple[str, ...]
    sort_by: tuple[str, ...]


TABLES: dict[str, TableSpec] = {
    "readings": TableSpec("readings", READINGS_SCHEMA, READINGS_KEY, READINGS_KEY),
    "events": TableSpec("events", EVENTS_SCHEMA, EVENTS_KEY, ("machine_id", "ts")),
    "quarantine": TableSpec("quarantine", QUARANTINE_SCHEMA, QUARANTINE_KEY, ("file_sha256", "row")),
    "quality": TableSpec("quality", QUALITY_SCHEMA, ("ingest_id", "machine_id", "sensor"), ("machine_id", "sensor")),
}


def _writer_properties() -> WriterProperties:
    return WriterProperties(compression="ZSTD")


def _file_stats(frame: pl.DataFrame) -> str:
    """Delta per-file statistics (row count, min/max, null counts) used for data skipping."""
    mins: dict[str, object] = {}
    maxs: dict[str, object] = {}
    if frame.height:
        bounds = frame.select(
            [pl.col(c).min().alias(f"min:{c}") for c in frame.columns if c in _STATS_COLUMNS]
            + [pl.col(c).max().alias(f"max:{c}") for c in frame.columns if c in _STATS_COLUMNS]
        ).row(0, named=True)
        for key, value in bounds.items():
            kind, name = key.split(":", 1)
            if value is None:
                continue
            if isinstance(value, datetime):
                # Delta keeps timestamp stats at millisecond precision: round outward.
                value = value.replace(microsecond=value.microsecond // 1000 * 1000)
                if kind == "max":
                    value += timedelta(milliseconds=1)
                value = value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
            (mins if kind == "min" else maxs)[name] = value
    nulls = dict(zip(frame.columns, frame.null_count().row(0), strict=True))
    return json.dumps({"numRecords": frame.height, "minValues": mins, "maxValues": maxs, "nullCount": nulls})


_STATS_COLUMNS = {"ts", "value", "machine_id", "sensor"}


class Lake:
    """All factories' tables under one data directory; each method takes the factory it acts on."""

    def __init__(self, root: Path | str, control_dir: Path | str | None = None) -> None:
        self.root = storage_path(root)
        self.control_dir = Path(control_dir) if control_dir is not None else Path(self.root)
        # Opened tables, brought up to date on each use: opening replays the log (tens of ms),
        # catching up with other writers' commits costs about a millisecond.
        self._open: dict[tuple[str, str], tuple[DeltaTable, tuple[int, int]]] = {}
        self._open_lock = threading.Lock()

    # --- locations -------------------------------------------------------------------------
    def factory_root(self, factory_id: str) -> UPath:
        return self.root / "factories" / validate_factory_id(factory_id)

    def table_path(self, factory_id: str, table: str) -> UPath:
        if table not in TABLES:
            raise ValueError(f"unknown table {table!r}")
        return self.factory_root(factory_id) / "lake" / table

    def lock(self, factory_id: str, timeout: float = 600) -> FileLock:
        """The writer lock of one factory: one ingest or maintenance job at a time per factory,
        among the processes of this machine (on a cluster, the daily run gives each factory-day
        to one task; Delta's own commits stay safe whatever runs)."""
        path = self.control_dir / "locks" / f"{validate_factory_id(factory_id)}.lock"
        path.parent.mkdir(parents=True, exist_ok=True)
        return FileLock(path, timeout=timeout)

    # --- reading the snapshot --------------------------------------------------------------
    def delta_table(self, factory_id: str, table: str, version: int | None = None) -> DeltaTable | None:
        """The table at its latest (or the given) version; None if it does not exist yet."""
        path = self.table_path(factory_id, table)
        first_commit = path / "_delta_log" / f"{0:020d}.json"
        try:
            stat = first_commit.stat()
        except FileNotFoundError:
            return None
        if version is not None:
            return DeltaTable(uri(path), version=version)
        # The first commit's identity tells a table apart from one deleted and created anew
        # under the same path (whose versions start again at 0); an object store has no inodes.
        identity = (getattr(stat, "st_ino", 0), stat.st_mtime, stat.st_size)
        key = (factory_id, table)
        with self._open_lock:
            cached = self._open.get(key)
            if cached is not None and cached[1] == identity:
                cached[0].update_incremental()
                return cached[0]
            try:
                dt = DeltaTable(uri(path))
            except TableNotFoundError:
                return None
            self._open[key] = (dt, identity)
            return dt

    def snapshot_files(
        self,
        factory_id: str,
        table: str,
        dates: Iterable[date | str] | None = None,
        *,
        start: date | None = None,
        end: date | None = None,
        version: int | None = None,
    ) -> list[str]:
        """Data files of the current (or given) version, optionally only some local dates."""
        dt = self.delta_table(factory_id, table, version)
        if dt is None:
            return []
        filters: list[tuple[str, str, object]] = []
        if dates is not None:
            wanted = sorted({str(d) for d in dates})
            if not wanted:
                return []
            filters.append((PARTITION_COLUMN, "in", wanted))
        if start is not None:
            filters.append((PARTITION_COLUMN, ">=", start.isoformat()))
        if end is not None:
            filters.append((PARTITION_COLUMN, "<=", end.isoformat()))
        uris = dt.file_uris(file_pruning_predicate=filters or None)
        return [u.removeprefix("file://") for u in uris]

    def version(self, factory_id: str, table: str) -> int | None:
        dt = self.delta_table(factory_id, table)
        return None if dt is None else dt.version()

    # --- writing ---------------------------------------------------------------------------
    def stage(
        self, factory_id: str, table: str, frame: pl.DataFrame, tag: str, *, presorted: bool = False
    ) -> list[AddAction]:
        """Write ``frame`` (with a ``date`` column) as Parquet files into the table, uncommitted.

        Files are sorted by the table's sort key (``presorted``: the caller already did) so that
        each file's min/max statistics let readers skip it. Returns the Delta add actions that
        :meth:`commit` makes visible.
        """
        if frame.height == 0:
            return []
        spec = TABLES[table]
        root = self.table_path(factory_id, table)
        adds: list[AddAction] = []
        days = frame.get_column(PARTITION_COLUMN).unique()
        parts = (
            {(days[0],): frame}
            if days.len() == 1
            else frame.partition_by(PARTITION_COLUMN, as_dict=True, maintain_order=True)
        )
        for (day,), part in parts.items():
            rel = f"{PARTITION_COLUMN}={day}/part-{tag}-{uuid.uuid4().hex[:12]}.zstd.parquet"
            path = root / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            data = part.select(list(spec.schema))
            if not presorted:
                data = data.sort(list(spec.sort_by))
            # zstd level 1: a fifth faster to write than the default level, files a few % larger;
            # compaction rewrites them at the default level later.
            data.write_parquet(uri(path), compression="zstd", compression_level=1, statistics=True)
            adds.append(
                AddAction(
                    path=rel,
                    size=path.stat().st_size,
                    partition_values={PARTITION_COLUMN: str(day)},
                    modification_time=int(time.time() * 1000),
                    data_change=True,
                    stats=_file_stats(data),
                )
            )
        return adds

    def ensure_table(self, factory_id: str, table: str) -> DeltaTable:
        path = self.table_path(factory_id, table)
        existing = self.delta_table(factory_id, table)
        if existing is not None:
            return existing
        path.mkdir(parents=True, exist_ok=True)
        return DeltaTable.create(
            uri(path),
            schema=arrow_schema(TABLES[table].schema),
            mode="ignore",
            partition_by=[PARTITION_COLUMN],
            name=f"{factory_id}.{table}",
            # A checkpoint every 10 commits instead of 100: a table that takes one commit per
            # ingested file otherwise replays up to 100 JSON log files on every open.
            configuration={"delta.checkpointInterval": "10"},
        )

    def commit(
        self, factory_id: str, table: str, adds: Sequence[AddAction], metadata: dict[str, object] | None = None
    ) -> int | None:
        """Make staged files visible in one atomic transaction; returns the new table version."""
        if not adds:
            return self.version(factory_id, table)
        dt = self.ensure_table(factory_id, table)
        dt.create_write_transaction(
            list(adds),
            mode="append",
            schema=arrow_schema(TABLES[table].schema),
            partition_by=[PARTITION_COLUMN],
            commit_properties=CommitProperties(custom_metadata=metadata or {}),
        )
        dt.update_incremental()
        return dt.version()

    def append(
        self, factory_id: str, table: str, frame: pl.DataFrame, tag: str, metadata: dict[str, object] | None = None
    ) -> int | None:
        """Stage and commit ``frame`` in one go."""
        return self.commit(factory_id, table, self.stage(factory_id, table, frame, tag), metadata)

    # --- maintenance -----------------------------------------------------------------------
    def files_per_partition(self, factory_id: str, table: str) -> dict[str, int]:
        dt = self.delta_table(factory_id, table)
        if dt is None:
            return {}
        actions = pl.DataFrame(dt.get_add_actions(flatten=True))
        col = f"partition.{PARTITION_COLUMN}"
        if actions.height == 0 or col not in actions.columns:
            return {}
        counts = actions.group_by(col).len()
        return dict(zip(counts.get_column(col).to_list(), counts.get_column("len").to_list(), strict=True))

    def compact(
        self, factory_id: str, table: str, dates: Iterable[str] | None = None, min_files: int = 2
    ) -> int:
        """Rewrite small files of the given (or all) partitions into few large ones.

        Returns the number of partitions compacted. Old files stay for time travel until vacuum.
        """
        dt = self.delta_table(factory_id, table)
        if dt is None:
            return 0
        counts = self.files_per_partition(factory_id, table)
        wanted = set(counts) if dates is None else {str(d) for d in dates}
        todo = sorted(d for d in wanted if counts.get(d, 0) >= min_files)
        if not todo:
            return 0
        dt.optimize.compact(
            partition_filters=[(PARTITION_COLUMN, "in", todo)],
            writer_properties=_writer_properties(),
        )
        log.info("compacted %s/%s: %d partitions", factory_id, table, len(todo))
        return len(todo)

    def vacuum(self, factory_id: str, table: str, retention_hours: int = 168) -> list[str]:
        """Delete files no version within ``retention_hours`` refers to (incl. crashed writes)."""
        dt = self.delta_table(factory_id, table)
        if dt is None:
            return []
        return dt.vacuum(
            retention_hours=retention_hours, dry_run=False, enforce_retention_duration=False, full=True
        )

    def delete_factory(self, factory_id: str) -> None:
        """Remove every file the lake holds for the factory: data, logs, old versions, inboxes."""
        root = self.factory_root(factory_id)
        with self.lock(factory_id):
            with self._open_lock:
                for key in [k for k in self._open if k[0] == factory_id]:
                    del self._open[key]
            remove_tree(root)
        lock_file = self.control_dir / "locks" / f"{factory_id}.lock"
        lock_file.unlink(missing_ok=True)
