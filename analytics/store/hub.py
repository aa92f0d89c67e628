"""The hub: settings, registry and lake of one installation, opened together."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from analytics.config import HubSettings, get_settings
from analytics.store.lake import Lake
from analytics.store.registry import Registry
from analytics.store.storage import storage_path, uri


@dataclass(frozen=True)
class Hub:
    settings: HubSettings
    registry: Registry
    lake: Lake

    @classmethod
    def open(cls, settings: HubSettings | None = None, data_dir: Path | str | None = None, storage: str | None = None) -> Hub:
        """Open the hub whose control folder is ``data_dir`` and whose factories' data are in
        ``storage`` (defaults: the configured ones; see :mod:`analytics.store.storage`),
        creating it if new."""
        settings = settings or get_settings()
        if data_dir is not None:
            settings = settings.model_copy(update={"data_dir": Path(data_dir)})
        if storage is not None:
            settings = settings.model_copy(update={"storage": storage})
        root = Path(settings.data_dir)
        root.mkdir(parents=True, exist_ok=True)
        return cls(settings, Registry(root / "registry.sqlite"), Lake(storage_path(settings.storage or root), control_dir=root))

    @property
    def locations(self) -> tuple[str, str]:
        """(control folder, storage): what a task on another process or machine opens the hub with."""
        return str(self.settings.data_dir), uri(self.lake.root)
