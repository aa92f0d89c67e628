"""The demo hub built from ``data_samples/``: every sample factory, its readings and events.

Expected counts and times are computed here from the sample files themselves (``csv`` module and
``zoneinfo``), not from the hub.
"""

from __future__ import annotations

import csv
import filecmp
import importlib.util
import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import polars as pl
import pytest

from analytics.demo import build_demo
from analytics.errors import InputFileError
from analytics.store.hub import Hub
from analytics.store.reader import FactoryReader
from tests.conftest import NOW

SAMPLES = Path(__file__).resolve().parents[1] / "data_samples"
SHARED = Path(__file__).resolve().parents[2] / "shared" / "datasets"
SEOUL = ZoneInfo("Asia/Seoul")


def _seoul(text: str) -> datetime:
    """A naive local time stamp of the samples, as a UTC datetime."""
    return datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=SEOUL).astimezone(UTC)


def _korean_excel(text: str) -> datetime:
    """``2025-03-03 오후 3:10:00`` (Korean Excel) as a UTC datetime."""
    day, meridiem, clock = text.split(" ")
    hour, minute, second = (int(p) for p in clock.split(":"))
    hour = hour % 12 + (12 if meridiem == "오후" else 0)
    local = datetime.strptime(day, "%Y-%m-%d").replace(hour=hour, minute=minute, second=second, tzinfo=SEOUL)
    return local.astimezone(UTC)


def _rows(path: Path, encoding: str = "utf-8") -> list[dict[str, str]]:
    with path.open(encoding=encoding, newline="") as handle:
        return list(csv.DictReader(handle))


def _summary(hub: Hub, factory: str) -> dict[tuple[str, str], tuple[int, datetime, datetime]]:
    frame = (
        FactoryReader(hub, factory).readings()
        .group_by("machine_id", "sensor")
        .agg(pl.len(), pl.col("ts").min().alias("first"), pl.col("ts").max().alias("last"))
        .collect()
    )
    return {(m, s): (n, a, b) for m, s, n, a, b in frame.iter_rows()}


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Hub, dict, dict]:
    """One demo hub for the module, built twice: (hub, first results, second results)."""
    hub = Hub.open(data_dir=tmp_path_factory.mktemp("demo") / "hub")
    first = build_demo(hub, SAMPLES, now=NOW)
    second = build_demo(hub, SAMPLES, now=NOW)
    return hub, first, second


def test_every_sample_factory_is_registered(demo) -> None:
    hub, first, _ = demo
    assert sorted(first) == ["ai4i-mill", "cmapss-turbofan", "nab-machine-temp"]
    assert [f.factory_id for f in hub.registry.factories()] == sorted(first)
    for factory in hub.registry.factories():
        assert factory.timezone == "Asia/Seoul" and factory.name_ko and factory.name_en
    assert [m.machine_id for m in hub.registry.machines("ai4i-mill")] == ["MILL-01"]
    assert sorted(m.machine_id for m in hub.registry.machines("cmapss-turbofan")) == sorted(f"ENG-{n}" for n in range(1, 11))
    assert [m.machine_id for m in hub.registry.machines("nab-machine-temp")] == ["MT-01"]
    assert len(hub.registry.sensors("ai4i-mill")) == 5
    assert len(hub.registry.sensors("cmapss-turbofan")) == 10 * 14
    assert len(hub.registry.sensors("nab-machine-temp")) == 1


def test_ai4i_mill(demo) -> None:
    hub, first, _ = demo
    # The CP949 file is decoded here with Python's codec, independently of the hub's detection.
    rows = _rows(SAMPLES / "ai4i-mill" / "mill01_process_log.csv", encoding="cp949")
    times = [_korean_excel(r["일시"]) for r in rows]
    readings, events = first["ai4i-mill"]
    assert (readings.source_file, readings.rows_read, readings.accepted, readings.quarantined) == ("mill01_process_log.csv", 10_000, 50_000, 0)
    summary = _summary(hub, "ai4i-mill")
    assert set(summary) == {("MILL-01", s) for s in ("air_temp", "process_temp", "spindle_speed", "torque", "tool_wear")}
    assert set(summary.values()) == {(len(rows), min(times), max(times))}
    # Row 1 at 2025-03-03 오전 6:00 KST; 9,999 steps of 10 minutes (69 d 10 h 30 min) later,
    # 2025-05-11 오후 4:30 KST. KST is UTC+9.
    assert (min(times), max(times)) == (datetime(2025, 3, 2, 21, 0, tzinfo=UTC), datetime(2025, 5, 11, 7, 30, tzinfo=UTC))
    # Values arrive unchanged through the Korean header mapping.
    stored = FactoryReader(hub, "ai4i-mill").readings(sensors=["torque"]).sort("ts").collect()
    assert stored.get_column("value").to_list() == [float(r["토크(Nm)"]) for r in rows]

    expected_events = _rows(SAMPLES / "ai4i-mill" / "events.csv")
    assert (events.source_file, events.table, events.accepted, events.quarantined) == ("events.csv", "events", len(expected_events), 0)
    stored_events = FactoryReader(hub, "ai4i-mill").events().collect()
    assert stored_events.height == len(expected_events) == 364
    assert set(stored_events.get_column("kind")) == {"failure"}
    # 339 failed processes: 306 with one mode, 23 with two, 1 with three, 9 with none.
    assert stored_events.get_column("component").value_counts().sort("component").rows() == [
        ("HDF", 115), ("OSF", 98), ("PWF", 95), ("RNF", 1), ("TWF", 46), ("unspecified", 9)
    ]
    # Every failure happened at a process the readings cover.
    assert set(stored_events.get_column("ts")) <= set(times)


def test_cmapss_turbofan(demo) -> None:
    hub, first, _ = demo
    rows = _rows(SAMPLES / "cmapss-turbofan" / "engines_fd001.csv")
    readings, events = first["cmapss-turbofan"]
    assert (readings.rows_read, readings.accepted, readings.duplicate, readings.quarantined) == (len(rows), len(rows), 0, 0)
    assert len(rows) == 29_904  # 2,136 cycles of 10 engines x 14 sensors
    # Cycle n is 2025-01-01 00:00 KST + n hours.
    origin = datetime(2025, 1, 1, tzinfo=SEOUL)
    expected: dict[tuple[str, str], list] = {}
    for r in rows:
        ts = (origin + timedelta(hours=int(r["cycle"]))).astimezone(UTC)
        entry = expected.setdefault((f"ENG-{r['engine']}", r["sensor"]), [0, ts, ts])
        entry[0] += 1
        entry[1], entry[2] = min(entry[1], ts), max(entry[2], ts)
    assert _summary(hub, "cmapss-turbofan") == {k: tuple(v) for k, v in expected.items()}
    assert expected["ENG-1", "T24"] == [192, datetime(2024, 12, 31, 16, tzinfo=UTC), datetime(2025, 1, 8, 15, tzinfo=UTC)]

    # One failure per engine, at the time of its last cycle.
    assert (events.accepted, events.quarantined) == (10, 0)
    failures = FactoryReader(hub, "cmapss-turbofan").events().collect()
    assert set(failures.get_column("kind")) == {"failure"} and set(failures.get_column("component")) == {"HPC"}
    last_cycle = {m: last for (m, s), (_, _, last) in expected.items() if s == "T24"}
    assert dict(failures.select("machine_id", "ts").iter_rows()) == last_cycle


def test_nab_machine_temp(demo) -> None:
    hub, first, _ = demo
    rows = _rows(SAMPLES / "nab-machine-temp" / "machine_temperature_system_failure.csv")
    times = [_seoul(r["timestamp"]) for r in rows]
    readings, events = first["nab-machine-temp"]
    # The file logs 02:00-02:55 of 2014-01-07 twice with other values: the 12 repeats are
    # quarantined as conflicts, the first reading of each time is kept.
    assert len(rows) - len(set(times)) == 12
    assert (readings.rows_read, readings.accepted, readings.duplicate, readings.quarantined) == (22_695, 22_683, 0, 12)
    assert readings.reasons == {"duplicate key with a different value": 12}
    assert _summary(hub, "nab-machine-temp") == {("MT-01", "component_temp"): (len(set(times)), min(times), max(times))}
    # 2013-12-02 21:15 KST is 12:15 UTC.
    assert min(times) == datetime(2013, 12, 2, 12, 15, tzinfo=UTC)
    quarantine = FactoryReader(hub, "nab-machine-temp").quarantine().collect().sort("row")
    assert quarantine.get_column("row").to_list() == list(range(10151, 10163))

    assert (events.accepted, events.quarantined) == (4, 0)
    stored = FactoryReader(hub, "nab-machine-temp").events().sort("ts").collect()
    assert stored.get_column("kind").to_list() == ["maintenance", "alarm", "failure", "alarm"]
    assert stored.get_column("ts").to_list() == [_seoul(r["ts"]) for r in _rows(SAMPLES / "nab-machine-temp" / "events.csv")]


def test_second_build_stores_nothing(demo) -> None:
    hub, first, second = demo
    assert {k: [r.source_file for r in v] for k, v in second.items()} == {k: [r.source_file for r in v] for k, v in first.items()}
    assert all(r.status == "skipped" and r.accepted == 0 for results in second.values() for r in results)
    for factory, results in first.items():
        reader = FactoryReader(hub, factory)
        assert reader.readings().select(pl.len()).collect().item() == sum(r.accepted for r in results if r.table == "readings")
        assert reader.events().select(pl.len()).collect().item() == sum(r.accepted for r in results if r.table == "events")
        assert reader.quarantine().select(pl.len()).collect().item() == sum(r.quarantined for r in results)


def test_any_folder_laid_out_the_same_way(hub: Hub, tmp_path: Path) -> None:
    """Defaults: no mapping files means long-form readings and plain events files."""
    samples = tmp_path / "samples"
    (samples / "press-shop").mkdir(parents=True)
    (samples / "notes").mkdir()  # no plant file: not a factory
    (samples / "README.md").write_text("not data\n", encoding="utf-8")
    plant = {
        "factory": {"id": "press-shop", "name_ko": "프레스", "name_en": "Press", "timezone": "Asia/Seoul"},
        "machines": [{"id": "P-1", "type": "press", "sensors": [{"name": "force", "unit": "kN", "min": 0, "max": 2500, "interval": "1s"}]}],
    }
    (samples / "press-shop" / "plant.json").write_text(json.dumps(plant), encoding="utf-8")
    (samples / "press-shop" / "SOURCE.md").write_text("made up\n", encoding="utf-8")
    (samples / "press-shop" / "readings.csv").write_text(
        "machine_id,sensor,ts,value\nP-1,force,2025-01-01 09:00:00,10\nP-1,force,2025-01-01 09:00:01,3000\n", encoding="utf-8"
    )
    (samples / "press-shop" / "events_2025.csv").write_text(
        "machine_id,ts,kind,component,text\nP-1,2025-01-01 09:00:02,alarm,die,overload\n", encoding="utf-8"
    )
    built = build_demo(hub, samples, now=NOW)
    assert list(built) == ["press-shop"]
    readings, events = built["press-shop"]
    assert (readings.source_file, readings.accepted, readings.quarantined) == ("readings.csv", 1, 1)
    assert (events.source_file, events.table, events.accepted) == ("events_2025.csv", "events", 1)
    stored = FactoryReader(hub, "press-shop").events().collect()
    assert stored.select("machine_id", "ts", "kind").row(0) == ("P-1", datetime(2025, 1, 1, 0, 0, 2, tzinfo=UTC), "alarm")

    # An events mapping that forgets "table: events" is refused rather than silently overridden.
    (samples / "press-shop" / "events_mapping.yaml").write_text("format: long\n", encoding="utf-8")
    with pytest.raises(InputFileError, match="table: events"):
        build_demo(hub, samples, now=NOW)


def test_samples_are_what_make_samples_writes(tmp_path: Path) -> None:
    """Regenerating the samples from the public datasets reproduces the committed files byte for byte."""
    if not SHARED.is_dir():
        pytest.skip(f"public datasets not found at {SHARED} (CI clones shared/ beside the repo)")
    spec = importlib.util.spec_from_file_location("make_samples", SAMPLES / "make_samples.py")
    assert spec is not None and spec.loader is not None
    make_samples = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make_samples)
    for name, make in [("ai4i-mill", make_samples.make_ai4i), ("cmapss-turbofan", make_samples.make_cmapss), ("nab-machine-temp", make_samples.make_nab)]:
        out = tmp_path / name
        out.mkdir()
        shutil.copy(SAMPLES / name / "mapping.yaml", out / "mapping.yaml")  # C-MAPSS events read its clock
        make(SHARED, out)
        written = sorted(p.name for p in out.iterdir() if p.name != "mapping.yaml")
        # Every data file in the folder is generated (make_nab also copies NAB's LICENSE.txt).
        assert [n for n in written if n.endswith(".csv")] == sorted(p.name for p in (SAMPLES / name).glob("*.csv"))
        for file in written:
            assert filecmp.cmp(out / file, SAMPLES / name / file, shallow=False), f"{name}/{file} differs"
