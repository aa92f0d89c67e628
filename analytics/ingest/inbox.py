"""Drop folders: every factory has ``inbox/``; files that arrive there are ingested and moved to
``inbox/processed/`` or, with an ``.error.txt`` beside them, to ``inbox/failed/``.

A folder may hold ``mapping.yaml`` (how its readings files are laid out) and
``events_mapping.yaml`` (its maintenance and failure logs, the files named ``events*``); without
them the hub's default layouts are used. The demo's factory folders follow the same conventions."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from upath import UPath

from analytics.errors import HubError, InputFileError
from analytics.ingest.mapping import ImportMapping, load_mapping
from analytics.ingest.pipeline import IngestResult, ingest_file
from analytics.store.hub import Hub
from analytics.store.storage import move

log = logging.getLogger(__name__)

MAPPING_FILE = "mapping.yaml"
READINGS_MAPPING_FILES = (MAPPING_FILE, "mapping.yml", "mapping.json")
EVENTS_MAPPING_FILES = ("events_mapping.yaml", "events_mapping.yml", "events_mapping.json")
EVENTS_PREFIX = "events"  # a file named events*.csv is a maintenance / failure log
SUFFIXES = {".csv", ".txt", ".tsv", ".parquet", ".xlsx", ".xlsm"}
# Files still being uploaded: gateways write ``*.part`` or ``*.tmp`` and rename when done.
PARTIAL_SUFFIXES = {".part", ".tmp", ".partial", ".crdownload"}


def first_existing(folder: Path | UPath, names: tuple[str, ...]) -> Path | UPath | None:
    return next((folder / n for n in names if (folder / n).is_file()), None)


def is_events_file(path: Path) -> bool:
    return path.name.lower().startswith(EVENTS_PREFIX)


def folder_mappings(folder: Path) -> tuple[ImportMapping, ImportMapping]:
    """The readings and events mappings of a folder (defaults where a file is absent)."""
    path = first_existing(folder, READINGS_MAPPING_FILES)
    readings = load_mapping(path) if path else ImportMapping()
    if readings.table != "readings":
        raise InputFileError(path or folder, "the readings mapping must have table: readings")
    path = first_existing(folder, EVENTS_MAPPING_FILES)
    events = load_mapping(path) if path else ImportMapping(table="events")
    # A mapping file without "table:" defaults to readings; an events mapping must say so, since
    # quietly overriding it would hide a mapping meant for another file.
    if events.table != "events":
        raise InputFileError(path or folder, "the events mapping must have table: events")
    return readings, events


def inbox_dir(hub: Hub, factory_id: str) -> UPath:
    return hub.lake.factory_root(factory_id) / "inbox"


def pending_files(folder: Path, settle_seconds: float = 2.0) -> list[Path]:
    """Files ready to ingest: known type, not partial, unchanged for ``settle_seconds``."""
    if not folder.is_dir():
        return []
    now = time.time()
    ready = []
    for path in sorted(folder.iterdir(), key=lambda p: p.name):
        if not path.is_file() or path.name.startswith(".") or path.name in READINGS_MAPPING_FILES + EVENTS_MAPPING_FILES:
            continue
        if path.suffix.lower() in PARTIAL_SUFFIXES or path.suffix.lower() not in SUFFIXES:
            continue
        if now - path.stat().st_mtime < settle_seconds:
            continue
        ready.append(path)
    return ready


def _move(path: Path | UPath, folder: Path | UPath) -> Path | UPath:
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / path.name
    if target.exists():
        target = folder / f"{path.stem}-{int(time.time() * 1000)}{path.suffix}"
    move(path, target)
    return target


def scan_once(
    hub: Hub,
    factory_id: str,
    folder: Path | None = None,
    mapping: ImportMapping | None = None,
    settle_seconds: float = 2.0,
    on_result: Callable[[Path, IngestResult | None, Exception | None], None] | None = None,
) -> list[tuple[Path, IngestResult | None, Exception | None]]:
    """Ingest every ready file of the folder (default: the factory's inbox) once: readings files
    first, then event logs (so a failure's sensor history is in place before it), each with the
    folder's mapping for its kind unless ``mapping`` is given for all."""
    folder = folder or inbox_dir(hub, factory_id)
    folder.mkdir(parents=True, exist_ok=True)
    readings_mapping, events_mapping = (mapping, mapping) if mapping is not None else folder_mappings(folder)
    outcomes = []
    for path in sorted(pending_files(folder, settle_seconds), key=lambda p: (is_events_file(p) and mapping is None, p.name)):
        result: IngestResult | None = None
        error: HubError | None = None
        try:
            result = ingest_file(hub, factory_id, path, events_mapping if is_events_file(path) else readings_mapping)
        except HubError as exc:
            error = exc
            log.warning("ingest of %s failed: %s", path.name, exc)
        moved = _move(path, folder / ("processed" if error is None else "failed"))
        if error is not None:
            moved.with_name(moved.name + ".error.txt").write_text(f"{error}\n", encoding="utf-8")
        outcomes.append((moved, result, error))
        if on_result:
            on_result(moved, result, error)
    return outcomes


def watch(
    hub: Hub,
    factory_id: str,
    folder: Path | None = None,
    mapping: ImportMapping | None = None,
    interval: float = 5.0,
    max_polls: int | None = None,
    on_result: Callable[[Path, IngestResult | None, Exception | None], None] | None = None,
) -> Iterator[int]:
    """Poll the folder every ``interval`` seconds; yields the number of files handled per poll."""
    polls = 0
    while max_polls is None or polls < max_polls:
        yield len(scan_once(hub, factory_id, folder, mapping, on_result=on_result))
        polls += 1
        if max_polls is None or polls < max_polls:
            time.sleep(interval)
