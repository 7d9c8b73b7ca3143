"""The video pipeline (DESIGN.md flow 7): what an author and a viewer notice of a converted video, and that every
hostile file is refused quickly with a plain reason."""

from __future__ import annotations

import io
import sys
import time
from pathlib import Path

import av
import pytest
from PIL import Image

from photofeed import video
from photofeed.video import RejectedVideo, Transcoded, VideoLimits
from tests import videos

pytestmark = pytest.mark.timeout(60)

LIMITS = VideoLimits()


@pytest.fixture
def files(tmp_path: Path):
    """Write an upload to disk; returns (source path, dest path)."""

    def write(data: bytes, name: str = "upload") -> tuple[str, str]:
        source = tmp_path / name
        source.write_bytes(data)
        return str(source), str(tmp_path / f"{name}.out.mp4")

    return write


def convert(files, data: bytes, content_type: str = "video/mp4", limits: VideoLimits = LIMITS, **kwargs) -> Transcoded:
    source, dest = files(data)
    return video.transcode(source, dest, content_type, limits, **kwargs)


def streams_of(path: str) -> dict[str, str]:
    """Codec name per stream type of a written file."""
    with av.open(path) as container:
        return {stream.type: stream.codec_context.name for stream in container.streams}


def frames_decoded(path: str) -> int:
    """How many pictures a player gets out of the file, decoding it to the end (raises if it cannot)."""
    with av.open(path) as container:
        return sum(1 for _ in container.decode(video=0))


def is_upright(jpeg: bytes) -> bool:
    """The test pattern's red band is at the top of the picture, not at a side or the bottom."""
    picture = Image.open(io.BytesIO(jpeg)).convert("RGB")
    width, height = picture.size

    def reddish(x: int, y: int) -> bool:
        red, _, blue = picture.getpixel((x, y))
        return red > 150 and blue < 100

    return (
        reddish(width // 2, height // 16)
        and not reddish(width // 2, height - 1 - height // 16)
        and not reddish(width // 16, height * 3 // 4)
        and not reddish(width - 1 - width // 16, height * 3 // 4)
    )


def assert_clean(path: str) -> None:
    """No location, no metadata, no encoder name anywhere in the file."""
    data = Path(path).read_bytes()
    assert videos.GPS_MARKER not in data
    assert b"\xa9xyz" not in data
    for encoder_name in (b"Lavf", b"Lavc", b"x264"):
        assert encoder_name not in data
    assert not [box for box in videos.box_paths(data) if box.endswith(("\xa9xyz", "keys", "data", "\xa9too"))]
    found = videos.metadata(data)
    assert set(found.pop("container")) <= {"major_brand", "minor_version", "compatible_brands"}
    for tags in found.values():
        assert set(tags) <= {"language", "handler_name", "vendor_id"}
        assert tags.get("handler_name") in (None, "VideoHandler", "SoundHandler")


@pytest.mark.parametrize("audio", [True, False], ids=["with audio", "without audio"])
def test_an_h264_mp4_is_published_streamable_and_playable(files, audio: bool) -> None:
    # Given a 320x240 H.264 clip of 1 s at 10 fps
    clip = videos.h264_mp4(320, 240, 1.0, fps=10, audio=audio)

    # When it is converted
    result = convert(files, clip)

    # Then it keeps its size and duration, is H.264 (+ AAC), starts with its index and plays to the end
    assert (result.width, result.height) == (320, 240)
    assert result.duration_s == pytest.approx(1.0, abs=0.1)
    assert result.has_audio is audio
    assert streams_of(result.video_path) == ({"video": "h264", "audio": "aac"} if audio else {"video": "h264"})
    assert videos.top_level_boxes(Path(result.video_path).read_bytes()).index("moov") < videos.top_level_boxes(
        Path(result.video_path).read_bytes()
    ).index("mdat")
    assert frames_decoded(result.video_path) == 10
    assert_clean(result.video_path)
    # and its poster is the shown picture, with variants and a placeholder
    assert (result.poster.width, result.poster.height) == (320, 240)
    assert set(result.poster.variants) == {"thumbnail", "medium", "large"}
    assert is_upright(result.poster.variants["large"])
    assert len(result.poster.blurhash) == 28


def test_a_phone_clip_is_turned_upright_and_its_location_removed(files) -> None:
    # Given an iPhone-like QuickTime file: HEVC stored 320x240, shown turned 90 degrees, with audio and GPS
    clip = videos.hevc_mov(320, 240, 1.0, rotation=90, gps=True, audio=True)
    assert videos.GPS_MARKER in clip
    assert "location" in videos.metadata(clip)["container"]

    # When it is converted
    result = convert(files, clip, "video/quicktime")

    # Then it is shown upright, portrait, with sound, as H.264/AAC, without any trace of where it was filmed
    assert (result.width, result.height) == (240, 320)
    assert result.duration_s == pytest.approx(1.0, abs=0.1)
    assert result.has_audio
    with av.open(result.video_path) as container:
        stream = container.streams.video[0]
        assert (stream.codec_context.width, stream.codec_context.height) == (240, 320)
        first = next(container.decode(stream))
        assert first.rotation == 0  # no display matrix left for a player to apply again
        assert is_upright_frame(first.to_image())
    assert streams_of(result.video_path) == {"video": "h264", "audio": "aac"}
    assert videos.top_level_boxes(Path(result.video_path).read_bytes())[:2] == ["ftyp", "moov"]
    assert frames_decoded(result.video_path) == 10
    assert_clean(result.video_path)
    assert (result.poster.width, result.poster.height) == (240, 320)
    assert is_upright(result.poster.variants["large"])


def is_upright_frame(picture: Image.Image) -> bool:
    out = io.BytesIO()
    picture.save(out, "JPEG")
    return is_upright(out.getvalue())


def test_the_isolated_and_inline_conversions_agree(files, tmp_path: Path) -> None:
    clip = videos.hevc_mov(160, 120, 0.5, audio=True)
    source, _ = files(clip)

    inline = video.transcode(source, str(tmp_path / "inline.mp4"), "video/quicktime", LIMITS, isolated=False)
    isolated = video.transcode(source, str(tmp_path / "isolated.mp4"), "video/quicktime", LIMITS, isolated=True)

    assert (isolated.width, isolated.height, isolated.duration_s, isolated.has_audio) == (
        inline.width,
        inline.height,
        inline.duration_s,
        inline.has_audio,
    )
    assert isolated.poster == inline.poster  # made from the frame before encoding: the same pixels
    assert frames_decoded(isolated.video_path) == frames_decoded(inline.video_path) == 5


@pytest.mark.parametrize(
    ("shown", "output"),
    [
        ((1920, 1080), (1920, 1080)),
        ((3840, 2160), (1920, 1080)),
        ((2160, 3840), (1080, 1920)),
        ((4032, 3024), (1440, 1080)),
        ((1080, 1080), (1080, 1080)),
        ((1280, 720), (1280, 720)),
        ((321, 241), (320, 240)),
        ((64, 48), (64, 48)),
        ((4096, 1000), (4096, 1000)),
    ],
)
def test_the_output_is_at_most_1080_on_its_short_side_never_upscaled_and_even(
    shown: tuple[int, int], output: tuple[int, int]
) -> None:
    assert video.output_size(*shown) == output


def test_the_rate_cap_follows_the_picture_size() -> None:
    assert video.max_bit_rate(1920, 1080) == 6_000_000
    assert video.max_bit_rate(1080, 1920) == 6_000_000
    assert video.max_bit_rate(1280, 720) == 2_666_667
    assert video.max_bit_rate(320, 240) == 1_500_000


def test_a_clip_larger_than_1080p_is_scaled_down(files) -> None:
    # two frames of 1440x1920 (portrait, stored as such)
    result = convert(files, videos.h264_mp4(1440, 1920, 0.2, fps=10))

    assert (result.width, result.height) == (1080, 1440)
    with av.open(result.video_path) as container:
        context = container.streams.video[0].codec_context
        assert (context.width, context.height) == (1080, 1440)
        assert context.colorspace == 1  # BT.709, tagged
        assert context.color_range == 1  # limited
    assert frames_decoded(result.video_path) == 2


def test_slow_motion_is_thinned_to_60_frames_per_second(files) -> None:
    result = convert(files, videos.fast_clip(64, 48, 1.0, fps=120))

    assert result.duration_s == pytest.approx(1.0, abs=0.1)
    assert 55 <= frames_decoded(result.video_path) <= 61


# --- refused --------------------------------------------------------------------------------------------------


def assert_refused(files, data: bytes, reason: str, content_type: str = "video/mp4", **kwargs) -> None:
    source, dest = files(data)
    started = time.monotonic()
    with pytest.raises(RejectedVideo, match=reason):
        video.transcode(source, dest, content_type, kwargs.pop("limits", LIMITS), **kwargs)
    assert time.monotonic() - started < 10
    assert not Path(dest).exists()


def test_a_jpeg_announced_as_a_video_is_refused(files) -> None:
    assert_refused(files, videos.jpeg_photo(), "announced as video/mp4 but is a JPEG image")


def test_a_webm_is_refused_as_not_an_accepted_container(files) -> None:
    assert_refused(files, videos.webm(), "is a WebM video; only MP4 and QuickTime videos are accepted")


def test_random_bytes_are_refused(files) -> None:
    assert_refused(files, b"\x12\x34\x56\x78junk" + videos.random_bytes(), "is not an MP4 or QuickTime video")


@pytest.mark.parametrize("index_first", [False, True], ids=["index last", "index first"])
def test_a_truncated_upload_is_refused_as_incomplete(files, index_first: bool) -> None:
    clip = videos.h264_mp4(160, 120, 1.0, audio=True)
    if index_first:
        source, dest = files(clip, "complete")
        clip = Path(video.transcode(source, dest, "video/mp4", LIMITS).video_path).read_bytes()
    assert_refused(files, videos.truncated(clip), "the file is incomplete")


def test_an_audio_only_mp4_is_refused(files) -> None:
    assert_refused(files, videos.audio_only_mp4(), "the file has no video track")


def test_headers_claiming_enormous_dimensions_are_refused_before_decoding(files) -> None:
    assert_refused(files, videos.huge_dimensions(60_000), "60000x60000 pixels; at most 4096 pixels on a side")


def test_a_clip_longer_than_a_minute_is_refused(files) -> None:
    assert_refused(files, videos.long_clip(75), "the video lasts 75 s; at most 60 s are accepted")


def test_a_phone_clip_a_little_over_the_limit_is_accepted(files) -> None:
    limits = VideoLimits(max_seconds=1.0)
    assert convert(files, videos.h264_mp4(64, 48, 1.3), limits=limits).duration_s == pytest.approx(1.3, abs=0.1)
    assert_refused(files, videos.h264_mp4(64, 48, 2.0), "the video lasts 2 s; at most 1 s are accepted", limits=limits)


def test_a_frame_rate_above_the_limit_is_refused(files) -> None:
    clip = videos.fast_clip(32, 32, 0.5, fps=120)
    assert_refused(files, clip, "120 frames per second; at most 100 are accepted", limits=VideoLimits(max_fps=100))


def test_a_clip_too_heavy_to_convert_in_time_is_refused_up_front(files) -> None:
    # 320x240 at 10 fps for 1 s is 768,000 decoded pixels
    clip = videos.h264_mp4(320, 240, 1.0)
    assert_refused(files, clip, "too heavy to convert in time", limits=VideoLimits(max_work=500_000))


def test_a_damaged_picture_stream_is_refused(files) -> None:
    # Given a file whose boxes are sound but whose picture data is noise
    clip = bytearray(videos.h264_mp4(160, 120, 1.0))
    mdat = clip.index(b"mdat") - 4
    size = int.from_bytes(clip[mdat : mdat + 4], "big")
    clip[mdat + 8 : mdat + size] = videos.random_bytes(size - 8)
    for isolated in (False, True):
        assert_refused(files, bytes(clip), "could not be decoded", isolated=isolated)


def test_an_unaccepted_content_type_is_refused(files) -> None:
    assert_refused(files, videos.h264_mp4(64, 48, 0.5), "video/webm is not an accepted video type", "video/webm")


# --- the worker's safety --------------------------------------------------------------------------------------


def test_a_conversion_that_hangs_is_killed_at_its_deadline(files, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a converter that never finishes (a decoder stuck on a hostile file)
    monkeypatch.setattr(video, "_child_command", lambda: [sys.executable, "-c", "import time; time.sleep(60)"])
    started = time.monotonic()

    # Then it is killed at the deadline and the video refused
    assert_refused(files, videos.h264_mp4(64, 48, 0.5), "could not be converted within 1 s", deadline=started + 0.5)
    assert time.monotonic() - started < 2


def test_an_inline_conversion_past_its_deadline_stops(files) -> None:
    clip = videos.h264_mp4(160, 120, 1.0)
    assert_refused(files, clip, "could not be converted within", deadline=time.monotonic() - 1, isolated=False)


def test_a_converter_that_crashes_is_a_refusal(files, monkeypatch: pytest.MonkeyPatch) -> None:
    crash = "import os, signal; os.kill(os.getpid(), signal.SIGSEGV)"
    monkeypatch.setattr(video, "_child_command", lambda: [sys.executable, "-c", crash])
    assert_refused(files, videos.h264_mp4(64, 48, 0.5), "the file made the converter fail")


def test_a_failure_to_write_the_output_is_retried_not_refused(files, tmp_path: Path) -> None:
    source, _ = files(videos.h264_mp4(64, 48, 0.5))
    dest = str(tmp_path / "missing" / "out.mp4")
    for isolated in (False, True):
        with pytest.raises(OSError, match="No such file or directory") as raised:
            video.transcode(source, dest, "video/mp4", LIMITS, isolated=isolated)
        assert not isinstance(raised.value, RejectedVideo)
