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
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import yaml

from analytics.config import HubSettings
from analytics.errors import InputFileError
from analytics.ingest.inbox import first_existing, folder_mappings, is_events_file
from analytics.ingest.pipeline import IngestResult, ingest_file
from analytics.schemas import load_plant
from analytics.store.hub import Hub

log = logging.getLogger(__name__)

PLANT_FILES = ("plant.yaml", "plant.yml", "plant.json")
DATA_SUFFIXES = frozenset({".csv", ".tsv", ".parquet", ".xlsx", ".xlsm"})


def factory_folders(samples: Path) -> list[Path]:
    """Sub-folders of ``samples`` that describe a factory (hold a plant file), sorted by name."""
    if not samples.is_dir():
        raise InputFileError(samples, "samples folder not found")
    return sorted(p for p in samples.iterdir() if p.is_dir() and first_existing(p, PLANT_FILES))


def data_files(folder: Path) -> tuple[list[Path], list[Path]]:
    """(readings files, events files) of a factory folder and its sub-folders, in path order.

    Sub-folders hold deliveries (``incoming/2026-09-02/...``): sorting by path ingests them in the
    order they arrived. Data files are recognised by suffix, so ``SOURCE.md`` or a script beside
    them is ignored; hidden files and folders (editor and OS droppings such as ``.~lock``) are
    skipped.
    """
    files = sorted(
        p for p in folder.rglob("*")
        if p.is_file() and p.suffix.lower() in DATA_SUFFIXES
        and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    )
    events = [p for p in files if is_events_file(p)]
    readings = [p for p in files if not is_events_file(p)]
    return readings, events


CALENDAR_FILE = "calendar.yaml"


def _apply_calendar(hub: Hub, factory_id: str, path: Path) -> None:
    """Set the factory's working calendar from ``calendar.yaml`` beside its plant description, if any."""
    from pydantic import ValidationError

    from analytics.solutions.calendar import WorkingCalendar, set_calendar

    if not path.is_file():
        return
    try:
        calendar = WorkingCalendar.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
    except (yaml.YAMLError, ValidationError) as exc:
        raise InputFileError(path, f"not a working calendar: {exc}") from exc
    set_calendar(hub, factory_id, calendar)


def build_factory(
    hub: Hub, folder: Path, *, now: datetime | None = None, on_file: Callable[[], None] | None = None
) -> tuple[str, list[IngestResult]]:
    """Register the factory described in ``folder`` and ingest its files; (factory id, results)."""
    plant_path = first_existing(folder, PLANT_FILES)
    if plant_path is None:
        raise InputFileError(folder, f"no plant description ({', '.join(PLANT_FILES)})")
    plant = load_plant(plant_path)
    readings_mapping, events_mapping = folder_mappings(folder)
    factory = hub.registry.register_plant(plant)
    _apply_calendar(hub, factory.factory_id, folder / CALENDAR_FILE)
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
        if on_file:
            on_file()
    return factory.factory_id, results


def build_demo(
    hub: Hub, samples: Path, *, now: datetime | None = None, on_file: Callable[[int], None] | None = None
) -> dict[str, list[IngestResult]]:
    """Register every sample factory in ``samples`` and ingest its data; results by factory id.

    Idempotent: a second run re-registers the same plants and skips every file already ingested
    (status ``"skipped"``), so nothing is stored twice. ``now`` is the reference for "timestamp in
    the future" (default: the clock). ``on_file(total)`` is called after each file with the number
    of files in all. Raises :class:`InputFileError` for an unreadable plant, mapping or data file;
    files ingested before the error stay ingested, and a re-run continues.
    """
    samples = Path(samples)
    folders = factory_folders(samples)
    if not folders:
        log.warning("%s: no sub-folder with a plant file (%s)", samples, ", ".join(PLANT_FILES))
    total = sum(len(r) + len(e) for r, e in map(data_files, folders))
    tick = (lambda: on_file(total)) if on_file else None
    built: dict[str, list[IngestResult]] = {}
    for folder in folders:
        factory_id, results = build_factory(hub, folder, now=now, on_file=tick)
        built.setdefault(factory_id, []).extend(results)
    return built


def simulate_demo(settings: HubSettings, *, factories: int = 3, days: int = 30, machines: int = 8, seed: int = 7) -> Path:
    """Simulate the demo factories up to yesterday (factory-local) under ``data_dir/simulated``.

    A simulation already there with the same parameters is reused, whatever day it started on:
    re-simulating from another start would send the hub different values for the readings it
    already holds (which it quarantines as conflicts). For fresh dates, start from an empty data
    folder (``make clean``).
    """
    from analytics.simulate import SimulationConfig, simulate_hub
    from analytics.simulate.output import MANIFEST, read_manifest

    today = datetime.now(ZoneInfo(settings.default_timezone)).date()
    config = SimulationConfig(
        factories=factories, machines=machines, days=days, seed=seed,
        start=today - timedelta(days=days), timezone=settings.default_timezone,
    )
    out = Path(settings.data_dir) / "simulated"
    wanted = config.model_dump(mode="json", exclude={"start"})
    if (out / MANIFEST).is_file() and {k: v for k, v in read_manifest(out)["config"].items() if k != "start"} == wanted:
        log.info("reusing the simulation in %s", out)
        return out
    simulate_hub(config, out, force=True)
    return out


def unlived_days(hub: Hub, factory_id: str) -> list[date]:
    """The factory's days with readings that have no solutions yet, in order: what the demo still
    has to live through the daily pipeline (a rebuild lives only the new ones)."""
    from analytics.solutions.solve import solution_store
    from analytics.store.reader import FactoryReader

    solved = set(solution_store(hub, factory_id).dates())
    return [d for d in FactoryReader(hub, factory_id).dates("readings") if d not in solved]


@dataclass(frozen=True)
class DemoAccount:
    """A demo sign-in; the password is new on every build."""

    username: str
    password: str
    role: str
    factory_id: str | None


CREDENTIALS_FILE = "demo-credentials.txt"


def demo_accounts(hub: Hub, factory_ids: list[str]) -> list[DemoAccount]:
    """Create (or reset the password of) the demo's accounts: a hub admin, and a plant manager
    and an engineer per factory, each with a fresh random password. The demo hub is for trying
    the dashboard, so these are written to ``data_dir/demo-credentials.txt`` (readable by its
    owner only); a real hub creates its accounts with ``factoryhub user add``."""
    from analytics.store.users import UserBook

    book = UserBook(hub)
    wanted = [DemoAccount("admin", "", "admin", None)]
    for factory_id in factory_ids:
        wanted += [DemoAccount(f"{factory_id}-manager", "", "plant_manager", factory_id), DemoAccount(f"{factory_id}-engineer", "", "engineer", factory_id)]
    accounts = []
    for account in wanted:
        password = secrets.token_urlsafe(12)
        try:
            existing = book.user(account.username)
        except LookupError:
            existing = None
        if existing is not None and (existing.role != account.role or existing.factory_id != account.factory_id):
            book.remove(account.username)  # a demo account of another shape: start it afresh
            existing = None
        if existing is None:
            book.add(account.username, password, role=account.role, factory_id=account.factory_id)
        else:
            book.set_password(account.username, password)
            book.disable(account.username, False)
        accounts.append(DemoAccount(account.username, password, account.role, account.factory_id))
    write_credentials(Path(hub.settings.data_dir) / CREDENTIALS_FILE, accounts)
    return accounts


def write_credentials(path: Path, accounts: list[DemoAccount]) -> None:
    """The demo accounts as a small table, created with mode 0600 and replaced atomically."""
    lines = [f"{'user':<28} {'password':<18} {'role':<14} factory"]
    lines += [f"{a.username:<28} {a.password:<18} {a.role:<14} {a.factory_id or '(all)'}" for a in accounts]
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write("\n".join(lines) + "\n")
    os.replace(tmp, path)
