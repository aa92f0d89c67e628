"""Ingestion of factory files into the lake."""

from analytics.ingest.mapping import ImportMapping, TimestampSpec, load_mapping
from analytics.ingest.pipeline import IngestResult, ingest_file

__all__ = ["ImportMapping", "IngestResult", "TimestampSpec", "ingest_file", "load_mapping"]
