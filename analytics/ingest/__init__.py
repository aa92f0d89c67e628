"""Ingestion of factory files into the lake."""

from analytics.ingest.mapping import ImportMapping, TimestampSpec, load_mapping
from analytics.ingest.pipeline import IngestResult, ingest_file
from analytics.ingest.preview import FilePreview, preview_file, save_upload

__all__ = ["FilePreview", "ImportMapping", "IngestResult", "TimestampSpec", "ingest_file", "load_mapping", "preview_file", "save_upload"]
