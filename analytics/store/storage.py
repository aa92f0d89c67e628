"""Where factories' data live: a local folder or an object store, addressed by URI through fsspec.

The hub keeps two kinds of state apart:

- the *control folder* (``FACTORYHUB_DATA_DIR``, always local): the registry (SQLite), the
  per-factory writer locks, the demo's credentials;
- the *storage* (``FACTORYHUB_STORAGE``, default: the control folder): every factory's data —
  lake tables, features, scores, solutions, models, inbox, reports. A local path, or an fsspec
  URI such as ``s3://bucket/prefix`` so that workers on other machines read and write the same
  data. Credentials and endpoints come from the storage's own standard environment (for S3:
  ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_REGION``, ``AWS_ENDPOINT_URL``), which
  fsspec (s3fs), Polars and Delta Lake (delta-rs) all read, so no secret passes through the
  hub's settings or logs.

Paths are :class:`upath.UPath` objects: on a local folder a real :class:`pathlib.Path`, on an
object store the same API over fsspec. What an object store does not have is an atomic rename,
so nothing here relies on one there:

- a file that must appear whole or not at all (a dated table's pointer, a model's card, the
  champion pointer, a report) is written with :func:`write_bytes_atomic`: a temporary file and a
  rename on a local disk; one PUT on an object store, whose objects become visible whole when the
  upload completes and never half-written (S3, GCS and Azure all guarantee it);
- lake commits are Delta Lake's own: delta-rs commits with S3's conditional writes
  (put-if-absent), so two writers can never both create the same log entry;
- data files are immutable and named uniquely; only a pointer (Delta log entry or pointer file)
  makes them visible, and files no pointer names are removed later (vacuum, dated cleanup).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from upath import UPath

LOCAL_PROTOCOLS = frozenset({"", "file", "local"})


def storage_path(location: str | os.PathLike[str] | UPath) -> UPath:
    """The storage at ``location``: a local folder (made absolute) or an fsspec URI."""
    if isinstance(location, UPath) and not is_local(location):
        return location
    text = os.fspath(location)
    if "://" not in text:
        return UPath(Path(text).absolute())
    # No listing cache: Polars and Delta Lake write objects past fsspec, and a cached listing
    # would say they are not there.
    return UPath(text, use_listings_cache=False)


def is_local(path: Any) -> bool:
    """True for a path on this machine's file system."""
    return getattr(path, "protocol", "") in LOCAL_PROTOCOLS


def uri(path: Any) -> str:
    """The path as the string Polars and Delta Lake take: a local path, or the store's URI."""
    return os.fspath(path) if is_local(path) else str(path)


def write_bytes_atomic(path: Any, data: bytes) -> None:
    """Write ``data`` so that readers see the old file or the new one, never a part (see the
    module doc): a temporary file renamed over the target locally, one PUT on an object store."""
    if not is_local(path):
        path.fs.pipe_file(path.path, data)  # one PUT of the whole object
        return
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=f".{uuid.uuid4().hex[:8]}.tmp")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())  # on disk before it replaces the old file: a crash keeps one whole
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)


def write_text_atomic(path: Any, text: str) -> None:
    write_bytes_atomic(path, text.encode("utf-8"))


def remove_tree(path: Any) -> None:
    """Remove a folder and everything under it (nothing when it does not exist)."""
    if is_local(path):
        if Path(path).exists():
            shutil.rmtree(Path(path))
    elif path.exists():
        path.fs.rm(path.path, recursive=True)


def move(path: Any, target: Any) -> None:
    """Move a file (a rename locally; a copy then a delete on an object store)."""
    if is_local(path) and is_local(target):
        shutil.move(os.fspath(path), os.fspath(target))
    elif not is_local(path) and not is_local(target) and path.fs is target.fs:
        path.fs.mv(path.path, target.path)  # a copy inside the store, then a delete
    else:
        with path.open("rb") as source, target.open("wb") as out:
            shutil.copyfileobj(source, out)
        path.unlink()


@contextmanager
def local_copy(path: Any) -> Iterator[Path]:
    """A local file with the contents of ``path`` (itself when local; else a temporary copy
    under the same name, removed afterwards), for readers that need a real file."""
    if is_local(path):
        yield Path(path)
        return
    with tempfile.TemporaryDirectory(prefix="factoryhub-") as folder:
        copy = Path(folder) / path.name
        path.fs.get_file(path.path, os.fspath(copy))  # streamed: a file of any size, not held in memory
        yield copy


__all__ = ["is_local", "local_copy", "move", "remove_tree", "storage_path", "uri", "write_bytes_atomic", "write_text_atomic"]
