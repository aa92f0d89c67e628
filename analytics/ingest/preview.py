"""What ingesting a file would do, said before anything is stored: the dashboard's upload preview.

An engineer who uploads a file sees its rows, what would be quarantined and why, and how many rows
are new, *before* pressing "store". That answer is only worth something if it is the ingest's own
answer, so :func:`preview_file` runs the very steps :func:`~analytics.ingest.pipeline.ingest_file`
runs (:func:`~analytics.ingest.pipeline.prepare_chunks` to read, shape and validate,
:meth:`~analytics.ingest.pipeline.ReadingsDedupe.classify` and
:func:`~analytics.ingest.pipeline.split_events` to de-duplicate, :func:`~analytics.ingest.pipeline.quarantine_rows`
and :func:`~analytics.ingest.pipeline.count_reasons` to report) and stops where the ingest would
start writing. It stages no file, commits nothing, records no run and takes no writer lock: a
preview never makes an ingest wait, and its counts are those of an ingest run against the lake as
the preview read it (an ingest committed in between can only turn new rows into duplicates).

:func:`save_upload` puts an uploaded file where the preview and the later ingest read it: in the
factory's own ``uploads/`` folder, beside (never inside) the ``inbox/`` the daily job ingests
from, so an upload is stored only when the engineer says so.
"""

from __future__ import annotations

import logging
import os
import re
import unicodedata
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from hashlib import sha256
from pathlib import Path

import polars as pl
from upath import UPath

from analytics.errors import InputFileError
from analytics.ingest.inbox import SUFFIXES
from analytics.ingest.mapping import ImportMapping
from analytics.ingest.pipeline import (
    KEY,
    ReadingsDedupe,
    chunk_days,
    count_reasons,
    existing_rows,
    prefetch,
    prepare_chunks,
    quarantine_rows,
    sensor_names,
    split_events,
    validation_tables,
)
from analytics.ingest.sources import ROW, sha256_file
from analytics.ingest.validate import SID
from analytics.schemas import EVENTS_KEY
from analytics.store.hub import Hub
from analytics.store.storage import is_local, local_copy, storage_path, write_bytes_atomic

log = logging.getLogger(__name__)

UPLOADS = "uploads"
READINGS_SAMPLE = ("machine_id", "sensor", "ts", "value")
EVENTS_SAMPLE = ("machine_id", "ts", "kind", "component", "text")
PROBLEM_COLUMNS = ("row", "column", "reason", "raw")
# A file name is at most 255 bytes on the usual file systems; leave room for the hash prefix.
_MAX_STEM_BYTES = 200
# What a stored name keeps of the browser's: letters and digits of any script, ``_``, ``-``, ``.``.
_UNSAFE = re.compile(r"[^\w.\-]+")


@dataclass(frozen=True)
class FilePreview:
    """What :func:`~analytics.ingest.pipeline.ingest_file` would do with one file, now.

    ``valid``, ``duplicate`` and ``quarantined`` are the ingest's ``accepted``, ``duplicate`` and
    ``quarantined``, and ``reasons`` its ``reasons``. ``machines``, ``sensors``, ``first_ts`` and
    ``last_ts`` describe the file's good rows whether new or already stored (so a file shown again
    after its ingest still says what it holds). The frames hold at most ``limit`` rows each and
    take no part in comparisons.
    """

    source_file: str
    table: str
    rows_read: int
    valid: int
    duplicate: int
    quarantined: int
    sample: pl.DataFrame = field(compare=False, repr=False)
    problems: pl.DataFrame = field(compare=False, repr=False)
    reasons: dict[str, int]
    machines: list[str]
    sensors: list[str]
    first_ts: datetime | None
    last_ts: datetime | None
    already_ingested: bool


def preview_file(
    hub: Hub,
    factory_id: str,
    path: Path | UPath | str,
    mapping: ImportMapping | None = None,
    *,
    now: datetime | None = None,
    limit: int = 200,
) -> FilePreview:
    """Preview ingesting ``path`` into ``factory_id``'s lake, writing nothing anywhere.

    ``mapping`` defaults to ``ImportMapping()``, as in :func:`~analytics.ingest.pipeline.ingest_file`;
    ``now`` is the reference for "timestamp in the future" (default: the clock). Raises the
    ingest's :class:`InputFileError` (file, row, column) for a file that cannot be read.
    """
    if not is_local(path := storage_path(path)):
        with local_copy(path) as readable:
            return preview_file(hub, factory_id, readable, mapping, now=now, limit=limit)
    path = Path(path)
    mapping = mapping or ImportMapping()
    factory = hub.registry.factory(factory_id)
    factory_id, tz = factory.factory_id, factory.timezone
    now = now or datetime.now(UTC)
    if not path.is_file():
        raise InputFileError(path, "no such file")
    settings = hub.settings
    table = mapping.table
    sensors, machines = validation_tables(hub, factory_id)
    # A preview stages nothing, so every chunk's keys stay in memory (see ReadingsDedupe.remember).
    dedupe = ReadingsDedupe(hub, factory_id, sensors, memory_budget=8 * settings.ingest_chunk_rows)
    # The ingest finds an event repeated in a later chunk in the files it staged; a preview keeps
    # the (few) events it would have stored instead.
    earlier_events: list[pl.DataFrame] = []
    rows_read = valid = duplicate = quarantined = 0
    reasons: dict[str, int] = {}
    samples: list[pl.DataFrame] = []
    problems: list[pl.DataFrame] = []
    held: list[pl.DataFrame] = []  # per chunk: what its good rows hold (sensor or machine, first and last ts)
    source = path.name
    prepared = prepare_chunks(path, mapping, sensors, machines, tz, now, settings.future_tolerance.total_seconds(), settings.ingest_chunk_rows)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="preview-hash") as hasher:
        digest = hasher.submit(sha256_file, path)
        for rows, good, bad, shaped in prefetch(prepared):
            rows_read += rows
            days = chunk_days(good, tz)
            if shaped is not None:
                new, _distinct, dup, conflicts = dedupe.classify(good, days, shaped, mapping)
                dedupe.remember(new, None)
                new = new.drop(KEY)
                bad = pl.concat([bad, conflicts], how="diagonal_relaxed")
                by = SID
            else:
                existing = None
                if good.height:
                    machines_here = good.get_column("machine_id").unique().to_list()
                    stored = existing_rows(hub, factory_id, table, days, machines_here, [*EVENTS_KEY, "text"])
                    known = [f for f in (stored, *earlier_events) if f is not None and f.height]
                    existing = pl.concat(known, how="vertical_relaxed") if known else None
                new, dup, conflicts = split_events(good, existing)
                if new.height:
                    earlier_events.append(new.select(*EVENTS_KEY, "text"))
                bad = pl.concat([bad, conflicts], how="diagonal_relaxed")
                by = "machine_id"
            valid += new.height
            duplicate += dup.height
            quarantined += bad.height
            count_reasons(bad, reasons)
            held.append(
                pl.concat([new.select(by, "ts"), dup.select(by, "ts")]).group_by(by).agg(pl.col("ts").min().alias("lo"), pl.col("ts").max().alias("hi"))
            )
            # Chunks come in file order, so the first ``limit`` rows are in the first chunks.
            if new.height and sum(s.height for s in samples) < limit:
                if shaped is not None:
                    shown = new.sort(ROW, SID).head(limit).with_columns(sensor_names(sensors, "machine_id", "sensor")).select(READINGS_SAMPLE)
                else:
                    shown = new.sort(ROW).head(limit).select(EVENTS_SAMPLE)
                samples.append(shown)
            if bad.height and sum(p.height for p in problems) < limit:
                failing = quarantine_rows(bad, factory_id, "", source, "", tz, now)
                problems.append(failing.sort("row", "column").select(PROBLEM_COLUMNS))
        sha = digest.result()
    already = hub.registry.completed_ingest(factory_id, sha, table) is not None
    machines_held, sensors_held, first_ts, last_ts = _held(held, sensors, table)
    preview = FilePreview(
        source_file=source,
        table=table,
        rows_read=rows_read,
        valid=valid,
        duplicate=duplicate,
        quarantined=quarantined,
        sample=_head(samples, limit, _sample_schema(table)),
        problems=_head(problems, limit, {"row": pl.Int64, "column": pl.String, "reason": pl.String, "raw": pl.String}),
        reasons=reasons,
        machines=machines_held,
        sensors=sensors_held,
        first_ts=first_ts,
        last_ts=last_ts,
        already_ingested=already,
    )
    log.info(
        "preview of %s for %s (%s): %d rows read, %d new, %d duplicate, %d quarantined%s",
        source, factory_id, table, rows_read, valid, duplicate, quarantined, ", already ingested" if already else "",
    )  # fmt: skip
    return preview


def _sample_schema(table: str) -> dict[str, pl.DataType]:
    ts = pl.Datetime("us", "UTC")
    if table == "readings":
        return {"machine_id": pl.String(), "sensor": pl.String(), "ts": ts, "value": pl.Float64()}
    return {"machine_id": pl.String(), "ts": ts, "kind": pl.String(), "component": pl.String(), "text": pl.String()}


def _head(frames: list[pl.DataFrame], limit: int, schema: dict[str, pl.DataType]) -> pl.DataFrame:
    """The first ``limit`` rows of ``frames``, with ``schema`` even when there are none (so the page
    can always show the columns)."""
    if not frames:
        return pl.DataFrame(schema=schema)
    return pl.concat(frames, how="vertical_relaxed").head(max(limit, 0)).cast(schema)  # type: ignore[arg-type]


def _held(held: list[pl.DataFrame], sensors: pl.DataFrame, table: str) -> tuple[list[str], list[str], datetime | None, datetime | None]:
    """(machines, "machine/sensor" names, first ts, last ts) of the good rows of every chunk."""
    frames = [h for h in held if h.height]
    if not frames:
        return [], [], None, None
    by = SID if table == "readings" else "machine_id"
    spans = pl.concat(frames).group_by(by).agg(pl.col("lo").min(), pl.col("hi").max())
    first, last = spans.select(pl.col("lo").min(), pl.col("hi").max()).row(0)
    if table != "readings":
        return sorted(spans.get_column("machine_id").to_list()), [], first, last
    named = spans.with_columns(sensor_names(sensors, "machine_id", "sensor"))
    machines = sorted(named.get_column("machine_id").unique().to_list())
    names = sorted(named.select(pl.format("{}/{}", "machine_id", "sensor")).to_series().to_list())
    return machines, names, first, last


def uploads_dir(hub: Hub, factory_id: str) -> UPath:
    """The factory's uploads folder: beside its inbox, which the daily job ingests on its own."""
    return hub.lake.factory_root(factory_id) / UPLOADS


def safe_upload_name(name: str) -> str:
    """A browser's file name as a plain name of this folder: the last path part only (``/`` or
    ``\\``), NFC (macOS sends Hangul decomposed), letters and digits of any script with ``_ - .``,
    no leading dot or dash, a lower-case extension the hub reads. Raises :class:`InputFileError`
    naming the upload for an empty name or an unsupported type.
    """
    base = unicodedata.normalize("NFC", name).replace("\\", "/").rsplit("/", 1)[-1].strip()
    if not base.strip("."):
        raise InputFileError(name or "(upload)", "the uploaded file has no name")
    stem, ext = os.path.splitext(base)
    ext = ext.lower()
    if ext not in SUFFIXES:
        supported = ", ".join(sorted(SUFFIXES))
        raise InputFileError(name, f"unsupported file type {ext or '(none)'!r}: upload one of {supported}")
    stem = re.sub(r"\.{2,}", ".", _UNSAFE.sub("_", stem)).lstrip(".-_").rstrip(".") or "upload"
    stem = stem.encode("utf-8")[:_MAX_STEM_BYTES].decode("utf-8", "ignore")  # a cut character is dropped
    return stem + ext


def save_upload(hub: Hub, factory_id: str, name: str, data: bytes) -> UPath:
    """Store an uploaded file's bytes in the factory's uploads folder and return its path.

    The stored name is :func:`safe_upload_name` prefixed with the first 12 hex digits of the
    content's sha256: two different files sent under one name both stay, and the same file sent
    again is the same path (not rewritten: the dashboard saves on every rerun of its page). The
    file appears whole or not at all (:func:`~analytics.store.storage.write_bytes_atomic`), so a
    reader never sees half a file.
    """
    factory = hub.registry.factory(factory_id)  # an unregistered factory gets no folder
    safe = safe_upload_name(name)
    folder = uploads_dir(hub, factory.factory_id)
    target = folder / f"{sha256(data).hexdigest()[:12]}-{safe}"
    inside = target.resolve().parent == folder.resolve() if is_local(folder) else str(target.parent) == str(folder)
    if not inside:  # cannot happen (safe is one plain name): a last guard
        raise InputFileError(name, "upload name resolves outside the factory's uploads folder")
    folder.mkdir(parents=True, exist_ok=True)
    if target.is_file() and target.stat().st_size == len(data):
        log.info("upload %s for %s already saved as %s", name, factory.factory_id, target.name)
        return target
    write_bytes_atomic(target, data)
    log.info("upload %s for %s saved as %s (%d bytes)", name, factory.factory_id, target.name, len(data))
    return target
