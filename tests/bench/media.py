"""Time and peak memory to turn a 12 MP JPEG into the published variants (one fresh process, as a
cold Lambda would hold it), which is what ProcessMediaFunction's MemorySize follows from."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from typing import Any

_WORKER = r"""
import json, resource, sys, time
from photofeed.imaging import render_variants
from tests import images
data, content_type = getattr(images, sys.argv[2])(), sys.argv[3]
baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
times = []
for _ in range(int(sys.argv[1])):
    started = time.perf_counter()
    rendered = render_variants(data, content_type)
    times.append(time.perf_counter() - started)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"times": times, "peak_kb": peak, "baseline_kb": baseline, "bytes": len(data),
                  "out": {k: len(v) for k, v in rendered.variants.items()}}))
"""


def measure(name: str, maker: str, content_type: str, rounds: int) -> dict[str, Any]:
    answer = subprocess.run(
        [sys.executable, "-c", _WORKER, str(rounds), maker, content_type], capture_output=True, text=True, check=True
    )
    result = json.loads(answer.stdout)
    return {
        f"{name}_input_mb": round(result["bytes"] / 1e6, 2),
        f"{name}_seconds_median": round(statistics.median(result["times"]), 3),
        f"{name}_seconds_max": round(max(result["times"]), 3),
        f"{name}_peak_rss_mb": round(result["peak_kb"] / 1024, 1),
    }


def run() -> dict[str, Any]:
    return {
        **measure("media_12mp_jpeg", "twelve_megapixel_jpeg", "image/jpeg", rounds=5),
        **measure("media_49mp_png_worst_case", "largest_accepted_png", "image/png", rounds=1),
    }
