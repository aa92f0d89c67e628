"""Every public dataset with sensor readings, ingested straight from ``shared/datasets``.

The plant descriptions and import mappings live in ``tests/datasets/``. What the hub should store is
computed here independently, from the raw files with the ``csv`` module, ``float`` and ``zoneinfo``:
per (machine, sensor) the number of readings, the first and last UTC time stamp and the sum of the
values; per file the rows accepted, duplicate and quarantined; and exactly which cells are
quarantined. Time stamps are checked again against hand-computed UTC values.

Nothing is copied into the repository: SKAB is GPL-3.0 and is only read from ``shared/``.
"""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import polars as pl
import pytest
import yaml

from analytics.ingest import ingest_file, load_mapping
from analytics.schemas import PlantDescription
from analytics.store.hub import Hub
from analytics.store.reader import FactoryReader
from tests.conftest import NOW

SHARED = Path(__file__).resolve().parents[2] / "shared" / "datasets"
SPECS = Path(__file__).resolve().parent / "datasets"

pytestmark = pytest.mark.skipif(
    not SHARED.is_dir(), reason=f"public datasets not found at {SHARED} (CI clones shared/ beside the repo)"
)

Row = tuple[int, str, datetime, dict[str, str]]  # (row number as a person sees it, machine, UTC time, sensor -> text)


def _dataset(name: str) -> Path:
    folder = SHARED / name
    if not folder.is_dir():
        pytest.skip(f"dataset {name!r} not found at {folder}")
    return folder


def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@dataclass
class Expected:
    """What the hub must store from a sequence of files, worked out without the hub.

    A cell is quarantined if its value lies outside the sensor's declared range, or if its
    (machine, sensor, time) was already accepted with a different value (earlier in the file or in
    an earlier file); an exact repeat is a duplicate; anything else is stored.
    """

    ranges: dict[tuple[str, str], tuple[float, float]]
    summary: dict[tuple[str, str], list] = field(default_factory=dict)  # [count, first, last, sum]
    quarantined_cells: set[tuple[str, int, str]] = field(default_factory=set)  # (file sha, row, sensor)
    accepted_values: dict[tuple[str, datetime], dict[str, float]] = field(default_factory=dict)

    @classmethod
    def from_plant(cls, plant: dict) -> Expected:
        return cls({(m["id"], s["name"]): (s["min"], s["max"]) for m in plant["machines"] for s in m["sensors"]})

    def add_file(self, sha: str, rows: Iterator[Row]) -> tuple[int, int, int]:
        """(accepted, duplicate, quarantined) cells of one file, updating the expected store."""
        accepted = duplicate = quarantined = 0
        for number, machine, ts, cells in rows:
            stored = self.accepted_values.setdefault((machine, ts), {})
            for sensor, text in cells.items():
                value = float(text)
                lo, hi = self.ranges[machine, sensor]
                if not lo <= value <= hi or (sensor in stored and stored[sensor] != value):
                    quarantined += 1
                    self.quarantined_cells.add((sha, number, sensor))
                elif sensor in stored:
                    duplicate += 1
                else:
                    accepted += 1
                    stored[sensor] = value
                    entry = self.summary.setdefault((machine, sensor), [0, ts, ts, 0.0])
                    entry[0] += 1
                    entry[1], entry[2] = min(entry[1], ts), max(entry[2], ts)
                    entry[3] += value
        return accepted, duplicate, quarantined


def _register(hub: Hub, spec_folder: Path) -> tuple[str, Expected]:
    plant = yaml.safe_load((spec_folder / "plant.yaml").read_text(encoding="utf-8"))
    hub.registry.register_plant(PlantDescription.model_validate(plant))
    return plant["factory"]["id"], Expected.from_plant(plant)


def _ingest_all(hub: Hub, factory: str, expected: Expected, plan: list[tuple[Path, Path, Iterator[Row]]]) -> None:
    """Ingest each (file, mapping, ground-truth rows) and check every file's counts."""
    for path, mapping, rows in plan:
        want = expected.add_file(_sha256(path), rows)
        result = ingest_file(hub, factory, path, load_mapping(mapping), now=NOW)
        assert result.status == "ok", path
        assert (result.accepted, result.duplicate, result.quarantined) == want, path


def _check_store(hub: Hub, factory: str, expected: Expected) -> pl.DataFrame:
    """The stored readings and quarantine match ``expected`` exactly; returns the per-sensor summary."""
    reader = FactoryReader(hub, factory)
    stored = (
        reader.readings()
        .group_by("machine_id", "sensor")
        .agg(pl.len().alias("n"), pl.col("ts").min().alias("first"), pl.col("ts").max().alias("last"), pl.col("value").sum().alias("total"))
        .collect()
    )
    got = {(r["machine_id"], r["sensor"]): r for r in stored.iter_rows(named=True)}
    assert set(got) == set(expected.summary)
    for key, (count, first, last, total) in expected.summary.items():
        row = got[key]
        assert (row["n"], row["first"], row["last"]) == (count, first, last), key
        assert row["total"] == pytest.approx(total, rel=1e-12), key
    quarantine = reader.quarantine().collect()
    cells = set(quarantine.select("file_sha256", "row", "sensor").iter_rows())
    assert quarantine.height == len(expected.quarantined_cells) == len(cells)
    assert cells == expected.quarantined_cells
    return stored


def _check_reingest(hub: Hub, factory: str, plan: list[tuple[Path, Path, Iterator[Row]]]) -> None:
    """Ingesting the same files again, skipped or forced, stores nothing new."""
    reader = FactoryReader(hub, factory)
    before = (reader.readings().select(pl.len()).collect().item(), reader.quarantine().select(pl.len()).collect().item())
    for path, mapping, _ in plan:
        assert ingest_file(hub, factory, path, load_mapping(mapping), now=NOW).status == "skipped"
        forced = ingest_file(hub, factory, path, load_mapping(mapping), now=NOW, force=True)
        assert forced.status == "ok" and forced.accepted == 0, path
    after = (reader.readings().select(pl.len()).collect().item(), reader.quarantine().select(pl.len()).collect().item())
    assert after == before


def _span(stored: pl.DataFrame, machine: str | None = None) -> tuple[datetime, datetime]:
    rows = stored if machine is None else stored.filter(pl.col("machine_id") == machine)
    return rows.get_column("first").min(), rows.get_column("last").max()


# --- AI4I 2020 ---------------------------------------------------------------------------------
AI4I_COLUMNS = {
    "Air temperature [K]": "air_temp",
    "Process temperature [K]": "process_temp",
    "Rotational speed [rpm]": "rotational_speed",
    "Torque [Nm]": "torque",
    "Tool wear [min]": "tool_wear",
}


def _ai4i_rows(path: Path) -> Iterator[Row]:
    # Row id UDI n is dated 2020-03-01 00:00 CET (+01:00) + n x 10 min, on absolute time.
    origin = datetime(2020, 3, 1, tzinfo=timezone(timedelta(hours=1)))
    with path.open(encoding="utf-8-sig", newline="") as handle:
        for number, record in enumerate(csv.DictReader(handle), start=2):
            ts = (origin + int(record["UDI"]) * timedelta(minutes=10)).astimezone(UTC)
            yield number, "MILL", ts, {name: record[column] for column, name in AI4I_COLUMNS.items()}


def test_ai4i2020(hub: Hub) -> None:
    source = _dataset("ai4i2020") / "ai4i2020.csv"
    factory, expected = _register(hub, SPECS / "ai4i2020")
    plan = [(source, SPECS / "ai4i2020" / "mapping.yaml", _ai4i_rows(source))]
    _ingest_all(hub, factory, expected, plan)
    stored = _check_store(hub, factory, expected)
    # 10,000 processes x 5 sensors, nothing quarantined.
    assert stored.get_column("n").to_list() == [10_000] * 5
    # UDI 1 is 00:10 CET; UDI 10000 is 100,000 min later, 11:40 CEST after the March DST change.
    assert _span(stored) == (_utc("2020-02-29 23:10:00"), _utc("2020-05-09 09:40:00"))
    _check_reingest(hub, factory, plan)


# --- NASA C-MAPSS FD001 ------------------------------------------------------------------------
CMAPSS_NAMES = [
    "op_setting_1", "op_setting_2", "op_setting_3",
    "T2", "T24", "T30", "T50", "P2", "P15", "P30", "Nf", "Nc", "epr",
    "Ps30", "phi", "NRf", "NRc", "BPR", "farB", "htBleed", "Nf_dmd", "PCNfR_dmd", "W31", "W32",
]


def _cmapss_rows(path: Path, prefix: str) -> Iterator[Row]:
    # Cycle n is 2020-01-01 00:00 Asia/Seoul (UTC+9) + n hours. Split on any run of blanks: each
    # line ends with two spaces.
    origin = datetime(2020, 1, 1, tzinfo=ZoneInfo("Asia/Seoul"))
    with path.open(encoding="ascii") as handle:
        for number, line in enumerate(handle, start=1):
            unit, cycle, *values = line.split()
            assert len(values) == len(CMAPSS_NAMES)
            ts = (origin + int(cycle) * timedelta(hours=1)).astimezone(UTC)
            yield number, f"{prefix}{unit}", ts, dict(zip(CMAPSS_NAMES, values, strict=True))


def test_cmapss_fd001(hub: Hub) -> None:
    folder = _dataset("cmapss")
    factory, expected = _register(hub, SPECS / "cmapss")
    plan = [
        (folder / f"{kind}_FD001.txt", SPECS / "cmapss" / f"{kind}_mapping.yaml", _cmapss_rows(folder / f"{kind}_FD001.txt", f"{kind}-"))
        for kind in ("train", "test")
    ]
    _ingest_all(hub, factory, expected, plan)
    stored = _check_store(hub, factory, expected)
    per_machine = stored.group_by("machine_id").agg(pl.col("n").sum())
    train = per_machine.filter(pl.col("machine_id").str.starts_with("train-"))
    test = per_machine.filter(pl.col("machine_id").str.starts_with("test-"))
    # 100 engines each; 20,631 and 13,096 rows of 24 values (SOURCE.md row counts).
    assert (train.height, train.get_column("n").sum()) == (100, 20_631 * 24)
    assert (test.height, test.get_column("n").sum()) == (100, 13_096 * 24)
    # Cycle 1 is 01:00 KST = 16:00 UTC the day before. Longest lives: 362 (train), 303 (test).
    assert _span(stored.filter(pl.col("machine_id").str.starts_with("train-"))) == (_utc("2019-12-31 16:00:00"), _utc("2020-01-15 17:00:00"))
    assert _span(stored.filter(pl.col("machine_id").str.starts_with("test-"))) == (_utc("2019-12-31 16:00:00"), _utc("2020-01-13 06:00:00"))
    # Engine 1 of the training set failed after cycle 192.
    assert _span(stored, "train-1") == (_utc("2019-12-31 16:00:00"), _utc("2019-12-31 15:00:00") + timedelta(hours=192))
    _check_reingest(hub, factory, plan)


# --- NAB realKnownCause ------------------------------------------------------------------------
NAB_FILES = {  # file stem: (machine, sensor, time zone of its naive time stamps)
    "ambient_temperature_system_failure": ("ambient_temperature", "temperature", "UTC"),
    "cpu_utilization_asg_misconfiguration": ("cpu_asg", "cpu_utilization", "UTC"),
    "ec2_request_latency_system_failure": ("ec2_latency", "request_latency", "UTC"),
    "machine_temperature_system_failure": ("machine_temperature", "temperature", "UTC"),
    "nyc_taxi": ("nyc_taxi", "passengers", "America/New_York"),
    "rogue_agent_key_hold": ("rogue_key_hold", "key_hold", "UTC"),
    "rogue_agent_key_updown": ("rogue_key_updown", "key_updown", "UTC"),
}


def _timestamp_value_rows(path: Path, machine: str, sensor: str, zone: str, delimiter: str = ",") -> Iterator[Row]:
    tz = ZoneInfo(zone)
    with path.open(encoding="utf-8", newline="") as handle:
        for number, (stamp, value) in enumerate(csv.reader(handle, delimiter=delimiter), start=1):
            if number > 1:
                # fold=0: a repeated local time is the earlier instant, as the hub reads it.
                ts = datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S").replace(tzinfo=tz).astimezone(UTC)
                yield number, machine, ts, {sensor: value}


def test_nab_realknowncause(hub: Hub) -> None:
    folder = _dataset("nab") / "data" / "realKnownCause"
    factory, expected = _register(hub, SPECS / "nab")
    plan = [
        (folder / f"{stem}.csv", SPECS / "nab" / "mappings" / f"{stem}.yaml", _timestamp_value_rows(folder / f"{stem}.csv", *spec))
        for stem, spec in NAB_FILES.items()
    ]
    _ingest_all(hub, factory, expected, plan)
    stored = _check_store(hub, factory, expected)
    counts = dict(stored.select("machine_id", "n").iter_rows())
    # SOURCE.md row counts, less the repeated time stamps of two files (below).
    assert counts == {
        "ambient_temperature": 7_267, "cpu_asg": 18_050, "ec2_latency": 4_032 - 11,
        "machine_temperature": 22_695 - 12, "nyc_taxi": 10_320, "rogue_key_hold": 1_882, "rogue_key_updown": 5_315,
    }
    # Explained quarantine: ec2_request_latency has 12 rows stamped 2014-03-09 03:00:00 (file rows
    # 558-569, the hour of the US spring-forward change collapsed onto one time), and
    # machine_temperature logs 02:00-02:55 on 2014-01-07 twice with other values (rows 10151-10162
    # repeat rows 10139-10150). The first of each time is kept, the others are conflicts.
    quarantine = FactoryReader(hub, factory).quarantine().collect().sort("machine_id", "row")
    ec2 = quarantine.filter(pl.col("machine_id") == "ec2_latency")
    assert ec2.get_column("row").to_list() == list(range(559, 570))
    assert set(ec2.get_column("reason")) == {"duplicate key with a different value (first at row 558)"}
    machine = quarantine.filter(pl.col("machine_id") == "machine_temperature")
    assert machine.get_column("row").to_list() == list(range(10151, 10163))
    assert machine.get_column("reason").to_list() == [f"duplicate key with a different value (first at row {r})" for r in range(10139, 10151)]
    assert quarantine.height == 23
    # UTC series keep their clock; New York taxi counts move by -4 h (EDT) / -5 h (EST).
    assert _span(stored, "machine_temperature") == (_utc("2013-12-02 21:15:00"), _utc("2014-02-19 15:25:00"))
    assert _span(stored, "nyc_taxi") == (_utc("2014-07-01 04:00:00"), _utc("2015-02-01 04:30:00"))
    taxi = FactoryReader(hub, factory).readings(machines=["nyc_taxi"]).sort("ts").collect()
    fall_back = taxi.filter(pl.col("ts").is_between(_utc("2014-11-02 04:00:00"), _utc("2014-11-02 08:00:00")))
    # 00:00-03:30 local: 00:00, 00:30, 01:00, 01:30 EDT, then 02:00 EST = 07:00 UTC (an hour's gap).
    assert fall_back.get_column("ts").dt.strftime("%H:%M").to_list() == ["04:00", "04:30", "05:00", "05:30", "07:00", "07:30", "08:00"]
    _check_reingest(hub, factory, plan)


# --- SKAB --------------------------------------------------------------------------------------
SKAB_COLUMNS = {
    "Accelerometer1RMS": "accel1_rms", "Accelerometer2RMS": "accel2_rms", "Current": "current",
    "Pressure": "pressure", "Temperature": "motor_temp", "Thermocouple": "fluid_temp",
    "Voltage": "voltage", "Volume Flow RateRMS": "flow_rate",
}


def _skab_rows(path: Path) -> Iterator[Row]:
    moscow = ZoneInfo("Europe/Moscow")  # UTC+3 all year since 2014
    with path.open(encoding="utf-8", newline="") as handle:
        for number, record in enumerate(csv.DictReader(handle, delimiter=";"), start=2):
            ts = datetime.strptime(record["datetime"], "%Y-%m-%d %H:%M:%S").replace(tzinfo=moscow).astimezone(UTC)
            yield number, "pump-testbed", ts, {name: record[column] for column, name in SKAB_COLUMNS.items()}


def test_skab(hub: Hub) -> None:
    files = sorted((_dataset("skab") / "data").rglob("*.csv"))
    assert len(files) == 35
    factory, expected = _register(hub, SPECS / "skab")
    plan = [(path, SPECS / "skab" / "mapping.yaml", _skab_rows(path)) for path in files]
    _ingest_all(hub, factory, expected, plan)
    stored = _check_store(hub, factory, expected)
    # 46,806 rows; five pairs of experiments overlap in time with identical values (572 + 21 +
    # 349 + 120 + 228 = 1,290 repeated rows), which are duplicates: 45,516 distinct times.
    counts = dict(stored.select("sensor", "n").iter_rows())
    assert counts == {name: 45_516 for name in SKAB_COLUMNS.values()} | {"pressure": 45_516 - 7}
    # Explained quarantine: the pressure transducer reads in 0.328 bar steps, and 7 samples sit at
    # -1.257 bar, below a perfect vacuum (-1.013 bar gauge): physically impossible.
    quarantine = FactoryReader(hub, factory).quarantine().collect()
    assert quarantine.height == 7
    assert set(quarantine.get_column("raw")) == {"-1.257"}
    assert set(quarantine.get_column("reason")) == {"outside valid range [-1.013, 16.0]"}
    # 2020-02-08 13:30:47 to 2020-03-09 17:14:09 Moscow time (UTC+3).
    assert _span(stored) == (_utc("2020-02-08 10:30:47"), _utc("2020-03-09 14:14:09"))
    _check_reingest(hub, factory, plan)
