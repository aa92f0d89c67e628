"""The registry of tenants: factories, their machines and sensors, and the ingest history.

A small SQLite database beside the lake. SQLite gives multi-process safe, transactional updates with
the standard library alone; ``secure_delete`` makes deleted rows physically vanish from the file, so
deleting a factory leaves nothing of it on disk. Every statement is parameterised.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from analytics.errors import AlreadyExistsError, NotFoundError
from analytics.schemas import (
    FactorySpec,
    MachineSpec,
    PlantDescription,
    SensorSpec,
    validate_factory_id,
    validate_machine_id,
)

_DDL = """
CREATE TABLE IF NOT EXISTS factories (
    factory_id TEXT PRIMARY KEY,
    name_ko TEXT NOT NULL DEFAULT '',
    name_en TEXT NOT NULL DEFAULT '',
    timezone TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS machines (
    factory_id TEXT NOT NULL REFERENCES factories(factory_id) ON DELETE CASCADE,
    machine_id TEXT NOT NULL,
    machine_type TEXT NOT NULL,
    model TEXT NOT NULL DEFAULT '',
    install_date TEXT,
    PRIMARY KEY (factory_id, machine_id)
);
CREATE TABLE IF NOT EXISTS sensors (
    factory_id TEXT NOT NULL,
    machine_id TEXT NOT NULL,
    sensor TEXT NOT NULL,
    unit TEXT NOT NULL DEFAULT '',
    min_value REAL,
    max_value REAL,
    interval_s REAL NOT NULL,
    PRIMARY KEY (factory_id, machine_id, sensor),
    FOREIGN KEY (factory_id, machine_id) REFERENCES machines(factory_id, machine_id) ON DELETE CASCADE
);
CREATE TABLE IF NOT EXISTS ingest_runs (
    ingest_id TEXT PRIMARY KEY,
    factory_id TEXT NOT NULL REFERENCES factories(factory_id) ON DELETE CASCADE,
    source_file TEXT NOT NULL,
    file_sha256 TEXT NOT NULL,
    table_name TEXT NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    status TEXT NOT NULL,
    rows_read INTEGER NOT NULL DEFAULT 0,
    accepted INTEGER NOT NULL DEFAULT 0,
    duplicate INTEGER NOT NULL DEFAULT 0,
    quarantined INTEGER NOT NULL DEFAULT 0,
    message TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS ingest_runs_by_file ON ingest_runs (factory_id, file_sha256, status);
CREATE TABLE IF NOT EXISTS model_sharing (
    factory_id TEXT PRIMARY KEY REFERENCES factories(factory_id) ON DELETE CASCADE,
    allowed INTEGER NOT NULL,
    changed_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS sensor_days (
    factory_id TEXT NOT NULL REFERENCES factories(factory_id) ON DELETE CASCADE,
    machine_id TEXT NOT NULL,
    sensor TEXT NOT NULL,
    day TEXT NOT NULL,
    PRIMARY KEY (factory_id, machine_id, sensor, day)
) WITHOUT ROWID;
-- Solutions (analytics.solutions): a factory's working calendar and what a stop of each machine costs.
CREATE TABLE IF NOT EXISTS factory_calendars (
    factory_id TEXT PRIMARY KEY REFERENCES factories(factory_id) ON DELETE CASCADE,
    calendar_json TEXT NOT NULL,
    changed_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS machine_consequences (
    factory_id TEXT NOT NULL,
    machine_id TEXT NOT NULL,
    criticality INTEGER NOT NULL,
    downtime_cost_per_hour REAL NOT NULL,
    changed_at TEXT NOT NULL,
    PRIMARY KEY (factory_id, machine_id),
    FOREIGN KEY (factory_id, machine_id) REFERENCES machines(factory_id, machine_id) ON DELETE CASCADE
);
-- Alerts and the feedback given on them: one open alert per machine and failure mode.
CREATE TABLE IF NOT EXISTS alerts (
    alert_id TEXT PRIMARY KEY,
    factory_id TEXT NOT NULL REFERENCES factories(factory_id) ON DELETE CASCADE,
    machine_id TEXT NOT NULL,
    mode TEXT NOT NULL,
    status TEXT NOT NULL,
    severity TEXT NOT NULL,
    opened_day TEXT NOT NULL,
    last_day TEXT NOT NULL,
    opened_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    acknowledged_at TEXT,
    acknowledged_by TEXT,
    resolved_at TEXT,
    resolved_by TEXT,
    escalation INTEGER NOT NULL DEFAULT 0,
    details_json TEXT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS one_open_alert ON alerts (factory_id, machine_id, mode) WHERE status != 'resolved';
CREATE TABLE IF NOT EXISTS alert_feedback (
    feedback_id TEXT PRIMARY KEY,
    alert_id TEXT NOT NULL REFERENCES alerts(alert_id) ON DELETE CASCADE,
    factory_id TEXT NOT NULL REFERENCES factories(factory_id) ON DELETE CASCADE,
    machine_id TEXT NOT NULL,
    verdict TEXT NOT NULL,
    failure_mode TEXT,
    note TEXT NOT NULL DEFAULT '',
    given_by TEXT NOT NULL,
    given_at TEXT NOT NULL
);
-- Dashboard sign-in (analytics.store.users): people, their role and factory, argon2id hashes.
-- The roles and languages are checked in Python (one vocabulary); the table keeps the invariant
-- that matters for tenancy: an admin belongs to no factory, everyone else to exactly one.
CREATE TABLE IF NOT EXISTS users (
    username TEXT PRIMARY KEY,
    display_name TEXT NOT NULL DEFAULT '',
    role TEXT NOT NULL,
    factory_id TEXT REFERENCES factories(factory_id) ON DELETE CASCADE,
    language TEXT,
    email TEXT,
    password_hash TEXT NOT NULL,
    created_at TEXT NOT NULL,
    last_login_at TEXT,
    disabled INTEGER NOT NULL DEFAULT 0,
    CHECK ((role = 'admin') = (factory_id IS NULL))
);
CREATE INDEX IF NOT EXISTS users_by_factory ON users (factory_id);
CREATE UNIQUE INDEX IF NOT EXISTS users_by_email ON users (email) WHERE email IS NOT NULL;
-- Failed sign-ins of the last minutes, for throttling across processes. Keyed by a digest of the
-- name typed (people type passwords into the name field); factory_id is the user's, if known.
CREATE TABLE IF NOT EXISTS login_failures (
    user_key TEXT NOT NULL,
    factory_id TEXT REFERENCES factories(factory_id) ON DELETE CASCADE,
    failed_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS login_failures_by_key ON login_failures (user_key, failed_at);
CREATE INDEX IF NOT EXISTS login_failures_by_time ON login_failures (failed_at);
-- Pipeline runs (analytics.pipeline.runs): one row per run, one per factory in it. A run spans
-- factories, so the run row names none; each factory's result is removed with its factory.
CREATE TABLE IF NOT EXISTS pipeline_runs (
    run_id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    day TEXT,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    status TEXT NOT NULL,
    factories INTEGER NOT NULL DEFAULT 0,
    failed INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS pipeline_run_factories (
    run_id TEXT NOT NULL REFERENCES pipeline_runs(run_id) ON DELETE CASCADE,
    factory_id TEXT NOT NULL REFERENCES factories(factory_id) ON DELETE CASCADE,
    day TEXT NOT NULL,
    status TEXT NOT NULL,
    stage TEXT,
    error TEXT NOT NULL DEFAULT '',
    started_at TEXT NOT NULL,
    finished_at TEXT,
    details_json TEXT NOT NULL DEFAULT '{}',
    PRIMARY KEY (run_id, factory_id, day)
);
-- The hub's pooled failure models a run trained after its factory-days, one row per machine type
-- (analytics.models.failure.pooled.refresh_pooled): hub-wide, so it goes with its run, not with a
-- factory, and only hub admins see it.
CREATE TABLE IF NOT EXISTS pipeline_run_pooled (
    run_id TEXT NOT NULL REFERENCES pipeline_runs(run_id) ON DELETE CASCADE,
    machine_type TEXT NOT NULL,
    status TEXT NOT NULL,
    model_id TEXT,
    reason TEXT NOT NULL DEFAULT '',
    factories INTEGER NOT NULL DEFAULT 0,
    seconds REAL NOT NULL DEFAULT 0,
    finished_at TEXT NOT NULL,
    PRIMARY KEY (run_id, machine_type)
);
-- The daily report e-mail (analytics.reports.mail): who receives a factory's report, and every
-- report sent, one row per recipient, so a day's report reaches each person once.
CREATE TABLE IF NOT EXISTS report_recipients (
    factory_id TEXT NOT NULL REFERENCES factories(factory_id) ON DELETE CASCADE,
    email TEXT NOT NULL,
    name TEXT NOT NULL DEFAULT '',
    language TEXT,
    added_at TEXT NOT NULL,
    PRIMARY KEY (factory_id, email)
);
CREATE TABLE IF NOT EXISTS reports_sent (
    factory_id TEXT NOT NULL REFERENCES factories(factory_id) ON DELETE CASCADE,
    day TEXT NOT NULL,
    recipient TEXT NOT NULL,
    language TEXT NOT NULL,
    subject TEXT NOT NULL,
    message_id TEXT NOT NULL,
    sent_at TEXT NOT NULL,
    PRIMARY KEY (factory_id, day, recipient)
);
"""


@dataclass(frozen=True)
class Factory:
    factory_id: str
    name_ko: str
    name_en: str
    timezone: str
    created_at: str


@dataclass(frozen=True)
class Machine:
    factory_id: str
    machine_id: str
    machine_type: str
    model: str
    install_date: date | None


@dataclass(frozen=True)
class Sensor:
    factory_id: str
    machine_id: str
    sensor: str
    unit: str
    min_value: float | None
    max_value: float | None
    interval_s: float


@dataclass(frozen=True)
class IngestRun:
    ingest_id: str
    factory_id: str
    source_file: str
    file_sha256: str
    table_name: str
    started_at: str
    finished_at: str | None
    status: str
    rows_read: int
    accepted: int
    duplicate: int
    quarantined: int
    message: str


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class Registry:
    """Factories, machines, sensors and ingest runs of one hub (``<data_dir>/registry.sqlite``)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        con = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        try:
            con.executescript(_DDL)
        finally:
            con.close()

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        con = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        try:
            con.execute("PRAGMA foreign_keys = ON")
            con.execute("PRAGMA secure_delete = ON")
            con.execute("PRAGMA journal_mode = DELETE")
            con.execute("BEGIN IMMEDIATE")
            try:
                yield con
            except BaseException:
                con.execute("ROLLBACK")
                raise
            con.execute("COMMIT")
        finally:
            con.close()

    def transaction(self) -> AbstractContextManager[sqlite3.Connection]:
        """One write transaction (``BEGIN IMMEDIATE``) on the registry, for the modules that keep
        their state here (alerts, calendars): committed on exit, rolled back on any exception."""
        return self._connect()

    def _query(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._connect() as con:
            return con.execute(sql, params).fetchall()

    # --- factories -------------------------------------------------------------------------
    def add_factory(self, spec: FactorySpec, *, exist_ok: bool = False) -> Factory:
        with self._connect() as con:
            row = con.execute(
                "SELECT 1 FROM factories WHERE factory_id = ?", (spec.id,)
            ).fetchone()
            if row and not exist_ok:
                raise AlreadyExistsError(f"factory {spec.id!r} is already registered")
            con.execute(
                "INSERT INTO factories (factory_id, name_ko, name_en, timezone, created_at) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (factory_id) DO UPDATE SET "
                "name_ko = excluded.name_ko, name_en = excluded.name_en, timezone = excluded.timezone",
                (spec.id, spec.name_ko, spec.name_en, spec.timezone, _now()),
            )
        return self.factory(spec.id)

    def factory(self, factory_id: str) -> Factory:
        validate_factory_id(factory_id)
        rows = self._query(
            "SELECT factory_id, name_ko, name_en, timezone, created_at FROM factories "
            "WHERE factory_id = ?",
            (factory_id,),
        )
        if not rows:
            raise NotFoundError(f"factory {factory_id!r} is not registered")
        return Factory(*rows[0])

    def factories(self) -> list[Factory]:
        rows = self._query(
            "SELECT factory_id, name_ko, name_en, timezone, created_at FROM factories "
            "ORDER BY factory_id"
        )
        return [Factory(*r) for r in rows]

    def remove_factory(self, factory_id: str) -> None:
        """Delete the factory and everything registered under it, then compact the file."""
        validate_factory_id(factory_id)
        with self._connect() as con:
            for table in (
                "reports_sent", "report_recipients", "pipeline_run_factories", "login_failures", "users", "alert_feedback", "alerts", "machine_consequences", "factory_calendars",
                "sensor_days", "ingest_runs", "model_sharing", "sensors", "machines", "factories",
            ):  # fmt: skip
                con.execute(f"DELETE FROM {table} WHERE factory_id = ?", (factory_id,))  # noqa: S608
        # VACUUM rebuilds the file so no freed page keeps old bytes (secure_delete zeroes them too).
        con = sqlite3.connect(self.path, isolation_level=None)
        try:
            con.execute("VACUUM")
        finally:
            con.close()

    # --- machines and sensors --------------------------------------------------------------
    def add_machine(self, factory_id: str, spec: MachineSpec, *, replace: bool = False) -> Machine:
        self.factory(factory_id)
        with self._connect() as con:
            exists = con.execute(
                "SELECT 1 FROM machines WHERE factory_id = ? AND machine_id = ?",
                (factory_id, spec.id),
            ).fetchone()
            if exists and not replace:
                raise AlreadyExistsError(
                    f"machine {spec.id!r} is already registered in factory {factory_id!r}"
                )
            con.execute(
                "INSERT INTO machines (factory_id, machine_id, machine_type, model, install_date) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (factory_id, machine_id) DO UPDATE SET "
                "machine_type = excluded.machine_type, model = excluded.model, "
                "install_date = excluded.install_date",
                (
                    factory_id,
                    spec.id,
                    spec.type,
                    spec.model,
                    spec.install_date.isoformat() if spec.install_date else None,
                ),
            )
            for sensor in spec.sensors:
                self._upsert_sensor(con, factory_id, spec.id, sensor)
        return self.machine(factory_id, spec.id)

    @staticmethod
    def _upsert_sensor(
        con: sqlite3.Connection, factory_id: str, machine_id: str, sensor: SensorSpec
    ) -> None:
        con.execute(
            "INSERT INTO sensors (factory_id, machine_id, sensor, unit, min_value, max_value, "
            "interval_s) VALUES (?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (factory_id, machine_id, sensor) DO UPDATE SET unit = excluded.unit, "
            "min_value = excluded.min_value, max_value = excluded.max_value, "
            "interval_s = excluded.interval_s",
            (factory_id, machine_id, sensor.name, sensor.unit, sensor.min, sensor.max, sensor.interval_s),
        )

    def add_sensor(self, factory_id: str, machine_id: str, spec: SensorSpec) -> None:
        self.machine(factory_id, machine_id)
        with self._connect() as con:
            self._upsert_sensor(con, factory_id, machine_id, spec)

    def machine(self, factory_id: str, machine_id: str) -> Machine:
        validate_factory_id(factory_id)
        validate_machine_id(machine_id)
        rows = self._query(
            "SELECT factory_id, machine_id, machine_type, model, install_date FROM machines "
            "WHERE factory_id = ? AND machine_id = ?",
            (factory_id, machine_id),
        )
        if not rows:
            raise NotFoundError(f"machine {machine_id!r} is not registered in factory {factory_id!r}")
        return _machine(rows[0])

    def machines(self, factory_id: str) -> list[Machine]:
        validate_factory_id(factory_id)
        rows = self._query(
            "SELECT factory_id, machine_id, machine_type, model, install_date FROM machines "
            "WHERE factory_id = ? ORDER BY machine_id",
            (factory_id,),
        )
        return [_machine(r) for r in rows]

    def sensors(self, factory_id: str, machine_id: str | None = None) -> list[Sensor]:
        validate_factory_id(factory_id)
        sql = (
            "SELECT factory_id, machine_id, sensor, unit, min_value, max_value, interval_s "
            "FROM sensors WHERE factory_id = ?"
        )
        params: tuple[Any, ...] = (factory_id,)
        if machine_id is not None:
            validate_machine_id(machine_id)
            sql += " AND machine_id = ?"
            params += (machine_id,)
        return [Sensor(*r) for r in self._query(sql + " ORDER BY machine_id, sensor", params)]

    def register_plant(self, plant: PlantDescription, *, replace: bool = True) -> Factory:
        """Register (or update) a factory with all its machines and sensors in one go."""
        factory = self.add_factory(plant.factory, exist_ok=replace)
        for machine in plant.machines:
            self.add_machine(plant.factory.id, machine, replace=replace)
        return factory

    # --- learning across factories ---------------------------------------------------------
    def set_model_sharing(self, factory_id: str, allowed: bool) -> None:
        """Allow (or stop) the factory's features and labels being used to train the pooled
        models of its machine types. Off unless the factory turns it on."""
        self.factory(factory_id)
        with self._connect() as con:
            con.execute(
                "INSERT INTO model_sharing (factory_id, allowed, changed_at) VALUES (?, ?, ?) "
                "ON CONFLICT (factory_id) DO UPDATE SET allowed = excluded.allowed, changed_at = excluded.changed_at",
                (factory_id, int(allowed), _now()),
            )

    def model_sharing(self, factory_id: str) -> bool:
        validate_factory_id(factory_id)
        rows = self._query("SELECT allowed FROM model_sharing WHERE factory_id = ?", (factory_id,))
        return bool(rows and rows[0][0])

    def sharing_factories(self) -> list[str]:
        """Factories that allow pooled training, in id order."""
        return [r[0] for r in self._query("SELECT factory_id FROM model_sharing WHERE allowed = 1 ORDER BY factory_id")]

    # --- history coverage ------------------------------------------------------------------
    def add_sensor_days(self, factory_id: str, days: list[tuple[str, str, str]]) -> None:
        """Record local days on which (machine, sensor) has valid data; repeats are ignored.

        Kept here rather than counted from the lake at every ingest, which would read every file
        the factory ever sent.
        """
        if not days:
            return
        with self._connect() as con:
            con.executemany(
                "INSERT OR IGNORE INTO sensor_days (factory_id, machine_id, sensor, day) VALUES (?, ?, ?, ?)",
                [(factory_id, m, s, d) for m, s, d in days],
            )

    def history_days(self, factory_id: str) -> list[tuple[str, str, int]]:
        """(machine, sensor, number of local days with data) for every sensor with data."""
        validate_factory_id(factory_id)
        return self._query(
            "SELECT machine_id, sensor, count(*) FROM sensor_days WHERE factory_id = ? "
            "GROUP BY machine_id, sensor ORDER BY machine_id, sensor",
            (factory_id,),
        )

    # --- ingest runs -----------------------------------------------------------------------
    def start_ingest(
        self, ingest_id: str, factory_id: str, source_file: str, file_sha256: str, table_name: str
    ) -> None:
        with self._connect() as con:
            con.execute(
                "INSERT INTO ingest_runs (ingest_id, factory_id, source_file, file_sha256, "
                "table_name, started_at, status) VALUES (?, ?, ?, ?, ?, ?, 'running')",
                (ingest_id, factory_id, source_file, file_sha256, table_name, _now()),
            )

    def finish_ingest(
        self,
        ingest_id: str,
        *,
        status: str,
        rows_read: int = 0,
        accepted: int = 0,
        duplicate: int = 0,
        quarantined: int = 0,
        message: str = "",
    ) -> None:
        with self._connect() as con:
            con.execute(
                "UPDATE ingest_runs SET finished_at = ?, status = ?, rows_read = ?, accepted = ?, "
                "duplicate = ?, quarantined = ?, message = ? WHERE ingest_id = ?",
                (_now(), status, rows_read, accepted, duplicate, quarantined, message, ingest_id),
            )

    def completed_ingest(self, factory_id: str, file_sha256: str, table_name: str) -> IngestRun | None:
        """The last successful ingest of a file with this content, if any."""
        rows = self._query(
            f"SELECT {_RUN_COLUMNS} FROM ingest_runs WHERE factory_id = ? AND file_sha256 = ? "  # noqa: S608
            "AND table_name = ? AND status = 'ok' ORDER BY started_at DESC LIMIT 1",
            (factory_id, file_sha256, table_name),
        )
        return IngestRun(*rows[0]) if rows else None

    def ingest_runs(self, factory_id: str, limit: int = 100) -> list[IngestRun]:
        validate_factory_id(factory_id)
        rows = self._query(
            f"SELECT {_RUN_COLUMNS} FROM ingest_runs WHERE factory_id = ? "  # noqa: S608
            "ORDER BY started_at DESC, rowid DESC LIMIT ?",
            (factory_id, limit),
        )
        return [IngestRun(*r) for r in rows]


_RUN_COLUMNS = (
    "ingest_id, factory_id, source_file, file_sha256, table_name, started_at, finished_at, status, "
    "rows_read, accepted, duplicate, quarantined, message"
)


def _machine(row: tuple[Any, ...]) -> Machine:
    factory_id, machine_id, machine_type, model, install = row
    return Machine(
        factory_id, machine_id, machine_type, model, date.fromisoformat(install) if install else None
    )
