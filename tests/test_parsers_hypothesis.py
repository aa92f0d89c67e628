"""Property tests of parsing and ingest: what goes in comes out, exactly.

Each property is checked against a plain-Python reference (``datetime``/``zoneinfo`` arithmetic, a
dict of first-stored readings). Sizes are small so the whole file runs in well under a minute.
"""

from __future__ import annotations

import csv
import io
import random
import struct
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import polars as pl
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from analytics.config import HubSettings
from analytics.ingest import ingest_file
from analytics.ingest.mapping import ImportMapping, TimestampSpec
from analytics.ingest.parse import AWARE_FORMATS, NAIVE_FORMATS, TS_GAP, TS_UTC, timestamp_columns
from analytics.ingest.sources import ROW, csv_layout, read_chunks
from analytics.schemas import PlantDescription
from analytics.store.hub import Hub
from analytics.store.reader import FactoryReader
from tests.conftest import NOW, PLANT

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
# Properties that ingest into a fresh lake cost ~0.1-0.3 s an ingest.
INGEST = settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

ZONES = ["UTC", "Asia/Seoul", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "Asia/Kathmandu"]
SENSORS = {  # (machine, sensor) -> valid range, from tests/conftest.py
    ("CNC-01", "spindle_temp"): (-20.0, 200.0),
    ("CNC-01", "vibration_rms"): (0.0, 100.0),
    ("CNC-01", "motor_current"): (0.0, 500.0),
    ("PUMP-02", "pressure"): (0.0, 40.0),
    ("PUMP-02", "flow"): (0.0, 500.0),
}
CNC_SENSORS = ["spindle_temp", "vibration_rms", "motor_current"]
SEOUL = ZoneInfo("Asia/Seoul")
BASE = datetime(2026, 1, 1, 9, 0, 0)  # local Seoul time; 00:00 UTC

Reading = tuple[str, str, datetime, float]


# --- helpers ---------------------------------------------------------------------------------------
@contextmanager
def fresh_hub(chunk_rows: int = 1_000_000) -> Iterator[tuple[Hub, Path]]:
    """A new hub with the test plant, in its own folder (hypothesis runs many examples per test)."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        hub = Hub.open(settings=HubSettings(ingest_chunk_rows=chunk_rows), data_dir=root / "hub")
        hub.registry.register_plant(PlantDescription.model_validate(PLANT))
        yield hub, root


def stored(hub: Hub) -> list[Reading]:
    frame = FactoryReader(hub, "acme").readings().collect()
    return sorted(frame.select("machine_id", "sensor", "ts", "value").rows())


def bits(value: float) -> bytes:
    """The exact IEEE-754 bits: tells 0.0 from -0.0 and compares NaN-free floats exactly."""
    return struct.pack("<d", value)


def seoul_to_utc(local: datetime) -> datetime:
    return local.replace(tzinfo=SEOUL).astimezone(UTC)


def long_csv(rows: list[tuple[str, str, datetime, str]]) -> str:
    return "machine_id,sensor,ts,value\n" + "".join(f"{m},{s},{t:%Y-%m-%d %H:%M:%S},{v}\n" for m, s, t, v in rows)


# --- timestamps ----------------------------------------------------------------------------------
@st.composite
def fraction(draw: st.DrawFn) -> tuple[int, str]:
    """(microseconds, text after the seconds) for ``%.f``: none, or 1 to 6 digits."""
    digits = draw(st.integers(0, 6))
    if digits == 0:
        return 0, ""
    value = draw(st.integers(0, 10**digits - 1))
    return value * 10 ** (6 - digits), "." + str(value).zfill(digits)


def render(fmt: str, moment: datetime, frac_text: str, korean: bool, pad: bool) -> str:
    """``moment`` written in the chrono format ``fmt`` the way loggers and Excel write it."""
    out = fmt.replace("%.f", "\ue000")  # placeholder: Python has no optional fraction
    hour12 = moment.hour % 12 or 12
    if "%p" in out:
        meridiem = ("오전" if moment.hour < 12 else "오후") if korean else ("AM" if moment.hour < 12 else "PM")
        out = out.replace("%p", meridiem).replace("%I", f"{hour12:02d}" if pad else str(hour12))
    if out.startswith("%Y. ") and not pad:
        # Korean Excel's "2024. 3. 5." writes month and day without zeros.
        out = out.replace("%m", str(moment.month)).replace("%d", str(moment.day))
    return moment.strftime(out).replace("\ue000", frac_text)


def parse(values: list[str], zone: str) -> pl.DataFrame:
    frame = pl.DataFrame({"t": values}, schema={"t": pl.String})
    return timestamp_columns(frame, "t", TimestampSpec(), zone).select(TS_UTC, TS_GAP)


def local_instant(local: datetime, zone: str) -> datetime | None:
    """The UTC instant of a wall-clock time, the earlier one if repeated; None if skipped."""
    tz = ZoneInfo(zone)
    aware = local.replace(tzinfo=tz)  # fold=0: the earlier of a repeated time
    back = aware.astimezone(UTC).astimezone(tz).replace(tzinfo=None)
    return aware.astimezone(UTC) if back == local else None


moments = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2035, 12, 31, 23, 59, 59))


@lru_cache(maxsize=None)
def transitions(zone: str, year: int) -> tuple[datetime, ...]:
    """Local wall-clock times at which ``zone`` changes its UTC offset in ``year``.

    Random datetimes almost never land in the hour a DST change skips or repeats, so the naive
    formats are also tried right around these moments.
    """
    tz = ZoneInfo(zone)
    found: list[datetime] = []
    t = datetime(year, 1, 1, tzinfo=UTC)
    step = timedelta(hours=1)
    while t.year == year:
        if t.astimezone(tz).utcoffset() != (t + step).astimezone(tz).utcoffset():
            lo, hi = t, t + step
            while hi - lo > timedelta(minutes=1):  # zones change offset on a whole minute
                mid = lo + (hi - lo) / 2
                mid = mid.replace(second=0, microsecond=0)
                if mid.astimezone(tz).utcoffset() == lo.astimezone(tz).utcoffset():
                    lo = mid
                else:
                    hi = mid
            found.append((hi + (lo.astimezone(tz).utcoffset() or timedelta())).replace(tzinfo=None))
        t += step
    return tuple(found)


@st.composite
def wall_clock(draw: st.DrawFn, zone: str) -> datetime:
    """A local time: anywhere, or within two hours of one of the zone's offset changes."""
    near = transitions(zone, draw(st.integers(2000, 2035)))
    if not near or draw(st.booleans()):
        return draw(moments)
    return draw(st.sampled_from(near)) + timedelta(seconds=draw(st.integers(-7200, 7200)))


@st.composite
def naive_samples(draw: st.DrawFn) -> tuple[str, list[datetime], list[str]]:
    """A zone and distinct wall-clock times written in one naive format, as the file has them."""
    fmt = draw(st.sampled_from(NAIVE_FORMATS))
    zone = draw(st.sampled_from(ZONES))
    korean, pad = draw(st.booleans()), draw(st.booleans())
    locals_: list[datetime] = []
    texts: list[str] = []
    for moment in draw(st.lists(wall_clock(zone), min_size=1, max_size=8, unique=True)):
        micro, frac_text = draw(fraction()) if "%.f" in fmt else (0, "")
        moment = moment.replace(microsecond=micro)
        if "%S" not in fmt:
            moment = moment.replace(second=0, microsecond=0)
        if "%H" not in fmt and "%I" not in fmt:
            moment = moment.replace(hour=0, minute=0, second=0, microsecond=0)
        if moment in locals_:
            continue  # a repeated wall-clock time would be read as the DST fall-back's second pass
        locals_.append(moment)
        texts.append(render(fmt, moment, frac_text, korean, pad))
    return zone, locals_, texts


@FAST
@given(naive_samples())
def test_naive_formats_parse_to_the_local_instant(sample: tuple[str, list[datetime], list[str]]) -> None:
    zone, locals_, texts = sample
    parsed = parse(texts, zone)
    expected = [local_instant(m, zone) for m in locals_]
    assert parsed.get_column(TS_UTC).to_list() == expected, texts
    assert parsed.get_column(TS_GAP).to_list() == [e is None for e in expected]


@st.composite
def aware_samples(draw: st.DrawFn) -> tuple[list[datetime], list[str]]:
    """UTC instants written with random offsets (``+09:00``, ``-0530``, ``Z``) in aware formats."""
    fmt = draw(st.sampled_from(AWARE_FORMATS))
    instants: list[datetime] = []
    texts: list[str] = []
    for moment in draw(st.lists(moments, min_size=1, max_size=8)):
        micro, frac_text = draw(fraction()) if "%.f" in fmt else (0, "")
        minutes = draw(st.integers(-14 * 60, 14 * 60))
        local = moment.replace(microsecond=micro)
        if "%S" not in fmt:
            local = local.replace(second=0, microsecond=0)
        sign, size = ("+" if minutes >= 0 else "-"), abs(minutes)
        style = draw(st.sampled_from(["colon", "plain", "z"]))
        if style == "z" and minutes == 0:
            offset = "Z"
        elif style == "plain":
            offset = f"{sign}{size // 60:02d}{size % 60:02d}"
        else:
            offset = f"{sign}{size // 60:02d}:{size % 60:02d}"
        instants.append((local - timedelta(minutes=minutes)).replace(tzinfo=UTC))
        texts.append(local.strftime(fmt.replace("%.f", "\ue000").replace("%z", "\ue001")).replace("\ue000", frac_text).replace("\ue001", offset))
    return instants, texts


@FAST
@given(aware_samples(), st.sampled_from(ZONES))
def test_offsets_parse_to_the_exact_instant(sample: tuple[list[datetime], list[str]], zone: str) -> None:
    instants, texts = sample
    # The factory's zone must not matter: an offset makes the time absolute.
    assert parse(texts, zone).get_column(TS_UTC).to_list() == instants, texts


@FAST
@given(st.lists(st.one_of(naive_samples(), aware_samples()), min_size=2, max_size=4))
def test_mixed_formats_in_one_column(samples: list[tuple]) -> None:
    # Several formats in one column: the fast single-format path must hand its misses to the
    # general path row by row, without shifting any row's result.
    texts: list[str] = []
    expected: list[datetime | None] = []
    seen_local: set[datetime] = set()
    for sample in samples:
        if len(sample) == 3:
            _, locals_, naive_texts = sample
            for moment, text in zip(locals_, naive_texts, strict=True):
                if moment not in seen_local:
                    seen_local.add(moment)
                    texts.append(text)
                    expected.append(seoul_to_utc(moment))
        else:
            texts.extend(sample[1])
            expected.extend(sample[0])
    assert parse(texts, "Asia/Seoul").get_column(TS_UTC).to_list() == expected, texts


# --- values --------------------------------------------------------------------------------------
@INGEST
@given(st.lists(st.floats(min_value=-20.0, max_value=200.0, allow_nan=False, allow_infinity=False), min_size=1, max_size=30))
def test_repr_floats_round_trip_exactly(values: list[float]) -> None:
    rows = [("CNC-01", "spindle_temp", BASE + timedelta(seconds=i), repr(v)) for i, v in enumerate(values)]
    with fresh_hub() as (hub, root):
        path = root / "floats.csv"
        path.write_text(long_csv(rows), encoding="utf-8")
        result = ingest_file(hub, "acme", path, now=NOW)
        assert (result.rows_read, result.accepted, result.quarantined) == (len(values), len(values), 0)
        got = [r[3] for r in stored(hub)]
    assert [bits(v) for v in got] == [bits(v) for v in values]


# --- CSV dialects ----------------------------------------------------------------------------------
safe_names = st.from_regex(r"[A-Za-z가-힣][A-Za-z0-9_ 가-힣]{0,11}", fullmatch=True).map(str.strip).filter(bool)
safe_cells = st.from_regex(r"[A-Za-z0-9_ .:가-힣-]{0,12}", fullmatch=True)


@FAST
@given(
    st.sampled_from([",", ";", "\t", "|"]),
    st.lists(safe_names.filter(lambda n: n not in {"machine_id", "sensor", "ts", "value"}), max_size=4, unique=True),
    st.permutations(range(4)),
    st.lists(st.tuples(safe_cells, safe_cells, safe_cells, safe_cells), min_size=1, max_size=5),
    st.booleans(),
)
def test_delimiter_detection(delimiter: str, extra: list[str], order: list[int], cells: list[tuple[str, ...]], crlf: bool) -> None:
    names = ["machine_id", "sensor", "ts", "value"]
    columns = [names[i] for i in order] + extra
    end = "\r\n" if crlf else "\n"
    lines = [delimiter.join(columns)]
    for row in cells:
        by_name = dict(zip(names, row, strict=True))
        lines.append(delimiter.join([by_name[c] for c in columns[:4]] + [f"x{i}" for i in range(len(extra))]))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "d.csv"
        path.write_text(end.join(lines) + end, encoding="utf-8")
        layout = csv_layout(path, ImportMapping())
        assert (layout.delimiter, layout.columns) == (delimiter, columns)
        frame = pl.concat(list(read_chunks(path, ImportMapping(), chunk_rows=2)))
    assert frame.get_column(ROW).to_list() == list(range(2, 2 + len(cells)))
    for name in names:
        # Polars reads an empty field as null, as every empty cell is.
        want = [dict(zip(names, row, strict=True))[name] or None for row in cells]
        assert frame.get_column(name).to_list() == want


hangul = st.characters(min_codepoint=0xAC00, max_codepoint=0xD7A3)
notes = st.text(st.one_of(hangul, st.sampled_from(list("abc 0123,;\"'\n"))), max_size=20)


@INGEST
@given(st.lists(st.tuples(st.integers(0, 400), notes), min_size=1, max_size=20))
def test_cp949_round_trip_with_korean_notes(rows: list[tuple[int, str]]) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")  # as Korean Excel saves "CSV (쉼표로 분리)"
    writer.writerow(["machine_id", "sensor", "ts", "value", "비고"])
    for i, (value, note) in enumerate(rows):
        writer.writerow(["CNC-01", "motor_current", f"{BASE + timedelta(seconds=i):%Y-%m-%d %H:%M:%S}", value / 4, note])
    with fresh_hub() as (hub, root):
        path = root / "kr.csv"
        path.write_bytes(buffer.getvalue().encode("cp949"))
        frame = pl.concat(list(read_chunks(path, ImportMapping(), chunk_rows=7)))
        # Every note comes back as written (an empty one as null, like any empty cell).
        assert frame.get_column("비고").to_list() == [n or None for _, n in rows]
        result = ingest_file(hub, "acme", path, now=NOW)
        assert (result.accepted, result.quarantined) == (len(rows), 0)
        assert stored(hub) == [
            ("CNC-01", "motor_current", seoul_to_utc(BASE + timedelta(seconds=i)), v / 4) for i, (v, _) in enumerate(rows)
        ]


# --- shapes and de-duplication ---------------------------------------------------------------------
cnc_value = st.one_of(st.none(), st.integers(0, 400).map(lambda n: n / 4))  # fits every CNC range


@INGEST
@given(st.lists(st.tuples(cnc_value, cnc_value, cnc_value), min_size=1, max_size=15), st.sampled_from([3, 1_000_000]))
def test_wide_and_long_store_the_same(rows: list[tuple[float | None, float | None, float | None]], chunk_rows: int) -> None:
    wide = "ts," + ",".join(CNC_SENSORS) + "\n"
    long_rows: list[tuple[str, str, datetime, str]] = []
    expected: list[Reading] = []
    for i, values in enumerate(rows):
        moment = BASE + timedelta(seconds=i)
        wide += f"{moment:%Y-%m-%d %H:%M:%S}," + ",".join("" if v is None else repr(v) for v in values) + "\n"
        for sensor, value in zip(CNC_SENSORS, values, strict=True):
            if value is not None:
                long_rows.append(("CNC-01", sensor, moment, repr(value)))
                expected.append(("CNC-01", sensor, seoul_to_utc(moment), value))
    assume(expected)  # an all-empty wide file stores nothing and is covered elsewhere
    with fresh_hub(chunk_rows) as (wide_hub, root_w), fresh_hub() as (long_hub, root_l):
        (root_w / "w.csv").write_text(wide, encoding="utf-8")
        (root_l / "l.csv").write_text(long_csv(long_rows), encoding="utf-8")
        ingest_file(wide_hub, "acme", root_w / "w.csv", ImportMapping(format="wide", machine_id="CNC-01"), now=NOW)
        ingest_file(long_hub, "acme", root_l / "l.csv", now=NOW)
        assert stored(wide_hub) == stored(long_hub) == sorted(expected)


key_space = st.tuples(st.sampled_from(sorted(SENSORS)), st.integers(0, 12))
small_value = st.integers(0, 8).map(lambda n: n / 2)  # few values: many exact repeats and conflicts


@INGEST
@given(
    st.lists(st.tuples(key_space, small_value), min_size=1, max_size=25),
    st.lists(st.tuples(key_space, small_value), min_size=1, max_size=25),
    st.randoms(use_true_random=False),
    st.sampled_from([4, 1_000_000]),
)
def test_overlapping_files_store_each_reading_once(
    first: list[tuple[tuple[tuple[str, str], int], float]],
    second: list[tuple[tuple[tuple[str, str], int], float]],
    rnd: random.Random,
    chunk_rows: int,
) -> None:
    union = first + second
    rnd.shuffle(union)
    reference: dict[tuple[str, str, datetime], float] = {}
    # Small chunks: repeats of a key in later chunks of the same file must be caught as well.
    with fresh_hub(chunk_rows) as (hub, root):
        for name, rows in (("a.csv", first), ("b.csv", second), ("union.csv", union)):
            lines = [(m, s, BASE + timedelta(seconds=10 * k), repr(v)) for ((m, s), k), v in rows]
            path = root / name
            path.write_text(long_csv(lines), encoding="utf-8")
            result = ingest_file(hub, "acme", path, now=NOW)
            before = len(reference)
            for m, s, moment, v in lines:
                reference.setdefault((m, s, seoul_to_utc(moment)), float(v))  # the first stored wins
            if result.status == "ok":
                assert result.accepted == len(reference) - before
                assert result.accepted + result.duplicate + result.quarantined == len(rows)
        got = stored(hub)
    assert got == sorted((m, s, t, v) for (m, s, t), v in reference.items())
