"""End-to-end checks of one small ingest against hand-computed outcomes."""

from __future__ import annotations

import polars as pl

from analytics.ingest import ingest_file
from analytics.store.reader import FactoryReader
from tests.conftest import NOW

CSV = """machine_id,sensor,ts,value
CNC-01,spindle_temp,2026-01-01 09:00:00,20.5
CNC-01,spindle_temp,2026-01-01 09:00:01,21
CNC-01,spindle_temp,2026-01-01 09:00:01,21
CNC-01,spindle_temp,2026-01-01 09:00:01,22
CNC-99,spindle_temp,2026-01-01 09:00:01,1
CNC-01,spindle_temp,xx,1
CNC-01,spindle_temp,2026-01-01 09:00:05,999
CNC-01,vibration_rms,2026-01-01 09:00:05,nan
CNC-01,vibration_rms,2026-01-01 09:00:05,
"""


def test_small_file_counts_and_quarantine(acme, write_file):
    path = write_file("a.csv", CSV)
    result = ingest_file(acme, "acme", path, now=NOW)
    assert (result.rows_read, result.accepted, result.duplicate, result.quarantined) == (9, 2, 1, 6)
    stored = FactoryReader(acme, "acme").readings().collect().sort("ts")
    # 09:00 Seoul is 00:00 UTC.
    assert stored.get_column("ts").dt.strftime("%H:%M:%S").to_list() == ["00:00:00", "00:00:01"]
    assert stored.get_column("value").to_list() == [20.5, 21.0]
    quarantine = FactoryReader(acme, "acme").quarantine().collect().sort("row")
    assert quarantine.select("row", "column").rows() == [
        (5, "value"), (6, "machine_id"), (7, "ts"), (8, "value"), (9, "value"), (10, "value")
    ]
    reasons = quarantine.get_column("reason").to_list()
    assert reasons[0] == "duplicate key with a different value (first at row 3)"
    assert reasons[1] == "unknown machine 'CNC-99'"
    assert reasons[2] == "unparseable timestamp 'xx'"
    assert reasons[3] == "outside valid range [-20.0, 200.0]"
    assert reasons[4] == "non-finite value"
    assert reasons[5] == "missing value"


def test_reingest_is_idempotent(acme, write_file):
    path = write_file("a.csv", CSV)
    ingest_file(acme, "acme", path, now=NOW)
    again = ingest_file(acme, "acme", path, now=NOW, force=True)
    assert again.accepted == 0
    reader = FactoryReader(acme, "acme")
    assert reader.readings().collect().height == 2
    assert reader.quarantine().collect().height == 6
    skipped = ingest_file(acme, "acme", path, now=NOW)
    assert skipped.status == "skipped"


def test_quality_report_per_sensor(acme, write_file):
    rows = ["machine_id,sensor,ts,value"]
    # 60 one-second samples with a 10 s hole and 40 identical values at the end.
    for second in list(range(0, 20)) + list(range(30, 70)):
        value = 5.0 if second >= 30 else float(second)
        rows.append(f"CNC-01,vibration_rms,2026-01-01 09:00:{second:02d},{value}" if second < 60 else f"CNC-01,vibration_rms,2026-01-01 09:01:{second - 60:02d},{value}")
    path = write_file("q.csv", "\n".join(rows) + "\n")
    result = ingest_file(acme, "acme", path, now=NOW)
    q = result.quality.filter(pl.col("sensor") == "vibration_rms").row(0, named=True)
    assert q["received"] == 60 and q["accepted"] == 60
    assert q["expected"] == 70 and q["missing"] == 10
    assert q["gaps"] == 1 and q["longest_gap_s"] == 11.0
    assert q["flatline_stretches"] == 1 and q["longest_flatline_s"] == 39.0
    assert q["history_days"] == 1 and q["enough_history"] is False


def test_events_ingest_validates_and_dedupes(acme, write_file):
    from analytics.ingest import ImportMapping

    text = (
        "machine_id,ts,kind,component,text\n"
        "CNC-01,2026-01-03 14:00:00,failure,spindle bearing,베어링 소음 후 정지\n"
        "CNC-01,2026-01-03 14:00:00,failure,spindle bearing,베어링 소음 후 정지\n"
        "CNC-01,2026-01-04 09:00:00,Maintenance,spindle bearing,replaced bearing\n"
        "CNC-01,2026-01-04 10:00:00,explosion,,\n"
        "CNC-77,2026-01-04 10:00:00,alarm,,\n"
    )
    result = ingest_file(acme, "acme", write_file("events.csv", text), ImportMapping(table="events"), now=NOW)
    assert (result.rows_read, result.accepted, result.duplicate, result.quarantined) == (5, 2, 1, 2)
    events = FactoryReader(acme, "acme").events().collect().sort("ts")
    assert events.get_column("kind").to_list() == ["failure", "maintenance"]
    assert events.get_column("text").to_list()[0] == "베어링 소음 후 정지"
    assert events.get_column("ts").dt.strftime("%Y-%m-%d %H:%M").to_list() == ["2026-01-03 05:00", "2026-01-04 00:00"]
    reasons = FactoryReader(acme, "acme").quarantine().collect().sort("row").get_column("reason").to_list()
    assert reasons[0].startswith("unknown event kind 'explosion'")
    assert reasons[1] == "unknown machine 'CNC-77'"
    again = ingest_file(acme, "acme", write_file("events.csv", text), ImportMapping(table="events"), now=NOW, force=True)
    assert again.accepted == 0 and again.duplicate == 3


def test_history_days_accumulate_over_ingests(acme, write_file):
    for day in (1, 2, 2, 5):
        path = write_file(f"d{day}.csv", f"machine_id,sensor,ts,value\nCNC-01,motor_current,2026-03-0{day} 23:30:00,{day}\n")
        result = ingest_file(acme, "acme", path, now=NOW, force=True)
    row = result.quality.filter(pl.col("sensor") == "motor_current").row(0, named=True)
    # 23:30 in Seoul is still the same local day (14:30 UTC): days 1, 2 and 5.
    assert row["history_days"] == 3
    assert acme.registry.history_days("acme") == [("CNC-01", "motor_current", 3)]


def test_headerless_file_with_wrong_column_count_is_a_clear_error(acme, write_file):
    import pytest

    from analytics.errors import InputFileError
    from analytics.ingest import ImportMapping

    path = write_file("engine.txt", "1 1 0.5 \n1 2 0.6 \n")
    mapping = ImportMapping(has_header=False, column_names=["unit", "cycle", "s1"], delimiter=" ")
    with pytest.raises(InputFileError) as error:
        ingest_file(acme, "acme", path, mapping, now=NOW)
    assert error.value.row == 1
    assert "rows have 4 fields (delimiter ' ') but the mapping names 3 column_names" in str(error.value)


def test_counter_time_is_elapsed_time_across_dst(hub, write_file):
    """A sample counter with a naive origin in a DST zone: every step is the same real duration,
    nothing is lost in the spring-forward gap."""
    from analytics.ingest import ImportMapping, TimestampSpec
    from analytics.schemas import PlantDescription

    hub.registry.register_plant(PlantDescription.model_validate({
        "factory": {"id": "berlin", "timezone": "Europe/Berlin"},
        "machines": [{"id": "M1", "type": "mill", "sensors": [{"name": "torque", "interval": "30min"}]}],
    }))
    rows = "\n".join(f"{i},{i}.0" for i in range(12))
    path = write_file("counter.csv", "sample,torque\n" + rows + "\n")
    mapping = ImportMapping(format="wide", machine_id="M1", timestamp=TimestampSpec(column="sample", origin="2026-03-29T00:00:00", step="30min"))
    result = ingest_file(hub, "berlin", path, mapping, now=NOW)
    assert (result.accepted, result.quarantined) == (12, 0)
    ts = FactoryReader(hub, "berlin").readings().collect().sort("ts").get_column("ts")
    # Midnight in Berlin on 29 March is 23:00 UTC the day before (CET, +01:00).
    assert ts[0].isoformat() == "2026-03-28T23:00:00+00:00"
    assert set(ts.diff().drop_nulls().dt.total_minutes().to_list()) == {30}


def test_delimiter_detection_respects_quotes():
    from analytics.ingest.sources import detect_delimiter

    assert detect_delimiter('ts,"temp;C;max;min",value\n') == ","
    assert detect_delimiter("ts;temp;value\n") == ";"
    assert detect_delimiter("ts\ttemp\tvalue\n") == "\t"
    assert detect_delimiter("single\n") == ","


def test_repeat_of_ingested_content_leaves_no_files_behind(tmp_path, write_file):
    """The hash is computed while the file is processed; a repeat found at the end must remove
    everything it staged (here with tiny chunks, so quarantine rows are flushed mid-file)."""
    from analytics.config import HubSettings
    from analytics.schemas import PlantDescription
    from analytics.store.hub import Hub
    from tests.conftest import PLANT

    hub = Hub.open(settings=HubSettings(ingest_chunk_rows=2), data_dir=tmp_path / "hub")
    hub.registry.register_plant(PlantDescription.model_validate(PLANT))
    path = write_file("a.csv", CSV)
    first = ingest_file(hub, "acme", path, now=NOW)
    files_before = sorted(p.name for p in hub.lake.factory_root("acme").rglob("*.parquet"))
    again = ingest_file(hub, "acme", path, now=NOW)
    assert (first.accepted, again.status) == (2, "skipped")
    assert sorted(p.name for p in hub.lake.factory_root("acme").rglob("*.parquet")) == files_before


def test_sensor_added_later_accepts_its_readings(acme, write_file):
    from analytics.schemas import SensorSpec

    text = "machine_id,sensor,ts,value\nPUMP-02,motor_temp,2026-01-01 09:00:00,41.5\n"
    assert ingest_file(acme, "acme", write_file("m1.csv", text), now=NOW).quarantined == 1
    acme.registry.add_sensor("acme", "PUMP-02", SensorSpec(name="motor_temp", unit="°C", min=-20, max=150, interval="10s"))
    # The same file again, forced: what was quarantined for the unknown sensor now goes in.
    assert ingest_file(acme, "acme", write_file("m1.csv", text), now=NOW, force=True).accepted == 1
    assert [s.sensor for s in acme.registry.sensors("acme", "PUMP-02")] == ["flow", "motor_temp", "pressure"]


def test_repeats_of_chunks_beyond_the_memory_budget_are_found_in_staged_files(tmp_path, write_file):
    """Chunks of 2 readings keep only 16 in memory; repeats of the file's first rows at its end
    must be found by reading the staged files back."""
    from analytics.config import HubSettings
    from analytics.schemas import PlantDescription
    from analytics.store.hub import Hub
    from tests.conftest import PLANT

    hub = Hub.open(settings=HubSettings(ingest_chunk_rows=2), data_dir=tmp_path / "hub")
    hub.registry.register_plant(PlantDescription.model_validate(PLANT))
    rows = [f"CNC-01,spindle_temp,2026-01-01 09:00:{s:02d},{s}" for s in range(40)]
    repeats = rows[:3] + ["CNC-01,spindle_temp,2026-01-01 09:00:03,99"]  # 3 exact repeats, 1 conflict
    path = write_file("late.csv", "machine_id,sensor,ts,value\n" + "\n".join(rows + repeats) + "\n")
    result = ingest_file(hub, "acme", path, now=NOW)
    assert (result.accepted, result.duplicate, result.quarantined) == (40, 3, 1)
    assert FactoryReader(hub, "acme").quarantine().collect().get_column("reason").to_list() == ["conflicts with the stored value 3.0"]
    assert FactoryReader(hub, "acme").readings().collect().height == 40
