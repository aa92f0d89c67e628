"""Summaries of the hub for dashboards and the CLI (each one factory-scoped or registry-level)."""

from __future__ import annotations

from dataclasses import asdict
from zoneinfo import ZoneInfo

import polars as pl

from analytics.store.hub import Hub
from analytics.store.reader import FactoryReader


def factory_overview(hub: Hub) -> pl.DataFrame:
    """One row per factory: names, machines, sensors, readings stored and the latest reading."""
    rows = []
    for factory in hub.registry.factories():
        stats = (
            FactoryReader(hub, factory.factory_id)
            .readings()
            .select(pl.len().alias("readings"), pl.col("ts").max().alias("latest"))
            .collect()
            .row(0, named=True)
        )
        latest = stats["latest"]
        rows.append(
            {
                "factory_id": factory.factory_id,
                "name_ko": factory.name_ko,
                "name_en": factory.name_en,
                "timezone": factory.timezone,
                "machines": len(hub.registry.machines(factory.factory_id)),
                "sensors": len(hub.registry.sensors(factory.factory_id)),
                "readings": stats["readings"],
                "latest_reading_local": None if latest is None else latest.astimezone(ZoneInfo(factory.timezone)).replace(tzinfo=None),
            }
        )
    return pl.DataFrame(
        rows,
        schema={"factory_id": pl.String, "name_ko": pl.String, "name_en": pl.String, "timezone": pl.String, "machines": pl.Int64, "sensors": pl.Int64, "readings": pl.Int64, "latest_reading_local": pl.Datetime("us")},
    )


def ingest_history(hub: Hub, factory_id: str, limit: int = 200) -> pl.DataFrame:
    """The factory's recent ingest runs, newest first."""
    runs = [asdict(r) for r in hub.registry.ingest_runs(factory_id, limit)]
    schema = {"ingest_id": pl.String, "factory_id": pl.String, "source_file": pl.String, "file_sha256": pl.String, "table_name": pl.String, "started_at": pl.String, "finished_at": pl.String, "status": pl.String, "rows_read": pl.Int64, "accepted": pl.Int64, "duplicate": pl.Int64, "quarantined": pl.Int64, "message": pl.String}
    frame = pl.DataFrame(runs, schema=schema)
    tz = hub.registry.factory(factory_id).timezone
    local = [
        pl.col(c).str.to_datetime(time_zone="UTC", time_unit="us").dt.convert_time_zone(tz).dt.replace_time_zone(None).alias(c)
        for c in ("started_at", "finished_at")
    ]
    # Times in the factory's own zone, as its people read them. The full path of the file on the
    # hub host is not the factory's business; its name is.
    return frame.with_columns(*local, pl.col("source_file").str.extract(r"([^/\\]+)$")).drop("file_sha256")
