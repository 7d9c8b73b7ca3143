"""Files that another process may read while this one writes them (the state snapshot,
`endpoints.json`, `bench-results.json`): written whole or not at all, and read only when whole.

A writer puts the content in a temporary file in the same directory, flushes it to disk and
renames it over the old one (`os.replace` is atomic on one filesystem): a reader sees the old
file or the new one, never an empty or half-written one, and a crash leaves one of the two.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any


def write_atomically(path: Path, content: str | bytes, mode: int = 0o644) -> None:
    data = content.encode() if isinstance(content, str) else content
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(name, mode)
        os.replace(name, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(name)
        raise
    _sync_directory(path.parent)


def write_json_atomically(path: Path, document: Any, mode: int = 0o644, indent: int | None = 2) -> None:
    write_atomically(path, json.dumps(document, indent=indent) + "\n", mode)


def read_complete_json(path: Path) -> Any | None:
    """The document in `path`, or None while there is none or it is not whole yet (a writer that
    does not write atomically), for readers that poll."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return None


def _sync_directory(directory: Path) -> None:
    """Make the rename itself durable (POSIX; a no-op where directories cannot be opened)."""
    try:
        handle = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(handle)
    except OSError:
        pass
    finally:
        os.close(handle)
