"""Alerts for plant managers and the feedback they give on them, kept in the hub's registry.

The daily solve turns each machine's scores into :class:`AlertCandidate` s (one per machine and
failure mode it thinks needs attention); :meth:`AlertBook.apply_day` folds a processed local day
into the factory's alerts in one transaction:

* one alert per problem: a candidate for a (machine, mode) that already has an unresolved alert
  updates that alert (severity, last day seen, details) instead of repeating it; otherwise a new
  alert is opened;
* an open alert nobody acknowledged escalates one level per ``escalate_after_days`` of its
  severity, up to ``max_escalation``;
* an alert whose machine had no candidate for ``clear_days`` days is resolved by the system.

Alerts go ``open -> acknowledged -> resolved``; resolved is final and a new problem opens a new
alert. Managers say whether an alert was a ``true_problem`` (naming the failure mode they found)
or a ``false_alarm``; the latest verdict per alert counts. False alarms tell the anomaly detector
those days were normal (:meth:`AlertBook.false_alarm_spans`), confirmed problems are labelled
events for the failure models (:meth:`AlertBook.confirmed_problems`).

Every query is scoped to the book's factory: another factory's alert id behaves exactly like an id
that does not exist.
"""

from __future__ import annotations

import json
import logging
import re
import sqlite3
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Final, Literal

import polars as pl
from pydantic import BaseModel, ConfigDict, Field, field_validator

from analytics.errors import HubError, NotFoundError
from analytics.schemas import validate_factory_id, validate_machine_id
from analytics.solutions.knowledge import UNKNOWN_MODE
from analytics.store.hub import Hub

log = logging.getLogger(__name__)

Status = Literal["open", "acknowledged", "resolved"]
Severity = Literal["watch", "warning", "critical"]
Verdict = Literal["true_problem", "false_alarm"]

# Lifecycle order; resolved is final.
STATUSES: Final[tuple[Status, ...]] = ("open", "acknowledged", "resolved")
# Least to most severe, so a severity's index is its rank.
SEVERITIES: Final[tuple[Severity, ...]] = ("watch", "warning", "critical")
VERDICTS: Final[tuple[Verdict, ...]] = ("true_problem", "false_alarm")
# Who resolved an alert whose problem went away on its own.
SYSTEM_CLEARED: Final = "system:cleared"

# Failure modes are plain identifiers, like the knowledge base's.
_MODE_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
_ALERT_ID_PATTERN = re.compile(r"^[0-9a-f]{32}$")
# The resolution note lives in details_json under this key (the alerts table has no column for it).
_NOTE_KEY = "_resolution_note"
_MAX_USER_LEN = 200
_MAX_NOTE_LEN = 4000

_ALERT_COLUMNS = (
    "alert_id, factory_id, machine_id, mode, status, severity, opened_day, last_day, opened_at, "
    "updated_at, acknowledged_at, acknowledged_by, resolved_at, resolved_by, escalation, details_json"
)


class AlertStateError(HubError, ValueError):
    """An alert lifecycle step that is not allowed from the alert's current status."""


def _check_mode(value: object, what: str = "failure mode") -> str:
    if not isinstance(value, str) or not _MODE_PATTERN.fullmatch(value):
        raise ValueError(
            f"invalid {what} {value!r}: must be lower case letters, digits and _ "
            "(starting with a letter)"
        )
    return value


def _check_day(value: object, what: str = "day") -> date:
    # datetime is a subclass of date; a timestamp here would silently compare by date only.
    if not isinstance(value, date) or isinstance(value, datetime):
        raise TypeError(f"{what} must be a datetime.date, got {type(value).__name__}")
    return value


def _dump_details(details: Mapping[str, Any]) -> str:
    """Canonical JSON of a details dict, so equal details give equal text (idempotent updates)."""
    if not isinstance(details, Mapping):
        raise TypeError(f"details must be a dict, got {type(details).__name__}")
    if _NOTE_KEY in details:
        raise ValueError(
            f"details key {_NOTE_KEY!r} is reserved for the resolution note"
        )
    try:
        return _canonical_json(details)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"details must be JSON-serialisable: {exc}") from exc


def _canonical_json(value: Mapping[str, Any]) -> str:
    return json.dumps(
        value,
        sort_keys=True,
        ensure_ascii=False,
        allow_nan=False,
        separators=(",", ":"),
    )


def _stamp(now: datetime | None) -> str:
    """UTC ISO timestamp with microseconds (feedback order relies on it)."""
    if now is None:
        now = datetime.now(UTC)
    elif now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    return now.astimezone(UTC).isoformat(timespec="microseconds")


def _check_user(user: object) -> str:
    if not isinstance(user, str) or not user.strip():
        raise ValueError("user must be a non-empty string")
    user = user.strip()
    if len(user) > _MAX_USER_LEN:
        raise ValueError(f"user must be at most {_MAX_USER_LEN} characters")
    # "system:..." marks what the hub did by itself; a person must not be able to pose as it.
    if user.startswith("system:"):
        raise ValueError(f"user {user!r}: the 'system:' prefix is reserved for the hub")
    return user


def _check_note(note: object) -> str:
    if not isinstance(note, str):
        raise TypeError(f"note must be a string, got {type(note).__name__}")
    if len(note) > _MAX_NOTE_LEN:
        raise ValueError(f"note must be at most {_MAX_NOTE_LEN} characters")
    return note


@dataclass(frozen=True)
class AlertCandidate:
    """What the daily solve found on one machine on one local day: a failure mode (or
    ``"unknown"`` when no rule matched), how severe it is and the details to show."""

    machine_id: str
    mode: str
    severity: Severity
    day: date
    # rule_id, health_index, probability, reasons_ko/en, action_ko/en, evidence, ... (JSON only)
    details: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # Fail where the candidate is built rather than half-way through a day's transaction.
        validate_machine_id(self.machine_id)
        _check_mode(self.mode)
        if self.severity not in SEVERITIES:
            raise ValueError(
                f"severity must be one of {SEVERITIES}, got {self.severity!r}"
            )
        _check_day(self.day)
        _dump_details(self.details)


@dataclass(frozen=True)
class Alert:
    """One row of the ``alerts`` table, parsed."""

    alert_id: str
    factory_id: str
    machine_id: str
    mode: str
    status: Status
    severity: Severity
    opened_day: date
    last_day: date
    opened_at: datetime
    updated_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    resolved_at: datetime | None
    resolved_by: str | None
    escalation: int
    details: dict[str, Any]
    resolution_note: str = ""


@dataclass(frozen=True)
class DayOutcome:
    """Alert ids :meth:`AlertBook.apply_day` changed, by what it did to them. ``updated`` lists
    only alerts whose row actually changed, so re-applying a day reports nothing."""

    opened: list[str]
    updated: list[str]
    escalated: list[str]
    resolved: list[str]


class AlertSettings(BaseModel):
    """How alerts escalate and clear; passed by the caller of :meth:`AlertBook.apply_day`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # An open, unacknowledged alert of this severity escalates one level per this many days of
    # age (day - opened_day); severities not listed never escalate.
    escalate_after_days: dict[str, int] = Field(
        default_factory=lambda: {"critical": 1, "warning": 3}
    )
    max_escalation: int = Field(default=2, ge=0)
    # An unresolved alert with no candidate for this many days is resolved by the system.
    clear_days: int = Field(default=2, ge=1)

    @field_validator("escalate_after_days")
    @classmethod
    def _escalation_periods(cls, value: dict[str, int]) -> dict[str, int]:
        for severity, days in value.items():
            if severity not in SEVERITIES:
                raise ValueError(
                    f"unknown severity {severity!r}: expected one of {SEVERITIES}"
                )
            if isinstance(days, bool) or not isinstance(days, int) or days < 1:
                raise ValueError(
                    f"escalation period of {severity!r} must be a whole number of days >= 1"
                )
        return value


def _parse_ts(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value is not None else None


def _alert(row: Sequence[Any]) -> Alert:
    (alert_id, factory_id, machine_id, mode, status, severity, opened_day, last_day, opened_at,
     updated_at, ack_at, ack_by, res_at, res_by, escalation, details_json) = row  # fmt: skip
    details = json.loads(details_json)
    note = details.pop(_NOTE_KEY, "")
    return Alert(
        alert_id=alert_id,
        factory_id=factory_id,
        machine_id=machine_id,
        mode=mode,
        status=status,
        severity=severity,
        opened_day=date.fromisoformat(opened_day),
        last_day=date.fromisoformat(last_day),
        opened_at=datetime.fromisoformat(opened_at),
        updated_at=datetime.fromisoformat(updated_at),
        acknowledged_at=_parse_ts(ack_at),
        acknowledged_by=ack_by,
        resolved_at=_parse_ts(res_at),
        resolved_by=res_by,
        escalation=int(escalation),
        details=details,
        resolution_note=note,
    )


_FEEDBACK_SCHEMA: Final = {
    "feedback_id": pl.String,
    "alert_id": pl.String,
    "machine_id": pl.String,
    "mode": pl.String,
    "opened_day": pl.Date,
    "last_day": pl.Date,
    "verdict": pl.String,
    "failure_mode": pl.String,
    "note": pl.String,
    "given_by": pl.String,
    "given_at": pl.Datetime("us", "UTC"),
    "latest": pl.Boolean,
}
_SPAN_SCHEMA: Final = {
    "machine_id": pl.String,
    "start_day": pl.Date,
    "end_day": pl.Date,
    "given_at": pl.Datetime("us", "UTC"),
}
_PROBLEM_SCHEMA: Final = {
    "machine_id": pl.String,
    "day": pl.Date,
    "failure_mode": pl.String,
    "alert_id": pl.String,
}
# Feedback of the factory with the alert it is about; `latest` marks each alert's latest verdict
# (rowid breaks ties of equal timestamps: the later insert wins).
_FEEDBACK_SQL = (
    "SELECT f.feedback_id, f.alert_id, a.machine_id, a.mode, a.opened_day, a.last_day, f.verdict, "
    "f.failure_mode, f.note, f.given_by, f.given_at, "
    "ROW_NUMBER() OVER (PARTITION BY f.alert_id ORDER BY f.given_at DESC, f.rowid DESC) = 1 "
    "AS latest, f.rowid AS seq "
    "FROM alert_feedback f JOIN alerts a ON a.alert_id = f.alert_id AND a.factory_id = f.factory_id "
    "WHERE f.factory_id = ?"
)


class AlertBook:
    """The alerts of one factory and the feedback given on them."""

    def __init__(self, hub: Hub, factory_id: str) -> None:
        validate_factory_id(factory_id)
        hub.registry.factory(factory_id)  # NotFoundError for an unregistered factory
        self.hub = hub
        self.factory_id = factory_id

    # --- the daily fold ----------------------------------------------------------------------
    def apply_day(
        self,
        day: date,
        candidates: Sequence[AlertCandidate],
        *,
        settings: AlertSettings,
        now: datetime | None = None,
    ) -> DayOutcome:
        """Fold one processed local day's candidates into the alerts, in one transaction.

        Re-applying a day with the same candidates changes nothing (not even ``updated_at``);
        applying a day older than an alert's ``last_day`` leaves that alert alone and never
        reopens a resolved problem that had already been seen on or after that day.
        """
        _check_day(day)
        stamp = _stamp(now)
        by_key: dict[tuple[str, str], AlertCandidate] = {}
        for candidate in candidates:
            if not isinstance(candidate, AlertCandidate):
                raise TypeError(
                    f"candidates must be AlertCandidate, got {type(candidate).__name__}"
                )
            if candidate.day != day:
                raise ValueError(
                    f"candidate for {candidate.machine_id}/{candidate.mode} is for {candidate.day}, "
                    f"not the day being applied ({day})"
                )
            key = (candidate.machine_id, candidate.mode)
            # Two candidates for one problem would make the result depend on their order.
            if key in by_key:
                raise ValueError(
                    f"two candidates for machine {key[0]!r}, mode {key[1]!r} on {day}"
                )
            by_key[key] = candidate

        opened: list[str] = []
        updated: list[str] = []
        with self.hub.registry.transaction() as con:
            self._check_machines(con, sorted({m for m, _ in by_key}))
            for candidate in by_key.values():
                alert_id, what = self._fold(con, candidate, stamp)
                if alert_id is not None:
                    (opened if what == "opened" else updated).append(alert_id)
            escalated = self._escalate(con, day, settings, stamp)
            resolved = self._clear(con, day, settings, stamp)
        outcome = DayOutcome(
            opened=opened, updated=updated, escalated=escalated, resolved=resolved
        )
        log.info(
            "alerts of %s on %s: %d opened, %d updated, %d escalated, %d cleared",
            self.factory_id, day, len(opened), len(updated), len(escalated), len(resolved),
        )  # fmt: skip
        return outcome

    def _check_machines(
        self, con: sqlite3.Connection, machine_ids: Sequence[str]
    ) -> None:
        for machine_id in machine_ids:
            row = con.execute(
                "SELECT 1 FROM machines WHERE factory_id = ? AND machine_id = ?",
                (self.factory_id, machine_id),
            ).fetchone()
            if row is None:
                raise NotFoundError(
                    f"machine {machine_id!r} is not registered in factory {self.factory_id!r}"
                )

    def _fold(
        self, con: sqlite3.Connection, candidate: AlertCandidate, stamp: str
    ) -> tuple[str | None, str]:
        """Open or update the alert of one candidate: (alert id or None if untouched, what)."""
        day = candidate.day.isoformat()
        details_json = _dump_details(candidate.details)
        key = (self.factory_id, candidate.machine_id, candidate.mode)
        row = con.execute(
            "SELECT alert_id, severity, last_day, details_json FROM alerts "
            "WHERE factory_id = ? AND machine_id = ? AND mode = ? AND status != 'resolved'",
            key,
        ).fetchone()
        if row is not None:
            alert_id, severity, last_day, old_details = row
            # ISO dates compare as text. A replay of a day before the alert's last day is a no-op:
            # later data has already spoken for this alert.
            if day < last_day:
                return None, ""
            if (severity, last_day, old_details) == (
                candidate.severity,
                day,
                details_json,
            ):
                return None, ""
            con.execute(
                "UPDATE alerts SET severity = ?, last_day = ?, details_json = ?, updated_at = ? "
                "WHERE alert_id = ? AND factory_id = ?",
                (
                    candidate.severity,
                    day,
                    details_json,
                    stamp,
                    alert_id,
                    self.factory_id,
                ),
            )
            return alert_id, "updated"
        # A resolved alert that already covered this day (or a later one) means this is a replay
        # of a problem someone (or the system) has closed: do not reopen it.
        covered = con.execute(
            "SELECT 1 FROM alerts WHERE factory_id = ? AND machine_id = ? AND mode = ? "
            "AND last_day >= ? LIMIT 1",
            (*key, day),
        ).fetchone()
        if covered is not None:
            return None, ""
        alert_id = uuid.uuid4().hex
        con.execute(
            "INSERT INTO alerts (alert_id, factory_id, machine_id, mode, status, severity, "
            "opened_day, last_day, opened_at, updated_at, escalation, details_json) "
            "VALUES (?, ?, ?, ?, 'open', ?, ?, ?, ?, ?, 0, ?)",
            (alert_id, *key, candidate.severity, day, day, stamp, stamp, details_json),
        )
        return alert_id, "opened"

    def _escalate(
        self, con: sqlite3.Connection, day: date, settings: AlertSettings, stamp: str
    ) -> list[str]:
        """Raise the escalation level of open, unacknowledged alerts by their age on ``day``."""
        cutoff = (day - timedelta(days=settings.clear_days)).isoformat()
        # Alerts about to be cleared today are left alone: their problem has gone away.
        rows = con.execute(
            "SELECT alert_id, severity, opened_day, escalation FROM alerts "
            "WHERE factory_id = ? AND status = 'open' AND last_day > ? ORDER BY alert_id",
            (self.factory_id, cutoff),
        ).fetchall()
        escalated = []
        for alert_id, severity, opened_day, level in rows:
            period = settings.escalate_after_days.get(severity)
            if period is None:
                continue
            age = (day - date.fromisoformat(opened_day)).days
            # Levels never go down: a replay of an older day or a lower severity must not take
            # back a reminder that was already sent.
            new_level = min(settings.max_escalation, max(age, 0) // period)
            if new_level > level:
                con.execute(
                    "UPDATE alerts SET escalation = ?, updated_at = ? "
                    "WHERE alert_id = ? AND factory_id = ?",
                    (new_level, stamp, alert_id, self.factory_id),
                )
                escalated.append(alert_id)
        return escalated

    def _clear(
        self, con: sqlite3.Connection, day: date, settings: AlertSettings, stamp: str
    ) -> list[str]:
        """Resolve unresolved alerts with no candidate for ``clear_days`` days."""
        cutoff = (day - timedelta(days=settings.clear_days)).isoformat()
        ids = [
            r[0]
            for r in con.execute(
                "SELECT alert_id FROM alerts WHERE factory_id = ? AND status != 'resolved' "
                "AND last_day <= ? ORDER BY alert_id",
                (self.factory_id, cutoff),
            )
        ]
        con.executemany(
            "UPDATE alerts SET status = 'resolved', resolved_at = ?, resolved_by = ?, "
            "updated_at = ? WHERE alert_id = ? AND factory_id = ?",
            [(stamp, SYSTEM_CLEARED, stamp, a, self.factory_id) for a in ids],
        )
        return ids

    # --- people's actions --------------------------------------------------------------------
    def _row(self, con: sqlite3.Connection, alert_id: str) -> Alert:
        # One message for malformed, unknown and other factories' ids: nothing to tell them apart.
        missing = NotFoundError(
            f"alert {alert_id!r} not found in factory {self.factory_id!r}"
        )
        if not isinstance(alert_id, str) or not _ALERT_ID_PATTERN.fullmatch(alert_id):
            raise missing
        row = con.execute(
            f"SELECT {_ALERT_COLUMNS} FROM alerts WHERE alert_id = ? AND factory_id = ?",
            (alert_id, self.factory_id),
        ).fetchone()
        if row is None:
            raise missing
        return _alert(row)

    def acknowledge(
        self, alert_id: str, user: str, *, now: datetime | None = None
    ) -> Alert:
        """Mark an open alert as seen by ``user``; only open alerts can be acknowledged."""
        user = _check_user(user)
        stamp = _stamp(now)
        with self.hub.registry.transaction() as con:
            alert = self._row(con, alert_id)
            if alert.status == "acknowledged":
                raise AlertStateError(
                    f"alert {alert_id!r} was already acknowledged by {alert.acknowledged_by} "
                    f"at {alert.acknowledged_at}"
                )
            if alert.status == "resolved":
                raise AlertStateError(
                    f"alert {alert_id!r} is resolved (by {alert.resolved_by}); a resolved alert "
                    "cannot be acknowledged"
                )
            self._set_acknowledged(con, alert_id, user, stamp)
            alert = self._row(con, alert_id)
        log.info("alert %s of %s acknowledged by %s", alert_id, self.factory_id, user)
        return alert

    def _set_acknowledged(
        self, con: sqlite3.Connection, alert_id: str, user: str, stamp: str
    ) -> None:
        con.execute(
            "UPDATE alerts SET status = 'acknowledged', acknowledged_at = ?, acknowledged_by = ?, "
            "updated_at = ? WHERE alert_id = ? AND factory_id = ? AND status = 'open'",
            (stamp, user, stamp, alert_id, self.factory_id),
        )

    def resolve(
        self, alert_id: str, user: str, note: str = "", *, now: datetime | None = None
    ) -> Alert:
        """Close an open or acknowledged alert; resolved is final."""
        user = _check_user(user)
        note = _check_note(note)
        stamp = _stamp(now)
        with self.hub.registry.transaction() as con:
            alert = self._row(con, alert_id)
            if alert.status == "resolved":
                raise AlertStateError(
                    f"alert {alert_id!r} is already resolved (by {alert.resolved_by} at "
                    f"{alert.resolved_at}); a new problem opens a new alert"
                )
            details = dict(alert.details)
            if note:
                details[_NOTE_KEY] = note
            con.execute(
                "UPDATE alerts SET status = 'resolved', resolved_at = ?, resolved_by = ?, "
                "updated_at = ?, details_json = ? WHERE alert_id = ? AND factory_id = ?",
                (
                    stamp,
                    user,
                    stamp,
                    _canonical_json(details),
                    alert_id,
                    self.factory_id,
                ),
            )
            alert = self._row(con, alert_id)
        log.info("alert %s of %s resolved by %s", alert_id, self.factory_id, user)
        return alert

    def give_feedback(
        self,
        alert_id: str,
        verdict: Verdict,
        *,
        user: str,
        failure_mode: str | None = None,
        note: str = "",
        now: datetime | None = None,
    ) -> str:
        """Record whether an alert was a true problem (and which failure mode) or a false alarm;
        returns the feedback id. Feedback on an open alert also acknowledges it. Every feedback is
        kept; the latest one per alert is the verdict that counts."""
        user = _check_user(user)
        note = _check_note(note)
        if verdict not in VERDICTS:
            raise ValueError(f"verdict must be one of {VERDICTS}, got {verdict!r}")
        if verdict == "true_problem":
            if failure_mode is None:
                raise ValueError(
                    "a true_problem verdict needs the failure_mode that was found"
                )
            _check_mode(failure_mode)
        elif failure_mode is not None:
            raise ValueError("a false_alarm verdict takes no failure_mode")
        stamp = _stamp(now)
        feedback_id = uuid.uuid4().hex
        with self.hub.registry.transaction() as con:
            alert = self._row(con, alert_id)
            if alert.status == "open":
                self._set_acknowledged(con, alert_id, user, stamp)
            con.execute(
                "INSERT INTO alert_feedback (feedback_id, alert_id, factory_id, machine_id, verdict, "
                "failure_mode, note, given_by, given_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (feedback_id, alert_id, self.factory_id, alert.machine_id, verdict, failure_mode,
                 note, user, stamp),
            )  # fmt: skip
        log.info(
            "feedback %s on alert %s of %s: %s",
            feedback_id,
            alert_id,
            self.factory_id,
            verdict,
        )
        return feedback_id

    # --- reading -----------------------------------------------------------------------------
    def alert(self, alert_id: str) -> Alert:
        """One alert of this factory; NotFoundError for any other id."""
        with self.hub.registry.transaction() as con:
            return self._row(con, alert_id)

    def alerts(
        self,
        status: str | Sequence[str] | None = None,
        machine_id: str | None = None,
        since: date | None = None,
    ) -> list[Alert]:
        """The factory's alerts, most severe first, then newest first. ``status`` filters by one
        or several statuses, ``since`` keeps alerts seen on or after that day (``last_day``)."""
        sql = f"SELECT {_ALERT_COLUMNS} FROM alerts WHERE factory_id = ?"
        params: list[Any] = [self.factory_id]
        if status is not None:
            statuses = [status] if isinstance(status, str) else list(status)
            for s in statuses:
                if s not in STATUSES:
                    raise ValueError(f"status must be one of {STATUSES}, got {s!r}")
            if not statuses:
                return []
            sql += f" AND status IN ({', '.join('?' * len(statuses))})"
            params += statuses
        if machine_id is not None:
            validate_machine_id(machine_id)
            sql += " AND machine_id = ?"
            params.append(machine_id)
        if since is not None:
            sql += " AND last_day >= ?"
            params.append(_check_day(since, "since").isoformat())
        with self.hub.registry.transaction() as con:
            found = [_alert(r) for r in con.execute(sql, params)]
        rank = {s: i for i, s in enumerate(SEVERITIES)}
        return sorted(
            found,
            key=lambda a: (
                -rank[a.severity],
                -a.opened_day.toordinal(),
                a.machine_id,
                a.mode,
                a.alert_id,
            ),
        )

    def open_alerts(self) -> list[Alert]:
        """Alerts not yet resolved (open or acknowledged), most severe first."""
        return self.alerts(status=("open", "acknowledged"))

    def feedback(self, machine_id: str | None = None) -> pl.DataFrame:
        """Every feedback given in this factory, oldest first, with its alert's machine, mode,
        opened_day and last_day; ``latest`` marks the verdict that counts for each alert."""
        sql = _FEEDBACK_SQL
        params: list[Any] = [self.factory_id]
        if machine_id is not None:
            validate_machine_id(machine_id)
            # Every feedback of an alert shares its machine, so filtering keeps `latest` right.
            sql += " AND a.machine_id = ?"
            params.append(machine_id)
        with self.hub.registry.transaction() as con:
            rows = con.execute(
                f"SELECT * FROM ({sql}) ORDER BY given_at, seq", params
            ).fetchall()
        data: dict[str, list[Any]] = {name: [] for name in _FEEDBACK_SCHEMA}
        for row in rows:
            (
                fid,
                aid,
                mid,
                mode,
                opened,
                last,
                verdict,
                fmode,
                note,
                by,
                at,
                latest,
                _seq,
            ) = row
            data["feedback_id"].append(fid)
            data["alert_id"].append(aid)
            data["machine_id"].append(mid)
            data["mode"].append(mode)
            data["opened_day"].append(date.fromisoformat(opened))
            data["last_day"].append(date.fromisoformat(last))
            data["verdict"].append(verdict)
            data["failure_mode"].append(fmode)
            data["note"].append(note)
            data["given_by"].append(by)
            data["given_at"].append(datetime.fromisoformat(at))
            data["latest"].append(bool(latest))
        return pl.DataFrame(data, schema=_FEEDBACK_SCHEMA)

    def _latest(self, machine_id: str | None = None) -> pl.DataFrame:
        return self.feedback(machine_id).filter(pl.col("latest"))

    def false_alarm_spans(self, machine_id: str | None = None) -> pl.DataFrame:
        """Days (opened_day..last_day) of each alert whose latest verdict is a false alarm: windows
        the anomaly detector should treat as normal; ``given_at``: when the verdict was given (a
        model fitted before it has not learned them yet)."""
        latest = self._latest(machine_id).filter(pl.col("verdict") == "false_alarm")
        return (
            latest.select(
                "machine_id",
                pl.col("opened_day").alias("start_day"),
                pl.col("last_day").alias("end_day"),
                "given_at",
            )
            .sort("machine_id", "start_day", "end_day")
            .cast(_SPAN_SCHEMA)
        )

    def confirmed_problems(self) -> pl.DataFrame:
        """Alerts whose latest verdict is a true problem, as labelled events for the failure
        models: the machine, the alert's last day, the failure mode found and the alert id."""
        latest = self._latest().filter(pl.col("verdict") == "true_problem")
        return (
            latest.select(
                "machine_id",
                pl.col("last_day").alias("day"),
                "failure_mode",
                "alert_id",
            )
            .sort("machine_id", "day", "alert_id")
            .cast(_PROBLEM_SCHEMA)
        )


__all__ = [
    "SEVERITIES",
    "STATUSES",
    "SYSTEM_CLEARED",
    "UNKNOWN_MODE",
    "VERDICTS",
    "Alert",
    "AlertBook",
    "AlertCandidate",
    "AlertSettings",
    "AlertStateError",
    "DayOutcome",
]
