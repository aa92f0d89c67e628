"""The hub: settings, registry and lake of one installation, opened together."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from analytics.config import HubSettings, get_settings
from analytics.errors import HubError
from analytics.store.lake import Lake
from analytics.store.registry import Registry
from analytics.store.storage import storage_path, uri

REGISTRY_FILE = "registry.sqlite"


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
        # Absolute, so a task that opens the hub from another working directory finds the same one.
        settings = settings.model_copy(update={"data_dir": Path(data_dir if data_dir is not None else settings.data_dir).absolute()})
        if storage is not None:
            settings = settings.model_copy(update={"storage": storage})
        root = settings.data_dir
        root.mkdir(parents=True, exist_ok=True)
        return cls(settings, Registry(root / REGISTRY_FILE), Lake(storage_path(settings.storage or root), control_dir=root))

    @classmethod
    def at(cls, locations: tuple[str, str]) -> Hub:
        """The hub at :attr:`locations` (in a task on another process or machine); an error, not
        a new empty hub, where the control folder holds none (a folder not shared with this
        machine)."""
        data_dir, storage = locations
        if not (Path(data_dir) / REGISTRY_FILE).is_file():
            raise HubError(f"no hub registry at {data_dir} on this machine: the data folder must be shared with every worker")
        return cls.open(data_dir=data_dir, storage=storage)

    @property
    def locations(self) -> tuple[str, str]:
        """(control folder, storage): what a task on another process or machine opens the hub with."""
        return str(self.settings.data_dir), uri(self.lake.root)
