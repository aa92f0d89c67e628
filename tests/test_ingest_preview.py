"""The upload preview says what an ingest would do, and writes nothing; uploads stay in their
factory's folder under a safe name.

Every count is checked against the ingest that follows on the same file (not against numbers
worked out by hand): the preview's promise is to be the ingest's own answer.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import os
import tempfile
import unicodedata
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest
import xlsxwriter
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analytics.config import HubSettings
from analytics.errors import HubError, InputFileError, InvalidIdentifierError, NotFoundError
from analytics.ingest import FilePreview, ImportMapping, IngestResult, ingest_file, preview_file, save_upload
from analytics.ingest.preview import uploads_dir
from analytics.schemas import PlantDescription
from analytics.store.hub import Hub
from analytics.store.reader import FactoryReader
from tests.conftest import NOW, PLANT

WriteFile = Callable[..., Path]
HEADER = "machine_id,sensor,ts,value\n"
STORED = HEADER + (
    "CNC-01,spindle_temp,2026-01-01 09:00:00,20.5\n"
    "CNC-01,spindle_temp,2026-01-01 09:00:01,21\n"
)
# Every kind of bad row, and rows colliding with STORED and with each other.
MIXED = HEADER + (
    "CNC-01,spindle_temp,2026-01-01 09:00:00,20.5\n"  # 2: already stored, same value: duplicate
    "CNC-01,spindle_temp,2026-01-01 09:00:01,25\n"  # 3: stored with 21: conflict
    "CNC-01,spindle_temp,2026-01-01 09:00:02,22\n"  # 4: new
    "CNC-01,spindle_temp,2026-01-01 09:00:02,22\n"  # 5: repeated in the file: duplicate
    "CNC-01,spindle_temp,2026-01-01 09:00:02,23\n"  # 6: repeated with another value: conflict
    "CNC-01,spindle_temp,2026-01-01 09:00:03,999\n"  # 7: out of range
    "CNC-01,no_such,2026-01-01 09:00:03,1\n"  # 8: unknown sensor
    "CNC-01,spindle_temp,yesterday,1\n"  # 9: bad timestamp
    "CNC-99,spindle_temp,2026-01-01 09:00:03,1\n"  # 10: unknown machine
    "PUMP-02,pressure,2026-01-01 09:00:10,3.5\n"  # 11: new
    "CNC-01,vibration_rms,2026-01-01 09:00:04,\n"  # 12: missing value
    "CNC-01,motor_current,2026-01-01 09:00:04,12.5\n"  # 13: new
)


# --- helpers -------------------------------------------------------------------------------------
def counts(result: IngestResult) -> tuple[int, int, int, int, dict[str, int]]:
    return result.rows_read, result.accepted, result.duplicate, result.quarantined, result.reasons


def preview_counts(preview: FilePreview) -> tuple[int, int, int, int, dict[str, int]]:
    return preview.rows_read, preview.valid, preview.duplicate, preview.quarantined, preview.reasons


def quarantine_of(hub: Hub, source_file: str, factory_id: str = "acme") -> list[tuple[int, str, str, str | None]]:
    """The ingest's quarantined rows of one file as (row, column, reason, raw), sorted."""
    frame = FactoryReader(hub, factory_id).quarantine().collect().filter(pl.col("source_file") == source_file)
    return sorted(frame.select("row", "column", "reason", "raw").rows(), key=repr)


def problems_of(preview: FilePreview) -> list[tuple[int, str, str, str | None]]:
    return sorted(preview.problems.rows(), key=repr)


def state(hub: Hub) -> tuple[dict[str, str], list[tuple[object, ...]], dict[str, int | None]]:
    """Everything the hub has on disk (each file's path and content hash), its ingest runs and
    its table versions: what a preview must leave exactly as it found it."""
    root = hub.lake.control_dir  # the control folder holds the storage too here
    files = {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*")) if p.is_file()}
    runs = [dataclasses.astuple(r) for r in hub.registry.ingest_runs("acme")]
    versions = {t: hub.lake.version("acme", t) for t in ("readings", "events", "quarantine", "quality")}
    return files, runs, versions


def xlsx_bytes(header: list[str], rows: list[list[object]]) -> bytes:
    """An .xlsx workbook as Excel writes it: real datetime cells with a date format."""
    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, {"in_memory": True})
    sheet = book.add_worksheet()
    stamp = book.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"})
    sheet.write_row(0, 0, header)
    for r, values in enumerate(rows, start=1):
        for c, value in enumerate(values):
            if isinstance(value, datetime):
                sheet.write_datetime(r, c, value, stamp)
            elif value is not None:
                sheet.write(r, c, value)
    book.close()
    return buffer.getvalue()


@pytest.fixture
def seeded(acme: Hub, write_file: WriteFile) -> Hub:
    """``acme`` with two readings stored, so a preview meets real duplicates and conflicts."""
    result = ingest_file(acme, "acme", write_file("stored.csv", STORED), now=NOW)
    assert (result.status, result.accepted) == ("ok", 2)
    return acme


# --- the preview is the ingest's answer ---------------------------------------------------------
def test_preview_counts_are_what_the_ingest_then_does(seeded: Hub, write_file: WriteFile) -> None:
    path = write_file("mixed.csv", MIXED)
    preview = preview_file(seeded, "acme", path, now=NOW)
    result = ingest_file(seeded, "acme", path, now=NOW)
    assert result.status == "ok"
    assert preview_counts(preview) == counts(result) == (
        12, 3, 2, 7,
        {
            "conflicts with the stored value": 1,
            "duplicate key with a different value": 1,
            "outside valid range": 1,
            "unknown sensor": 1,
            "unparseable timestamp": 1,
            "unknown machine": 1,
            "missing value": 1,
        },
    )  # fmt: skip
    # The problems are the quarantine's rows: same row numbers, columns, reasons and raw cells.
    assert problems_of(preview) == quarantine_of(seeded, "mixed.csv")
    assert preview.problems.columns == ["row", "column", "reason", "raw"]
    assert preview.problems.get_column("row").to_list() == [3, 6, 7, 8, 9, 10, 12]  # in file order
    assert (preview.source_file, preview.table, preview.already_ingested) == ("mixed.csv", "readings", False)


def test_sample_is_the_new_rows_in_file_order_in_long_form(seeded: Hub, write_file: WriteFile) -> None:
    preview = preview_file(seeded, "acme", write_file("mixed.csv", MIXED), now=NOW)
    assert preview.sample.schema == pl.Schema({"machine_id": pl.String, "sensor": pl.String, "ts": pl.Datetime("us", "UTC"), "value": pl.Float64})
    assert preview.sample.rows() == [
        ("CNC-01", "spindle_temp", datetime(2026, 1, 1, 0, 0, 2, tzinfo=UTC), 22.0),
        ("PUMP-02", "pressure", datetime(2026, 1, 1, 0, 0, 10, tzinfo=UTC), 3.5),
        ("CNC-01", "motor_current", datetime(2026, 1, 1, 0, 0, 4, tzinfo=UTC), 12.5),
    ]
    # What the file holds, new or already stored (09:00 in Seoul is 00:00 UTC).
    assert preview.machines == ["CNC-01", "PUMP-02"]
    assert preview.sensors == ["CNC-01/motor_current", "CNC-01/spindle_temp", "PUMP-02/pressure"]
    assert (preview.first_ts, preview.last_ts) == (datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 1, 0, 0, 10, tzinfo=UTC))


def test_limit_cuts_the_frames_not_the_counts(seeded: Hub, write_file: WriteFile) -> None:
    path = write_file("mixed.csv", MIXED)
    full = preview_file(seeded, "acme", path, now=NOW)
    short = preview_file(seeded, "acme", path, now=NOW, limit=2)
    assert preview_counts(short) == preview_counts(full)
    assert short.sample.rows() == full.sample.head(2).rows()
    assert short.problems.rows() == full.problems.head(2).rows()
    none = preview_file(seeded, "acme", path, now=NOW, limit=0)
    assert (none.sample.height, none.problems.height) == (0, 0)
    assert none.sample.columns == ["machine_id", "sensor", "ts", "value"]
    assert none.problems.columns == ["row", "column", "reason", "raw"]


def test_a_clean_file_has_empty_problems_with_their_columns(acme: Hub, write_file: WriteFile) -> None:
    preview = preview_file(acme, "acme", write_file("clean.csv", STORED), now=NOW)
    assert (preview.valid, preview.quarantined, preview.reasons) == (2, 0, {})
    assert preview.problems.schema == pl.Schema({"row": pl.Int64, "column": pl.String, "reason": pl.String, "raw": pl.String})


def test_the_preview_writes_nothing(seeded: Hub, write_file: WriteFile) -> None:
    path = write_file("mixed.csv", MIXED)
    events = write_file("events.csv", "machine_id,ts,kind\nCNC-01,2026-01-03 14:00:00,failure\nCNC-01,2026-01-03 14:00:00,nonsense\n")
    before = state(seeded)
    preview_file(seeded, "acme", path, now=NOW)
    preview_file(seeded, "acme", events, ImportMapping(table="events"), now=NOW)
    assert state(seeded) == before


def test_a_file_that_cannot_be_read_fails_as_the_ingest_does_and_records_nothing(acme: Hub, write_file: WriteFile) -> None:
    cases = {
        "header.csv": HEADER,
        "ragged.csv": HEADER + "CNC-01,spindle_temp,2026-01-01 09:00:00,1\nCNC-01,spindle_temp,2026-01-01 09:00:01,1,extra\n",
        "columns.csv": "machine_id,sensor,when,value\nCNC-01,spindle_temp,2026-01-01 09:00:00,1\n",
        "book.xlsx": "not a workbook",
    }
    for name, text in cases.items():
        path = write_file(name, text)
        runs = len(acme.registry.ingest_runs("acme"))
        with pytest.raises(InputFileError) as previewed:
            preview_file(acme, "acme", path, now=NOW)
        assert len(acme.registry.ingest_runs("acme")) == runs  # the ingest records a failed run; a preview none
        with pytest.raises(InputFileError) as ingested:
            ingest_file(acme, "acme", path, now=NOW)
        assert str(previewed.value) == str(ingested.value)
        assert (previewed.value.path, previewed.value.row, previewed.value.column) == (str(path), ingested.value.row, ingested.value.column)
    with pytest.raises(InputFileError, match="no such file"):
        preview_file(acme, "acme", write_file("x.csv", "").parent / "missing.csv", now=NOW)


def test_unknown_factory(acme: Hub, write_file: WriteFile) -> None:
    with pytest.raises(NotFoundError):
        preview_file(acme, "nowhere", write_file("a.csv", STORED), now=NOW)


def test_default_mapping_is_the_ingests(acme: Hub, write_file: WriteFile) -> None:
    path = write_file("mixed.csv", MIXED)
    assert preview_file(acme, "acme", path, now=NOW) == preview_file(acme, "acme", path, ImportMapping(), now=NOW)


def test_preview_after_the_ingest_says_already_ingested(seeded: Hub, write_file: WriteFile) -> None:
    path = write_file("mixed.csv", MIXED)
    first = preview_file(seeded, "acme", path, now=NOW)
    result = ingest_file(seeded, "acme", path, now=NOW)
    again = preview_file(seeded, "acme", path, now=NOW)
    assert (first.already_ingested, again.already_ingested) == (False, True)
    assert again.valid == 0 and again.sample.height == 0
    # Every row the ingest kept is now a duplicate; what it quarantined would be quarantined again.
    assert again.duplicate == result.accepted + result.duplicate
    assert again.quarantined == result.quarantined
    assert (again.machines, again.sensors, again.first_ts, again.last_ts) == (first.machines, first.sensors, first.first_ts, first.last_ts)
    # Under another name, the same content is still recognised (the ingest goes by the file hash).
    copy = write_file("renamed.csv", MIXED)
    assert preview_file(seeded, "acme", copy, now=NOW).already_ingested
    skipped = ingest_file(seeded, "acme", copy, now=NOW)
    assert skipped.status == "skipped"


def test_already_ingested_is_per_table_and_per_factory(acme: Hub, write_file: WriteFile) -> None:
    plant = {**PLANT, "factory": {**PLANT["factory"], "id": "beta"}}
    acme.registry.register_plant(PlantDescription.model_validate(plant))
    path = write_file("mixed.csv", MIXED)
    ingest_file(acme, "acme", path, now=NOW)
    other = preview_file(acme, "beta", path, now=NOW)
    fresh = ingest_file(acme, "beta", path, now=NOW)
    # beta holds nothing yet: its preview meets none of acme's readings.
    assert not other.already_ingested
    assert preview_counts(other) == counts(fresh)
    assert preview_file(acme, "beta", path, now=NOW).already_ingested


def test_chunks_meet_each_other_as_in_the_ingest(tmp_path: Path, write_file: WriteFile) -> None:
    """With 2-row chunks, the repeats of a row sit in later chunks than the row itself."""
    hub = Hub.open(HubSettings(ingest_chunk_rows=2), data_dir=tmp_path / "small")
    hub.registry.register_plant(PlantDescription.model_validate(PLANT))
    text = HEADER + (
        "CNC-01,spindle_temp,2026-01-01 09:00:00,1\n"
        "CNC-01,spindle_temp,2026-01-01 09:00:01,2\n"
        "CNC-01,spindle_temp,2026-01-01 09:00:02,3\n"
        "CNC-01,spindle_temp,2026-01-01 09:00:00,1\n"  # chunk 2 repeats chunk 1
        "CNC-01,spindle_temp,2026-01-01 09:00:01,9\n"  # chunk 3 contradicts chunk 1
        "CNC-01,spindle_temp,2026-01-01 09:00:02,3\n"
    )
    path = write_file("chunks.csv", text)
    preview = preview_file(hub, "acme", path, now=NOW)
    result = ingest_file(hub, "acme", path, now=NOW)
    # (A contradiction across chunks is reported against the earlier chunk's value, as if stored.)
    assert preview_counts(preview) == counts(result) == (6, 3, 2, 1, {"conflicts with the stored value": 1})
    assert problems_of(preview) == quarantine_of(hub, "chunks.csv")


# --- events -------------------------------------------------------------------------------------
EVENTS = (
    "machine_id,ts,kind,component,text\n"
    "CNC-01,2026-01-03 14:00:00,failure,spindle bearing,베어링 소음 후 정지\n"
    "CNC-01,2026-01-03 14:00:00,failure,spindle bearing,베어링 소음 후 정지\n"
    "CNC-01,2026-01-04 09:00:00,Maintenance,spindle bearing,replaced bearing\n"
    "CNC-01,2026-01-04 10:00:00,explosion,,\n"
    "CNC-77,2026-01-04 10:00:00,alarm,,\n"
    "PUMP-02,2026-01-05 08:00:00,alarm,seal,leak\n"
    "PUMP-02,2026-01-05 08:00:00,alarm,seal,a different text\n"
    "PUMP-02,not a time,alarm,seal,leak\n"
)


@pytest.mark.parametrize("chunk_rows", [1_000_000, 2])
def test_events_preview_is_the_ingest(tmp_path: Path, write_file: WriteFile, chunk_rows: int) -> None:
    hub = Hub.open(HubSettings(ingest_chunk_rows=chunk_rows), data_dir=tmp_path / "hub")
    hub.registry.register_plant(PlantDescription.model_validate(PLANT))
    mapping = ImportMapping(table="events")
    earlier = write_file("earlier.csv", "machine_id,ts,kind,component,text\nCNC-01,2026-01-04 09:00:00,maintenance,spindle bearing,replaced bearing\n")
    ingest_file(hub, "acme", earlier, mapping, now=NOW)
    path = write_file("events.csv", EVENTS)
    before = state(hub)
    preview = preview_file(hub, "acme", path, mapping, now=NOW)
    assert state(hub) == before
    result = ingest_file(hub, "acme", path, mapping, now=NOW)
    assert preview_counts(preview) == counts(result)
    assert (preview.valid, preview.duplicate, preview.quarantined) == (2, 2, 4)
    assert problems_of(preview) == quarantine_of(hub, "events.csv")
    assert preview.table == "events"
    assert preview.sample.columns == ["machine_id", "ts", "kind", "component", "text"]
    assert preview.sample.select("machine_id", "kind", "text").rows() == [("CNC-01", "failure", "베어링 소음 후 정지"), ("PUMP-02", "alarm", "leak")]
    assert preview.sample.schema["ts"] == pl.Datetime("us", "UTC")
    assert (preview.machines, preview.sensors) == (["CNC-01", "PUMP-02"], [])
    # 14:00 in Seoul is 05:00 UTC; 08:00 on the 5th is 23:00 UTC on the 4th.
    assert (preview.first_ts, preview.last_ts) == (datetime(2026, 1, 3, 5, tzinfo=UTC), datetime(2026, 1, 4, 23, tzinfo=UTC))
    again = preview_file(hub, "acme", path, mapping, now=NOW)
    assert again.already_ingested and again.valid == 0


# --- other formats ------------------------------------------------------------------------------
def test_excel_preview_is_the_ingest(seeded: Hub, write_file: WriteFile) -> None:
    rows: list[list[object]] = [
        ["CNC-01", "spindle_temp", datetime(2026, 1, 1, 9, 0, 0), 20.5],  # stored: duplicate
        ["CNC-01", "spindle_temp", datetime(2026, 1, 1, 9, 0, 5), 21.25],
        ["CNC-01", "spindle_temp", datetime(2026, 1, 1, 9, 0, 6), "n/a"],
        ["CNC-01", "spindle_temp", datetime(2026, 1, 1, 9, 0, 7), None],
        ["CNC-01", "spindle_temp", datetime(2026, 1, 1, 9, 0, 8), 250],
        ["PUMP-02", "flow", "2026-01-01 오후 6:00:04", 7],
    ]
    path = write_file("book.xlsx", xlsx_bytes(["machine_id", "sensor", "ts", "value"], rows))
    preview = preview_file(seeded, "acme", path, now=NOW)
    result = ingest_file(seeded, "acme", path, now=NOW)
    assert preview_counts(preview) == counts(result)
    assert (preview.rows_read, preview.valid, preview.duplicate, preview.quarantined) == (6, 2, 1, 3)
    assert problems_of(preview) == quarantine_of(seeded, "book.xlsx")
    assert preview.sample.rows() == [
        ("CNC-01", "spindle_temp", datetime(2026, 1, 1, 0, 0, 5, tzinfo=UTC), 21.25),
        ("PUMP-02", "flow", datetime(2026, 1, 1, 9, 0, 4, tzinfo=UTC), 7.0),
    ]


def test_wide_file_preview_is_the_ingest(seeded: Hub, write_file: WriteFile) -> None:
    text = "ts,spindle_temp,vibration_rms,bogus\n2026-01-01 09:00:00,20.5,1.5,1\n2026-01-01 09:00:01,,2.5,1\n2026-01-01 09:00:02,300,x,1\n"
    mapping = ImportMapping(format="wide", machine_id="CNC-01")
    path = write_file("wide.csv", text)
    preview = preview_file(seeded, "acme", path, mapping, now=NOW)
    result = ingest_file(seeded, "acme", path, mapping, now=NOW)
    assert preview_counts(preview) == counts(result)
    assert problems_of(preview) == quarantine_of(seeded, "wide.csv")
    assert preview.sensors == ["CNC-01/spindle_temp", "CNC-01/vibration_rms"]
    # Long form, in file order: row 2's two readings, then row 3's.
    assert preview.sample.select("sensor", "value").rows() == [("vibration_rms", 1.5), ("vibration_rms", 2.5)]


def test_parquet_preview_is_the_ingest(seeded: Hub, write_file: WriteFile) -> None:
    frame = pl.DataFrame(
        {
            "machine_id": ["CNC-01", "CNC-01", "PUMP-02"],
            "sensor": ["spindle_temp", "spindle_temp", "pressure"],
            "ts": ["2026-01-01 09:00:01", "2026-01-01 09:00:09", "2026-01-01 09:00:10"],
            "value": [21.0, 22.0, 99.0],
        }
    )
    buffer = io.BytesIO()
    frame.write_parquet(buffer)
    path = write_file("data.parquet", buffer.getvalue())
    preview = preview_file(seeded, "acme", path, now=NOW)
    result = ingest_file(seeded, "acme", path, now=NOW)
    assert preview_counts(preview) == counts(result) == (3, 1, 1, 1, {"outside valid range": 1})
    assert problems_of(preview) == quarantine_of(seeded, "data.parquet")


# --- random files -------------------------------------------------------------------------------
_CELLS = st.tuples(
    st.sampled_from(["CNC-01", "PUMP-02", "CNC-99", ""]),
    st.sampled_from(["spindle_temp", "motor_current", "pressure", "flow", "no_such", ""]),
    st.sampled_from(["2026-01-01 09:00:00", "2026-01-01 09:00:01", "2026-01-01 23:59:59", "2026-01-02 00:00:00", "2026-11-01 09:30:00", "xx", ""]),
    st.sampled_from(["0", "1.5", "2", "39.5", "150", "999", "-5", "nan", "", "abc"]),
)


def _csv(rows: list[tuple[str, str, str, str]]) -> str:
    return HEADER + "".join(",".join(r) + "\n" for r in rows)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(
    stored=st.lists(_CELLS, max_size=6),
    rows=st.lists(_CELLS, min_size=1, max_size=12),
    chunk_rows=st.sampled_from([1, 3, 1000]),
)
def test_random_files_preview_counts_are_the_ingests(stored: list[tuple[str, str, str, str]], rows: list[tuple[str, str, str, str]], chunk_rows: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        hub = Hub.open(HubSettings(ingest_chunk_rows=chunk_rows), data_dir=root / "hub")
        hub.registry.register_plant(PlantDescription.model_validate(PLANT))
        # A row the file never has keeps the two files' contents (and hashes) apart.
        (root / "stored.csv").write_text(_csv([*stored, ("CNC-01", "motor_current", "2026-02-01 00:00:00", "1")]), encoding="utf-8")
        ingest_file(hub, "acme", root / "stored.csv", now=NOW)
        path = root / "file.csv"
        path.write_text(_csv(rows), encoding="utf-8")
        before = state(hub)
        preview = preview_file(hub, "acme", path, now=NOW)
        assert state(hub) == before
        result = ingest_file(hub, "acme", path, now=NOW)
        assert result.status == "ok"
        assert preview_counts(preview) == counts(result)
        assert problems_of(preview) == quarantine_of(hub, "file.csv")
        assert preview.sample.height == min(preview.valid, 200)
        again = preview_file(hub, "acme", path, now=NOW)
        assert again.already_ingested and again.valid == 0


# --- saving uploads -----------------------------------------------------------------------------
DATA = STORED.encode()


def _prefix(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:12]


@pytest.mark.parametrize(
    ("name", "stored_as"),
    [
        ("readings.csv", "readings.csv"),
        ("../../other/x.csv", "x.csv"),
        ("a/../../b.csv", "b.csv"),
        ("/etc/passwd.csv", "passwd.csv"),
        ("..\\..\\windows\\w.tsv", "w.tsv"),
        ("C:\\Users\\kim\\Desktop\\Data.XLSX", "Data.xlsx"),
        ("센서_데이터.csv", "센서_데이터.csv"),
        (unicodedata.normalize("NFD", "센서_데이터.csv"), "센서_데이터.csv"),  # as macOS sends it
        ("my data (1).csv", "my_data_1_.csv"),
        (".hidden.csv", "hidden.csv"),
        ("-rf.csv", "rf.csv"),
        ("a\x00b\n.csv", "a_b_.csv"),
        ("x..y.parquet", "x.y.parquet"),
        ("[glob]*?.csv", "glob_.csv"),
        ("📈.csv", "upload.csv"),
    ],
)
def test_upload_names_are_made_safe(acme: Hub, name: str, stored_as: str) -> None:
    path = save_upload(acme, "acme", name, DATA)
    folder = uploads_dir(acme, "acme")
    assert path == folder / f"{_prefix(DATA)}-{stored_as}"
    assert path.resolve().parent == folder.resolve() == (acme.lake.factory_root("acme") / "uploads").resolve()
    assert path.read_bytes() == DATA
    assert sorted(p.name for p in folder.iterdir()) == [path.name]  # no temporary file left behind
    assert sorted(p.name for p in (acme.lake.root / "factories").iterdir()) == ["acme"]


@pytest.mark.parametrize("name", ["", "   ", ".", "..", "../", "/", "a/", "passwd", "/etc/passwd", "data.exe", "x.csv.exe", ".csv", "book.xls", "x.csv.part"])
def test_upload_names_that_are_refused(acme: Hub, name: str) -> None:
    with pytest.raises(InputFileError) as caught:
        save_upload(acme, "acme", name, DATA)
    assert isinstance(caught.value, HubError)
    assert "no name" in str(caught.value) or "unsupported file type" in str(caught.value)
    assert not uploads_dir(acme, "acme").exists()


def test_very_long_names_are_cut_to_fit_the_file_system(acme: Hub) -> None:
    path = save_upload(acme, "acme", "가" * 300 + ".csv", DATA)
    assert len(path.name.encode("utf-8")) <= 255 and path.name.endswith("가.csv")
    assert path.read_bytes() == DATA


def test_uploads_are_unique_per_content(acme: Hub) -> None:
    first = save_upload(acme, "acme", "data.csv", DATA)
    other = save_upload(acme, "acme", "data.csv", DATA + b"CNC-01,spindle_temp,2026-01-01 09:00:02,22\n")
    same = save_upload(acme, "acme", "data.csv", DATA)
    assert first != other and first == same
    assert first.read_bytes() == DATA
    assert len(list(uploads_dir(acme, "acme").iterdir())) == 2


def test_upload_is_written_atomically(acme: Hub, monkeypatch: pytest.MonkeyPatch) -> None:
    """Killed before the rename, an upload leaves neither a half file under its name nor its temporary file."""

    def fail(src: object, dst: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr("analytics.ingest.preview.os.replace", fail)
    with pytest.raises(OSError, match="disk full"):
        save_upload(acme, "acme", "data.csv", DATA)
    assert list(uploads_dir(acme, "acme").iterdir()) == []
    monkeypatch.undo()
    # A file of the right name but the wrong size (not written by save_upload) is replaced whole.
    target = uploads_dir(acme, "acme") / f"{_prefix(DATA)}-data.csv"
    target.write_bytes(DATA[:5])
    assert save_upload(acme, "acme", "data.csv", DATA) == target
    assert target.read_bytes() == DATA
    assert [p.name for p in uploads_dir(acme, "acme").iterdir()] == [target.name]


def test_uploads_are_factory_scoped(acme: Hub) -> None:
    plant = {**PLANT, "factory": {**PLANT["factory"], "id": "beta"}}
    acme.registry.register_plant(PlantDescription.model_validate(plant))
    mine = save_upload(acme, "acme", "../beta/uploads/x.csv", DATA)
    theirs = save_upload(acme, "beta", "x.csv", DATA)
    assert mine.parent == acme.lake.factory_root("acme") / "uploads"
    assert theirs.parent == acme.lake.factory_root("beta") / "uploads"
    # Beside the inbox, never inside it: the daily job must not ingest an upload on its own.
    assert mine.parent.parent == (acme.lake.factory_root("acme") / "inbox").parent
    with pytest.raises(NotFoundError):
        save_upload(acme, "nowhere", "x.csv", DATA)
    with pytest.raises(InvalidIdentifierError):
        save_upload(acme, "../acme", "x.csv", DATA)
    assert not (acme.lake.root / "factories" / "nowhere").exists()


def test_the_data_page_flow(seeded: Hub) -> None:
    """Upload, preview, store: what the dashboard's Data page does."""
    path = save_upload(seeded, "acme", "C:\\fakepath\\mixed.csv", MIXED.encode())
    preview = preview_file(seeded, "acme", path, ImportMapping(table="readings"), now=NOW)
    result = ingest_file(seeded, "acme", path, ImportMapping(table="readings"), now=NOW)
    assert preview.source_file == result.source_file == path.name
    assert preview_counts(preview) == counts(result)
    assert preview_file(seeded, "acme", path, now=NOW).already_ingested
    assert os.path.basename(path).endswith("-mixed.csv")
