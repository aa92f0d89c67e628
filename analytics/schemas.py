"""Canonical schemas and identifiers of the hub.

Readings are long form: one row per (factory, machine, sensor, timestamp). Timestamps are UTC with
microsecond precision; the lake partitions each factory's tables by the factory's *local* date so a
daily job reads exactly one partition.
"""

from __future__ import annotations

import json
import re
from datetime import date, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import polars as pl
import pyarrow as pa
import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from analytics.errors import InputFileError, InvalidIdentifierError

# Factory ids name directories: lower case only, so two ids never collide on a case-insensitive
# file system. Machine ids and sensor names may carry upper case as factories write them.
FACTORY_ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{1,62}$")
MACHINE_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$")
SENSOR_NAME_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,62}$")
# Dashboard user names: lower case like factory ids (so "Kim" and "kim" are never two accounts),
# plus '.' for "kim.minsu"; 2-64 characters. No '@', ':' or spaces: a name is never mistaken for an
# e-mail address or for the "system:" actors the alerts reserve.
USERNAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")

_ID_CHARACTERS = "letters, digits, '-' and '_' only; no paths, dots, spaces or quotes"


def _check(pattern: re.Pattern[str], kind: str, value: object, characters: str = _ID_CHARACTERS) -> str:
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise InvalidIdentifierError(f"invalid {kind} {value!r}: must match {pattern.pattern} ({characters})")
    return value


def validate_factory_id(value: object) -> str:
    """Return ``value`` if it is a valid factory id, else raise :class:`InvalidIdentifierError`."""
    return _check(FACTORY_ID_PATTERN, "factory id", value)


def validate_machine_id(value: object) -> str:
    """Return ``value`` if it is a valid machine id, else raise :class:`InvalidIdentifierError`."""
    return _check(MACHINE_ID_PATTERN, "machine id", value)


def validate_sensor_name(value: object) -> str:
    """Return ``value`` if it is a valid sensor name, else raise :class:`InvalidIdentifierError`."""
    return _check(SENSOR_NAME_PATTERN, "sensor name", value)


def validate_username(value: object) -> str:
    """Return ``value`` if it is a valid dashboard user name, else raise :class:`InvalidIdentifierError`."""
    return _check(
        USERNAME_PATTERN,
        "user name",
        value,
        "2-64 lower case letters, digits, '.', '-' and '_', starting with a letter or digit",
    )


def validate_timezone(value: str) -> str:
    """Return ``value`` if it is an IANA time zone name."""
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {value!r}") from exc
    return value


FactoryId = Annotated[str, AfterValidator(validate_factory_id)]
MachineId = Annotated[str, AfterValidator(validate_machine_id)]
SensorName = Annotated[str, AfterValidator(validate_sensor_name)]
TimeZoneName = Annotated[str, AfterValidator(validate_timezone)]


class EventKind(StrEnum):
    MAINTENANCE = "maintenance"
    FAILURE = "failure"
    ALARM = "alarm"
    REPAIR = "repair"
    INSPECTION = "inspection"


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|sec|min|m|h|d)?\s*$")
_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "sec": 1.0, "min": 60.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration_seconds(value: Any) -> float:
    """Seconds in ``value``: a number of seconds, a timedelta, or text such as ``"5min"``."""
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, int | float):
        return float(value)
    match = _DURATION.match(str(value))
    if not match:
        raise ValueError(f"cannot read duration {value!r} (use e.g. 1s, 500ms, 5min, 1h)")
    return float(match.group(1)) * _DURATION_UNITS[match.group(2) or "s"]


class SensorSpec(BaseModel):
    """A sensor of a machine: what it measures and what values are physically possible."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    name: SensorName
    unit: str = ""
    min: float | None = Field(None, description="Lowest physically valid value.")
    max: float | None = Field(None, description="Highest physically valid value.")
    interval_s: float = Field(
        60.0, gt=0, alias="interval", description="Nominal sampling interval in seconds."
    )

    @field_validator("interval_s", mode="before")
    @classmethod
    def _interval(cls, value: Any) -> float:
        return parse_duration_seconds(value)

    @model_validator(mode="after")
    def _range(self) -> SensorSpec:
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"sensor {self.name}: min {self.min} is above max {self.max}")
        return self


class MachineSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    id: MachineId
    type: str = Field(..., min_length=1, max_length=64)
    model: str = ""
    install_date: date | None = None
    sensors: list[SensorSpec] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_sensors(self) -> MachineSpec:
        names = [s.name for s in self.sensors]
        if len(names) != len(set(names)):
            raise ValueError(f"machine {self.id}: sensor names repeat")
        return self


class FactorySpec(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    id: FactoryId
    name_ko: str = ""
    name_en: str = ""
    timezone: TimeZoneName = "Asia/Seoul"


class PlantDescription(BaseModel):
    """A plant description file: one factory with its machines and sensors (YAML or JSON)."""

    model_config = ConfigDict(extra="forbid")

    factory: FactorySpec
    machines: list[MachineSpec] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_machines(self) -> PlantDescription:
        ids = [m.id for m in self.machines]
        if len(ids) != len(set(ids)):
            raise ValueError("machine ids repeat")
        return self


# --- canonical tables -------------------------------------------------------------------------

TS_DTYPE = pl.Datetime("us", "UTC")

READINGS_SCHEMA: dict[str, pl.DataType] = {
    "factory_id": pl.String(),
    "machine_id": pl.String(),
    "sensor": pl.String(),
    "ts": TS_DTYPE,
    "value": pl.Float64(),
}
READINGS_KEY = ("machine_id", "sensor", "ts")

EVENTS_SCHEMA: dict[str, pl.DataType] = {
    "factory_id": pl.String(),
    "machine_id": pl.String(),
    "ts": TS_DTYPE,
    "kind": pl.String(),
    "component": pl.String(),
    "text": pl.String(),
}
EVENTS_KEY = ("machine_id", "ts", "kind", "component")

QUARANTINE_SCHEMA: dict[str, pl.DataType] = {
    "factory_id": pl.String(),
    "ingest_id": pl.String(),
    "source_file": pl.String(),
    "file_sha256": pl.String(),
    "row": pl.Int64(),
    "column": pl.String(),
    "reason": pl.String(),
    "raw": pl.String(),
    "machine_id": pl.String(),
    "sensor": pl.String(),
    "ts": TS_DTYPE,
    "quarantined_at": TS_DTYPE,
}
QUARANTINE_KEY = ("file_sha256", "row", "column", "reason")

QUALITY_SCHEMA: dict[str, pl.DataType] = {
    "factory_id": pl.String(),
    "ingest_id": pl.String(),
    "source_file": pl.String(),
    "reported_at": TS_DTYPE,
    "machine_id": pl.String(),
    "sensor": pl.String(),
    "first_ts": TS_DTYPE,
    "last_ts": TS_DTYPE,
    "received": pl.Int64(),
    "accepted": pl.Int64(),
    "duplicate": pl.Int64(),
    "quarantined": pl.Int64(),
    "invalid": pl.Int64(),
    "missing": pl.Int64(),
    "expected": pl.Int64(),
    "share_missing": pl.Float64(),
    "share_invalid": pl.Float64(),
    "share_duplicate": pl.Float64(),
    "share_quarantined": pl.Float64(),
    "gaps": pl.Int64(),
    "longest_gap_s": pl.Float64(),
    "flatline_stretches": pl.Int64(),
    "longest_flatline_s": pl.Float64(),
    "history_days": pl.Int64(),
    "enough_history": pl.Boolean(),
}


def arrow_schema(schema: dict[str, pl.DataType], partition: str | None = "date") -> pa.Schema:
    """The Arrow schema of a lake table, with its partition column appended."""
    frame = pl.DataFrame(schema=schema)
    if partition is not None:
        frame = frame.with_columns(pl.lit(None, pl.String).alias(partition))
    return frame.to_arrow().schema


def load_plant(path: Path | str) -> PlantDescription:
    """Read a plant description file (YAML or JSON); errors name the file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
        data = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
        return PlantDescription.model_validate(data)
    except (OSError, UnicodeDecodeError, yaml.YAMLError, json.JSONDecodeError) as exc:
        raise InputFileError(path, f"cannot read plant description: {exc}") from exc
    except ValidationError as exc:
        raise InputFileError(path, f"invalid plant description: {exc}") from exc
