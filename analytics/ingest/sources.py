"""Reading the files factories send: CSV (UTF-8 or CP949/EUC-KR), Parquet and Excel.

Files are read in chunks of rows (``chunk_rows``) so memory stays bounded whatever the file size.
Every chunk carries ``__row``: the row number a person sees when opening the file (the header is
row 1, the first data row is row 2; for Parquet the first record is row 1).
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import logging
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import polars as pl

from analytics.errors import InputFileError
from analytics.ingest.mapping import ImportMapping

log = logging.getLogger(__name__)

ROW = "__row"
FileKind = Literal["csv", "parquet", "excel"]
SAMPLE_BYTES = 1 << 20
_DELIMITERS = (",", ";", "\t", "|")
_KOREAN_ENCODINGS = {"cp949", "euc-kr", "euc_kr", "ms949", "uhc"}
# UTF-32 first: its little-endian mark starts with UTF-16's.
_WIDE_BOMS = (
    (codecs.BOM_UTF32_LE, "UTF-32"),
    (codecs.BOM_UTF32_BE, "UTF-32"),
    (codecs.BOM_UTF16_LE, "UTF-16"),
    (codecs.BOM_UTF16_BE, "UTF-16"),
)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()


def detect_kind(path: Path) -> FileKind:
    """The file's format, from its first bytes (extensions lie) and then its extension."""
    with path.open("rb") as handle:
        head = handle.read(8)
    if head.startswith(b"PAR1"):
        return "parquet"
    if head.startswith(b"PK\x03\x04"):
        return "excel"
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        raise InputFileError(path, "not a Parquet file (no PAR1 magic bytes): truncated or corrupt")
    if suffix in {".xlsx", ".xlsm"}:
        raise InputFileError(path, "not an Excel .xlsx workbook (no zip header): corrupt or mislabelled")
    if suffix == ".xls":
        raise InputFileError(path, "legacy .xls workbooks are not supported: save as .xlsx or CSV")
    return "csv"


def detect_encoding(path: Path, declared: str | None = None) -> str:
    """``utf-8`` or ``cp949`` (the superset of EUC-KR that Korean Excel writes), from a sample."""
    with path.open("rb") as handle:
        sample = handle.read(SAMPLE_BYTES)
    # UTF-16/32 text is full of NUL bytes too; say what it is so the sender knows how to fix it.
    for bom, name in _WIDE_BOMS:
        if sample.startswith(bom):
            raise InputFileError(path, f"{name} text is not supported: save the file as UTF-8 (Excel: 'CSV UTF-8')")
    if b"\x00" in sample:
        raise InputFileError(path, "binary content (NUL bytes): not a text CSV file", row=_line_of(sample, sample.index(b"\x00")))
    if declared:
        try:
            codecs.lookup(declared)
        except LookupError as exc:
            raise InputFileError(path, f"unknown encoding {declared!r}") from exc
        return "cp949" if declared.lower() in _KOREAN_ENCODINGS else declared
    candidates = ("utf-8", "cp949")
    for name in candidates:
        decoder = codecs.getincrementaldecoder(name)()
        try:
            decoder.decode(sample, final=len(sample) < SAMPLE_BYTES)
            return name
        except UnicodeDecodeError:
            continue
    for name in candidates:
        # Valid up to its last bytes, which start a character that never ends: a cut file.
        try:
            codecs.getincrementaldecoder(name)().decode(sample, final=False)
        except UnicodeDecodeError:
            continue
        raise InputFileError(path, f"file ends inside a {name.upper()} character: truncated?", row=_line_of(sample, len(sample)))
    # Neither decodes: name where UTF-8 breaks, the encoding most files should be in.
    try:
        sample.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputFileError(
            path,
            f"text is neither UTF-8 nor CP949/EUC-KR (undecodable byte 0x{sample[exc.start]:02x}); "
            "give --encoding",
            row=_line_of(sample, exc.start),
        ) from exc
    raise InputFileError(path, "cannot detect the text encoding; give --encoding")


def _line_of(data: bytes, offset: int) -> int:
    return data.count(b"\n", 0, offset) + 1


def detect_delimiter(header: str) -> str:
    """The candidate that splits the header into the most fields, quotes respected (so a quoted
    name such as ``"temp;C"`` does not make ``;`` the delimiter); ``,`` when none splits it."""
    fields: dict[str, int] = {}
    for candidate in _DELIMITERS:
        names = next(csv.reader(io.StringIO(header), delimiter=candidate), [])
        # A quote left inside a field means quoting did not line up with this delimiter.
        fields[candidate] = 0 if any('"' in name for name in names) else len(names)
    best = max(_DELIMITERS, key=lambda d: fields[d])  # ties go to the earlier, more common one
    return best if fields[best] > 1 else ","


@dataclass
class CsvLayout:
    encoding: str
    delimiter: str
    columns: list[str]


def _to_utf8(path: Path, encoding: str, workdir: Path) -> Path:
    """Transcode a CP949 (or other non-UTF-8) file to UTF-8, streaming, naming the bad line."""
    target = workdir / (path.stem + ".utf8.csv")
    decoder = codecs.getincrementaldecoder(encoding)()
    line = 1
    with path.open("rb") as src, target.open("w", encoding="utf-8", newline="") as dst:
        for block in iter(lambda: src.read(1 << 22), b""):
            try:
                text = decoder.decode(block)
            except UnicodeDecodeError as exc:
                raise InputFileError(
                    path, f"invalid {encoding} byte sequence", row=line + block.count(b"\n", 0, exc.start)
                ) from exc
            line += block.count(b"\n")
            dst.write(text)
        try:
            dst.write(decoder.decode(b"", final=True))
        except UnicodeDecodeError as exc:
            raise InputFileError(path, f"file ends inside a {encoding} character", row=line) from exc
    return target


def csv_layout(path: Path, mapping: ImportMapping) -> CsvLayout:
    encoding = detect_encoding(path, mapping.encoding)
    with path.open("r", encoding="utf-8-sig" if encoding == "utf-8" else encoding, errors="replace", newline="") as handle:
        first = handle.readline()
    if not first.strip():
        raise InputFileError(path, "empty file (no header row)", row=1)
    if first.endswith("\r"):
        # Python ends the line at a lone CR but Polars does not: the two would disagree on columns.
        raise InputFileError(
            path, "line break is a lone carriage return (old Mac line endings?): save with LF or CRLF line endings", row=1
        )
    delimiter = mapping.delimiter or detect_delimiter(first)
    if mapping.has_header:
        columns = next(csv.reader(io.StringIO(first), delimiter=delimiter))
        columns = [c.strip() for c in columns]
    else:
        columns = list(mapping.column_names or [])
        fields = len(next(csv.reader(io.StringIO(first), delimiter=delimiter)))
        if fields != len(columns):
            raise InputFileError(
                path,
                f"rows have {fields} fields (delimiter {delimiter!r}) but the mapping names "
                f"{len(columns)} column_names",
                row=1,
            )
    seen: dict[str, int] = {}
    for index, name in enumerate(columns, start=1):
        if name == "":
            raise InputFileError(path, f"column {index} of the header has no name", row=1)
        if name in seen:
            raise InputFileError(
                path, f"duplicate column name (columns {seen[name]} and {index})", row=1, column=name
            )
        seen[name] = index
    _check_reserved(path, columns)
    return CsvLayout(encoding, delimiter, columns)


def _check_reserved(path: Path, columns: list[str], header_row: int | None = 1) -> None:
    """The reader adds ``__row``; a source column of that name would collide with it."""
    if ROW in columns:
        raise InputFileError(path, f"column name {ROW!r} is reserved by the hub: rename the column", row=header_row, column=ROW)


def _find_ragged_row(path: Path, layout: CsvLayout, first_row: int) -> int | None:
    """Slow path, for error messages only: the first row with more fields than the header."""
    with path.open("r", encoding=layout.encoding, errors="replace", newline="") as handle:
        for number, fields in enumerate(csv.reader(handle, delimiter=layout.delimiter), start=1):
            if number >= first_row and len(fields) > len(layout.columns):
                return number
    return None


def _find_undecodable_row(path: Path) -> int | None:
    """Slow path, for error messages only: the first line that is not valid UTF-8."""
    with path.open("rb") as handle:
        for number, line in enumerate(handle, start=1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError:
                return number
    return None


def _find_bad_quote_row(path: Path, layout: CsvLayout) -> int | None:
    """Slow path, for error messages only: the first row whose quoting is malformed (an unclosed
    quote, or text after a closing quote); rows are records, as Polars and spreadsheets count them."""
    number = 0
    with path.open("r", encoding="utf-8", errors="replace", newline="") as handle:
        reader = csv.reader(handle, delimiter=layout.delimiter, strict=True)
        try:
            for number, _ in enumerate(reader, start=1):
                pass
        except csv.Error:
            return number + 1
    return None


def read_chunks(
    path: Path, mapping: ImportMapping, chunk_rows: int, workdir: Path | None = None
) -> Iterator[pl.DataFrame]:
    """Yield the file's rows in chunks, with a ``__row`` column; source columns keep their names."""
    kind = detect_kind(path)
    if kind == "parquet":
        yield from _parquet_chunks(path, mapping, chunk_rows)
    elif kind == "excel":
        yield from _excel_chunks(path, mapping, chunk_rows)
    else:
        yield from _csv_chunks(path, mapping, chunk_rows, workdir)


def rows_per_chunk(mapping: ImportMapping, columns: list[str], readings_per_chunk: int) -> int:
    """File rows per chunk so that a chunk holds about ``readings_per_chunk`` readings: a wide row
    carries one reading per sensor column, and a chunk of a million 200-column rows would not fit."""
    if mapping.format != "wide":
        return readings_per_chunk
    if mapping.sensors is not None:
        width = len(mapping.sensors)
    else:
        width = len([c for c in columns if c not in {mapping.timestamp.column, mapping.machine_column}])
    return max(1, readings_per_chunk // max(1, width))


def _csv_chunks(path: Path, mapping: ImportMapping, chunk_rows: int, workdir: Path | None) -> Iterator[pl.DataFrame]:
    layout = csv_layout(path, mapping)
    chunk_rows = rows_per_chunk(mapping, layout.columns, chunk_rows)
    first_row = 2 if mapping.has_header else 1
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        source = path if layout.encoding == "utf-8" else _to_utf8(path, layout.encoding, Path(tmp))
        # Id columns repeat a few values millions of times: read them as categoricals, so they are
        # never materialised as millions of strings (a large share of an ingest's time otherwise).
        id_columns = {mapping.sensor_column} if mapping.format == "long" else set()
        if mapping.machine_id is None:
            id_columns.add(mapping.machine_column)
        frame = pl.scan_csv(
            source,
            glob=False,
            schema_overrides={c: pl.Categorical for c in id_columns if c in layout.columns} or None,  # a file name with [ ] * ? is a name, not a pattern matching other files
            separator=layout.delimiter,
            has_header=mapping.has_header,
            new_columns=layout.columns,
            infer_schema=False,
            row_index_name=ROW,
            row_index_offset=first_row,
            decimal_comma=mapping.decimal_comma,
            encoding="utf8",
            raise_if_empty=False,
        )
        produced = False
        try:
            for chunk in frame.collect_batches(chunk_size=chunk_rows):
                produced = produced or chunk.height > 0
                yield chunk.with_columns(pl.col(ROW).cast(pl.Int64))
        except pl.exceptions.ComputeError as exc:
            message = str(exc).splitlines()[0]
            if "more fields" in message:
                row = _find_ragged_row(source, layout, first_row)
                raise InputFileError(
                    path,
                    f"row has more fields than the header's {len(layout.columns)} "
                    f"(delimiter {layout.delimiter!r})",
                    row=row,
                ) from exc
            if "invalid utf-8" in message:
                raise InputFileError(
                    path, "invalid UTF-8 byte sequence (a CP949/EUC-KR file? give --encoding cp949)",
                    row=_find_undecodable_row(source),
                ) from exc
            row = _find_bad_quote_row(source, layout)
            if row is not None:
                raise InputFileError(path, "malformed quoted field (a quote not closed, or text after the closing quote)", row=row) from exc
            raise InputFileError(path, f"cannot parse CSV: {message}") from exc
        except pl.exceptions.PolarsError as exc:
            raise InputFileError(path, f"cannot parse CSV: {str(exc).splitlines()[0]}") from exc
        if not produced:
            raise InputFileError(path, "header only: the file has no data rows", row=first_row)


def _parquet_chunks(path: Path, mapping: ImportMapping, chunk_rows: int) -> Iterator[pl.DataFrame]:
    try:
        frame = pl.scan_parquet(path, glob=False)
        schema = frame.collect_schema()
        _check_reserved(path, list(schema), header_row=None)
        for name, dtype in schema.items():
            if dtype.is_nested():
                # Lists and structs cannot become one reading: reject before validation casts them.
                raise InputFileError(path, f"column has nested type {dtype}: only flat columns are supported", column=name)
        frame = frame.with_row_index(ROW, offset=1)
        produced = False
        for chunk in frame.collect_batches(chunk_size=rows_per_chunk(mapping, list(schema), chunk_rows)):
            produced = produced or chunk.height > 0
            yield chunk.with_columns(pl.col(ROW).cast(pl.Int64))
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise InputFileError(path, f"cannot read Parquet: {str(exc).splitlines()[0]}") from exc
    if not produced:
        raise InputFileError(path, "the Parquet file has no rows")


def _excel_chunks(path: Path, mapping: ImportMapping, chunk_rows: int) -> Iterator[pl.DataFrame]:
    # Excel caps a sheet at 1,048,576 rows, so a whole sheet fits in memory.
    # Every cell is read as text (datetimes as "2026-01-01 09:00:01.500", numbers in their shortest
    # exact form): with inferred types a text cell in a numeric column silently became null, and
    # was quarantined as "missing value" without its text.
    try:
        if mapping.sheet is not None:
            frame = pl.read_excel(path, sheet_name=mapping.sheet, engine="calamine", infer_schema_length=0)
        else:
            frame = pl.read_excel(path, sheet_id=1, engine="calamine", infer_schema_length=0)
    except Exception as exc:  # fastexcel raises its own exception types
        raise InputFileError(path, f"cannot read Excel workbook: {str(exc).splitlines()[0]}") from exc
    _check_reserved(path, frame.columns)
    if frame.height == 0:
        raise InputFileError(path, "header only: the sheet has no data rows", row=2)
    frame = frame.with_row_index(ROW, offset=2).with_columns(pl.col(ROW).cast(pl.Int64))
    step = rows_per_chunk(mapping, frame.columns, chunk_rows)
    for offset in range(0, frame.height, step):
        yield frame.slice(offset, step)
