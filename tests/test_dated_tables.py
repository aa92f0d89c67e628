"""Dated tables read across dates written before and after a column was added."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import polars as pl
import pytest
from upath import UPath

from analytics.models.failure.predict import RISK_SCHEMA, latest_risk, read_risk, risk_store
from analytics.schemas import PlantDescription
from analytics.store.dated import DatedTables
from analytics.store.hub import Hub
from tests.conftest import PLANT

SCHEMA = {"machine_id": pl.String(), "window_end": pl.Datetime("us", "UTC"), "probability": pl.Float64(), "measured": pl.Boolean()}


def test_a_column_added_later_reads_as_null_on_older_dates(tmp_path: Path) -> None:
    base = UPath(tmp_path / "risk")
    old, new = date(2026, 1, 1), date(2026, 1, 2)
    hours = [datetime(2026, 1, 1, h, tzinfo=UTC) for h in (10, 11)]
    # The older date was stored without "measured" (and with a column since dropped).
    DatedTables(base, "acme", ("risk",)).write(old, {"risk": pl.DataFrame({"probability": [0.6, 0.1], "machine_id": "A", "window_end": hours, "dropped": 1})})
    later = [h.replace(day=2) for h in hours]
    DatedTables(base, "acme", ("risk",)).write(new, {"risk": pl.DataFrame({"machine_id": "A", "window_end": later, "probability": [0.2, 0.3], "measured": [True, False]})})

    store = DatedTables(base, "acme", ("risk",), schemas={"risk": SCHEMA})
    both = store.read("risk").sort("window_end").collect()
    assert both.schema == pl.Schema(SCHEMA)
    assert both.get_column("measured").to_list() == [None, None, True, False]
    assert both.get_column("probability").to_list() == [0.6, 0.1, 0.2, 0.3]
    # Without the schema the files cannot be read together: what the schema is for.
    with pytest.raises(pl.exceptions.PolarsError):
        DatedTables(base, "acme", ("risk",)).read("risk", old, new).collect()
    # An older day's answer is its last window, as before the column (null counts as measured);
    # the newer day's its last measured one.
    assert latest_risk(store.read("risk", old, old).collect()).get_column("window_end").to_list() == [hours[1]]
    assert latest_risk(store.read("risk", new, new).collect()).get_column("window_end").to_list() == [later[0]]


def test_stored_risk_of_days_before_the_measured_column_still_reads(tmp_path: Path) -> None:
    hub = Hub.open(data_dir=tmp_path)
    hub.registry.register_plant(PlantDescription.model_validate(PLANT))
    factory_id = PLANT["factory"]["id"]
    day = date(2026, 1, 1)
    hours = [datetime(2026, 1, 1, h, tzinfo=UTC) for h in (10, 11)]
    older = pl.DataFrame({"machine_id": "A", "window_end": hours, "probability": [0.6, 0.1]}, schema_overrides={"window_end": pl.Datetime("us", "UTC")})
    DatedTables(risk_store(hub, factory_id).base, factory_id, ("risk",)).write(day, {"risk": older})
    newer = pl.DataFrame({"machine_id": "A", "window_end": [h.replace(day=2) for h in hours], "probability": [0.2, 0.3], "measured": [True, False]})
    risk_store(hub, factory_id).write(date(2026, 1, 2), {"risk": newer})

    stored = read_risk(hub, factory_id).sort("window_end").collect()
    assert stored.schema == pl.Schema(RISK_SCHEMA)
    assert stored.get_column("measured").to_list() == [None, None, True, False]


def test_every_fixed_schema_store_declares_what_its_days_hold(lived_dir: Path) -> None:
    """A read in a declared schema leaves out a column the schema does not name: the schema of
    each store must be what its writers write, or a new column would vanish on the way back."""
    from analytics.models.anomaly.scoring import score_store
    from analytics.solutions.solve import solution_store

    hub = Hub.open(data_dir=lived_dir)
    checked = 0
    for factory in hub.registry.factories():
        fid = factory.factory_id
        for store in (risk_store(hub, fid), score_store(hub, fid, "1h"), solution_store(hub, fid)):
            assert set(store.schemas) == set(store.tables)
            day = store.dates()[-1]
            for table in store.tables:
                written = pl.read_parquet_schema(str(store.folder(day) / store.current(day)[table]))
                assert dict(written) == {**store.schemas[table], "factory_id": pl.String()}, (fid, table)
                checked += 1
    assert checked == 6 * len(hub.registry.factories())


def test_a_store_with_a_schema_answers_an_empty_frame_of_it_when_nothing_is_stored(tmp_path: Path) -> None:
    store = DatedTables(UPath(tmp_path / "risk"), "acme", ("risk",), schemas={"risk": SCHEMA})
    empty = store.read("risk", date(2026, 1, 1), date(2026, 1, 31)).collect()
    assert empty.height == 0 and empty.schema == pl.Schema(SCHEMA)
    # Without a schema there is nothing to say what the columns would be.
    assert DatedTables(UPath(tmp_path / "other"), "acme", ("t",)).read("t").collect().width == 0
