"""Factories are tenants: reads are factory-scoped, exports are complete, deletion leaves nothing."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import polars as pl
import pytest

from analytics.errors import InvalidIdentifierError, NotFoundError
from analytics.ingest import ingest_file
from analytics.schemas import PlantDescription
from analytics.store.hub import Hub
from analytics.store.reader import FactoryReader
from analytics.store.sovereignty import delete_factory, export_factory
from tests.conftest import NOW

SECRET = "ZETA-SECRET-7"


def _zeta(hub: Hub) -> None:
    plant = {
        "factory": {"id": "zeta", "name_ko": "제타", "name_en": "Zeta", "timezone": "Asia/Seoul"},
        "machines": [
            {"id": SECRET, "type": "press", "sensors": [{"name": "force", "unit": "kN", "min": 0, "max": 5000, "interval": 1}]},
            # Same machine id as acme's: tenants must still never mix.
            {"id": "CNC-01", "type": "cnc_spindle", "sensors": [{"name": "spindle_temp", "min": -20, "max": 200, "interval": 1}]},
        ],
    }
    hub.registry.register_plant(PlantDescription.model_validate(plant))


@pytest.fixture
def two_tenants(acme: Hub, write_file) -> Hub:
    _zeta(acme)
    ingest_file(acme, "acme", write_file("a.csv", "machine_id,sensor,ts,value\nCNC-01,spindle_temp,2026-02-01 10:00:00,30\nCNC-01,spindle_temp,2026-02-01 10:00:01,31\n"), now=NOW)
    ingest_file(
        acme,
        "zeta",
        write_file(f"{SECRET}.csv", f"machine_id,sensor,ts,value\n{SECRET},force,2026-02-01 10:00:00,1234.5\nCNC-01,spindle_temp,2026-02-01 10:00:00,99\nCNC-01,bogus,2026-02-01 10:00:00,1\n"),
        now=NOW,
    )
    return acme


def test_reader_returns_only_its_factory(two_tenants: Hub) -> None:
    acme = FactoryReader(two_tenants, "acme").readings().collect()
    zeta = FactoryReader(two_tenants, "zeta").readings().collect()
    assert set(acme.get_column("factory_id")) == {"acme"} and acme.get_column("value").to_list() == [30.0, 31.0]
    assert set(zeta.get_column("factory_id")) == {"zeta"} and sorted(zeta.get_column("value").to_list()) == [99.0, 1234.5]
    assert FactoryReader(two_tenants, "acme").readings(machines=[SECRET]).collect().height == 0


def test_sql_sandbox_cannot_reach_another_factory(two_tenants: Hub) -> None:
    con = FactoryReader(two_tenants, "acme").duckdb()
    assert con.sql("SELECT count(*) FROM readings").fetchall() == [(2,)]
    other = two_tenants.lake.table_path("zeta", "readings")
    for query in (
        f"SELECT * FROM read_parquet('{other}/**/*.parquet')",
        f"SELECT * FROM read_csv('{two_tenants.settings.data_dir}/registry.sqlite')",
        "SELECT * FROM read_csv('/etc/passwd')",
    ):
        with pytest.raises(duckdb.PermissionException):
            con.sql(query).fetchall()
    with pytest.raises(duckdb.Error):
        con.execute("SET enable_external_access = true")


@pytest.mark.parametrize("bad", ["../zeta", "ZETA", "zeta/..", "a b", "x';--", "", ".."])
def test_identifiers_are_validated_everywhere(two_tenants: Hub, bad: str) -> None:
    with pytest.raises(InvalidIdentifierError):
        FactoryReader(two_tenants, bad)
    with pytest.raises(InvalidIdentifierError):
        two_tenants.lake.factory_root(bad)
    with pytest.raises(InvalidIdentifierError):
        two_tenants.registry.factory(bad)


def test_export_holds_everything_with_manifest(two_tenants: Hub, tmp_path: Path) -> None:
    target = export_factory(two_tenants, "zeta", tmp_path / "out")
    manifest = json.loads((target / "manifest.json").read_text(encoding="utf-8"))
    rows = {f["file"]: f["rows"] for f in manifest["files"]}
    assert rows["readings.parquet"] == 2
    assert rows["quarantine.parquet"] == 1  # the unknown sensor 'bogus'
    assert rows["machines.parquet"] == 2 and rows["sensors.parquet"] == 2 and rows["ingest_runs.parquet"] == 1
    readings = pl.read_parquet(target / "readings.parquet")
    assert set(readings.get_column("factory_id")) == {"zeta"}
    assert manifest["factory"]["name_ko"] == "제타"
    with pytest.raises(FileExistsError):
        export_factory(two_tenants, "zeta", tmp_path / "out")


def test_delete_leaves_no_trace_on_disk(two_tenants: Hub) -> None:
    # A second ingest and a compaction create old file versions that must go too.
    root = two_tenants.settings.data_dir
    two_tenants.lake.compact("zeta", "readings", min_files=1)
    delete_factory(two_tenants, "zeta")
    with pytest.raises(NotFoundError):
        two_tenants.registry.factory("zeta")
    needles = [SECRET.encode(), b"zeta", "제타".encode()]
    for path in Path(root).rglob("*"):
        assert "zeta" not in path.name
        if path.is_file():
            data = path.read_bytes()
            for needle in needles:
                assert needle not in data, f"{needle!r} still in {path}"
    # The other tenant is untouched.
    assert FactoryReader(two_tenants, "acme").readings().collect().height == 2


def test_compaction_merges_small_files_and_keeps_history(acme: Hub, write_file) -> None:
    # The compaction threshold defaults to 8 files per partition.
    for second in range(10):
        ingest_file(acme, "acme", write_file(f"s{second}.csv", f"machine_id,sensor,ts,value\nCNC-01,spindle_temp,2026-02-01 10:00:{second:02d},{second}\n"), now=NOW)
    files = acme.lake.files_per_partition("acme", "readings")
    assert files == {"2026-02-01": 3}  # 8 compacted into 1 on the 8th ingest, then two more
    reader = FactoryReader(acme, "acme")
    assert reader.readings().collect().get_column("value").sort().to_list() == [float(s) for s in range(10)]
    version = acme.lake.version("acme", "readings")
    old = reader.readings(version=3).collect()
    assert old.height == 3  # time travel: the table as it was after the third file
    assert version is not None and version > 10
