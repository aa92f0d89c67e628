"""A factory's data belongs to the factory: export all of it, or delete every trace of it."""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from analytics.ingest.sources import sha256_file
from analytics.schemas import validate_factory_id
from analytics.store.hub import Hub
from analytics.store.lake import TABLES
from analytics.store.reader import FactoryReader

log = logging.getLogger(__name__)


def export_factory(hub: Hub, factory_id: str, out_dir: Path | str) -> Path:
    """Write everything the hub holds for the factory under ``out_dir/<factory_id>/``.

    Readings, events, quarantine and quality reports as Parquet (one file each, current version),
    the registry entries (factory, machines, sensors, ingest history) and ``manifest.json`` with
    each file's row count and SHA-256. The folder appears complete or not at all.
    """
    factory_id = validate_factory_id(factory_id)
    reader = FactoryReader(hub, factory_id)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / factory_id
    if target.exists():
        raise FileExistsError(f"{target} exists; choose an empty --out")
    staging = Path(tempfile.mkdtemp(prefix=f".{factory_id}-export-", dir=out_dir))
    try:
        files: list[dict[str, object]] = []

        def write(name: str, frame: pl.DataFrame) -> None:
            path = staging / f"{name}.parquet"
            frame.write_parquet(path, compression="zstd")
            files.append({"file": path.name, "rows": frame.height, "sha256": sha256_file(path)})

        for table in TABLES:
            frame = reader.table(table).collect()
            write(table, frame.sort(list(TABLES[table].sort_by)))
        registry = hub.registry
        write("machines", pl.DataFrame([asdict(m) for m in registry.machines(factory_id)], schema={"factory_id": pl.String, "machine_id": pl.String, "machine_type": pl.String, "model": pl.String, "install_date": pl.Date}))
        write("sensors", pl.DataFrame([asdict(s) for s in registry.sensors(factory_id)], schema={"factory_id": pl.String, "machine_id": pl.String, "sensor": pl.String, "unit": pl.String, "min_value": pl.Float64, "max_value": pl.Float64, "interval_s": pl.Float64}))
        runs = [asdict(r) for r in registry.ingest_runs(factory_id, limit=1_000_000)]
        write("ingest_runs", pl.DataFrame(runs, infer_schema_length=None) if runs else pl.DataFrame(schema={"ingest_id": pl.String}))
        manifest = {
            "factory": asdict(reader.factory),
            "exported_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "table_versions": {t: hub.lake.version(factory_id, t) for t in TABLES},
            "files": files,
        }
        (staging / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=2), encoding="utf-8")
        os.replace(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target


def delete_factory(hub: Hub, factory_id: str) -> None:
    """Remove the factory from the lake (all versions, logs, inboxes) and from the registry."""
    factory_id = validate_factory_id(factory_id)
    hub.registry.factory(factory_id)
    hub.lake.delete_factory(factory_id)
    hub.registry.remove_factory(factory_id)
    log.info("deleted factory %s", factory_id)
