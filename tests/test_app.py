"""The dashboard renders its pages headless on a hub with data (streamlit's AppTest)."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from analytics.ingest import ingest_file
from tests.conftest import NOW

APP = Path(__file__).resolve().parents[1] / "app" / "main.py"


@pytest.fixture
def served(acme, write_file, monkeypatch):
    ingest_file(acme, "acme", write_file("a.csv", "machine_id,sensor,ts,value\nCNC-01,spindle_temp,2026-02-01 10:00:00,30\nCNC-01,spindle_temp,2026-02-01 10:00:01,999\n"), now=NOW)
    monkeypatch.setenv("FACTORYHUB_DATA_DIR", str(acme.settings.data_dir))
    from analytics.config import get_settings

    get_settings.cache_clear()
    yield acme
    get_settings.cache_clear()


def test_overview_lists_factories(served):
    at = AppTest.from_file(str(APP), default_timeout=30).run()
    assert not at.exception
    assert [m.value for m in at.metric] == ["1", "2", "1"]
    table = at.dataframe[0].value
    assert table["factory_id"].tolist() == ["acme"] and table["name_ko"].tolist() == ["에이크미 정밀"]


def test_data_page_shows_quarantine_reason(served):
    at = AppTest.from_file(str(APP), default_timeout=30)
    at.switch_page("pages/data.py").run()
    assert not at.exception
    frames = [d.value for d in at.dataframe]
    quarantine = frames[-1]
    assert quarantine["reason"].tolist() == ["outside valid range [-20.0, 200.0]"]
    assert quarantine["row"].tolist() == [3]


def test_ingest_history_in_local_time(served):
    from analytics.store.overview import ingest_history

    history = ingest_history(served, "acme")
    assert history["source_file"].to_list() == ["a.csv"]
    started = history["started_at"][0]
    # Registry times are UTC; Seoul is nine hours ahead, and the column is naive local time.
    utc = served.registry.ingest_runs("acme")[0].started_at
    from datetime import datetime, timedelta

    assert started == datetime.fromisoformat(utc).replace(tzinfo=None) + timedelta(hours=9)
