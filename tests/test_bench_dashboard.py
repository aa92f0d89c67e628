"""The dashboard benchmark on a tiny factory (3 machines x 35 days): the hub it builds holds what
it says, and the figures compare like with like (the detail view and DuckDB read the same rows)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import polars as pl
import pytest

from analytics import bench
from analytics.store.hub import Hub
from analytics.views import fleet_overview, machine_detail

MACHINES, DAYS = 3, 35


@pytest.mark.slow  # about a minute: the hub is built twice (here and in the benchmark's own folder)
def test_dashboard_hub_and_figures(tmp_path: Path) -> None:
    built = bench.generate_dashboard_hub(str(tmp_path / "hub"), MACHINES, DAYS)
    assert built["rows"] == MACHINES * len(bench.FEATURE_SENSORS) * DAYS * 24 * 60
    assert built["files"] == DAYS  # one file per local date

    hub = Hub.open(data_dir=tmp_path / "hub")
    _, start, end = bench._detail_range(DAYS)
    assert end - start == timedelta(days=bench.DETAIL_DAYS)
    overview = fleet_overview(hub, bench.DASHBOARD_FACTORY, now=end)
    assert overview.tiles.height == MACHINES
    assert overview.day == bench.DASHBOARD_FIRST_DAY + timedelta(days=DAYS - 1)
    assert sum(v for k, v in overview.open_alerts.items() if k != "acknowledged") == built["open_alerts"]

    detail = machine_detail(hub, bench.DASHBOARD_FACTORY, bench.DASHBOARD_MACHINE, start, end, max_points=1500)
    assert detail.raw_points == len(bench.FEATURE_SENSORS) * bench.DETAIL_DAYS * 24 * 60
    assert detail.downsampled and detail.series.height < detail.raw_points / 20
    # Min/max per bucket: every sensor's extremes over the 30 days survive the downsampling.
    raw = (
        pl.scan_parquet(hub.lake.snapshot_files(bench.DASHBOARD_FACTORY, "readings"))
        .filter((pl.col("machine_id") == bench.DASHBOARD_MACHINE) & (pl.col("ts") >= start) & (pl.col("ts") < end))
        .group_by("sensor")
        .agg(pl.col("value").min().alias("lo"), pl.col("value").max().alias("hi"))
        .collect()
        .sort("sensor")
    )
    shown = detail.series.group_by("sensor").agg(pl.col("value").min().alias("lo"), pl.col("value").max().alias("hi")).sort("sensor")
    assert raw.equals(shown)
    assert detail.envelope.height > 0 and detail.health.height == bench.DETAIL_DAYS

    figures = bench.bench_dashboard(machines=MACHINES, days=DAYS, workdir=tmp_path, repeat=1)
    assert figures["readings"] == built["rows"]
    assert figures["scan_rows"] == figures["detail_raw_points"] == detail.raw_points
    assert figures["tiles"] == MACHINES
    for key in ("overview_warm_ms", "overview_cold_ms", "machine_detail_cold_ms", "machine_detail_warm_ms", "scan_ms"):
        assert figures[key] > 0, key
    assert figures["detail_ratio_to_scan"] == pytest.approx(figures["machine_detail_cold_ms"] / figures["scan_ms"], rel=0.01)
