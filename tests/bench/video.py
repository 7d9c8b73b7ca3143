"""Time and peak memory to convert the clips the issue names (a 10 s and a 60 s 1080p H.264 clip
and a 60 s 4K HEVC clip, as phones record them) into the published MP4 and poster, each in one
fresh process as a cold Lambda would hold it: ProcessVideoFunction's MemorySize, Timeout and
EphemeralStorage, and the MaxVideoWork limit, follow from these figures (README, "Videos").

The clips are made once with PyAV and kept in `.bench/video/` (the 4K one takes minutes to encode
on two cores). They are made to cost what a phone's clip costs: a picture panning across a
textured scene with film grain on it (a flat synthetic clip converts several times faster and
says nothing of the real cost), at about the bitrate a phone writes (12-15 Mb/s)."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np

CLIPS = Path(".bench/video")
# (name, width, height, seconds, frames per second, codec, container, content type). The last is the
# heaviest clip the default limits accept (MaxVideoWork: 29.9 G of 32 G decoded pixels).
SHAPES = [
    ("video_10s_1080p", 1920, 1080, 10, 30, "libx264", "mp4", "video/mp4"),
    ("video_60s_1080p", 1920, 1080, 60, 30, "libx264", "mp4", "video/mp4"),
    ("video_60s_4k_hevc", 3840, 2160, 60, 30, "libx265", "mov", "video/quicktime"),
    ("video_60s_4k60_hevc", 3840, 2160, 60, 60, "libx265", "mov", "video/quicktime"),
]

_WORKER = r"""
import json, sys, time
from pathlib import Path
from photofeed.video import VideoLimits, transcode
source, dest, content_type, isolated = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4] == "1"
def high_water_kb():
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0
started = time.perf_counter()
made = transcode(source, dest, content_type, VideoLimits(), None, isolated=isolated)
elapsed = time.perf_counter() - started
print(json.dumps({"seconds": elapsed, "peak_kb": high_water_kb(), "duration_s": made.duration_s,
                  "output_bytes": Path(made.video_path).stat().st_size, "size": [made.width, made.height]}))
"""


def _texture(width: int, height: int, seed: int) -> np.ndarray:
    """A luma picture with detail at every scale (summed octaves of smoothed noise), 8-bit."""
    generator = np.random.default_rng(seed)
    picture = np.zeros((height, width), np.float32)
    for octave in range(1, 8):
        cells = 2**octave
        coarse = generator.random((cells + 1, cells + 1)).astype(np.float32)
        rows = np.linspace(0, cells, height).astype(int)
        cols = np.linspace(0, cells, width).astype(int)
        picture += coarse[rows][:, cols] / octave
    picture -= picture.min()
    return (16 + 219 * picture / picture.max()).astype(np.uint8)


def make_clip(path: Path, width: int, height: int, seconds: int, fps: int, codec: str) -> None:
    """A clip panning across a textured scene with grain, at about a phone's bitrate."""
    scene = _texture(width + seconds * fps * 2, height + 64, seed=width)
    grain = [np.random.default_rng(n).integers(-6, 7, (height, width), dtype=np.int16) for n in range(8)]
    chroma_u = np.full((height // 2, width // 2), 128, np.uint8)
    chroma_v = np.tile(np.linspace(100, 156, width // 2).astype(np.uint8), (height // 2, 1))
    chroma = np.concatenate([chroma_u.ravel(), chroma_v.ravel()]).reshape(-1, width)  # U plane, then V
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.bit_rate = 14_000_000
        stream.options = {"preset": "ultrafast"} if codec == "libx264" else {"preset": "ultrafast", "log-level": "0"}
        stream.codec_context.time_base = Fraction(1, fps)
        for index in range(seconds * fps):
            x, y = index * 2, (index // 4) % 64
            luma = (scene[y : y + height, x : x + width].astype(np.int16) + grain[index % 8]).clip(16, 235)
            frame = av.VideoFrame.from_ndarray(np.concatenate([luma.astype(np.uint8), chroma]), format="yuv420p")
            frame.pts = index
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def clip(name: str, width: int, height: int, seconds: int, fps: int, codec: str, suffix: str) -> Path:
    path = CLIPS / f"{name}.{suffix}"
    if not path.exists():
        CLIPS.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".partial." + suffix)
        make_clip(partial, width, height, seconds, fps, codec)
        partial.rename(path)
    return path


def convert(source: Path, content_type: str, isolated: bool) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as folder:
        arguments = [str(source), str(Path(folder) / "out.mp4"), content_type, str(int(isolated))]
        answer = subprocess.run(
            [sys.executable, "-c", _WORKER, *arguments],
            capture_output=True,
            text=True,
            check=True,
        )
    return dict(json.loads(answer.stdout.strip().splitlines()[-1]))


def run() -> dict[str, Any]:
    figures: dict[str, Any] = {}
    for name, width, height, seconds, fps, codec, suffix, content_type in SHAPES:
        source = clip(name, width, height, seconds, fps, codec, suffix)
        result = convert(source, content_type, isolated=False)  # the peak is the conversion's own
        figures |= {
            f"{name}_input_mb": round(source.stat().st_size / 1e6, 1),
            f"{name}_seconds": round(result["seconds"], 1),
            f"{name}_peak_mb": round(result["peak_kb"] / 1024),
            f"{name}_output_mb": round(result["output_bytes"] / 1e6, 1),
            f"{name}_output_mbps": round(8 * result["output_bytes"] / result["duration_s"] / 1e6, 2),
        }
    # What running the conversion in a child process (killed at the deadline) costs a clip.
    small = clip("video_2s_360p", 640, 360, 2, 30, "libx264", "mp4")
    timings: dict[bool, list[float]] = {False: [], True: []}
    for _ in range(3):
        for isolated in (False, True):
            started = time.perf_counter()
            convert(small, "video/mp4", isolated)
            timings[isolated].append(time.perf_counter() - started)
    figures["video_isolation_overhead_seconds"] = round(min(timings[True]) - min(timings[False]), 2)
    return figures
