"""Build the demo hub from a folder of sample factories (``factoryhub demo build``).

Each sub-folder of the samples folder that holds a ``plant.yaml`` (or ``plant.json``) is one
factory::

    data_samples/
      ai4i-mill/
        plant.yaml            PlantDescription: factory, machines, sensors
        mapping.yaml          ImportMapping of the readings files (optional: long-form default)
        events_mapping.yaml   ImportMapping of the events files (optional: ``table: events``)
        *.csv|*.parquet|*.xlsx  data files; those whose name starts with "events" are events

The factory is registered (or its description updated), then every readings file and after it every
events file is ingested. Building twice stores nothing twice: the hub skips a file whose exact
content it has already ingested, and registering a plant again only updates it.
"""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path


from analytics.errors import InputFileError
from analytics.ingest.mapping import ImportMapping, load_mapping
from analytics.ingest.pipeline import IngestResult, ingest_file
from analytics.schemas import load_plant
from analytics.store.hub import Hub

log = logging.getLogger(__name__)

PLANT_FILES = ("plant.yaml", "plant.yml", "plant.json")
READINGS_MAPPING_FILES = ("mapping.yaml", "mapping.yml", "mapping.json")
EVENTS_MAPPING_FILES = ("events_mapping.yaml", "events_mapping.yml", "events_mapping.json")
DATA_SUFFIXES = frozenset({".csv", ".tsv", ".parquet", ".xlsx", ".xlsm"})
EVENTS_PREFIX = "events"


def _first_existing(folder: Path, names: tuple[str, ...]) -> Path | None:
    return next((folder / n for n in names if (folder / n).is_file()), None)


def factory_folders(samples: Path) -> list[Path]:
    """Sub-folders of ``samples`` that describe a factory (hold a plant file), sorted by name."""
    if not samples.is_dir():
        raise InputFileError(samples, "samples folder not found")
    return sorted(p for p in samples.iterdir() if p.is_dir() and _first_existing(p, PLANT_FILES))


def data_files(folder: Path) -> tuple[list[Path], list[Path]]:
    """(readings files, events files) of a factory folder, each sorted by name.

    Data files are recognised by suffix, so ``SOURCE.md`` or a script beside them is ignored;
    hidden files (editor and OS droppings such as ``.~lock``) are skipped.
    """
    files = sorted(
        p for p in folder.iterdir()
        if p.is_file() and p.suffix.lower() in DATA_SUFFIXES and not p.name.startswith(".")
    )
    events = [p for p in files if p.name.lower().startswith(EVENTS_PREFIX)]
    readings = [p for p in files if p not in events]
    return readings, events


def _mappings(folder: Path) -> tuple[ImportMapping, ImportMapping]:
    """The readings and events mappings of a factory folder (defaults where a file is absent)."""
    path = _first_existing(folder, READINGS_MAPPING_FILES)
    readings = load_mapping(path) if path else ImportMapping()
    if readings.table != "readings":
        raise InputFileError(path or folder, "the readings mapping must have table: readings")
    path = _first_existing(folder, EVENTS_MAPPING_FILES)
    events = load_mapping(path) if path else ImportMapping(table="events")
    # A mapping file without "table:" defaults to readings; an events mapping must say so, since
    # quietly overriding it would hide a mapping meant for another file.
    if events.table != "events":
        raise InputFileError(path or folder, "the events mapping must have table: events")
    return readings, events


def build_factory(hub: Hub, folder: Path, *, now: datetime | None = None) -> tuple[str, list[IngestResult]]:
    """Register the factory described in ``folder`` and ingest its files; (factory id, results)."""
    plant_path = _first_existing(folder, PLANT_FILES)
    if plant_path is None:
        raise InputFileError(folder, f"no plant description ({', '.join(PLANT_FILES)})")
    plant = load_plant(plant_path)
    readings_mapping, events_mapping = _mappings(folder)
    factory = hub.registry.register_plant(plant)
    log.info("registered factory %s (%d machines) from %s", factory.factory_id, len(plant.machines), folder)
    readings, events = data_files(folder)
    if not readings and not events:
        log.warning("%s: no data files (%s)", folder, ", ".join(sorted(DATA_SUFFIXES)))
    results: list[IngestResult] = []
    # Readings before events, so a factory's sensor history is in place before its failure log.
    for path, mapping in [(p, readings_mapping) for p in readings] + [(p, events_mapping) for p in events]:
        result = ingest_file(hub, factory.factory_id, path, mapping, now=now)
        if result.status == "skipped":
            log.info("%s/%s: skipped, %s", factory.factory_id, path.name, result.message)
        else:
            log.info(
                "%s/%s -> %s: %d rows read, %d stored, %d duplicate, %d quarantined",
                factory.factory_id, path.name, mapping.table,
                result.rows_read, result.accepted, result.duplicate, result.quarantined,
            )
        if result.quarantined:
            log.warning("%s/%s: %d rows quarantined: %s", factory.factory_id, path.name, result.quarantined, result.reasons)
        results.append(result)
    return factory.factory_id, results


def build_demo(hub: Hub, samples: Path, *, now: datetime | None = None) -> dict[str, list[IngestResult]]:
    """Register every sample factory in ``samples`` and ingest its data; results by factory id.

    Idempotent: a second run re-registers the same plants and skips every file already ingested
    (status ``"skipped"``), so nothing is stored twice. ``now`` is the reference for "timestamp in
    the future" (default: the clock). Raises :class:`InputFileError` for an unreadable plant,
    mapping or data file; files ingested before the error stay ingested, and a re-run continues.
    """
    samples = Path(samples)
    folders = factory_folders(samples)
    if not folders:
        log.warning("%s: no sub-folder with a plant file (%s)", samples, ", ".join(PLANT_FILES))
    built: dict[str, list[IngestResult]] = {}
    for folder in folders:
        factory_id, results = build_factory(hub, folder, now=now)
        built.setdefault(factory_id, []).extend(results)
    return built
