"""Shared fixtures: a fresh hub in a temporary folder with one registered factory."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from analytics.schemas import PlantDescription
from analytics.store.hub import Hub

# A fixed "now" so that "timestamp in the future" never depends on when the tests run.
NOW = datetime(2026, 11, 1, tzinfo=UTC)

PLANT = {
    "factory": {"id": "acme", "name_ko": "에이크미 정밀", "name_en": "Acme Precision", "timezone": "Asia/Seoul"},
    "machines": [
        {
            "id": "CNC-01",
            "type": "cnc_spindle",
            "model": "DN Solutions DNM 5700",
            "install_date": "2019-04-01",
            "sensors": [
                {"name": "spindle_temp", "unit": "°C", "min": -20, "max": 200, "interval": "1s"},
                {"name": "vibration_rms", "unit": "mm/s", "min": 0, "max": 100, "interval": "1s"},
                {"name": "motor_current", "unit": "A", "min": 0, "max": 500, "interval": "1s"},
            ],
        },
        {
            "id": "PUMP-02",
            "type": "pump",
            "sensors": [
                {"name": "pressure", "unit": "bar", "min": 0, "max": 40, "interval": "10s"},
                {"name": "flow", "unit": "m3/h", "min": 0, "max": 500, "interval": "10s"},
            ],
        },
    ],
}


@pytest.fixture
def hub(tmp_path: Path) -> Hub:
    """An empty hub in a temporary data directory."""
    return Hub.open(data_dir=tmp_path / "hub")


@pytest.fixture
def acme(hub: Hub) -> Hub:
    """A hub with the factory ``acme`` (Asia/Seoul): CNC-01 (1 s sensors) and PUMP-02 (10 s)."""
    hub.registry.register_plant(PlantDescription.model_validate(PLANT))
    return hub


@pytest.fixture
def write_file(tmp_path: Path) -> Callable[..., Path]:
    """Write text (or bytes) to a file in the test's folder and return its path."""

    def write(name: str, content: str | bytes, encoding: str = "utf-8") -> Path:
        path = tmp_path / "files" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_bytes(content.encode(encoding))
        return path

    return write
