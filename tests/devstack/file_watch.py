"""Look at a file at every step of the code that writes it, as a reader polling it could.

`watching(path)` profiles the current thread and, after each call of a C function that touches
files (open, write, close, rename, replace, unlink, …), reads `path` (every state a reader could
find lies between two such calls): the file may be absent before it is first written, but never
empty, never half-written (not JSON), and, unless `may_vanish`, never absent again once it was
there. Deterministic: no race has to be won to see a violation.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FILE_CALLS = frozenset(
    {
        "open",
        "fdopen",
        "write",
        "writelines",
        "flush",
        "close",
        "fsync",
        "truncate",
        "ftruncate",
        "chmod",
        "rename",
        "replace",
        "unlink",
        "remove",
        "rmdir",
        "dup2",
    }
)


@dataclass
class Watch:
    path: Path
    refuse: Callable[[Any], str | None] = lambda document: None  # a reason to refuse a whole document
    may_vanish: bool = False
    looks: int = 0
    seen: bool = False
    violations: list[str] = field(default_factory=list)

    def look(self, step: str) -> None:
        self.looks += 1
        try:
            text = self.path.read_bytes()
        except FileNotFoundError:
            if self.seen and not self.may_vanish:
                self.violations.append(f"{step}: the file is gone")
            return
        except IsADirectoryError:
            self.violations.append(f"{step}: a directory stands where the file should be")
            return
        self.seen = True
        try:
            document = json.loads(text)
        except (UnicodeDecodeError, json.JSONDecodeError):
            self.violations.append(f"{step}: {len(text)} bytes that are not a whole document: {text[:40]!r}")
            return
        reason = self.refuse(document)
        if reason:
            self.violations.append(f"{step}: {reason}")


@contextmanager
def watching(
    path: Path, refuse: Callable[[Any], str | None] = lambda document: None, may_vanish: bool = False
) -> Iterator[Watch]:
    watch = Watch(path, refuse, may_vanish)
    watch.seen = path.exists()

    def profile(frame: Any, event: str, arg: Any) -> None:
        if (
            event == "c_return"
            and getattr(arg, "__name__", "") in FILE_CALLS
            and not isinstance(getattr(arg, "__self__", None), str | bytes)  # str.replace, …
        ):
            watch.look(f"after {arg.__name__}")  # the profiler is off while this runs

    previous = sys.getprofile()
    sys.setprofile(profile)
    try:
        yield watch
    finally:
        sys.setprofile(previous)
    watch.look("at the end")
