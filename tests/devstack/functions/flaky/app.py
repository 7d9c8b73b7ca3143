"""Fails with TransientError on its first two calls for a given `key`, then answers."""

import os
from pathlib import Path
from typing import Any


class TransientError(Exception):
    pass


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    counter = Path(os.environ["RECORD_DIR"]) / f"flaky-{event['key']}.count"
    calls = int(counter.read_text()) + 1 if counter.exists() else 1
    counter.write_text(str(calls))
    if calls <= 2 or event.get("always_fail"):
        raise TransientError(f"attempt {calls} failed")
    return {"key": event["key"], "attempts": calls}
