"""Malformed inputs, each with its exact outcome.

A file either cannot be read at all, and then ingest raises :class:`InputFileError` naming the file
(and the row and column where that means something) and the lake stays exactly as it was; or it
can be read, and then every bad row lands in quarantine with its row, column and reason while the
good rows are stored. Nothing in between: no half-written tables and no raw library exceptions.
"""

from __future__ import annotations

import io
import os
import random
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest
import xlsxwriter
import yaml
from pydantic import ValidationError

from analytics.config import HubSettings
from analytics.errors import InputFileError, InvalidIdentifierError
from analytics.ingest import ingest_file
from analytics.ingest.mapping import ImportMapping
from analytics.ingest.pipeline import IngestResult
from analytics.schemas import FactorySpec, PlantDescription, validate_factory_id
from analytics.store.hub import Hub
from analytics.store.reader import FactoryReader
from tests.conftest import NOW, PLANT

HEADER = "machine_id,sensor,ts,value\n"
BASELINE = HEADER + "PUMP-02,pressure,2025-06-01 12:00:00,3.5\n"
TABLES = ("readings", "quarantine", "quality")

WriteFile = Callable[..., Path]


# --- helpers -------------------------------------------------------------------------------------
def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def stored(hub: Hub, factory_id: str = "acme") -> list[tuple[str, str, datetime, float]]:
    """Every stored reading as (machine, sensor, ts, value), sorted."""
    frame = FactoryReader(hub, factory_id).readings().collect()
    return sorted(frame.select("machine_id", "sensor", "ts", "value").rows())


def quarantined(hub: Hub, factory_id: str = "acme") -> list[tuple[int, str, str]]:
    """Every quarantined row as (row, column, reason), in file order."""
    frame = FactoryReader(hub, factory_id).quarantine().collect().sort("row", "column")
    return frame.select("row", "column", "reason").rows()


def snapshot(hub: Hub) -> tuple[tuple[int | None, ...], list[tuple[str, str, datetime, float]]]:
    return tuple(hub.lake.version("acme", t) for t in TABLES), stored(hub)


@pytest.fixture
def seeded(acme: Hub, write_file: WriteFile) -> Hub:
    """``acme`` with one reading already stored, so "the lake is untouched" means unchanged tables
    rather than merely absent ones."""
    result = ingest_file(acme, "acme", write_file("baseline.csv", BASELINE), now=NOW)
    assert (result.status, result.accepted) == ("ok", 1)
    return acme


def assert_rejected(
    hub: Hub,
    path: Path,
    mapping: ImportMapping | None = None,
    *,
    row: int | None,
    column: str | None,
    reason: str,
) -> InputFileError:
    """Ingest must raise InputFileError naming the file (row, column) and change nothing stored."""
    before = snapshot(hub)
    with pytest.raises(InputFileError) as caught:
        ingest_file(hub, "acme", path, mapping, now=NOW)
    exc = caught.value
    assert exc.path == str(path)
    assert (exc.row, exc.column) == (row, column)
    assert reason in exc.reason, exc.reason
    where = str(path) + (f", row {row}" if row is not None else "") + (f", column {column!r}" if column is not None else "")
    assert str(exc) == f"{where}: {exc.reason}"
    assert snapshot(hub) == before
    run = hub.registry.ingest_runs("acme")[0]
    assert (run.source_file, run.status, run.accepted) == (str(path), "failed", 0)
    return exc


def ingest(hub: Hub, path: Path, mapping: ImportMapping | None = None) -> IngestResult:
    result = ingest_file(hub, "acme", path, mapping, now=NOW)
    assert result.status == "ok"
    return result


def counts(result: IngestResult) -> tuple[int, int, int, int]:
    return result.rows_read, result.accepted, result.duplicate, result.quarantined


def parquet_bytes(frame: pl.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.write_parquet(buffer)
    return buffer.getvalue()


def xlsx_bytes(header: list[str], rows: list[list[object]]) -> bytes:
    """An .xlsx workbook as Excel writes it: real datetime cells with a date format."""
    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, {"in_memory": True})
    sheet = book.add_worksheet()
    stamp = book.add_format({"num_format": "yyyy-mm-dd hh:mm:ss.000"})
    sheet.write_row(0, 0, header)
    for r, values in enumerate(rows, start=1):
        for c, value in enumerate(values):
            if isinstance(value, datetime):
                sheet.write_datetime(r, c, value, stamp)
            elif value is not None:
                sheet.write(r, c, value)
    book.close()
    return buffer.getvalue()


def berlin(hub: Hub) -> Hub:
    """Re-register the plant as a Europe/Berlin factory (DST: +01:00 in winter, +02:00 in summer)."""
    plant = {**PLANT, "factory": {**PLANT["factory"], "id": "acme", "timezone": "Europe/Berlin"}}
    hub.registry.register_plant(PlantDescription.model_validate(plant))
    return hub


GOOD_ROWS = "CNC-01,spindle_temp,2026-01-01 09:00:00,20.5\nCNC-01,spindle_temp,2026-01-01 09:00:01,21.5\n"


# --- files that cannot be read: rejected whole, lake untouched -----------------------------------
def test_truncated_inside_a_multibyte_character(seeded: Hub, write_file: WriteFile) -> None:
    data = (HEADER + GOOD_ROWS + "CNC-01,spindle_temp,2026-01-01 오후 3:00:00,22\n").encode("utf-8")
    cut = data[: data.index("후".encode()) + 1]  # first byte of a three-byte character
    assert_rejected(seeded, write_file("cut.csv", cut), row=4, column=None, reason="file ends inside a UTF-8 character: truncated?")


def test_truncated_cp949_inside_a_double_byte_character(seeded: Hub, write_file: WriteFile) -> None:
    data = (HEADER + "CNC-01,spindle_temp,2026-01-01 오후 3:00:00,22\n").encode("cp949")
    cut = data[: data.index("후".encode("cp949")) + 1]
    assert_rejected(seeded, write_file("cut949.csv", cut), row=2, column=None, reason="file ends inside a CP949 character: truncated?")


def test_cp949_file_declared_utf8_names_the_row(seeded: Hub, write_file: WriteFile) -> None:
    text = HEADER + GOOD_ROWS + "CNC-01,spindle_temp,2026-01-01 오후 3:00:00,22\n"
    path = write_file("kr.csv", text, encoding="cp949")
    assert_rejected(
        seeded, path, ImportMapping(encoding="utf-8"), row=4, column=None,
        reason="invalid UTF-8 byte sequence (a CP949/EUC-KR file? give --encoding cp949)",
    )


def test_utf16_file(seeded: Hub, write_file: WriteFile) -> None:
    path = write_file("u16.csv", HEADER + GOOD_ROWS, encoding="utf-16")
    assert_rejected(seeded, path, row=None, column=None, reason="UTF-16 text is not supported: save the file as UTF-8")


def test_random_bytes_with_nul(seeded: Hub, write_file: WriteFile) -> None:
    data = random.Random(20261101).randbytes(4096)
    first_nul_line = data[: data.index(b"\x00")].count(b"\n") + 1
    assert_rejected(seeded, write_file("noise.csv", data), row=first_nul_line, column=None, reason="binary content (NUL bytes)")


def test_bytes_neither_utf8_nor_cp949(seeded: Hub, write_file: WriteFile) -> None:
    # 0x80 starts no UTF-8 character and no CP949 character.
    path = write_file("high.csv", HEADER.encode() + b"CNC-01,spindle_temp,\x80\x80,1\n")
    assert_rejected(seeded, path, row=2, column=None, reason="text is neither UTF-8 nor CP949/EUC-KR (undecodable byte 0x80)")


def test_binary_garbage(seeded: Hub, write_file: WriteFile) -> None:
    elf = b"\x7fELF\x02\x01\x01\x00" + bytes(range(256)) * 4
    assert_rejected(seeded, write_file("program.csv", elf), row=1, column=None, reason="binary content (NUL bytes): not a text CSV file")


def test_wrong_delimiter_given(seeded: Hub, write_file: WriteFile) -> None:
    path = write_file("semi.csv", (HEADER + GOOD_ROWS).replace(",", ";"))
    exc = assert_rejected(seeded, path, ImportMapping(delimiter=","), row=1, column="ts", reason="missing column(s) 'ts', 'sensor', 'value', 'machine_id'")
    assert exc.reason.endswith("the file has 'machine_id;sensor;ts;value' (wrong delimiter, format or mapping?)")


def test_header_only(seeded: Hub, write_file: WriteFile) -> None:
    assert_rejected(seeded, write_file("header.csv", HEADER), row=2, column=None, reason="header only: the file has no data rows")


@pytest.mark.parametrize("content", ["", "\n", "  \r\n"], ids=["empty", "newline", "blank-crlf"])
def test_empty_file(seeded: Hub, write_file: WriteFile, content: str) -> None:
    assert_rejected(seeded, write_file("empty.csv", content), row=1, column=None, reason="empty file (no header row)")


def test_csv_named_parquet(seeded: Hub, write_file: WriteFile) -> None:
    path = write_file("data.parquet", HEADER + GOOD_ROWS)
    assert_rejected(seeded, path, row=None, column=None, reason="not a Parquet file (no PAR1 magic bytes)")


def test_truncated_parquet(seeded: Hub, write_file: WriteFile) -> None:
    data = parquet_bytes(pl.DataFrame({"machine_id": ["CNC-01"], "sensor": ["spindle_temp"], "ts": ["2026-01-01 09:00:00"], "value": [1.5]}))
    path = write_file("cut.parquet", data[: len(data) // 2])
    assert_rejected(seeded, path, row=None, column=None, reason="cannot read Parquet: parquet: File out of specification: The file must end with PAR1")


def test_parquet_with_corrupt_arrow_schema(seeded: Hub, write_file: WriteFile) -> None:
    # Polars raised InvalidOperationError here (not an InputFileError) before sources.py caught
    # every Polars error: one bad byte inside the embedded Arrow schema.
    data = bytearray(parquet_bytes(pl.DataFrame({"machine_id": ["CNC-01"], "value": [1.5]})))
    at = data.index(b"ARROW:schema") + len(b"ARROW:schema")
    assert data[at] == 0x18  # Thrift: the key-value's binary value follows, length as a varint
    at += 1
    while data[at] & 0x80:
        at += 1
    data[at + 1 + 5] = ord("!")  # not a base64 character
    path = write_file("meta.parquet", bytes(data))
    assert_rejected(seeded, path, row=None, column=None, reason="cannot read Parquet: unable to decode the encoded schema stored in ARROW:schema")


def test_parquet_with_nested_value_column(seeded: Hub, write_file: WriteFile) -> None:
    frame = pl.DataFrame({"machine_id": ["CNC-01"], "sensor": ["spindle_temp"], "ts": ["2026-01-01 09:00:00"], "value": [[1.0, 2.0]]})
    path = write_file("nested.parquet", parquet_bytes(frame))
    assert_rejected(seeded, path, row=None, column="value", reason="column has nested type List(Float64): only flat columns are supported")


def test_parquet_without_rows(seeded: Hub, write_file: WriteFile) -> None:
    frame = pl.DataFrame(schema={"machine_id": pl.String, "sensor": pl.String, "ts": pl.String, "value": pl.Float64})
    assert_rejected(seeded, write_file("none.parquet", parquet_bytes(frame)), row=None, column=None, reason="the Parquet file has no rows")


def test_corrupt_xlsx(seeded: Hub, write_file: WriteFile) -> None:
    good = xlsx_bytes(["machine_id", "sensor", "ts", "value"], [["CNC-01", "spindle_temp", "2026-01-01 09:00:00", 1.0]])
    path = write_file("book.xlsx", good[: len(good) // 2])  # zip header intact, central directory gone
    assert_rejected(seeded, path, row=None, column=None, reason="cannot read Excel workbook: calamine error: Xlsx error: Zip error")


def test_csv_named_xlsx(seeded: Hub, write_file: WriteFile) -> None:
    path = write_file("book.xlsx", HEADER + GOOD_ROWS)
    assert_rejected(seeded, path, row=None, column=None, reason="not an Excel .xlsx workbook (no zip header): corrupt or mislabelled")


def test_legacy_xls(seeded: Hub, write_file: WriteFile) -> None:
    ole = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504)
    assert_rejected(seeded, write_file("old.xls", ole), row=None, column=None, reason="legacy .xls workbooks are not supported")


def test_xlsx_header_only(seeded: Hub, write_file: WriteFile) -> None:
    path = write_file("empty.xlsx", xlsx_bytes(["machine_id", "sensor", "ts", "value"], []))
    assert_rejected(seeded, path, row=2, column=None, reason="header only: the sheet has no data rows")


def test_duplicate_column_names(seeded: Hub, write_file: WriteFile) -> None:
    path = write_file("dup.csv", "machine_id,sensor,ts,value,value\nCNC-01,spindle_temp,2026-01-01 09:00:00,1,2\n")
    assert_rejected(seeded, path, row=1, column="value", reason="duplicate column name (columns 4 and 5)")


def test_header_with_an_empty_name(seeded: Hub, write_file: WriteFile) -> None:
    path = write_file("blank_name.csv", "machine_id,sensor,ts,value,\nCNC-01,spindle_temp,2026-01-01 09:00:00,1,\n")
    assert_rejected(seeded, path, row=1, column=None, reason="column 5 of the header has no name")


def test_missing_required_column(seeded: Hub, write_file: WriteFile) -> None:
    path = write_file("nots.csv", "machine_id,sensor,value\nCNC-01,spindle_temp,1\n")
    assert_rejected(
        seeded, path, row=1, column="ts",
        reason="missing column(s) 'ts'; the file has 'machine_id', 'sensor', 'value' (wrong delimiter, format or mapping?)",
    )


def test_wide_file_without_sensor_columns(seeded: Hub, write_file: WriteFile) -> None:
    path = write_file("wide.csv", "ts,machine_id\n2026-01-01 09:00:00,CNC-01\n")
    assert_rejected(seeded, path, ImportMapping(format="wide"), row=1, column=None, reason="wide file has no sensor columns")


def test_row_with_extra_fields(seeded: Hub, write_file: WriteFile) -> None:
    path = write_file("ragged.csv", HEADER + GOOD_ROWS + "CNC-01,spindle_temp,2026-01-01 09:00:02,22,oops\n")
    assert_rejected(seeded, path, row=4, column=None, reason="row has more fields than the header's 4 (delimiter ',')")


def test_row_with_extra_fields_after_a_multiline_field(seeded: Hub, write_file: WriteFile) -> None:
    # Rows are records as a spreadsheet shows them: the quoted line break does not start a row.
    text = 'machine_id,sensor,ts,value,note\nCNC-01,spindle_temp,2026-01-01 09:00:00,1,"two\nlines"\nCNC-01,spindle_temp,2026-01-01 09:00:01,2,a,b\n'
    assert_rejected(seeded, write_file("ragged2.csv", text), row=3, column=None, reason="row has more fields than the header's 5")


def test_unclosed_quote(seeded: Hub, write_file: WriteFile) -> None:
    text = HEADER + GOOD_ROWS + '"CNC-01,spindle_temp,2026-01-01 09:00:02,22\nCNC-01,spindle_temp,2026-01-01 09:00:03,23\n'
    assert_rejected(seeded, write_file("quote.csv", text), row=4, column=None, reason="malformed quoted field")


def test_text_after_closing_quote(seeded: Hub, write_file: WriteFile) -> None:
    text = HEADER + 'CNC-01,spindle_temp,"2026-01-01 09:00:00"Z,1\n'
    assert_rejected(seeded, write_file("quote2.csv", text), row=2, column=None, reason="malformed quoted field")


def test_lone_carriage_return_line_endings(seeded: Hub, write_file: WriteFile) -> None:
    # Polars raised a raw SchemaError here before: Python and Polars disagreed on where line 1 ends.
    path = write_file("mac.csv", (HEADER + GOOD_ROWS).replace("\n", "\r"))
    assert_rejected(seeded, path, row=1, column=None, reason="line break is a lone carriage return")


@pytest.mark.parametrize("kind", ["csv", "parquet"])
def test_reserved_row_column(seeded: Hub, write_file: WriteFile, kind: str) -> None:
    # Polars raised a raw DuplicateError here before: the reader's own ``__row`` column collided.
    frame = pl.DataFrame({"machine_id": ["CNC-01"], "sensor": ["spindle_temp"], "ts": ["2026-01-01 09:00:00"], "value": ["1"], "__row": ["7"]})
    if kind == "csv":
        path, row = write_file("rowcol.csv", frame.write_csv()), 1
    else:
        path, row = write_file("rowcol.parquet", parquet_bytes(frame)), None
    assert_rejected(seeded, path, row=row, column="__row", reason="column name '__row' is reserved by the hub")


# --- files that can be read: bad rows quarantined exactly ----------------------------------------
def test_truncated_mid_row(acme: Hub, write_file: WriteFile) -> None:
    text = HEADER + GOOD_ROWS + "CNC-01,spindle_temp,2026-01-01 09:00:02,22\n"
    result = ingest(acme, write_file("cut.csv", text[: -len("02,22\n")]))
    assert counts(result) == (3, 2, 0, 1)
    assert quarantined(acme) == [(4, "ts", "unparseable timestamp '2026-01-01 09:00:'")]
    assert [r[3] for r in stored(acme)] == [20.5, 21.5]


def test_truncated_before_the_last_fields(acme: Hub, write_file: WriteFile) -> None:
    # The row ends after two of four fields: the missing fields are empty, not shifted.
    result = ingest(acme, write_file("cut2.csv", HEADER + GOOD_ROWS + "CNC-01,spindle_temp"))
    assert counts(result) == (3, 2, 0, 1)
    assert quarantined(acme) == [(4, "ts", "missing timestamp")]


def test_huge_numbers(acme: Hub, write_file: WriteFile) -> None:
    text = HEADER + (
        "CNC-01,spindle_temp,2026-01-01 09:00:00,1e400\n"
        "CNC-01,spindle_temp,2026-01-01 09:00:01,1e300\n"
        "CNC-01,spindle_temp,2026-01-01 09:00:02,-1e400\n"
        "CNC-01,spindle_temp,2026-01-01 09:00:03,1.7976931348623157e308\n"
        "CNC-01,spindle_temp,2026-01-01 09:00:04,199.99999999999997\n"
    )
    result = ingest(acme, write_file("huge.csv", text))
    assert counts(result) == (5, 1, 0, 4)
    assert quarantined(acme) == [
        (2, "value", "non-finite value"),
        (3, "value", "outside valid range [-20.0, 200.0]"),
        (4, "value", "non-finite value"),
        (5, "value", "outside valid range [-20.0, 200.0]"),
    ]
    assert stored(acme) == [("CNC-01", "spindle_temp", utc(2026, 1, 1, 0, 0, 4), 199.99999999999997)]
    assert result.reasons == {"non-finite value": 2, "outside valid range": 2}


def test_nan_and_infinities(acme: Hub, write_file: WriteFile) -> None:
    values = ["NaN", "nan", "inf", "-inf", "Infinity", "-Infinity"]
    text = HEADER + "".join(f"CNC-01,vibration_rms,2026-01-01 09:00:0{i},{v}\n" for i, v in enumerate(values))
    result = ingest(acme, write_file("nan.csv", text))
    assert counts(result) == (6, 0, 0, 6)
    assert quarantined(acme) == [(row, "value", "non-finite value") for row in range(2, 8)]
    raw = FactoryReader(acme, "acme").quarantine().collect().sort("row").get_column("raw").to_list()
    assert raw == values
    assert acme.lake.version("acme", "readings") is None  # nothing stored: no readings table at all


def test_mixed_time_zones_in_one_file(acme: Hub, write_file: WriteFile) -> None:
    text = HEADER + (
        "CNC-01,spindle_temp,2026-01-01T09:00:00+09:00,1\n"
        "CNC-01,spindle_temp,2026-01-01T00:00:01Z,2\n"
        "CNC-01,spindle_temp,2025-12-31T19:00:02-05:00,3\n"
        "CNC-01,spindle_temp,2026-01-01 09:00:03,4\n"  # naive: factory time, Asia/Seoul
        "CNC-01,spindle_temp,2026-01-01 05:30:04+05:30,5\n"
    )
    result = ingest(acme, write_file("tz.csv", text))
    assert counts(result) == (5, 5, 0, 0)
    assert stored(acme) == [("CNC-01", "spindle_temp", utc(2026, 1, 1, 0, 0, s), float(s + 1)) for s in range(5)]


def test_dst_gap_and_repeated_hour_in_berlin(acme: Hub, write_file: WriteFile) -> None:
    hub = berlin(acme)
    text = HEADER + (
        "CNC-01,spindle_temp,2026-03-29 01:59:59,1\n"  # CET, +01:00
        "CNC-01,spindle_temp,2026-03-29 02:30:00,2\n"  # clocks jump 02:00 -> 03:00: never happened
        "CNC-01,spindle_temp,2026-03-29 03:00:00,3\n"  # CEST, +02:00
        "CNC-01,spindle_temp,2026-10-25 02:30:00,4\n"  # first 02:30: still CEST
        "CNC-01,spindle_temp,2026-10-25 02:30:00,5\n"  # second 02:30: CET again
        "CNC-01,spindle_temp,2026-10-25 03:30:00,6\n"
    )
    result = ingest(hub, write_file("dst.csv", text))
    assert counts(result) == (6, 5, 0, 1)
    assert quarantined(hub) == [(3, "ts", "nonexistent local time (skipped by a daylight-saving change)")]
    assert stored(hub) == [
        ("CNC-01", "spindle_temp", utc(2026, 3, 29, 0, 59, 59), 1.0),
        ("CNC-01", "spindle_temp", utc(2026, 3, 29, 1, 0, 0), 3.0),
        ("CNC-01", "spindle_temp", utc(2026, 10, 25, 0, 30), 4.0),
        ("CNC-01", "spindle_temp", utc(2026, 10, 25, 1, 30), 5.0),
        ("CNC-01", "spindle_temp", utc(2026, 10, 25, 2, 30), 6.0),
    ]


def test_dst_repeated_hour_split_across_chunks(tmp_path: Path, write_file: WriteFile) -> None:
    hub = berlin(Hub.open(settings=HubSettings(ingest_chunk_rows=2), data_dir=tmp_path / "hub"))
    text = HEADER + (
        "CNC-01,spindle_temp,2026-10-25 02:00:00,1\n"
        "CNC-01,spindle_temp,2026-10-25 02:30:00,2\n"
        "CNC-01,spindle_temp,2026-10-25 02:00:00,3\n"
        "CNC-01,spindle_temp,2026-10-25 02:30:00,4\n"
    )
    result = ingest(hub, write_file("dst.csv", text))
    assert counts(result) == (4, 4, 0, 0)
    assert [r[2] for r in stored(hub)] == [utc(2026, 10, 25, 0, 0), utc(2026, 10, 25, 0, 30), utc(2026, 10, 25, 1, 0), utc(2026, 10, 25, 1, 30)]


def test_hostile_machine_ids_and_bad_cells(acme: Hub, write_file: WriteFile) -> None:
    text = HEADER + (
        "../etc,spindle_temp,2026-01-01 09:00:00,1\n"
        "\"x'; DROP TABLE readings;--\",spindle_temp,2026-01-01 09:00:01,2\n"
        "CNC-01/../../x,spindle_temp,2026-01-01 09:00:02,3\n"
        "CNC-01,spindle_temp,2026-11-01 09:10:00,4\n"  # 00:10 UTC: exactly the 10 min tolerance
        "CNC-01,spindle_temp,2026-11-01 09:10:01,4\n"  # one second past it
        "CNC-01,spindle_temp,2026-01-01 09:00:05,\n"
        "CNC-01,spindle_temp,2026-01-01 09:00:06,   \n"
        "CNC-01,spindle_temp,2026-01-01 09:00:07,12.5 °C\n"
        ",spindle_temp,2026-01-01 09:00:08,1\n"
        "CNC-01,,2026-01-01 09:00:09,1\n"
        "CNC-01,spindle_temp,,1\n"
        "CNC-99,spindle_temp,2026-01-01 09:00:11,1\n"
        " CNC-01 , spindle_temp , 2026-01-01 09:00:12 , 7.25 \n"  # padding is not an error
    )
    result = ingest(acme, write_file("ids.csv", text))
    assert counts(result) == (13, 2, 0, 11)
    assert quarantined(acme) == [
        (2, "machine_id", "invalid machine id '../etc'"),
        (3, "machine_id", "invalid machine id 'x'; DROP TABLE readings;--'"),
        (4, "machine_id", "invalid machine id 'CNC-01/../../x'"),
        (6, "ts", "timestamp in the future"),
        (7, "value", "missing value"),
        (8, "value", "missing value"),
        (9, "value", "unparseable value '12.5 °C'"),
        (10, "machine_id", "missing machine id"),
        (11, "sensor", "missing sensor name"),
        (12, "ts", "missing timestamp"),
        (13, "machine_id", "unknown machine 'CNC-99'"),
    ]
    assert stored(acme) == [
        ("CNC-01", "spindle_temp", utc(2026, 1, 1, 0, 0, 12), 7.25),
        ("CNC-01", "spindle_temp", utc(2026, 11, 1, 0, 10), 4.0),
    ]
    # Nothing was created outside the hub's own factory directory.
    assert sorted(p.name for p in (acme.lake.root / "factories").iterdir()) == ["acme"]


def test_unknown_sensor(acme: Hub, write_file: WriteFile) -> None:
    result = ingest(acme, write_file("sensor.csv", HEADER + "CNC-01,no_such,2026-01-01 09:00:00,1\n"))
    assert counts(result) == (1, 0, 0, 1)
    assert quarantined(acme) == [(2, "sensor", "unknown sensor 'no_such' of machine 'CNC-01'")]


def test_unknown_sensor_column_of_wide_file(acme: Hub, write_file: WriteFile) -> None:
    text = "ts,spindle_temp,bogus\n2026-01-01 09:00:00,20,1\n"
    result = ingest(acme, write_file("wide.csv", text), ImportMapping(format="wide", machine_id="CNC-01"))
    assert counts(result) == (1, 1, 0, 1)
    assert [(row, column) for row, column, _ in quarantined(acme)] == [(2, "bogus")]


def test_decimal_comma(acme: Hub, write_file: WriteFile) -> None:
    text = "machine_id;sensor;ts;value\nCNC-01;spindle_temp;2026-01-01 09:00:00;12,5\nCNC-01;spindle_temp;2026-01-01 09:00:01;-0,125\n"
    result = ingest(acme, write_file("de.csv", text), ImportMapping(decimal_comma=True))
    assert counts(result) == (2, 2, 0, 0)
    assert [r[3] for r in stored(acme)] == [12.5, -0.125]


def test_decimal_comma_without_mapping(acme: Hub, write_file: WriteFile) -> None:
    text = "machine_id;sensor;ts;value\nCNC-01;spindle_temp;2026-01-01 09:00:00;12,5\n"
    result = ingest(acme, write_file("de.csv", text))
    assert counts(result) == (1, 0, 0, 1)
    assert quarantined(acme) == [(2, "value", "unparseable value '12,5'")]


def test_xlsx_with_datetime_cells(acme: Hub, write_file: WriteFile) -> None:
    rows: list[list[object]] = [
        ["CNC-01", "spindle_temp", datetime(2026, 1, 1, 9, 0, 0), 20.5],
        ["CNC-01", "spindle_temp", datetime(2026, 1, 1, 9, 0, 1, 500000), 21.25],
        ["CNC-01", "spindle_temp", datetime(2026, 1, 1, 9, 0, 2), "n/a"],  # text in a number column
        ["CNC-01", "spindle_temp", datetime(2026, 1, 1, 9, 0, 3), None],
        ["CNC-01", "spindle_temp", "2026-01-01 오후 6:00:04", 7],  # text in a datetime column
    ]
    path = write_file("book.xlsx", xlsx_bytes(["machine_id", "sensor", "ts", "value"], rows))
    result = ingest(acme, path)
    assert counts(result) == (5, 3, 0, 2)
    # Excel cells are the factory's wall-clock time (Asia/Seoul, +09:00); rows count from the header.
    assert stored(acme) == [
        ("CNC-01", "spindle_temp", utc(2026, 1, 1, 0, 0, 0), 20.5),
        ("CNC-01", "spindle_temp", datetime(2026, 1, 1, 0, 0, 1, 500000, tzinfo=UTC), 21.25),
        ("CNC-01", "spindle_temp", utc(2026, 1, 1, 9, 0, 4), 7.0),
    ]
    # Before sources.py read cells as text, the 'n/a' cell became null: "missing value", text lost.
    assert quarantined(acme) == [(4, "value", "unparseable value 'n/a'"), (5, "value", "missing value")]
    raw = FactoryReader(acme, "acme").quarantine().collect().sort("row").get_column("raw").to_list()
    assert raw == ["n/a", None]


def test_parquet_named_csv(acme: Hub, write_file: WriteFile) -> None:
    frame = pl.DataFrame({
        "machine_id": ["CNC-01", "CNC-01", "CNC-01", "CNC-01"],
        "sensor": ["spindle_temp"] * 4,
        "ts": [utc(2026, 1, 1, 0, 0, s) for s in range(4)],
        "value": [float("nan"), float("inf"), 1e300, 5.0],
    }).with_columns(pl.col("ts").dt.convert_time_zone("Asia/Seoul"))
    result = ingest(acme, write_file("really_parquet.csv", parquet_bytes(frame)))
    assert counts(result) == (4, 1, 0, 3)
    # Parquet has no header row: the first record is row 1.
    assert quarantined(acme) == [
        (1, "value", "non-finite value"),
        (2, "value", "non-finite value"),
        (3, "value", "outside valid range [-20.0, 200.0]"),
    ]
    assert stored(acme) == [("CNC-01", "spindle_temp", utc(2026, 1, 1, 0, 0, 3), 5.0)]


def test_bom_prefixed_utf8(acme: Hub, write_file: WriteFile) -> None:
    # Without BOM handling the first column would be named "\ufeffmachine_id" and be missing.
    result = ingest(acme, write_file("bom.csv", "\ufeff" + HEADER + GOOD_ROWS))
    assert counts(result) == (2, 2, 0, 0)
    assert [r[0] for r in stored(acme)] == ["CNC-01", "CNC-01"]


def test_crlf_line_endings(acme: Hub, write_file: WriteFile) -> None:
    text = (HEADER + GOOD_ROWS + "CNC-01,spindle_temp,2026-01-01 09:00:02,x\n").replace("\n", "\r\n")
    result = ingest(acme, write_file("crlf.csv", text))
    assert counts(result) == (3, 2, 0, 1)
    # No stray "\r" in the last column's values.
    assert quarantined(acme) == [(4, "value", "unparseable value 'x'")]
    assert [r[3] for r in stored(acme)] == [20.5, 21.5]


def test_korean_am_pm(acme: Hub, write_file: WriteFile) -> None:
    text = HEADER + (
        "CNC-01,spindle_temp,2026-01-01 오후 3:04:05,1\n"
        "CNC-01,spindle_temp,2026-01-01 오전 12:00:00,2\n"  # midnight
        "CNC-01,spindle_temp,2026-01-01 오후 12:30:00,3\n"  # half past noon
        "CNC-01,spindle_temp,2026. 1. 2. 오전 9:00:00,4\n"
        "CNC-01,spindle_temp,2026-01-01 오후 13:00:00,5\n"
    )
    result = ingest(acme, write_file("kr.csv", text))
    assert counts(result) == (5, 4, 0, 1)
    assert stored(acme) == [
        ("CNC-01", "spindle_temp", utc(2025, 12, 31, 15, 0), 2.0),
        ("CNC-01", "spindle_temp", utc(2026, 1, 1, 3, 30), 3.0),
        ("CNC-01", "spindle_temp", utc(2026, 1, 1, 6, 4, 5), 1.0),
        ("CNC-01", "spindle_temp", utc(2026, 1, 2, 0, 0), 4.0),
    ]
    assert quarantined(acme) == [(6, "ts", "unparseable timestamp '2026-01-01 오후 13:00:00'")]


def test_cp949_with_korean_am_pm(acme: Hub, write_file: WriteFile) -> None:
    path = write_file("kr949.csv", HEADER + "CNC-01,spindle_temp,2026-01-01 오후 3:04:05,1\n", encoding="cp949")
    result = ingest(acme, path)
    assert counts(result) == (1, 1, 0, 0)
    assert stored(acme) == [("CNC-01", "spindle_temp", utc(2026, 1, 1, 6, 4, 5), 1.0)]


def test_quoted_fields_with_embedded_delimiters(acme: Hub, write_file: WriteFile) -> None:
    text = (
        "machine_id,sensor,ts,value,note\n"
        'CNC-01,spindle_temp,2026-01-01 09:00:00,1,"a, b"\n'
        '"CNC-01","spindle_temp","2026-01-01 09:00:01","2","say ""hi"", ok"\n'
        'CNC-01,spindle_temp,2026-01-01 09:00:02,3,"line one\nline two"\n'
        'CNC-01,spindle_temp,2026-01-01 09:00:03,"4,5",x\n'
    )
    result = ingest(acme, write_file("quoted.csv", text))
    assert counts(result) == (4, 3, 0, 1)
    assert [r[3] for r in stored(acme)] == [1.0, 2.0, 3.0]
    # Row 5 is the fifth record even though the quoted line break puts it on line 6.
    assert quarantined(acme) == [(5, "value", "unparseable value '4,5'")]


def test_blank_lines_keep_row_numbers(acme: Hub, write_file: WriteFile) -> None:
    text = HEADER + "CNC-01,spindle_temp,2026-01-01 09:00:00,1\n\nCNC-01,spindle_temp,2026-01-01 09:00:01,x\n"
    result = ingest(acme, write_file("blank.csv", text))
    assert counts(result) == (3, 1, 0, 2)
    assert quarantined(acme) == [(3, "machine_id", "missing machine id"), (4, "value", "unparseable value 'x'")]


def test_glob_characters_in_file_name(acme: Hub, write_file: WriteFile) -> None:
    # Polars expanded "data[1].csv" as a glob pattern (matching "data1.csv", not itself).
    write_file("data1.csv", HEADER + "PUMP-02,flow,2026-01-01 09:00:00,99\n")
    result = ingest(acme, write_file("data[1].csv", HEADER + GOOD_ROWS))
    assert counts(result) == (2, 2, 0, 0)
    assert [r[1] for r in stored(acme)] == ["spindle_temp", "spindle_temp"]


def test_data_dir_with_glob_characters(tmp_path: Path, write_file: WriteFile) -> None:
    hub = Hub.open(data_dir=tmp_path / "hub[1]")
    hub.registry.register_plant(PlantDescription.model_validate(PLANT))
    first = ingest(hub, write_file("a.csv", HEADER + GOOD_ROWS))
    assert counts(first) == (2, 2, 0, 0)
    assert [r[3] for r in stored(hub)] == [20.5, 21.5]
    again = ingest(hub, write_file("b.csv", HEADER + GOOD_ROWS + "CNC-01,spindle_temp,2026-01-01 09:00:02,22.5\n"))
    assert counts(again) == (3, 1, 2, 0)
    assert [r[3] for r in stored(hub)] == [20.5, 21.5, 22.5]


# --- identifiers -----------------------------------------------------------------------------------
BAD_FACTORY_IDS = ["../x", "A B", "x;drop", "x/y", "..", "", "a", "acme\n", "ACME", "x'--"]


@pytest.mark.parametrize("bad", BAD_FACTORY_IDS)
def test_invalid_factory_ids(acme: Hub, write_file: WriteFile, bad: str) -> None:
    path = write_file("a.csv", HEADER + GOOD_ROWS)
    message = f"invalid factory id {bad!r}: must match ^[a-z0-9][a-z0-9_-]{{1,62}}$"
    for call in (
        lambda: validate_factory_id(bad),
        lambda: acme.registry.factory(bad),
        lambda: acme.registry.machines(bad),
        lambda: acme.registry.sensors(bad),
        lambda: acme.registry.remove_factory(bad),
        lambda: acme.lake.factory_root(bad),
        lambda: FactoryReader(acme, bad),
        lambda: ingest_file(acme, bad, path, now=NOW),
    ):
        with pytest.raises(InvalidIdentifierError) as caught:
            call()
        assert str(caught.value).startswith(message)
    with pytest.raises(ValidationError, match="invalid factory id"):
        FactorySpec(id=bad)
    assert [f.factory_id for f in acme.registry.factories()] == ["acme"]
    assert sorted(p.name for p in acme.lake.control_dir.iterdir()) == ["registry.sqlite"]


# --- the command line --------------------------------------------------------------------------
def cli(data_dir: Path, *args: str, columns: str | None = "1000") -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in {"COLUMNS", "LINES"}}
    env["FACTORYHUB_DATA_DIR"] = str(data_dir)
    if columns is not None:
        env["COLUMNS"] = columns  # rich wraps at 80 columns when not on a terminal
    return subprocess.run(
        [sys.executable, "-m", "analytics.cli", *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )


@pytest.fixture
def cli_hub(tmp_path: Path) -> Path:
    """A data directory with the plant registered through ``factory add --plant``."""
    plant = tmp_path / "plant.yaml"
    plant.write_text(yaml.safe_dump(PLANT, allow_unicode=True), encoding="utf-8")
    data_dir = tmp_path / "cli_hub"
    done = cli(data_dir, "factory", "add", "--plant", str(plant))
    assert done.returncode == 0, done.stderr
    assert "registered factory acme with 2 machines" in done.stdout
    return data_dir


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error: ")]


def test_cli_reports_bad_files_and_ingests_the_rest(cli_hub: Path, write_file: WriteFile) -> None:
    # Dates in 2024: the CLI checks "in the future" against the real clock.
    missing = write_file("missing.csv", "machine_id,sensor,value\nCNC-01,spindle_temp,1\n")
    good = write_file("good.csv", HEADER + "CNC-01,spindle_temp,2024-01-01 09:00:00,20.5\n")
    ragged = write_file("ragged.csv", HEADER + "CNC-01,spindle_temp,2024-01-01 09:00:01,1\nCNC-01,spindle_temp,2024-01-01 09:00:02,2,3\n")
    binary = write_file("binary.csv", b"\x00\x01\x02")
    done = cli(cli_hub, "ingest", str(missing), str(good), str(ragged), str(binary), "--factory", "acme", "--no-quality")
    assert done.returncode == 1
    assert error_lines(done.stderr) == [
        f"error: {missing}, row 1, column 'ts': missing column(s) 'ts'; the file has 'machine_id', 'sensor', 'value' (wrong delimiter, format or mapping?)",
        f"error: {ragged}, row 3: row has more fields than the header's 4 (delimiter ',')",
        f"error: {binary}, row 1: binary content (NUL bytes): not a text CSV file",
    ]
    hub = Hub.open(data_dir=cli_hub)
    assert stored(hub) == [("CNC-01", "spindle_temp", utc(2024, 1, 1, 0, 0, 0), 20.5)]
    runs = {Path(r.source_file).name: r.status for r in hub.registry.ingest_runs("acme")}
    assert runs == {"missing.csv": "failed", "good.csv": "ok", "ragged.csv": "failed", "binary.csv": "failed"}


def test_cli_wrong_delimiter(cli_hub: Path, write_file: WriteFile) -> None:
    semi = write_file("semi.csv", "machine_id;sensor;ts;value\nCNC-01;spindle_temp;2024-01-01 09:00:00;1\n")
    done = cli(cli_hub, "ingest", str(semi), "--factory", "acme", "--delimiter", ",")
    assert done.returncode == 1
    assert error_lines(done.stderr) == [
        f"error: {semi}, row 1, column 'ts': missing column(s) 'ts', 'sensor', 'value', 'machine_id'; "
        "the file has 'machine_id;sensor;ts;value' (wrong delimiter, format or mapping?)"
    ]
    assert Hub.open(data_dir=cli_hub).lake.version("acme", "readings") is None


def test_cli_invalid_factory_id(cli_hub: Path, write_file: WriteFile) -> None:
    path = write_file("good.csv", HEADER + "CNC-01,spindle_temp,2024-01-01 09:00:00,20.5\n")
    done = cli(cli_hub, "ingest", str(path), "--factory", "../acme")
    assert done.returncode == 1
    assert error_lines(done.stderr)[0].startswith("error: invalid factory id '../acme': must match")
    assert not (cli_hub / "acme").exists() and not (cli_hub.parent / "acme").exists()


def test_cli_error_is_one_line_at_default_width(cli_hub: Path, write_file: WriteFile) -> None:
    path = write_file("x" * 90 + ".csv", "machine_id,sensor,value\nCNC-01,spindle_temp,1\n")
    done = cli(cli_hub, "ingest", str(path), "--factory", "acme", columns=None)
    assert done.returncode == 1
    assert error_lines(done.stderr) == [
        f"error: {path}, row 1, column 'ts': missing column(s) 'ts'; the file has 'machine_id', 'sensor', 'value' (wrong delimiter, format or mapping?)"
    ]


def test_cli_error_names_file_with_brackets(cli_hub: Path, write_file: WriteFile) -> None:
    path = write_file("x[bold]y.csv", HEADER)
    done = cli(cli_hub, "ingest", str(path), "--factory", "acme")
    assert done.returncode == 1
    assert error_lines(done.stderr) == [f"error: {path}, row 2: header only: the file has no data rows"]
