"""The hub: settings, registry and lake of one installation, opened together."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from analytics.config import HubSettings, get_settings
from analytics.store.lake import Lake
from analytics.store.registry import Registry


@dataclass(frozen=True)
class Hub:
    settings: HubSettings
    registry: Registry
    lake: Lake

    @classmethod
    def open(cls, settings: HubSettings | None = None, data_dir: Path | str | None = None) -> Hub:
        """Open the hub at ``data_dir`` (default: the configured one), creating it if new."""
        settings = settings or get_settings()
        if data_dir is not None:
            settings = settings.model_copy(update={"data_dir": Path(data_dir)})
        root = Path(settings.data_dir)
        root.mkdir(parents=True, exist_ok=True)
        return cls(settings, Registry(root / "registry.sqlite"), Lake(root))
