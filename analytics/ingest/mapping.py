"""How a factory's file maps onto the hub's canonical tables (a YAML or JSON mapping file)."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from upath import UPath

from analytics.errors import InputFileError
from analytics.schemas import parse_duration_seconds, validate_machine_id, validate_timezone
from analytics.store.storage import storage_path

TableName = Literal["readings", "events"]


class TimestampSpec(BaseModel):
    """Where the time of a row comes from.

    Either a column of text (``format`` a strftime pattern, ``epoch_s``/``epoch_ms``, or
    auto-detected) or datetimes; or, for data sets that only count cycles or samples, a numeric
    ``column`` turned into time as ``origin + column * step``.
    """

    model_config = ConfigDict(extra="forbid")

    column: str = "ts"
    format: str | None = None
    timezone: str | None = Field(None, description="Zone of naive timestamps; default: the factory's.")
    origin: datetime | None = None
    step: str | None = None

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str | None) -> str | None:
        return None if value is None else validate_timezone(value)

    @model_validator(mode="after")
    def _counter(self) -> TimestampSpec:
        if (self.origin is None) != (self.step is None):
            raise ValueError("timestamp.origin and timestamp.step go together")
        if self.step is not None:
            parse_duration_seconds(self.step)
        return self

    @property
    def step_seconds(self) -> float | None:
        return None if self.step is None else parse_duration_seconds(self.step)


class ImportMapping(BaseModel):
    """The shape of an input file.

    ``long``: one row per reading with machine, sensor, timestamp and value columns.
    ``wide``: one row per time stamp and one column per sensor (``sensors`` maps source column
    to sensor name; without it every column other than time and machine is a sensor).
    ``missing_sensor_columns: ignore`` lets one mapping list the columns of several machine
    types, whose files each hold only their own; a file must still hold at least one of them.
    """

    model_config = ConfigDict(extra="forbid")

    format: Literal["long", "wide"] = "long"
    table: TableName = "readings"
    delimiter: str | None = None
    encoding: str | None = None
    has_header: bool = True
    column_names: list[str] | None = None
    sheet: str | None = None
    decimal_comma: bool = False
    timestamp: TimestampSpec = Field(default_factory=TimestampSpec)
    machine_column: str = "machine_id"
    machine_id: str | None = None
    machine_prefix: str = ""
    sensor_column: str = "sensor"
    value_column: str = "value"
    sensors: dict[str, str] | None = None
    missing_sensor_columns: Literal["error", "ignore"] = "error"

    @field_validator("machine_id")
    @classmethod
    def _machine(cls, value: str | None) -> str | None:
        return None if value is None else validate_machine_id(value)

    @field_validator("delimiter")
    @classmethod
    def _delimiter(cls, value: str | None) -> str | None:
        if value is not None:
            value = {"\\t": "\t", "tab": "\t"}.get(value, value)
            if len(value) != 1:
                raise ValueError("delimiter must be one character")
        return value

    @model_validator(mode="after")
    def _header(self) -> ImportMapping:
        if not self.has_header and not self.column_names:
            raise ValueError("a file without a header row needs column_names")
        return self


def load_mapping(path: Path | UPath | str) -> ImportMapping:
    """Read a mapping file (YAML or JSON), on a local disk or the hub's storage."""
    path = storage_path(path)
    try:
        text = path.read_text(encoding="utf-8")
        data = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
        return ImportMapping.model_validate(data or {})
    except (OSError, UnicodeDecodeError, yaml.YAMLError, json.JSONDecodeError) as exc:
        raise InputFileError(path, f"cannot read mapping file: {exc}") from exc
    except ValidationError as exc:
        raise InputFileError(path, f"invalid mapping: {exc}") from exc
