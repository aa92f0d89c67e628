"""Factory-scoped readers: the only way library code, dashboards and notebooks read the lake.

A :class:`FactoryReader` is bound to one factory at construction. It can only name that factory's
tables (paths come from the validated factory id, never from the caller), and the DuckDB connection
it hands out is sandboxed to that factory's directory: ``read_parquet('../other/...')`` fails.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import duckdb
import polars as pl

from analytics.schemas import validate_factory_id, validate_machine_id
from analytics.store.hub import Hub
from analytics.store.lake import TABLES
from analytics.store.storage import is_local


def local_dates(start: datetime | None, end: datetime | None, tz: str) -> tuple[date | None, date | None]:
    """Local calendar dates that cover the UTC interval [start, end] in time zone ``tz``."""
    zone = ZoneInfo(tz)

    def to_local(value: datetime | None) -> date | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(zone).date()

    return to_local(start), to_local(end)


class FactoryReader:
    """Read one factory's readings, events, quarantine and quality reports.

    Time bounds are UTC (naive datetimes are taken as UTC); ``start`` inclusive, ``end`` exclusive.
    ``version`` reads the table as of an earlier Delta version (time travel).
    """

    def __init__(self, hub: Hub, factory_id: str) -> None:
        self.hub = hub
        self.factory_id = validate_factory_id(factory_id)
        self.factory = hub.registry.factory(self.factory_id)

    # --- lazy frames -----------------------------------------------------------------------
    def table(
        self,
        table: str,
        start: datetime | None = None,
        end: datetime | None = None,
        *,
        version: int | None = None,
    ) -> pl.LazyFrame:
        spec = TABLES[table]
        d0, d1 = local_dates(start, end, self.factory.timezone)
        files = self.hub.lake.snapshot_files(self.factory_id, table, start=d0, end=d1, version=version)
        if not files:
            return pl.LazyFrame(schema=spec.schema)
        frame = pl.scan_parquet(files, schema=spec.schema, hive_partitioning=False, glob=False)
        # The factory id is re-checked on every row: the table lives under this factory's own
        # directory, so this can only ever drop rows, never add another tenant's.
        frame = frame.filter(pl.col("factory_id") == self.factory_id)
        if "ts" in spec.schema:
            if start is not None:
                frame = frame.filter(pl.col("ts") >= _utc(start))
            if end is not None:
                frame = frame.filter(pl.col("ts") < _utc(end))
        return frame

    def partition(self, table: str, day: date) -> tuple[pl.LazyFrame, list[str]]:
        """One local-date partition of a table and the files it is stored in (each file is in
        the table's sort order; several together are not merged)."""
        spec = TABLES[table]
        files = self.partition_files(table, day)
        if not files:
            return pl.LazyFrame(schema=spec.schema), files
        frame = pl.scan_parquet(files, schema=spec.schema, hive_partitioning=False, glob=False)
        return frame.filter(pl.col("factory_id") == self.factory_id), files

    def partition_files(self, table: str, day: date) -> list[str]:
        """The data files of one local-date partition in the current snapshot."""
        return self.hub.lake.snapshot_files(self.factory_id, table, dates=[day])

    def dates(self, table: str = "readings") -> list[date]:
        """Local dates that hold data in a table."""
        return sorted(date.fromisoformat(d) for d in self.hub.lake.files_per_partition(self.factory_id, table))

    def readings(
        self,
        start: datetime | None = None,
        end: datetime | None = None,
        *,
        machines: list[str] | None = None,
        sensors: list[str] | None = None,
        version: int | None = None,
    ) -> pl.LazyFrame:
        frame = self.table("readings", start, end, version=version)
        if machines is not None:
            frame = frame.filter(pl.col("machine_id").is_in([validate_machine_id(m) for m in machines]))
        if sensors is not None:
            frame = frame.filter(pl.col("sensor").is_in(list(sensors)))
        return frame

    def events(self, start: datetime | None = None, end: datetime | None = None) -> pl.LazyFrame:
        return self.table("events", start, end)

    def quarantine(self) -> pl.LazyFrame:
        return self.table("quarantine")

    def quality(self) -> pl.LazyFrame:
        return self.table("quality")

    # --- SQL -------------------------------------------------------------------------------
    def duckdb(self) -> duckdb.DuckDBPyConnection:
        """An in-memory DuckDB connection with views ``readings``, ``events``, ``quarantine`` and
        ``quality`` over this factory's current snapshot, and no access to any other file."""
        con = duckdb.connect(":memory:")
        root = self.hub.lake.factory_root(self.factory_id)
        for name, spec in TABLES.items():
            files = self.hub.lake.snapshot_files(self.factory_id, name)
            if files and not is_local(root):
                # On an object store DuckDB reads through an Arrow dataset over the store's fsspec
                # file system (its own httpfs extension is not always installable offline).
                import pyarrow.dataset as ds
                from pyarrow.fs import FSSpecHandler, PyFileSystem

                dataset = ds.dataset([root.fs._strip_protocol(f) for f in files], format="parquet", filesystem=PyFileSystem(FSSpecHandler(root.fs)))
                con.register(f"_{name}_files", dataset)
                columns = ", ".join(f'"{c}"' for c in spec.schema)
                con.execute(f"CREATE VIEW {name} AS SELECT {columns} FROM _{name}_files")
            elif files:
                listing = ", ".join("'" + f.replace("'", "''") + "'" for f in files)
                columns = ", ".join(f'"{c}"' for c in spec.schema)
                con.execute(
                    f"CREATE VIEW {name} AS SELECT {columns} "
                    f"FROM read_parquet([{listing}], hive_partitioning = false)"
                )
            else:
                empty = pl.DataFrame(schema=spec.schema).to_arrow()
                con.register(f"_{name}_empty", empty)
                con.execute(f"CREATE TABLE {name} AS SELECT * FROM _{name}_empty")
                con.unregister(f"_{name}_empty")
        con.execute("SET allowed_directories = [?]", [(str(Path(root).resolve()) if is_local(root) else str(root)) + "/"])
        con.execute("SET enable_external_access = false")
        con.execute("SET lock_configuration = true")
        return con


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
