"""Test videos made on the spot with PyAV: ordinary clips and every hostile file the media worker must refuse.

Every clip shows the same test pattern: a red band across the top quarter of the picture as it is
meant to be shown, a blue rest, and a white square moving left to right (so frames differ). A clip
stored rotated keeps the pattern upright only once its rotation is applied.
"""

from __future__ import annotations

import io
import math
import os
import struct
from fractions import Fraction

import av
from PIL import Image, ImageDraw

# ISO 6709, as an iPhone writes it: the Eiffel Tower.
GPS_LOCATION = "+48.8584+002.2945+035.000/"
GPS_MARKER = b"+48.8584"
TOP = (220, 20, 20)  # the band across the top of the shown picture
REST = (20, 40, 200)
# The display matrix of a track shown turned 90 degrees clockwise (ISO/IEC 14496-12 8.3.2, 16.16
# fixed point for a, b, c, d; u, v, w are 2.30): x' = -y + tx, y' = x.
_CLOCKWISE = (0, 1, -1, 0)


def pattern(width: int, height: int, index: int = 0, frames: int = 1) -> Image.Image:
    """The test picture as shown: red top quarter, blue rest, a white square at a place set by `index`."""
    picture = Image.new("RGB", (width, height), REST)
    draw = ImageDraw.Draw(picture)
    draw.rectangle((0, 0, width - 1, max(1, height // 4) - 1), fill=TOP)
    side = max(2, min(width, height) // 6)
    left = (width - side) * index // max(1, frames - 1)
    top = height // 2 - side // 2
    draw.rectangle((left, top, left + side - 1, top + side - 1), fill=(255, 255, 255))
    return picture


def _write(
    container_format: str,
    codec: str,
    size: tuple[int, int],
    seconds: float,
    fps: int,
    audio: bool,
    options: dict[str, str] | None = None,
    stored_turned: bool = False,
    audio_rate: int = 44_100,
    audio_layout: str = "stereo",
) -> bytes:
    """A clip of `size` (stored) pixels; the pattern is drawn as shown, then turned a quarter counter-clockwise
    for storage when `stored_turned` (so that a clockwise display rotation puts it upright)."""
    width, height = size
    out = io.BytesIO()
    frames = max(1, round(seconds * fps))
    with av.open(out, "w", format=container_format) as container:
        video = container.add_stream(codec, rate=fps, options=options or {})
        video.width, video.height = width, height
        video.pix_fmt = "yuv420p"
        sound = None
        if audio:
            sound = container.add_stream("aac", rate=audio_rate, layout=audio_layout)
        shown = (height, width) if stored_turned else (width, height)
        for index in range(frames):
            picture = pattern(*shown, index=index, frames=frames)
            if stored_turned:
                picture = picture.transpose(Image.Transpose.ROTATE_90)  # counter-clockwise
            frame = av.VideoFrame.from_image(picture)
            frame.pts = index
            frame.time_base = Fraction(1, fps)
            container.mux(video.encode(frame))
        container.mux(video.encode(None))
        if sound is not None:
            _sine(container, sound, seconds, audio_rate, audio_layout)
    return out.getvalue()


def _sine(
    container: av.container.OutputContainer, sound: av.audio.stream.AudioStream, seconds: float, rate: int, layout: str
) -> None:
    channels = 2 if layout == "stereo" else 1
    total, chunk, done = round(seconds * rate), 1024, 0
    while done < total:
        count = min(chunk, total - done)
        samples = b"".join(
            struct.pack("<h", round(8000 * math.sin(2 * math.pi * 440 * (done + i) / rate))) * channels
            for i in range(count)
        )
        frame = av.AudioFrame(format="s16", layout=layout, samples=count)
        frame.planes[0].update(samples)
        frame.sample_rate = rate
        frame.pts = done
        frame.time_base = Fraction(1, rate)
        container.mux(sound.encode(frame))
        done += count
    container.mux(sound.encode(None))


def h264_mp4(width: int, height: int, seconds: float, fps: int = 10, audio: bool = False) -> bytes:
    """An MP4 with H.264 video (libx264, ultrafast) and, if asked, AAC stereo 44.1 kHz audio; moov after mdat."""
    return _write("mp4", "libx264", (width, height), seconds, fps, audio, {"preset": "ultrafast"})


def hevc_mov(
    width: int, height: int, seconds: float, rotation: int = 90, gps: bool = True, audio: bool = True, fps: int = 10
) -> bytes:
    """A QuickTime file as an iPhone writes one: HEVC video stored `width` x `height`, whose track header says to
    show it turned 90 degrees clockwise (`rotation` 90; 0 for none), an ISO 6709 `©xyz` location in moov/udta
    when `gps`, and AAC audio when `audio`.

    PyAV cannot write a display matrix or a location, so both are patched into the written file: the tkhd matrix
    in place, the udta box appended at the end of moov (moov comes after mdat, so no chunk offset moves)."""
    if rotation not in (0, 90):
        raise ValueError("rotation is 0 or 90")
    options = {"preset": "ultrafast", "x265-params": "log-level=error"}
    data = bytearray(
        _write("mov", "libx265", (width, height), seconds, fps, audio, options, stored_turned=rotation == 90)
    )
    if rotation == 90:
        tkhd = _video_tkhd(bytes(data))
        a, b, c, d = _CLOCKWISE
        matrix = struct.pack(">9i", a << 16, b << 16, 0, c << 16, d << 16, 0, height << 16, 0, 1 << 30)
        version = data[tkhd + 8]
        offset = tkhd + 8 + (52 if version == 1 else 40)
        data[offset : offset + 36] = matrix
    if gps:
        data = bytearray(append_to_moov(bytes(data), _box(b"udta", xyz_atom(GPS_LOCATION))))
    return bytes(data)


def xyz_atom(location: str) -> bytes:
    """A QuickTime user-data text atom `©xyz`: 16-bit length, 16-bit packed language code, the text."""
    text = location.encode()
    return _box(b"\xa9xyz", struct.pack(">HH", len(text), 0x15C7) + text)


def audio_only_mp4(seconds: float = 1.0) -> bytes:
    """An MP4 (M4A-like) with AAC audio and no video track."""
    out = io.BytesIO()
    with av.open(out, "w", format="mp4") as container:
        sound = container.add_stream("aac", rate=44_100, layout="stereo")
        _sine(container, sound, seconds, 44_100, "stereo")
    return out.getvalue()


def long_clip(seconds: float) -> bytes:
    """A clip `seconds` long, cheap to make: 16x16 pixels at 1 frame per second, no audio."""
    return _write("mp4", "libx264", (16, 16), seconds, 1, False, {"preset": "ultrafast"})


def fast_clip(width: int, height: int, seconds: float, fps: int) -> bytes:
    """A small H.264 MP4 at a high frame rate (e.g. 120 fps slow motion)."""
    return _write("mp4", "libx264", (width, height), seconds, fps, False, {"preset": "ultrafast"})


def webm(width: int = 64, height: int = 48, seconds: float = 0.5) -> bytes:
    """A WebM (Matroska) clip with VP9 video: a real video, in a container that is not accepted."""
    return _write("webm", "libvpx-vp9", (width, height), seconds, 10, False, {"deadline": "realtime", "cpu-used": "8"})


def truncated(data: bytes, keep: float = 0.6) -> bytes:
    """The file cut short after `keep` of its bytes, as an interrupted upload leaves it."""
    return data[: int(len(data) * keep)]


def huge_dimensions(claimed: int = 60_000) -> bytes:
    """A small real MP4 whose headers claim `claimed` x `claimed` pixels (tkhd and the avc1 sample entry; both
    hold at most 65,535, so the 100,000 of the brief cannot be written)."""
    data = bytearray(h264_mp4(64, 48, 0.5))
    tkhd = _video_tkhd(bytes(data))
    version = data[tkhd + 8]
    offset = tkhd + 8 + (88 if version == 1 else 76)
    data[offset : offset + 8] = struct.pack(">II", claimed << 16, claimed << 16)
    entry = bytes(data).find(b"avc1")
    assert entry > 0
    data[entry + 4 + 24 : entry + 4 + 28] = struct.pack(">HH", claimed, claimed)
    return bytes(data)


def random_bytes(size: int = 200_000) -> bytes:
    """Noise: no container at all."""
    return os.urandom(size)


def jpeg_photo() -> bytes:
    """A JPEG photo, to be sent announced as video/mp4."""
    out = io.BytesIO()
    pattern(320, 240).save(out, "JPEG")
    return out.getvalue()


def top_level_boxes(data: bytes) -> list[str]:
    """The types of the file's top-level ISO-BMFF boxes, in order (e.g. ["ftyp", "moov", "mdat"])."""
    return [kind.decode("latin-1") for kind, _, _ in _boxes(data, 0, len(data))]


def box_paths(data: bytes) -> list[str]:
    """Every box of the file as a path ("moov/trak/tkhd"), descending into the container boxes, in order."""
    containers = {b"moov", b"trak", b"mdia", b"minf", b"stbl", b"udta", b"edts", b"dinf", b"mvex", b"meta", b"ilst"}
    found: list[str] = []

    def walk(start: int, end: int, prefix: str) -> None:
        for kind, body, stop in _boxes(data, start, end):
            path = prefix + kind.decode("latin-1")
            found.append(path)
            if kind in containers:
                # a QuickTime `meta` is a plain container; an ISO one has a version and flags first
                skip = 4 if kind == b"meta" and data[body + 4 : body + 8] not in (b"hdlr", b"keys") else 0
                walk(body + skip, stop, path + "/")

    walk(0, len(data), "")
    return found


def metadata(data: bytes) -> dict[str, dict[str, str]]:
    """What FFmpeg reads as metadata from the file: "container" and one entry per stream ("stream 0", ...)."""
    with av.open(io.BytesIO(data)) as container:
        found = {"container": dict(container.metadata)}
        for stream in container.streams:
            found[f"stream {stream.index}"] = dict(stream.metadata)
    return found


def append_to_moov(data: bytes, box: bytes) -> bytes:
    """`box` added as the last child of moov, which must be the file's last top-level box."""
    boxes = list(_boxes(data, 0, len(data)))
    kind, body, end = boxes[-1]
    assert kind == b"moov", "moov is not the last box"
    assert end == len(data), "moov is not the last box"
    start = body - 8
    size = struct.unpack_from(">I", data, start)[0]
    return data[:start] + struct.pack(">I", size + len(box)) + data[start + 4 :] + box


def _box(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", 8 + len(body)) + kind + body


def _boxes(data: bytes, start: int, end: int) -> list[tuple[bytes, int, int]]:
    """(type, body start, box end) of each box between `start` and `end`."""
    found = []
    position = start
    while position + 8 <= end:
        size, kind = struct.unpack_from(">I4s", data, position)
        header = 8
        if size == 1:
            size = struct.unpack_from(">Q", data, position + 8)[0]
            header = 16
        elif size == 0:
            size = end - position
        if size < header:
            break
        found.append((kind, position + header, min(position + size, end)))
        position += size
    return found


def _video_tkhd(data: bytes) -> int:
    """The offset of the tkhd box of the first video track."""
    (moov,) = [(body, end) for kind, body, end in _boxes(data, 0, len(data)) if kind == b"moov"]
    for kind, body, end in _boxes(data, *moov):
        if kind != b"trak":
            continue
        children = {k: (b, e) for k, b, e in _boxes(data, body, end)}
        mdia = {k: (b, e) for k, b, e in _boxes(data, *children[b"mdia"])}
        hdlr_body = mdia[b"hdlr"][0]
        if data[hdlr_body + 8 : hdlr_body + 12] == b"vide":
            return children[b"tkhd"][0] - 8
    raise AssertionError("no video track")
