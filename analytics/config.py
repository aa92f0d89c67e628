"""Typed hub configuration, read once from the environment (prefix ``FACTORYHUB_``)."""

from __future__ import annotations

from datetime import timedelta
from functools import lru_cache
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from analytics.schemas import validate_timezone


class HubSettings(BaseSettings):
    """Settings of one hub installation.

    Every field can be set by an environment variable ``FACTORYHUB_<FIELD>``, e.g.
    ``FACTORYHUB_DATA_DIR=/srv/hub``.
    """

    model_config = SettingsConfigDict(env_prefix="FACTORYHUB_", extra="ignore")

    data_dir: Path = Field(Path("./hub_data"), description="Root of the lake, registry and inboxes.")
    default_timezone: str = Field("Asia/Seoul", description="Time zone of new factories.")
    ingest_chunk_rows: int = Field(
        1_000_000, gt=0, description="Rows validated per chunk; bounds ingest memory."
    )
    future_tolerance: timedelta = Field(
        timedelta(minutes=10), description="How far past 'now' a timestamp may lie (clock skew)."
    )
    compact_min_files: int = Field(
        8, ge=2, description="Compact a date partition once it holds this many files."
    )
    min_training_days: int = Field(
        14, ge=1, description="Days of history a sensor needs before models train on it."
    )
    flatline_min_samples: int = Field(
        30, ge=3, description="Identical consecutive samples that count as a flat-lined stretch."
    )

    @field_validator("default_timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        return validate_timezone(value)


@lru_cache(maxsize=1)
def get_settings() -> HubSettings:
    """The process-wide settings, read from the environment on first use."""
    return HubSettings()
