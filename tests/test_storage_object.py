"""The hub with its factories' data on an object store (``FACTORYHUB_STORAGE=s3://...``), against
a real S3 API (moto's server on 127.0.0.1): the lake, dated tables, models, inbox, uploads and the
SQL reader behave as on a local disk, writes become visible whole, re-runs stay idempotent, and
the local control folder holds only the registry and locks. (The daily run on a Dask cluster over
this storage: tests/test_cluster.py.)"""

from __future__ import annotations

import uuid
from datetime import date
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from analytics.ingest import ingest_file, save_upload
from analytics.ingest.inbox import inbox_dir, scan_once
from analytics.schemas import PlantDescription
from analytics.store.dated import CURRENT, DatedTables
from analytics.store.hub import Hub
from analytics.store.models import ModelStore
from analytics.store.reader import FactoryReader
from analytics.store.storage import is_local
from tests.conftest import NOW, PLANT
from tests.test_smoke_ingest import CSV


@pytest.fixture
def remote(object_store: str, tmp_path: Path) -> Hub:
    """A hub whose control folder is local and whose storage is a fresh prefix of the bucket."""
    hub = Hub.open(data_dir=tmp_path / "control", storage=f"{object_store}/{uuid.uuid4().hex[:8]}")
    hub.registry.register_plant(PlantDescription.model_validate(PLANT))
    return hub


@pytest.fixture
def local(tmp_path: Path) -> Hub:
    hub = Hub.open(data_dir=tmp_path / "local")
    hub.registry.register_plant(PlantDescription.model_validate(PLANT))
    return hub


def _objects(hub: Hub) -> list[str]:
    root = hub.lake.root
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_a_file_ingested_into_object_storage_reads_back_as_on_a_local_disk(remote: Hub, local: Hub, write_file) -> None:
    assert not is_local(remote.lake.root) and str(remote.lake.root).startswith("s3://")
    path = write_file("a.csv", CSV)
    on_store, on_disk = ingest_file(remote, "acme", path, now=NOW), ingest_file(local, "acme", path, now=NOW)
    assert (on_store.rows_read, on_store.accepted, on_store.duplicate, on_store.quarantined) == (on_disk.rows_read, on_disk.accepted, on_disk.duplicate, on_disk.quarantined) == (9, 2, 1, 6)
    for table in ("readings", "quarantine"):
        stored = FactoryReader(remote, "acme").table(table).collect().drop("ingest_id", "quarantined_at", strict=False)
        expected = FactoryReader(local, "acme").table(table).collect().drop("ingest_id", "quarantined_at", strict=False)
        assert_frame_equal(stored.sort(stored.columns), expected.sort(expected.columns))
    # The lake's files and Delta logs are objects of the bucket; the control folder has no data.
    objects = _objects(remote)
    assert any(o.startswith("factories/acme/lake/readings/_delta_log/") for o in objects)
    assert any(o.startswith("factories/acme/lake/readings/date=") and o.endswith(".parquet") for o in objects)
    assert not (Path(remote.settings.data_dir) / "factories").exists()
    # Re-ingesting the same file adds nothing (forced: re-read, every row a duplicate).
    again = ingest_file(remote, "acme", path, now=NOW, force=True)
    assert again.accepted == 0 and FactoryReader(remote, "acme").readings().collect().height == 2
    assert ingest_file(remote, "acme", path, now=NOW).status == "skipped"
    # SQL over the factory's own tables, read from the store.
    con = FactoryReader(remote, "acme").duckdb()
    assert con.sql("SELECT count(*), round(sum(value), 1) FROM readings").fetchall() == [(2, 41.5)]


def test_dated_tables_switch_whole_and_leave_no_old_files_on_object_storage(remote: Hub) -> None:
    store = DatedTables(remote.lake.factory_root("acme") / "scores" / "test", "acme", ("a", "b"))
    day = date(2026, 1, 1)
    store.write(day, {"a": pl.DataFrame({"x": [1, 2]}), "b": pl.DataFrame({"y": ["p"]})}, run=1)
    first = store.current(day)
    store.write(day, {"a": pl.DataFrame({"x": [3]}), "b": pl.DataFrame({"y": ["q", "r"]})}, run=2)
    current = store.current(day)
    assert current is not None and first is not None and current["run"] == 2 and current["a"] != first["a"]
    assert store.read("a").collect().get_column("x").to_list() == [3]
    assert sorted(store.read("b").collect().get_column("y").to_list()) == ["q", "r"]
    assert store.dates() == [day]
    # Only the current run's files and the pointer remain.
    assert sorted(p.name for p in store.folder(day).iterdir()) == sorted([current["a"], current["b"], CURRENT])


def test_models_cards_and_champion_on_object_storage(remote: Hub) -> None:
    store = ModelStore(remote, "acme")
    store.save("failure", "pump", "m1", {"weights": [1, 2, 3]}, {"fitted_until": "2026-01-01T00:00:00+00:00", "recipe": "factory"})
    store.save("failure", "pump", "m2", {"weights": [4]}, {"fitted_until": "2026-02-01T00:00:00+00:00", "recipe": "factory"})
    store.promote("failure", "pump", "m1", "first")
    store.promote("failure", "pump", "m2", "better")
    assert store.load("failure", "pump", "m2") == {"weights": [4]}
    champion = store.champion("failure", "pump")
    assert champion is not None and champion["model_id"] == "m2" and champion["promotion"] == "better"
    assert [c["model_id"] for c in store.cards("failure", "pump")] == ["m1", "m2"]
    assert ModelStore.pooled(remote).root == remote.lake.root / "pooled" / "models"


def test_inbox_and_uploads_on_object_storage(remote: Hub) -> None:
    inbox = inbox_dir(remote, "acme")
    (inbox / "a.csv").write_bytes(CSV.encode())
    (inbox / "broken.xlsx").write_bytes(b"not a workbook")
    outcomes = {p.name: (r, e) for p, r, e in scan_once(remote, "acme", settle_seconds=0)}
    assert outcomes["a.csv"][0] is not None and outcomes["a.csv"][0].accepted == 2
    assert outcomes["broken.xlsx"][1] is not None
    assert not (inbox / "a.csv").exists() and (inbox / "processed" / "a.csv").is_file()
    assert (inbox / "failed" / "broken.xlsx").is_file() and "broken.xlsx" in (inbox / "failed" / "broken.xlsx.error.txt").read_text()
    assert scan_once(remote, "acme", settle_seconds=0) == []  # nothing left to do
    saved = save_upload(remote, "acme", "../../etc/passwd.csv", CSV.encode())
    assert str(saved.parent) == str(remote.lake.factory_root("acme") / "uploads") and saved.read_bytes() == CSV.encode()


def test_deleting_a_factory_removes_every_object_it_had(remote: Hub, write_file) -> None:
    ingest_file(remote, "acme", write_file("a.csv", CSV), now=NOW)
    assert _objects(remote)
    remote.lake.delete_factory("acme")
    assert _objects(remote) == []
