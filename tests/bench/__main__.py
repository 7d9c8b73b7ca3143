"""Run every benchmark and print each figure on its own line as `name: value`."""

from __future__ import annotations

import json
import platform
import sys
from datetime import UTC, datetime
from pathlib import Path

from tests.bench import feed, media, notify, search


def main() -> int:
    figures: dict[str, object] = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
        "machine": f"{platform.machine()}, {__import__('os').cpu_count()} cores, Python {platform.python_version()}",
    }
    figures.update(media.run())
    figures.update(feed.run())
    figures.update(search.run())
    figures.update(notify.run())
    for name, value in figures.items():
        print(f"{name}: {value}", flush=True)
    Path("bench-results.json").write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
