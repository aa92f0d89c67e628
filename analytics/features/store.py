"""Stored features: Parquet beside the lake, one factory's under its own directory.

Layout: ``factories/<id>/features/<set>/v<version>/<window>/<table>/date=YYYY-MM-DD/`` with the
files of the current run and ``_current.json`` naming them. A date is rewritten by writing new
files, then replacing ``_current.json`` atomically (rename), then deleting the old files: a reader
(or a crash) sees the old date or the new one, never a mix of the sensor and machine tables of two
runs.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from datetime import date
from pathlib import Path

import polars as pl

from analytics.features.featureset import FeatureSet, Table
from analytics.features.state import StateRule, load_rules, save_rules
from analytics.schemas import validate_factory_id
from analytics.store.hub import Hub

CURRENT = "_current.json"
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
    def rules_path(self) -> Path:
        return self.root / "state_rules.json"

    def rules(self) -> dict[str, StateRule]:
        return load_rules(self.rules_path)

    def save_rules(self, rules: dict[str, StateRule]) -> None:
        save_rules(self.rules_path, rules)

    # --- partitions --------------------------------------------------------------------------
    def _dir(self, feature_set: FeatureSet, window: str) -> Path:
        feature_set.window_seconds(window)  # validates the window against the set
        return self.root / feature_set.name / f"v{feature_set.version}" / window

    def write(self, feature_set: FeatureSet, window: str, day: date, tables: dict[Table, pl.DataFrame], source: str | None = None) -> None:
        """Replace the features of one local date (both tables at once). ``source`` fingerprints
        the readings they were computed from (see :func:`readings_fingerprint`)."""
        folder = self._dir(feature_set, window) / f"date={day.isoformat()}"
        folder.mkdir(parents=True, exist_ok=True)
        run = uuid.uuid4().hex[:12]
        names = {}
        for table in TABLES:
            name = f"{table}-{run}.parquet"
            frame = tables[table].with_columns(pl.lit(self.factory_id).alias("factory_id"))
            frame.write_parquet(folder / name, compression="zstd", statistics=True)
            names[table] = name
        old = self._current(folder) or {}
        tmp = folder / f"{CURRENT}.{run}.tmp"
        tmp.write_text(json.dumps({**names, "source": source}), encoding="utf-8")
        os.replace(tmp, folder / CURRENT)
        for table in TABLES:
            if table in old:
                (folder / old[table]).unlink(missing_ok=True)
        # Left-overs of runs that crashed before their switch.
        keep = set(names.values()) | {CURRENT}
        for path in folder.iterdir():
            if path.name not in keep:
                path.unlink(missing_ok=True)

    @staticmethod
    def _current(folder: Path) -> dict[str, str] | None:
        try:
            return json.loads((folder / CURRENT).read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None

    def sources(self, feature_set: FeatureSet, window: str) -> dict[date, str | None]:
        """The readings fingerprint each stored date was computed from."""
        base = self._dir(feature_set, window)
        return {day: (self._current(base / f"date={day.isoformat()}") or {}).get("source") for day in self.dates(feature_set, window)}

    def dates(self, feature_set: FeatureSet, window: str) -> list[date]:
        base = self._dir(feature_set, window)
        if not base.is_dir():
            return []
        return sorted(date.fromisoformat(p.name.removeprefix("date=")) for p in base.iterdir() if p.name.startswith("date=") and (p / CURRENT).is_file())

    def read(self, feature_set: FeatureSet, window: str, table: Table, start: date | None = None, end: date | None = None) -> pl.LazyFrame:
        """Stored features of local dates [start, end] (inclusive), as a lazy frame."""
        base = self._dir(feature_set, window)
        files = []
        for day in self.dates(feature_set, window):
            if (start is None or day >= start) and (end is None or day <= end):
                folder = base / f"date={day.isoformat()}"
                current = self._current(folder)
                if current:
                    files.append(str(folder / current[table]))
        if not files:
            return pl.LazyFrame()
        frame = pl.scan_parquet(files, glob=False)
        return frame.filter(pl.col("factory_id") == self.factory_id).drop("factory_id")
