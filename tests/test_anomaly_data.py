"""The detector's matrix from stored features, and the healthy period, by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl

from analytics.models.anomaly.data import healthy_mask, machine_matrix

T0 = datetime(2026, 9, 1, tzinfo=UTC)


def _hours(n: int) -> list[datetime]:
    return [T0 + timedelta(hours=h) for h in range(n)]


def test_matrix_is_running_windows_with_sensor_stats_and_cross_features() -> None:
    starts = _hours(4)
    sensor = pl.DataFrame(
        {
            "machine_id": ["M1"] * 8 + ["M2"] * 4,
            "sensor": ["temp"] * 4 + ["vib"] * 4 + ["temp"] * 4,
            "window_start": starts * 3,
            "window_end": [s + timedelta(hours=1) for s in starts] * 3,
            "mean": [50.0, 51.0, None, 53.0, 1.0, 1.1, 1.2, 1.3, 9.0, 9.0, 9.0, 9.0],
            "std": [1.0] * 12,
        }
    )
    machine = pl.DataFrame(
        {
            "machine_id": ["M1"] * 4,
            "window_start": starts,
            "share_running": [1.0, 0.2, 1.0, 0.9],
            "pressure_rise": [3.0, 3.1, 3.2, 3.3],
            "current_per_flow": [None] * 4,
        },
        schema_overrides={"current_per_flow": pl.Float64},
    )
    matrix = machine_matrix(sensor, machine, "M1", stats=("mean", "std"))
    # Hour 1 barely ran; hour 2 misses temp's mean: both left out. Cross features the machine has only.
    assert matrix.get_column("window_start").to_list() == [starts[0], starts[3]]
    assert matrix.columns == ["window_start", "window_end", "pressure_rise", "temp__mean", "temp__std", "vib__mean", "vib__std"]
    assert matrix.get_column("temp__mean").to_list() == [50.0, 53.0]
    assert matrix.get_column("vib__mean").to_list() == [1.0, 1.3]


def test_healthy_period_leaves_out_failures_repairs_and_maintenance() -> None:
    starts = _hours(24 * 12)
    windows = pl.DataFrame({"window_start": starts, "window_end": [s + timedelta(hours=1) for s in starts]})
    failure = T0 + timedelta(days=9)
    events = pl.DataFrame(
        {
            "machine_id": ["M1", "M1", "M1", "M2"],
            "ts": [failure, failure + timedelta(hours=5), T0 + timedelta(days=1, hours=12), T0 + timedelta(days=2)],
            "kind": ["failure", "repair", "maintenance", "failure"],
        }
    )
    mask = healthy_mask(windows, events, "M1", before_failure=timedelta(days=2), after_repair=timedelta(days=1))
    frame = windows.with_columns(mask)
    bad = frame.filter(~pl.col("healthy"))
    # Maintenance at day 1 12:00 takes out 12 h either side; the failure takes out day 7 00:00
    # to the repair (day 9 05:00) plus a day: day 10 05:00.
    assert bad.get_column("window_start").min() == T0 + timedelta(days=1)
    maintenance = bad.filter(pl.col("window_start") < T0 + timedelta(days=5))
    assert maintenance.height == 24
    failure_part = bad.filter(pl.col("window_start") >= T0 + timedelta(days=5))
    assert failure_part.get_column("window_start").min() == T0 + timedelta(days=7)
    assert failure_part.get_column("window_end").max() == T0 + timedelta(days=10, hours=5)
    assert failure_part.height == 3 * 24 + 5
    # Another machine's failure does not touch M1.
    assert healthy_mask(windows, events, "M3").all()
