"""Derived tables stored per local date, replaced atomically: features, anomaly scores, ...

Layout under a factory's directory: ``<base>/date=YYYY-MM-DD/`` holds the Parquet files of the
date's current run and ``_current.json`` naming them (plus run metadata). A date is rewritten by
writing new files under new names, then replacing ``_current.json`` in one atomic step (a rename
on a local disk, one PUT on an object store: :func:`~analytics.store.storage.write_text_atomic`),
then deleting the old files: a reader (or a crash) sees the old date or the new one, never a mix
of two runs, and re-running a date replaces it (idempotent). Files a crashed run left, which no
pointer names, are removed by a later write of the date once an hour old.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Mapping, Sequence
from datetime import date, timedelta
from typing import Any

import polars as pl
from upath import UPath

from analytics.store.storage import uri, write_text_atomic

CURRENT = "_current.json"
LEFTOVER_GRACE_S = 3600.0  # a file no pointer names is removed once this old (see DatedTables.write)
DIRECT_RANGE_DAYS = 400  # reads of at most this many dates open their pointers without listing


class DatedTables:
    """The tables ``tables`` of one factory, one folder per local date under ``base``.

    Every stored row carries ``factory_id``; reads filter on it and drop it (a second guard
    beside the per-factory path). A table given its schema in ``schemas`` is read in it: a
    column added since older dates were written reads as null there, and one since dropped is
    left out (without it, a read across such dates fails on the first file that differs)."""

    def __init__(
        self, base: UPath, factory_id: str, tables: Sequence[str], schemas: Mapping[str, Mapping[str, pl.DataType]] | None = None
    ) -> None:
        self.base = base
        self.factory_id = factory_id
        self.tables = tuple(tables)
        self.schemas = dict(schemas or {})

    def folder(self, day: date) -> UPath:
        return self.base / f"date={day.isoformat()}"

    def write(self, day: date, frames: Mapping[str, pl.DataFrame], **meta: Any) -> None:
        """Replace the date's tables (all of them at once); ``meta`` is kept beside them."""
        missing = set(self.tables) - set(frames)
        if missing:
            raise ValueError(f"tables missing from the write: {sorted(missing)}")
        folder = self.folder(day)
        folder.mkdir(parents=True, exist_ok=True)
        run = uuid.uuid4().hex[:12]
        names = {}
        for table in self.tables:
            name = f"{table}-{run}.parquet"
            frame = frames[table].with_columns(pl.lit(self.factory_id).alias("factory_id"))
            frame.write_parquet(uri(folder / name), compression="zstd", statistics=True)
            names[table] = name
        old = self.current(day) or {}
        write_text_atomic(folder / CURRENT, json.dumps({**meta, **names}, default=str))
        for table in self.tables:
            if table in old:
                (folder / old[table]).unlink(missing_ok=True)
        # Left-overs of runs that crashed before their switch, once old enough that no run can
        # still be about to name them (a run of the same day still writing: one a cluster
        # re-ran while the first went on); younger ones wait for a later write.
        keep = set(names.values()) | {CURRENT}
        stale = time.time() - LEFTOVER_GRACE_S
        for path in folder.iterdir():
            if path.name not in keep and path.stat().st_mtime < stale:
                path.unlink(missing_ok=True)

    def current(self, day: date) -> dict[str, Any] | None:
        """The date's ``_current.json`` (file names and metadata), or None if never written."""
        try:
            return json.loads((self.folder(day) / CURRENT).read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None

    def dates(self) -> list[date]:
        if not self.base.is_dir():
            return []
        return sorted(
            date.fromisoformat(p.name.removeprefix("date="))
            for p in self.base.iterdir()
            if p.name.startswith("date=") and (p / CURRENT).is_file()
        )

    def read(self, table: str, start: date | None = None, end: date | None = None) -> pl.LazyFrame:
        """Rows of local dates [start, end] (inclusive), lazily; when none, an empty frame (of the
        table's schema, where it has one)."""
        if table not in self.tables:
            raise ValueError(f"unknown table {table!r}; have {', '.join(self.tables)}")
        if start is not None and end is not None and (end - start).days <= DIRECT_RANGE_DAYS:
            # A bounded range asks for its own dates' pointers: on an object store a listing of
            # every stored date costs a request per date (what a year of history makes slow).
            days = [start + timedelta(days=n) for n in range((end - start).days + 1)]
        else:
            days = [d for d in self.dates() if (start is None or d >= start) and (end is None or d <= end)]
        files = []
        for day in days:
            current = self.current(day)
            if current and table in current:
                files.append(uri(self.folder(day) / current[table]))
        schema = self.schemas.get(table)
        if not files:
            return pl.LazyFrame(schema=schema) if schema is not None else pl.LazyFrame()
        if schema is None:
            frame = pl.scan_parquet(files, glob=False)
        else:
            frame = pl.scan_parquet(files, glob=False, schema={**schema, "factory_id": pl.String()}, missing_columns="insert", extra_columns="ignore")
        return frame.filter(pl.col("factory_id") == self.factory_id).drop("factory_id")
