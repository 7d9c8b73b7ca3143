"""Faults injected into the local stack on purpose, off unless asked for (`make load` uses them).

Set `DEVSTACK_FAULTS_FILE` to the path of a JSON file before starting the stack. The file is
read again whenever it changes (write it whole: see `devstack.files.write_json_atomically`); no
file, or an empty object, means no faults:

    {"kill": {"ProcessMediaFunction": 1}, "duplicate_sqs": 0.2, "retry_after_seconds": 1}

- `kill`: the next N invocations of that function (its logical id) die as a killed Lambda
  environment does (`Runtime.ExitError`). A batch handler gets through the first half of its
  records (all of a batch of one) and dies before the batch is acknowledged: nothing is deleted,
  every message comes back after its visibility timeout. The counts are used up as they fire;
  writing the file again arms them again.
- `duplicate_sqs`: the probability that an SQS batch is delivered a second time (the same
  records, the same receipt handles), as SQS's at-least-once delivery may.
- `retry_after_seconds`: a message whose invocation failed (or which the function reported as a
  batch item failure) is visible again after `retry_after_seconds * 2^(receives - 1)`, capped at
  its queue's visibility timeout, instead of after the whole timeout (6 minutes on the media
  queue): retries and dead-lettering then fit in a short run, and still back off past a short
  outage.

Each fault that fires is logged (logger `devstack.faults`, "fault: ...") so a run can count them.
"""

from __future__ import annotations

import json
import logging
import math
import os
import random
import threading
from pathlib import Path
from typing import Any

FAULTS_VARIABLE = "DEVSTACK_FAULTS_FILE"

log = logging.getLogger("devstack.faults")


class Faults:
    def __init__(self, path: Path | None, seed: int | None = None) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._stamp: tuple[int, int, int] | None = None
        self._settings: dict[str, Any] = {}
        self._kills: dict[str, int] = {}
        self._random = random.Random(seed)

    @classmethod
    def from_environment(cls) -> Faults:
        path = os.environ.get(FAULTS_VARIABLE, "").strip()
        return cls(Path(path) if path else None)

    def _current(self) -> dict[str, Any]:
        """The file's settings, read again when it changed (`_lock` held)."""
        if self.path is None:
            return self._settings
        try:
            stat = self.path.stat()
            stamp: tuple[int, int, int] | None = (stat.st_mtime_ns, stat.st_size, stat.st_ino)
        except OSError:
            stamp = None
        if stamp != self._stamp:
            self._stamp = stamp
            self._settings, self._kills = self._read(), {}
            if self._settings:
                log.warning("fault settings now %s", json.dumps(self._settings, sort_keys=True))
            kills = self._settings.get("kill") or {}
            self._kills = {str(name): int(count) for name, count in kills.items()}
        return self._settings

    def _read(self) -> dict[str, Any]:
        assert self.path is not None
        try:
            text = self.path.read_text()
        except OSError:
            return {}
        try:
            settings = json.loads(text) if text.strip() else {}
            if not isinstance(settings, dict) or not isinstance(settings.get("kill") or {}, dict):
                raise ValueError("not an object with an object under kill")
            float(settings.get("duplicate_sqs") or 0)
            float(settings.get("retry_after_seconds") or 0)
            return settings
        except (ValueError, TypeError) as error:
            log.error("fault file %s ignored: %s", self.path, error)
            return {}

    def take_kill(self, logical_id: str) -> bool:
        """Whether this invocation of the function is to die (one of the `kill` count used up)."""
        with self._lock:
            self._current()
            left = self._kills.get(logical_id, 0)
            if left <= 0:
                return False
            self._kills[logical_id] = left - 1
            return True

    def duplicate_sqs(self) -> bool:
        """Whether this SQS batch is to be delivered a second time."""
        with self._lock:
            probability = float(self._current().get("duplicate_sqs") or 0)
            return probability > 0 and self._random.random() < probability

    def retry_after(self, receive_count: int, visibility_timeout: int) -> int | None:
        """When a failed message is to be visible again (seconds), or None: the whole timeout."""
        with self._lock:
            base = float(self._current().get("retry_after_seconds") or 0)
        return backoff(base, receive_count, visibility_timeout) if base > 0 else None


def backoff(base: float, receive_count: int, visibility_timeout: int) -> int:
    """`base * 2^(receives - 1)` in whole seconds (SQS's unit), at most the queue's visibility
    timeout."""
    return min(visibility_timeout, math.ceil(base * 2 ** max(0, receive_count - 1)))
