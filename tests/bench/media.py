"""Time and peak memory to turn a 12 MP JPEG, a 12 MP HEIC (as an iPhone writes it) and the
largest accepted PNG into the published variants, each in one fresh process as a cold Lambda would
hold it, which is what ProcessMediaFunction's MemorySize follows from; and what the BlurHash adds.

The photo is made beforehand in this process and handed over as a file, so that making it (x265
takes seconds and hundreds of MB for a 12 MP HEIC) counts in neither figure."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from photofeed.imaging import MEDIUM_WIDTH, blurhash_of
from tests import images

_WORKER = r"""
import json, resource, sys, time
from pathlib import Path
from photofeed.imaging import render_variants
data, content_type = Path(sys.argv[2]).read_bytes(), sys.argv[3]
def high_water_kb():
    # VmHWM: this process's own peak since it started. ru_maxrss would also hold the parent's
    # size at the fork (Linux keeps it across exec), which made the parent's photo count here.
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
baseline = high_water_kb()
times = []
for _ in range(int(sys.argv[1])):
    started = time.perf_counter()
    rendered = render_variants(data, content_type)
    times.append(time.perf_counter() - started)
peak = high_water_kb()
print(json.dumps({"times": times, "peak_kb": peak, "baseline_kb": baseline, "bytes": len(data),
                  "out": {k: len(v) for k, v in rendered.variants.items()}}))
"""


def measure(name: str, maker: str, content_type: str, rounds: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as folder:
        photo = Path(folder) / "photo"
        photo.write_bytes(getattr(images, maker)())
        answer = subprocess.run(
            [sys.executable, "-c", _WORKER, str(rounds), str(photo), content_type],
            capture_output=True,
            text=True,
            check=True,
        )
    result = json.loads(answer.stdout)
    return {
        f"{name}_input_mb": round(result["bytes"] / 1e6, 2),
        f"{name}_seconds_median": round(statistics.median(result["times"]), 3),
        f"{name}_seconds_max": round(max(result["times"]), 3),
        f"{name}_peak_rss_mb": round(result["peak_kb"] / 1024, 1),
    }


def blurhash_cost(rounds: int = 20) -> dict[str, Any]:
    """The BlurHash as the worker computes it: from the medium variant's picture (640 px wide)."""
    picture = images.scene((MEDIUM_WIDTH, MEDIUM_WIDTH * 3 // 4)).convert("RGB")
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        blurhash_of(picture)
        times.append(time.perf_counter() - started)
    return {"media_blurhash_ms_median": round(1000 * statistics.median(times), 2)}


def run() -> dict[str, Any]:
    return {
        **measure("media_12mp_jpeg", "twelve_megapixel_jpeg", "image/jpeg", rounds=5),
        **measure("media_12mp_heic", "twelve_megapixel_heic", "image/heic", rounds=3),
        **measure("media_49mp_png_worst_case", "largest_accepted_png", "image/png", rounds=1),
        **blurhash_cost(),
    }
