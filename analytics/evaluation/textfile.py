"""Reading a benchmark's text file whole, with errors that name the file (and the line of an
undecodable byte)."""

from __future__ import annotations

from pathlib import Path

from analytics.errors import InputFileError


def read_text_file(path: Path, encoding: str = "utf-8") -> str:
    """The text of ``path``; ``encoding="utf-8-sig"`` also strips a leading byte-order mark."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise InputFileError(path, "file not found") from None
    except OSError as exc:
        raise InputFileError(path, f"cannot read: {exc.strerror or exc}") from None
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError as exc:
        row = raw[: exc.start].count(b"\n") + 1
        raise InputFileError(path, "not a text file (invalid UTF-8)", row=row) from None
