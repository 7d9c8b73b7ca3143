"""Turn an uploaded video into the published H.264/AAC MP4 and its poster, or say why it cannot be published.

DESIGN.md flow 7, API.md "Posts and media". Imported by the media worker only, when a video comes: PyAV (`av`,
which bundles FFmpeg) lives in its own Lambda layer.

What is checked, and in what order, so that a hostile file costs little:

1. Before FFmpeg sees a byte, the ISO-BMFF/QuickTime boxes are walked here (`inspect`): the file must be of the
   MP4/QuickTime family (an `ftyp` with an MP4 or QuickTime brand, or a QuickTime file starting with moov, mdat,
   wide, free or skip), every top-level box must end inside the file (a truncated upload does not), and the
   `moov` index must be there. Each track's header (tkhd) and sample description give its size, the movie
   header its duration, the time-to-sample table its frame count: a picture, noise, a cut-short file, headers
   claiming 60,000 x 60,000 pixels, a clip longer than allowed or too heavy to convert are refused from these
   alone.
2. FFmpeg then opens the file with the QuickTime/MP4 demuxer only, and the same limits are checked again from
   what it reads, with the video codec against an allow-list.
3. The conversion, in a child process killed at the deadline (`isolated`), so a decoder that crashes or hangs
   on a hostile file costs that child only: H.264 High (libx264, preset `faster`, CRF 23, capped bit rate),
   at most 1080 px on the short side, at most 60 frames per second, the display rotation applied to the pixels,
   AAC-LC audio, moov before mdat, and no metadata (no location, no encoder name).

Any error while decoding is a property of the file and becomes a `RejectedVideo` whose message is a plain
sentence for the author. MemoryError and OSError (a full disk, say) are not: they propagate so that the
message is retried.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import pickle
import signal
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from typing import TYPE_CHECKING, Any

from PIL import Image

from photofeed import imaging

if TYPE_CHECKING:
    import av.audio.stream
    import av.container
    import av.filter
    import av.video.frame
    import av.video.stream

log = logging.getLogger(__name__)

CONTENT_TYPES = ("video/mp4", "video/quicktime")
# The output (API.md: "at most 1080 px on its short side"). Frame rates above MAX_OUTPUT_FPS are thinned to it.
MAX_SHORT_SIDE = 1080
MAX_OUTPUT_FPS = 60
# libx264 settings: CRF 23 is x264's own default quality; the rate cap keeps a busy scene streamable on a
# phone's connection: 6 Mb/s for 1080p (what YouTube recommends for 1080p at 30 fps is 8), in proportion to the
# pixel count for other sizes, never below 1.5 Mb/s; the decoder buffer holds two seconds at that rate.
X264_PRESET = "faster"
X264_CRF = 23
MAXRATE_1080P = 6_000_000
MAXRATE_FLOOR = 1_500_000
PIXELS_1080P = 1920 * 1080
AUDIO_BIT_RATE = 128_000
AUDIO_RATES = (44_100, 48_000)  # kept when the source has one of them; anything else becomes 48 kHz
# Decoders accepted for the video track (FFmpeg codec names) and how the author knows them.
VIDEO_CODECS = {
    "h264": "H.264",
    "hevc": "HEVC",
    "mpeg4": "MPEG-4",
    "vp9": "VP9",
    "av1": "AV1",
    "libdav1d": "AV1",
    "prores": "ProRes",
}
# `ftyp` brands of the MP4/QuickTime family (ISO/IEC 14496-12, -14, -15; 3GPP TS 26.244; Apple's QuickTime File
# Format; the registered brands at mp4ra.org). A file qualifies when its major or any compatible brand is one.
_BRANDS = frozenset(
    {
        b"qt  ",
        b"isom",
        b"iso2",
        b"iso3",
        b"iso4",
        b"iso5",
        b"iso6",
        b"iso7",
        b"iso8",
        b"iso9",
        b"mp41",
        b"mp42",
        b"mp71",
        b"avc1",
        b"hvc1",
        b"M4V ",
        b"M4VH",
        b"M4VP",
        b"MSNV",
        b"XAVC",
        b"f4v ",
        b"mmp4",
        b"dash",
        b"CAEP",
        b"MPPI",
    }
)
_BRAND_PREFIXES = (b"3gp", b"3g2", b"3ge", b"3gg", b"3gs")
# A QuickTime movie may start without `ftyp` (the format predates it), with one of these.
_QUICKTIME_FIRST = frozenset({b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot"})
_MAX_TOP_LEVEL_BOXES = 10_000
_MAX_MOOV_BYTES = 64 * 1024 * 1024  # a 60 s phone clip's index is well under 1 MB
_HEADER_BYTES = 64
# The display matrix's a, b, c, d signs (tkhd, ISO/IEC 14496-12 8.3.2: x' = a*x + c*y, y' = b*x + d*y) and the
# FFmpeg filters that turn the stored pixels into the shown ones. 90 degrees clockwise is how a phone held
# upright records.
_TURNS: dict[tuple[int, int, int, int], tuple[str, ...]] = {
    (1, 0, 0, 1): (),
    (0, 1, -1, 0): ("transpose=clock",),
    (-1, 0, 0, -1): ("hflip", "vflip"),
    (0, -1, 1, 0): ("transpose=cclock",),
    (-1, 0, 0, 1): ("hflip",),
    (1, 0, 0, -1): ("vflip",),
    (0, 1, 1, 0): ("transpose=cclock_flip",),
    (0, -1, -1, 0): ("transpose=clock_flip",),
}
# AVColorSpace values (libavutil/pixfmt.h) and the names FFmpeg's scale filter knows the matrices by.
_MATRICES = {1: "bt709", 5: "bt601", 6: "smpte170m", 7: "smpte240m", 9: "bt2020", 10: "bt2020"}
_BT709, _SMPTE170M, _BT2020 = 1, 6, 9  # AVColorPrimaries / AVColorTransferCharacteristic / AVColorSpace
_HDR_TRANSFERS = frozenset({16, 18})  # SMPTE ST 2084 (PQ), ARIB STD-B67 (HLG)
_RANGE_JPEG = 2


class RejectedVideo(Exception):
    """The file can never be published; str(error) is a plain sentence for the author."""


@dataclass(frozen=True)
class VideoLimits:
    """What a video may be: refused beyond these.

    `max_seconds` (API.md: 60 s) plus `slack_seconds` (a phone's "60 s" recording lasts 60.3 s) is the longest
    duration; `max_side` the largest coded width or height in pixels; `max_fps` the highest average frame rate;
    `max_work` the most decoded pixels (width x height x frames per second x seconds) the worker can convert
    within its timeout: 32e9 admits a 60 s 4K clip at 60 fps (29.9e9), the heaviest a phone records, which
    `make bench` converts in under two minutes on two cores (README, "Videos").
    """

    max_seconds: float = 60.0
    max_side: int = 4096
    max_fps: float = 240.0
    max_work: float = 32e9
    slack_seconds: float = 0.5


@dataclass(frozen=True)
class Transcoded:
    """What a publishable video becomes.

    `width` x `height` is the output video's size in pixels as shown (rotation applied; even numbers, at most
    1080 on the short side); `duration_s` its duration in seconds (rounded to 1 ms, read back from the file
    written); `video_path` the H.264/AAC MP4 written; `poster` the variants and BlurHash made by
    `imaging.render_picture` from the poster frame (at a tenth of the duration, at most 1 s in), of the same
    size as the video; `has_audio` whether the MP4 has an audio track.
    """

    width: int
    height: int
    duration_s: float
    video_path: str
    poster: imaging.Rendered
    has_audio: bool


@dataclass(frozen=True)
class Track:
    """One track as its boxes describe it (`inspect`).

    `track_id` is tkhd's (FFmpeg's stream id); `handler` the hdlr type ("vide", "soun", ...); `width` x `height`
    tkhd's presentation size and `coded_width` x `coded_height` the first sample entry's, in pixels (0 when
    absent); `codec` the sample entry type ("avc1", "hvc1", ...); `turn` the display matrix's (a, b, c, d) signs;
    `seconds` the media duration (mdhd) and `frames` the sample count (stts).
    """

    track_id: int
    handler: str
    width: int = 0
    height: int = 0
    coded_width: int = 0
    coded_height: int = 0
    codec: str = ""
    turn: tuple[int, int, int, int] = (1, 0, 0, 1)
    seconds: float = 0.0
    frames: int = 0


@dataclass(frozen=True)
class Layout:
    """What `inspect` read from a file's boxes: the top-level box types in order, the movie's duration in
    seconds (mvhd; 0 when it does not say, as in a fragmented file) and its tracks."""

    boxes: tuple[str, ...]
    seconds: float
    tracks: tuple[Track, ...] = field(default_factory=tuple)

    @property
    def video_tracks(self) -> tuple[Track, ...]:
        return tuple(track for track in self.tracks if track.handler == "vide")


def transcode(
    source: str,
    dest: str,
    content_type: str,
    limits: VideoLimits,
    deadline: float | None = None,
    isolated: bool = True,
) -> Transcoded:
    """Convert the uploaded video at path `source` into the published MP4 at path `dest`, with its poster.

    `content_type` is the type the author announced ("video/mp4" or "video/quicktime"; either is accepted for
    any file of the MP4/QuickTime family, as phones mix them); `limits` what may be accepted; `deadline` a
    `time.monotonic()` value by which the work must be done. With `isolated` (the default) the conversion runs
    in a child Python process (`python -m photofeed.video`), killed at the deadline; without, in this process,
    checking the deadline between frames.

    Raises RejectedVideo, with a sentence for the author, when the file is not an MP4/QuickTime video of an
    accepted codec, is damaged or incomplete, exceeds `limits`, cannot be decoded, crashes the converter or
    cannot be converted by the deadline. OSError (a full disk) and MemoryError propagate, as does any other
    unexpected failure (a RuntimeError from the child), so the work is retried. On RejectedVideo, `dest` is
    removed.
    """
    budget = None if deadline is None else max(0.0, deadline - time.monotonic())
    try:
        if content_type not in CONTENT_TYPES:
            raise RejectedVideo(f"{content_type} is not an accepted video type")
        layout = inspect(source, content_type)
        check_layout(layout, limits)
        if isolated:
            return _in_child(source, dest, limits, layout, deadline, budget)
        return convert(source, dest, limits, layout, deadline, budget)
    except RejectedVideo:
        _remove(dest)
        raise


def output_size(width: int, height: int, max_short_side: int = MAX_SHORT_SIDE) -> tuple[int, int]:
    """The output size in pixels of a video shown `width` x `height`: scaled down (never up) so that its short
    side is at most `max_short_side`, in the same proportions, each side an even number (H.264 4:2:0 needs it)
    and at least 2."""
    scale = min(1.0, max_short_side / min(width, height))

    def even(side: int) -> int:
        return max(2, min(2 * round(side * scale / 2), side - side % 2))

    return even(width), even(height)


def max_bit_rate(width: int, height: int) -> int:
    """The encoder's rate cap in bits per second for a `width` x `height` output: MAXRATE_1080P in proportion to
    the pixel count, at least MAXRATE_FLOOR."""
    return max(MAXRATE_FLOOR, round(MAXRATE_1080P * width * height / PIXELS_1080P))


# --- the boxes, before FFmpeg ---------------------------------------------------------------------------------


def inspect(source: str, content_type: str = "video/mp4") -> Layout:
    """Walk the boxes of the file at path `source` (ISO/IEC 14496-12; Apple's QuickTime File Format), reading
    its headers only: the top-level boxes (checked to end inside the file) and the whole `moov` index.

    Raises RejectedVideo when the file is not of the MP4/QuickTime family (a picture, a WebM, noise), is
    incomplete (a box runs past the end, no `moov`) or its boxes are malformed. `content_type` only words the
    message."""
    size = os.path.getsize(source)
    with open(source, "rb") as file:
        head = file.read(_HEADER_BYTES)
        _check_family(head, content_type)
        boxes: list[str] = []
        moov: bytes | None = None
        position = 0
        while position < size:
            if len(boxes) >= _MAX_TOP_LEVEL_BOXES:
                raise RejectedVideo("the file is damaged: it has too many boxes")
            if size - position < 8:
                break  # a few trailing bytes: not a box, nothing to read
            file.seek(position)
            kind, header, length = _box_header(file.read(16), size - position)
            if position + length > size:
                raise RejectedVideo("the file is incomplete: it ends in the middle of its data")
            boxes.append(kind.decode("latin-1"))
            if kind == b"moov":
                if moov is not None:
                    raise RejectedVideo("the file is damaged: it has two indexes")
                if length > _MAX_MOOV_BYTES:
                    raise RejectedVideo("the file's index is too large for a video of at most a minute")
                file.seek(position + header)
                moov = file.read(length - header)
            position += length
    if moov is None:
        raise RejectedVideo("the file is incomplete: it has no index (moov box)")
    seconds, tracks = _read_moov(moov)
    return Layout(boxes=tuple(boxes), seconds=seconds, tracks=tuple(tracks))


def check_layout(layout: Layout, limits: VideoLimits) -> None:
    """Refuse, from the boxes alone, a file without a video track or whose video tracks exceed `limits`
    (duration from mvhd, size from tkhd and the sample entry, frame rate and work from stts and mdhd).

    Raises RejectedVideo."""
    videos = layout.video_tracks
    if not videos:
        raise RejectedVideo("the file has no video track")
    _check_seconds(layout.seconds, limits)
    for track in videos:
        width, height = max(track.width, track.coded_width), max(track.height, track.coded_height)
        _check_size(width, height, limits)
        if track.seconds > 0 and track.frames > 0:
            fps = track.frames / track.seconds
            _check_rate(fps, limits)
            _check_work(width, height, fps, max(layout.seconds, track.seconds), limits)


def _check_family(head: bytes, content_type: str) -> None:
    found = _sniff_other(head)
    if found is not None:
        raise RejectedVideo(f"the file was announced as {content_type} but is {found}")
    if len(head) < 8:
        raise RejectedVideo(f"the file was announced as {content_type} but is not an MP4 or QuickTime video")
    kind = head[4:8]
    if kind == b"ftyp":
        brands = _ftyp_brands(head)
        if not any(brand in _BRANDS or brand.startswith(_BRAND_PREFIXES) for brand in brands):
            image = imaging.sniff(head)
            what = f"{'an' if image == 'AVIF' else 'a'} {image} image" if image else "not an MP4 or QuickTime video"
            raise RejectedVideo(f"the file was announced as {content_type} but is {what}")
    elif kind not in _QUICKTIME_FIRST:
        raise RejectedVideo(f"the file was announced as {content_type} but is not an MP4 or QuickTime video")


def _sniff_other(head: bytes) -> str | None:
    """What a file that is plainly not of the MP4 family is, worded for the author, or None."""
    image = imaging.sniff(head)
    if image in ("JPEG", "PNG", "WEBP"):
        return f"a {image} image"
    if head.startswith(b"GIF8"):
        return "a GIF image"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        kind = "a WebM video" if b"webm" in head else "a Matroska video"
        return f"{kind}; only MP4 and QuickTime videos are accepted"
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return "an AVI video; only MP4 and QuickTime videos are accepted"
    if head.startswith(b"\x00\x00\x01\xba") or (len(head) > 0 and head[0] == 0x47 and head[188:189] in (b"", b"G")):
        return "an MPEG stream; only MP4 and QuickTime videos are accepted"
    return None


def _ftyp_brands(head: bytes) -> list[bytes]:
    size = struct.unpack_from(">I", head)[0]
    end = min(size, len(head))
    return [head[8:12], *(head[offset : offset + 4] for offset in range(16, end - 3, 4))]


def _box_header(data: bytes, available: int) -> tuple[bytes, int, int]:
    """(type, header length, box length) of the box starting `data`, `available` bytes from the end of its
    parent; a size of 0 means "to the end"."""
    if len(data) < 8:
        raise RejectedVideo("the file is incomplete: it ends in the middle of its data")
    size, kind = struct.unpack_from(">I4s", data)
    header = 8
    if size == 1:
        if len(data) < 16:
            raise RejectedVideo("the file is incomplete: it ends in the middle of its data")
        size = struct.unpack_from(">Q", data, 8)[0]
        header = 16
    elif size == 0:
        size = available
    if size < header:
        raise RejectedVideo("the file is damaged: one of its boxes has an impossible size")
    return kind, header, size


def _children(data: bytes, start: int, end: int) -> Iterator[tuple[bytes, int, int]]:
    """(type, body start, body end) of each box between `start` and `end` of `data`."""
    position = start
    while position + 8 <= end:
        kind, header, length = _box_header(data[position : position + 16], end - position)
        if position + length > end:
            raise RejectedVideo("the file is damaged: one of its boxes runs past its container")
        yield kind, position + header, position + length
        position += length


def _first(data: bytes, start: int, end: int, kind: bytes) -> tuple[int, int] | None:
    for found, body, stop in _children(data, start, end):
        if found == kind:
            return body, stop
    return None


def _read_moov(moov: bytes) -> tuple[float, list[Track]]:
    """The movie's duration in seconds (mvhd) and its tracks."""
    seconds = 0.0
    tracks: list[Track] = []
    try:
        for kind, body, end in _children(moov, 0, len(moov)):
            if kind == b"mvhd":
                timescale, duration = _scale_and_duration(moov, body, end)
                seconds = duration / timescale if timescale else 0.0
            elif kind == b"trak":
                tracks.append(_read_trak(moov, body, end))
    except struct.error as error:
        raise RejectedVideo("the file is damaged: one of its headers is cut short") from error
    return seconds, tracks


def _scale_and_duration(data: bytes, body: int, end: int) -> tuple[int, int]:
    """The timescale and duration of an mvhd or mdhd box (versions 0 and 1)."""
    if data[body] == 1:
        timescale, duration = struct.unpack_from(">IQ", data, body + 20)
    else:
        timescale, duration = struct.unpack_from(">II", data, body + 12)
    if body + (32 if data[body] == 1 else 20) > end:
        raise struct.error("short box")
    if duration in (0xFFFFFFFF, 0xFFFFFFFFFFFFFFFF):
        duration = 0  # "unknown"
    return timescale, duration


def _read_trak(data: bytes, start: int, end: int) -> Track:
    values: dict[str, Any] = {"track_id": 0, "handler": ""}
    tkhd = _first(data, start, end, b"tkhd")
    if tkhd is not None:
        body, stop = tkhd
        wide = data[body] == 1
        values["track_id"] = struct.unpack_from(">I", data, body + (20 if wide else 12))[0]
        matrix_at = body + (52 if wide else 40)
        if matrix_at + 44 > stop:
            raise struct.error("short tkhd")
        a, b, _, c, d = struct.unpack_from(">5i", data, matrix_at)
        values["turn"] = tuple(_sign(value) for value in (a, b, c, d))
        width, height = struct.unpack_from(">II", data, matrix_at + 36)
        values["width"], values["height"] = width >> 16, height >> 16
    mdia = _first(data, start, end, b"mdia")
    if mdia is not None:
        hdlr = _first(data, *mdia, b"hdlr")
        if hdlr is not None:
            values["handler"] = data[hdlr[0] + 8 : hdlr[0] + 12].decode("latin-1")
        mdhd = _first(data, *mdia, b"mdhd")
        if mdhd is not None:
            timescale, duration = _scale_and_duration(data, *mdhd)
            values["seconds"] = duration / timescale if timescale else 0.0
        minf = _first(data, *mdia, b"minf")
        stbl = _first(data, *minf, b"stbl") if minf is not None else None
        if stbl is not None:
            values.update(_read_stbl(data, *stbl, visual=values["handler"] == "vide"))
    return Track(**values)


def _read_stbl(data: bytes, start: int, end: int, visual: bool) -> dict[str, Any]:
    values: dict[str, Any] = {}
    stsd = _first(data, start, end, b"stsd")
    if stsd is not None:
        entries = list(_children(data, stsd[0] + 8, stsd[1]))
        if entries:
            kind, body, stop = entries[0]
            values["codec"] = kind.decode("latin-1")
            if visual and stop - body >= 28:
                values["coded_width"], values["coded_height"] = struct.unpack_from(">HH", data, body + 24)
    stts = _first(data, start, end, b"stts")
    if stts is not None:
        body, stop = stts
        count = min(struct.unpack_from(">I", data, body + 4)[0], (stop - body - 8) // 8)
        values["frames"] = sum(struct.unpack_from(f">{2 * count}I", data, body + 8)[::2])
    return values


def _sign(value: int) -> int:
    """-1, 0 or 1 for a 16.16 matrix entry, ignoring scale and tiny shears."""
    return 0 if abs(value) < 0x8000 else (1 if value > 0 else -1)


def _check_seconds(seconds: float, limits: VideoLimits) -> None:
    if seconds > limits.max_seconds + limits.slack_seconds:
        raise RejectedVideo(f"the video lasts {seconds:.0f} s; at most {limits.max_seconds:g} s are accepted")


def _check_size(width: int, height: int, limits: VideoLimits) -> None:
    if max(width, height) > limits.max_side:
        raise RejectedVideo(
            f"the video is {width}x{height} pixels; at most {limits.max_side} pixels on a side are accepted"
        )


def _check_rate(fps: float, limits: VideoLimits) -> None:
    if fps > limits.max_fps:
        raise RejectedVideo(f"the video has {fps:.0f} frames per second; at most {limits.max_fps:g} are accepted")


def _check_work(width: int, height: int, fps: float, seconds: float, limits: VideoLimits) -> None:
    work = width * height * fps * seconds
    if work > limits.max_work:
        raise RejectedVideo(
            f"the video is too heavy to convert in time: {width}x{height} pixels at {fps:.0f} frames per second "
            f"for {seconds:.0f} s; try a shorter clip, a lower resolution or frame rate"
        )


# --- the conversion -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Request:
    source: str
    dest: str
    limits: VideoLimits
    layout: Layout
    deadline: float | None
    budget: float | None


def _in_child(
    source: str, dest: str, limits: VideoLimits, layout: Layout, deadline: float | None, budget: float | None
) -> Transcoded:
    """`convert` in a child Python process, killed at the deadline; its answer comes back pickled on stdout."""
    request = pickle.dumps(_Request(source, dest, limits, layout, deadline, budget))
    timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
    try:
        child = subprocess.run(
            _child_command(),
            input=request,
            capture_output=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as error:  # run() has killed the child and waited for it
        log.warning("video conversion killed at the deadline", extra={"budget_s": budget})
        raise RejectedVideo(_late(budget)) from error
    if child.returncode < 0:
        name = signal.Signals(-child.returncode).name if -child.returncode in signal.valid_signals() else "?"
        log.warning(
            "video converter died", extra={"signal": name, "stderr": child.stderr[-2000:].decode(errors="replace")}
        )
        if -child.returncode == signal.SIGKILL:
            # killed from outside: the kernel's OOM killer when the file needs more memory than we have
            raise RejectedVideo("the video could not be converted: it needs more memory than is available")
        raise RejectedVideo("the video could not be converted: the file made the converter fail")
    try:
        outcome, value = pickle.loads(child.stdout)  # noqa: S301 - our own child's answer, over a pipe
    except Exception as error:
        raise RuntimeError(
            f"video converter gave no answer (exit {child.returncode}): {child.stderr[-2000:].decode(errors='replace')}"
        ) from error
    if outcome == "done":
        assert isinstance(value, Transcoded)
        return value
    if outcome == "rejected":
        raise RejectedVideo(value)
    if outcome == "raised":
        assert isinstance(value, BaseException)
        raise value
    raise RuntimeError(f"video converter failed: {value}")


def _child_command() -> list[str]:
    """The command that runs `_child_main` (tests replace it with one that crashes)."""
    return [sys.executable, "-m", "photofeed.video"]


def _child_main() -> None:
    """The child's side of `_in_child`: read the request on stdin, answer on stdout; anything else written to
    the standard output (by a library) goes to the standard error instead."""
    answer = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    request: _Request = pickle.loads(sys.stdin.buffer.read())  # noqa: S301 - from our parent, over a pipe
    try:
        result: tuple[str, Any] = (
            "done",
            convert(request.source, request.dest, request.limits, request.layout, request.deadline, request.budget),
        )
    except RejectedVideo as error:
        result = ("rejected", str(error))
    except (OSError, MemoryError) as error:
        result = ("raised", error if _picklable(error) else OSError(getattr(error, "errno", None), str(error)))
    except Exception as error:
        log.exception("video conversion failed")
        result = ("failed", f"{type(error).__name__}: {error}")
    answer.write(pickle.dumps(result))
    answer.close()


def _picklable(error: BaseException) -> bool:
    try:
        pickle.loads(pickle.dumps(error))  # noqa: S301 - what we just made
    except Exception:
        return False
    return True


def convert(
    source: str,
    dest: str,
    limits: VideoLimits,
    layout: Layout,
    deadline: float | None = None,
    budget: float | None = None,
) -> Transcoded:
    """The conversion itself, in this process (`transcode` calls it directly or in a child): open the file at
    `source` with FFmpeg's QuickTime/MP4 demuxer, check it against `limits` again, write the MP4 at `dest` and
    render the poster. `layout` is what `inspect` read (the display matrix comes from it); `deadline` (a
    `time.monotonic()` value) is checked between frames, `budget` (seconds) words the message.

    Raises RejectedVideo (see `transcode`); OSError and MemoryError propagate."""
    import av

    try:
        with av.open(source, format="mov") as container:
            result = _Conversion(container, dest, limits, layout, deadline, budget).run()
    except RejectedVideo:
        raise
    except av.error.FFmpegError as error:
        if isinstance(error, OSError | MemoryError):
            raise  # reading the upload or writing the output failed (a full disk): worth retrying
        log.warning("undecodable video: %s: %s", type(error).__name__, error)
        raise RejectedVideo("the video could not be decoded; it is damaged or incomplete") from error
    except (ValueError, EOFError, IndexError) as error:
        log.warning("undecodable video: %s: %s", type(error).__name__, error)
        raise RejectedVideo("the video could not be decoded; it is damaged or incomplete") from error
    return result


class _Conversion:
    """One conversion: probe, then decode, filter and encode every frame, then read the result back."""

    def __init__(
        self,
        container: av.container.InputContainer,
        dest: str,
        limits: VideoLimits,
        layout: Layout,
        deadline: float | None,
        budget: float | None,
    ) -> None:
        self.container, self.dest, self.limits, self.deadline, self.budget = container, dest, limits, deadline, budget
        self.video = self._video_stream()
        self.time_base = self.video.time_base or Fraction(1, 90_000)
        self.audio = next((stream for stream in container.streams.audio if stream.codec_context is not None), None)
        track = next((t for t in layout.video_tracks if t.track_id == self.video.id), None)
        self.turn = _TURNS.get(track.turn if track else (1, 0, 0, 1), ())
        self.seconds = self._probe()
        stored = (self.video.codec_context.width, self.video.codec_context.height)
        quarter = bool(self.turn) and self.turn[0].startswith("transpose")
        self.shown = (stored[1], stored[0]) if quarter else stored
        self.size = output_size(*self.shown)
        self.scaled = (self.size[1], self.size[0]) if quarter else self.size  # before turning
        self.poster_at = min(self.seconds / 10, 1.0)
        self.poster: Image.Image | None = None
        self.poster_taken = False
        self.unnamed: Any = None  # the bitstream filter, made once the encoder is open
        self.graph: av.filter.Graph | None = None
        self.graph_key: tuple[int, int, str, int, int] | None = None
        self.hd = min(self.size) >= 720

    def _video_stream(self) -> av.video.stream.VideoStream:
        from av.stream import Disposition

        videos = [s for s in self.container.streams.video if not s.disposition & Disposition.attached_pic]
        if not videos:
            raise RejectedVideo("the file has no video track")
        for stream in videos:
            context = stream.codec_context
            if context is not None and context.name in VIDEO_CODECS:
                context.thread_type = "AUTO"  # FFmpeg 7.1's HEVC decoder can deadlock with slice threads alone
                context.thread_count = 0
                return stream
        names = {stream.codec_context.name if stream.codec_context else "an unknown codec" for stream in videos}
        accepted = ", ".join(sorted(set(VIDEO_CODECS.values())))
        raise RejectedVideo(
            f"the video is encoded as {', '.join(sorted(names))}, which is not accepted ({accepted} are)"
        )

    def _probe(self) -> float:
        """The duration in seconds, after checking what FFmpeg read against the limits."""
        stream, limits = self.video, self.limits
        seconds = 0.0
        if self.container.duration:
            seconds = self.container.duration / 1_000_000
        elif stream.duration and stream.time_base:
            seconds = float(stream.duration * stream.time_base)
        context = stream.codec_context
        width, height = context.width, context.height
        if not width or not height:
            raise RejectedVideo("the video could not be decoded; it is damaged or incomplete")
        _check_seconds(seconds, limits)
        _check_size(width, height, limits)
        rate = stream.average_rate or stream.guessed_rate
        fps = float(rate) if rate else 0.0
        if not fps and stream.frames and seconds:
            fps = stream.frames / seconds
        _check_rate(fps, limits)
        _check_work(width, height, fps, seconds, limits)
        self.fps = fps
        return seconds

    def run(self) -> Transcoded:
        import av

        out_rate = Fraction(min(self.fps, MAX_OUTPUT_FPS)).limit_denominator(1001) if self.fps else Fraction(30)
        with av.open(
            self.dest,
            "w",
            format="mp4",
            container_options={"movflags": "+faststart", "fflags": "+bitexact"},
        ) as output:
            encoder = self._video_encoder(output, out_rate)
            sound = self._audio_encoder(output) if self.audio is not None else None
            self._pump(output, encoder, sound)
            output.metadata.clear()
        return self._result(sound is not None)

    def _video_encoder(self, output: av.container.OutputContainer, rate: Fraction) -> Any:
        width, height = self.size
        cap = max_bit_rate(width, height)
        stream: Any = output.add_stream(
            "libx264",
            rate=rate,
            options={
                "preset": X264_PRESET,
                "crf": str(X264_CRF),
                "maxrate": str(cap),
                "bufsize": str(2 * cap),
                "flags": "+bitexact",
            },
        )
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.time_base = self.time_base
        context = stream.codec_context
        # frame threads, one per core (x264's own choice): PyAV asks for slice threads, which x264 runs slower
        context.thread_type, context.thread_count = "FRAME", 0
        context.profile = "High"
        context.time_base = self.time_base
        tag = _BT709 if self.hd else _SMPTE170M
        context.color_primaries = context.color_trc = context.colorspace = tag
        context.color_range = 1  # limited ("tv")
        return stream

    def _audio_encoder(self, output: av.container.OutputContainer) -> Any:
        assert self.audio is not None
        source = self.audio.codec_context
        rate = source.sample_rate if source.sample_rate in AUDIO_RATES else 48_000
        layout = "mono" if source.channels == 1 else "stereo"
        stream = output.add_stream("aac", rate=rate, layout=layout)
        stream.codec_context.bit_rate = AUDIO_BIT_RATE
        stream.codec_context.options = {"flags": "+bitexact"}
        return stream

    def _pump(self, output: av.container.OutputContainer, encoder: Any, sound: Any) -> None:
        """Demux, decode, thin to MAX_OUTPUT_FPS, filter and encode every frame."""
        streams = [self.video] if self.audio is None else [self.video, self.audio]
        origin = (self.container.start_time or 0) / 1_000_000
        slot = -1
        last_pts = -1
        time_base = self.time_base
        for packet in self.container.demux(*streams):
            self._check_deadline()
            if packet.stream is self.audio:
                for sample in self.audio.decode(packet):
                    sample.pts = None if sample.time is None else round((sample.time - origin) * sample.sample_rate)
                    sample.time_base = Fraction(1, sample.sample_rate)
                    output.mux(sound.encode(sample))
                continue
            for frame in self.video.decode(packet):
                if frame.time is None:
                    continue
                # one frame per 1/60 s slot at most: 120 and 240 fps slow motion keep every 2nd or 4th frame
                moment = frame.time - origin
                frame_slot = math.floor(moment * MAX_OUTPUT_FPS + 1e-6)
                pts = round(moment / time_base)
                if frame_slot <= slot or pts <= last_pts:
                    continue
                slot, last_pts = frame_slot, pts
                for shown in self._filter(frame):
                    shown.pts, shown.time_base = pts, time_base
                    self._take_poster(shown, moment)
                    self._mux_video(output, encoder, encoder.encode(shown))
        self._mux_video(output, encoder, encoder.encode(None))
        self._mux_video(output, encoder, None)
        if sound is not None:
            output.mux(sound.encode(None))
        if self.poster is None:
            raise RejectedVideo("the video could not be decoded; it has no picture")

    def _mux_video(self, output: av.container.OutputContainer, encoder: Any, packets: list[Any] | None) -> None:
        """Mux the encoder's packets (None: what the bitstream filter still holds) without x264's SEI, which
        names the encoder and its settings (FFmpeg's `filter_units` with NAL type 6, SEI, removed; x264 writes
        no other SEI with these settings)."""
        from av.bitstream import BitStreamFilterContext

        if self.unnamed is None:
            if not packets:
                return
            self.unnamed = BitStreamFilterContext("filter_units=remove_types=6", encoder)
        for packet in [None] if packets is None else packets:
            for filtered in self.unnamed.filter(packet):
                filtered.stream = encoder
                output.mux(filtered)

    def _filter(self, frame: av.video.frame.VideoFrame) -> list[av.video.frame.VideoFrame]:
        """The frame scaled to the output size in 8-bit 4:2:0, colours moved to the output's matrix, turned as
        the display matrix says."""
        import av

        key = (frame.width, frame.height, frame.format.name, frame.colorspace, frame.color_range)
        if self.graph is None or key != self.graph_key:
            self.graph, self.graph_key = self._graph(frame), key
        self.graph.vpush(frame)
        frames = []
        while True:
            try:
                frames.append(self.graph.vpull())
            except (av.error.BlockingIOError, av.error.EOFError):
                return frames

    def _graph(self, frame: av.video.frame.VideoFrame) -> av.filter.Graph:
        import av

        graph = av.filter.Graph()
        nodes = [
            graph.add_buffer(width=frame.width, height=frame.height, format=frame.format, time_base=self.time_base)
        ]
        context: Any = self.video.codec_context
        lines = min(frame.width, frame.height)
        matrix = _MATRICES.get(frame.colorspace, "bt709" if lines >= 720 else "bt601")
        full = frame.color_range == _RANGE_JPEG or frame.format.name.startswith("yuvj")
        if context.color_trc in _HDR_TRANSFERS or context.color_primaries == _BT2020:
            # HLG or PQ from a phone: brought into BT.709 primaries; the curve is taken as SDR's (HLG is made to
            # look right that way), which clips PQ highlights, a fair price for rarely seen files.
            nodes.append(graph.add("format", "yuv420p10le"))
            nodes.append(
                graph.add(
                    "colorspace",
                    f"all={'bt709' if self.hd else 'bt601-6-525'}:iall=bt2020:itrc=bt2020-10:"
                    f"irange={'pc' if full else 'tv'}:range=tv:format=yuv420p",
                )
            )
            matrix, full = "bt709" if self.hd else "smpte170m", False
        width, height = self.scaled
        nodes.append(
            graph.add(
                "scale",
                f"w={width}:h={height}:flags=bicubic:in_color_matrix={matrix}:in_range={'pc' if full else 'tv'}:"
                f"out_color_matrix={'bt709' if self.hd else 'smpte170m'}:out_range=tv",
            )
        )
        nodes.append(graph.add("format", "yuv420p"))
        for step in self.turn:
            name, _, args = step.partition("=")
            nodes.append(graph.add(name, args or None))
        nodes.append(graph.add("setsar", "1"))
        nodes.append(graph.add("buffersink"))
        graph.link_nodes(*nodes).configure()
        return graph

    def _take_poster(self, frame: av.video.frame.VideoFrame, moment: float) -> None:
        """Keep the first frame at or past `poster_at` (until then, the latest) as an RGB picture."""
        if self.poster_taken:
            return
        from av.video.reformatter import ColorRange, Colorspace

        self.poster = frame.to_image(
            src_colorspace=Colorspace.ITU709 if self.hd else Colorspace.SMPTE170M,
            src_color_range=ColorRange.MPEG,
            dst_color_range=ColorRange.JPEG,
        )
        self.poster_taken = moment >= self.poster_at

    def _check_deadline(self) -> None:
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise RejectedVideo(_late(self.budget))

    def _result(self, has_audio: bool) -> Transcoded:
        import av

        with av.open(self.dest, format="mp4") as written:
            seconds = (written.duration or 0) / 1_000_000
        assert self.poster is not None
        width, height = self.size
        try:
            poster = imaging.render_picture(self.poster.convert("RGB"), width, height)
        except imaging.RejectedImage as error:
            raise RejectedVideo("the video's poster picture could not be made") from error
        return Transcoded(
            width=width,
            height=height,
            duration_s=round(seconds, 3),
            video_path=self.dest,
            poster=poster,
            has_audio=has_audio,
        )


def _late(budget: float | None) -> str:
    if budget is None:
        return "the video took too long to convert"
    return f"the video could not be converted within {max(1, round(budget))} s"


def _remove(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.remove(path)


if __name__ == "__main__":
    # Through the imported module, not this `__main__` copy, so that what is pickled names photofeed.video.
    from photofeed import video

    video._child_main()
