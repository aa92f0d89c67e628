"""Storage: the registry of tenants, the Delta lake and the factory-scoped readers."""

from analytics.store.lake import TABLES, Lake
from analytics.store.reader import FactoryReader
from analytics.store.registry import Registry

__all__ = ["TABLES", "FactoryReader", "Lake", "Registry"]
