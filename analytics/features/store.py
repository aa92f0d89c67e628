"""Stored features: Parquet beside the lake, one factory's under its own directory.

Layout: ``factories/<id>/features/<set>/v<version>/<window>/date=YYYY-MM-DD/`` with the files
of the current run and ``_current.json`` naming them (:class:`~analytics.store.dated.DatedTables`):
a reader (or a crash) sees the old date or the new one, never a mix of the sensor and machine
tables of two runs.
"""

from __future__ import annotations

import hashlib
from datetime import date
from pathlib import Path

import polars as pl
from upath import UPath

from analytics.features.featureset import FeatureSet, Table
from analytics.features.state import StateRule, load_rules, save_rules
from analytics.schemas import validate_factory_id
from analytics.store.dated import DatedTables
from analytics.store.hub import Hub

TABLES: tuple[Table, ...] = ("sensor", "machine")


def readings_fingerprint(files: list[str]) -> str:
    """Identifies the readings of a date: the names of its data files in the lake's snapshot
    (every write adds new, uniquely named files; compaction replaces them)."""
    return hashlib.sha256("\n".join(sorted(Path(f).name for f in files)).encode()).hexdigest()[:16]


class FeatureStore:
    """Read and write one factory's features; paths come from the validated factory id only."""

    def __init__(self, hub: Hub, factory_id: str) -> None:
        self.factory_id = validate_factory_id(factory_id)
        hub.registry.factory(self.factory_id)  # must be registered
        self.root = hub.lake.factory_root(self.factory_id) / "features"

    # --- state rules -------------------------------------------------------------------------
    @property
    def rules_path(self) -> UPath:
        return self.root / "state_rules.json"

    def rules(self) -> dict[str, StateRule]:
        return load_rules(self.rules_path)

    def save_rules(self, rules: dict[str, StateRule]) -> None:
        save_rules(self.rules_path, rules)

    # --- partitions --------------------------------------------------------------------------
    def _dated(self, feature_set: FeatureSet, window: str) -> DatedTables:
        feature_set.window_seconds(window)  # validates the window against the set
        return DatedTables(self.root / feature_set.name / f"v{feature_set.version}" / window, self.factory_id, TABLES)

    def write(self, feature_set: FeatureSet, window: str, day: date, tables: dict[Table, pl.DataFrame], source: str | None = None) -> None:
        """Replace the features of one local date (both tables at once). ``source`` fingerprints
        the readings they were computed from (see :func:`readings_fingerprint`)."""
        self._dated(feature_set, window).write(day, tables, source=source)

    def sources(self, feature_set: FeatureSet, window: str) -> dict[date, str | None]:
        """The readings fingerprint each stored date was computed from."""
        dated = self._dated(feature_set, window)
        return {day: (dated.current(day) or {}).get("source") for day in dated.dates()}

    def dates(self, feature_set: FeatureSet, window: str) -> list[date]:
        return self._dated(feature_set, window).dates()

    def read(self, feature_set: FeatureSet, window: str, table: Table, start: date | None = None, end: date | None = None) -> pl.LazyFrame:
        """Stored features of local dates [start, end] (inclusive), as a lazy frame."""
        return self._dated(feature_set, window).read(table, start, end)
