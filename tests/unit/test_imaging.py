"""The media worker's pure part, file by file: what a published variant shows, pixel by pixel,
and how a file that can never be published is refused (a plain sentence, never a crash).

Every input is made on the spot in tests/images.py. Expected colours come from the definitions
of the inputs (the sRGB formula, the test profiles' own curves), never from the code under test.
"""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Callable

import blurhash
import pillow_heif
import pytest
from PIL import Image, JpegImagePlugin

from photofeed import imaging
from photofeed.imaging import RejectedImage, Rendered, render_variants
from tests import images

PNG, JPEG, WEBP = "image/png", "image/jpeg", "image/webp"
HEIC, HEIF, AVIF = "image/heic", "image/heif", "image/avif"


def large(rendered: Rendered) -> Image.Image:
    return Image.open(io.BytesIO(rendered.variants["large"])).convert("RGB")


def sizes(rendered: Rendered) -> dict[str, tuple[int, int]]:
    return {name: Image.open(io.BytesIO(data)).size for name, data in rendered.variants.items()}


def srgb(linear: float) -> int:
    """The sRGB encoding of a linear light level (0..1), as an 8-bit value: the reference."""
    encoded = 12.92 * linear if linear <= 0.0031308 else 1.055 * linear ** (1 / 2.4) - 0.055
    return round(255 * encoded)


def close(actual: tuple[int, ...], expected: tuple[int, ...], tolerance: int = 3) -> bool:
    return all(abs(a - e) <= tolerance for a, e in zip(actual, expected, strict=True))


def plain(reason: str) -> bool:
    """A sentence for a person: no object reprs, exception text, code names or bytes."""
    return not re.search(r"[<>()\[\]{}]|\b0x[0-9a-f]|\\x|b'|Error|Exception|PIL|MAX_|[A-Za-z]+\.[A-Za-z_]+\(", reason)


# ------------------------------------------------------------------ shapes that crashed the worker
@pytest.mark.parametrize(
    ("stored", "orientation", "shown", "variant_sizes"),
    [
        # The reduced decode was asked for a height of 0: ZeroDivisionError, retried for ever.
        ((4400, 2), 1, (4400, 2), {"thumbnail": (150, 150), "medium": (640, 1), "large": (1080, 1)}),
        ((65000, 3), 1, (65000, 3), {"thumbnail": (150, 150), "medium": (640, 1), "large": (1080, 1)}),
        # Reduced along the stored width although the stored height is what is shown across:
        # the large variant came out 1000 wide for a photo 2000 wide as shown.
        ((8000, 2000), 6, (2000, 8000), {"thumbnail": (150, 150), "medium": (640, 2560), "large": (1080, 4320)}),
        # ... and 2x2200 for a photo shown 3x4400 (its pixels halved).
        ((4400, 3), 6, (3, 4400), {"thumbnail": (150, 150), "medium": (3, 4400), "large": (3, 4400)}),
    ],
)
def test_a_jpeg_of_any_proportions_is_published_at_full_resolution(
    stored: tuple[int, int], orientation: int, shown: tuple[int, int], variant_sizes: dict[str, tuple[int, int]]
) -> None:
    rendered = render_variants(images.jpeg_wide_and_flat(stored, orientation), JPEG)

    assert (rendered.width, rendered.height) == shown
    assert sizes(rendered) == variant_sizes
    assert close(large(rendered).getpixel((0, 0)), (10, 200, 30))  # type: ignore[arg-type]


def test_a_picture_taller_than_a_jpeg_can_be_is_scaled_to_fit() -> None:
    rendered = render_variants(images.png_taller_than_a_jpeg_can_be((200, 70_000)), PNG)

    assert (rendered.width, rendered.height) == (200, 70_000)
    assert sizes(rendered)["large"] == (187, 65_500)  # the JPEG encoder's limit, proportions kept
    assert close(large(rendered).getpixel((90, 30_000)), (90, 90, 90))  # type: ignore[arg-type]


def _raise(error: BaseException) -> Callable[..., object]:
    def failing(*args: object, **kwargs: object) -> object:
        raise error

    return failing


@pytest.mark.parametrize(
    ("target", "name", "error"),
    [
        (JpegImagePlugin.JpegImageFile, "load", ZeroDivisionError("integer division or modulo by zero")),
        (JpegImagePlugin.JpegImageFile, "draft", IndexError("tuple index out of range")),
        (imaging, "flatten_to_srgb", KeyError("RGB")),
        (imaging, "_jpeg", OSError("encoder error -2 when writing image file")),
        (imaging.ImageOps, "fit", MemoryError()),
    ],
    ids=["decode", "reduced-decode", "colours", "encode", "resize"],
)
def test_any_error_while_decoding_or_rendering_rejects_with_a_plain_reason(
    monkeypatch: pytest.MonkeyPatch, target: object, name: str, error: BaseException
) -> None:
    monkeypatch.setattr(target, name, _raise(error))

    with pytest.raises(RejectedImage) as rejected:
        render_variants(images.jpeg((3000, 2000)), JPEG)

    assert plain(str(rejected.value)), str(rejected.value)


# ------------------------------------------------------------------ transparency, every kind
TRANSPARENT = [
    (images.png_rgb_colour_key, PNG, images.OPAQUE),  # RGB + tRNS: published black before
    (images.png_grey_colour_key, PNG, (images.OPAQUE_GREY,) * 3),  # L + tRNS
    (images.png_bilevel_colour_key, PNG, (255, 255, 255)),  # 1-bit + tRNS
    (images.png_grey16_colour_key, PNG, (images.OPAQUE_GREY,) * 3),  # I;16 + tRNS
    (images.png_palette_transparent_index, PNG, images.OPAQUE),  # P + one transparent index
    (images.png_palette_alpha, PNG, images.OPAQUE),  # P + an alpha per palette entry
    (images.png_grey_alpha, PNG, (images.OPAQUE_GREY,) * 3),  # LA
    (images.png_rgba, PNG, images.OPAQUE),  # RGBA
    (images.webp_rgba, WEBP, images.OPAQUE),  # WebP with alpha
]


@pytest.mark.parametrize(("make", "content_type", "opaque"), TRANSPARENT, ids=[t[0].__name__ for t in TRANSPARENT])
def test_every_kind_of_transparency_is_flattened_onto_white(
    make: Callable[[], bytes], content_type: str, opaque: tuple[int, int, int]
) -> None:
    picture = large(render_variants(make(), content_type))

    assert close(picture.getpixel((40, 32)), opaque)  # type: ignore[arg-type]
    assert close(picture.getpixel((150, 32)), (255, 255, 255))  # type: ignore[arg-type]


def test_a_16_bit_colour_key_matches_all_16_bits() -> None:
    """Pillow keeps the high byte of each sample, so the key never matched: the transparent half
    showed black. One 16-bit step off the key is another colour, and stays opaque."""
    picture = large(render_variants(images.png_rgb16_colour_key(), PNG))

    assert close(picture.getpixel((20, 32)), images.OPAQUE)  # type: ignore[arg-type]
    assert close(picture.getpixel((70, 32)), (0, 0, 0))  # type: ignore[arg-type]  # near the key: opaque
    assert close(picture.getpixel((150, 32)), (255, 255, 255))  # type: ignore[arg-type]  # the key


def test_a_2_bit_grey_colour_key_is_scaled_like_the_samples() -> None:
    """Samples of 2 bits are scaled to 0, 85, 170, 255; the key (2) was compared unscaled."""
    picture = large(render_variants(images.png_grey_2_bit_colour_key(), PNG))

    levels = [picture.getpixel((x, 32))[0] for x in (24, 72, 120, 168)]  # type: ignore[index]
    assert close(tuple(levels), (0, 85, 255, 255))  # level 2 (170) is the key: white


@pytest.mark.parametrize("mode", ["RGBA", "RGBa", "LA", "La", "PA"])
def test_every_mode_with_an_alpha_band_is_flattened_onto_white(mode: str) -> None:
    """Modes no accepted file opens as (premultiplied La and RGBa, PA) still flatten right."""
    grey = mode in ("LA", "La")
    opaque: tuple[int, ...] = (images.OPAQUE_GREY, 255) if grey else (*images.OPAQUE, 255)
    clear: tuple[int, ...] = (0, 0) if grey else (0, 0, 0, 0)
    source = Image.new("LA" if grey else "RGBA", (64, 8), clear)
    source.paste(opaque, (0, 0, 32, 8))  # type: ignore[arg-type]
    picture = imaging.flatten_to_srgb(source.convert(mode))

    expected = (images.OPAQUE_GREY,) * 3 if grey else images.OPAQUE
    assert picture.mode == "RGB"
    assert close(picture.getpixel((8, 4)), expected)  # type: ignore[arg-type]
    assert picture.getpixel((48, 4)) == (255, 255, 255)


# ------------------------------------------------------------------ colour management
def test_a_grey_jpeg_with_a_gray_profile_is_not_darkened() -> None:
    """Gray Gamma 1.8: it published 11 to 18 levels too dark (the profile was applied to an RGB
    copy, which LittleCMS refused, silently)."""
    picture = large(render_variants(images.grey_jpeg_with_gamma_1_8_profile(), JPEG))

    for index, level in enumerate(images.GREY_LEVELS):
        expected = srgb((level / 255) ** 1.8)
        assert close(picture.getpixel((32 + 64 * index, 32)), (expected,) * 3), (level, expected)  # type: ignore[arg-type]


def test_a_cmyk_jpeg_goes_through_its_cmyk_profile() -> None:
    picture = large(render_variants(images.cmyk_jpeg_with_profile(), JPEG))

    for index, (*inks, black) in enumerate(images.CMYK_LEVELS):
        expected = tuple(srgb(1 - (ink / 255 + black / 255) / 2) for ink in inks)
        assert close(picture.getpixel((32 + 64 * index, 32)), expected), (inks, black, expected)  # type: ignore[arg-type]


def test_an_rgb_jpeg_goes_through_its_rgb_profile() -> None:
    picture = large(render_variants(images.rgb_jpeg_with_gamma_1_8_profile(), JPEG))

    for index, levels in enumerate(images.RGB_LEVELS):
        expected = tuple(srgb((level / 255) ** 1.8) for level in levels)
        assert close(picture.getpixel((32 + 64 * index, 32)), expected), (levels, expected)  # type: ignore[arg-type]


def test_a_grey_png_with_a_gray_profile_and_a_colour_key_gets_both() -> None:
    picture = large(render_variants(images.grey_png_with_gamma_1_8_profile(), PNG))

    for index, level in enumerate(images.GREY_LEVELS):
        expected = srgb((level / 255) ** 1.8)
        assert close(picture.getpixel((32 + 64 * index, 32)), (expected,) * 3)  # type: ignore[arg-type]
    assert picture.getpixel((32 + 64 * 3, 32)) == (255, 255, 255)  # the keyed patch


@pytest.mark.parametrize(
    ("make", "levels"),
    [
        (images.grey_jpeg_with_rgb_profile, [(level,) * 3 for level in images.GREY_LEVELS]),
        (images.jpeg_with_broken_profile, list(images.RGB_LEVELS)),
    ],
)
def test_a_profile_that_cannot_be_applied_is_logged_and_the_colours_kept(
    caplog: pytest.LogCaptureFixture, make: Callable[[], bytes], levels: list[tuple[int, int, int]]
) -> None:
    with caplog.at_level(logging.WARNING, logger="photofeed.imaging"):
        picture = large(render_variants(make(), JPEG))

    assert any("colour profile not applied" in record.getMessage() for record in caplog.records)
    for index, expected in enumerate(levels):
        assert close(picture.getpixel((32 + 64 * index, 32)), expected)  # type: ignore[arg-type]


# ------------------------------------------------------------------ what is not the picture
def test_an_mpo_whose_index_claims_more_frames_publishes_its_primary_image() -> None:
    rendered = render_variants(images.mpo_claiming_more_frames(), JPEG)

    assert (rendered.width, rendered.height) == (640, 480)
    assert close(large(rendered).getpixel((320, 240)), images.OPAQUE)  # type: ignore[arg-type]  # frame 1, not 2


def test_a_png_with_a_damaged_text_chunk_is_published() -> None:
    """libpng skips an ancillary chunk whose checksum is wrong; Pillow refused the file, with a
    reason showing `<_io.BytesIO object at 0x...>`."""
    picture = large(render_variants(images.png_with_damaged_text_chunk(), PNG))

    assert close(picture.getpixel((40, 32)), images.OPAQUE)  # type: ignore[arg-type]


def test_a_png_with_megabytes_of_text_metadata_is_published() -> None:
    picture = large(render_variants(images.png_with_large_text_metadata(2), PNG))

    assert close(picture.getpixel((40, 32)), images.OPAQUE)  # type: ignore[arg-type]
    assert close(picture.getpixel((150, 32)), (0, 0, 200))  # type: ignore[arg-type]


def test_a_text_chunk_that_inflates_to_100_mb_is_refused_as_such() -> None:
    with pytest.raises(RejectedImage) as rejected:
        render_variants(images.png_with_text_bomb(100_000_000), PNG)

    reason = str(rejected.value)
    assert "text metadata inflates to more than 16,777,216 bytes" in reason
    assert plain(reason)


# ------------------------------------------------------------------ every reason a plain sentence
REFUSED = [
    (images.truncated_jpeg, JPEG, "not a decodable JPEG image"),
    (lambda: images.jpeg()[:200] + b"\x00" * 5000, JPEG, "not a decodable JPEG image"),
    (lambda: images.png_rgba()[:60], PNG, "not a decodable PNG image"),
    (lambda: images.webp()[:40], WEBP, "not a decodable WEBP image"),
    (images.html_named_jpg, JPEG, "not an image of an accepted type"),
    (images.webp, JPEG, "is a WEBP image"),
    (lambda: images.png_header_only((9000, 9000)), PNG, "81,000,000 pixels"),
    (lambda: images.png_header_only((20_000, 20_001)), PNG, "more than 200,000,000 pixels"),  # Pillow's guard
    (lambda: images.png_with_text_bomb(20_000_000), PNG, "inflates to more than"),
    (images.truncated_heic, HEIC, "not a decodable HEIF image"),
    (images.heic_phone_like, JPEG, "was announced as image/jpeg but is a HEIF image"),
    (images.jpeg, HEIC, "was announced as image/heic but is a JPEG image"),
    (images.avif_photo, HEIC, "was announced as image/heic but is an AVIF image"),
    (images.heic_phone_like, AVIF, "was announced as image/avif but is a HEIF image"),
    (images.html_named_jpg, HEIF, "not an image of an accepted type"),
    # The header claims 60 MP over 64x64 coded pixels: decoding first would have said "not decodable".
    (lambda: images.heic_claiming_size((10_000, 6_000)), HEIC, "10000x6000, 60,000,000 pixels"),
]


@pytest.mark.parametrize(("make", "content_type", "said"), REFUSED)
def test_every_refusal_is_a_plain_sentence(make: Callable[[], bytes], content_type: str, said: str) -> None:
    with pytest.raises(RejectedImage) as rejected:
        render_variants(make(), content_type)

    reason = str(rejected.value)
    assert said in reason
    assert plain(reason), reason


@pytest.mark.parametrize("size", [(10_000, 5_001), (7_072, 7_071), (50_000_001, 1)])
def test_a_pixel_count_over_the_limit_is_never_printed_as_the_limit(size: tuple[int, int]) -> None:
    """It said "the image is 10000x5001 (50 MP); the limit is 50 MP": both rounded."""
    with pytest.raises(RejectedImage) as rejected:
        render_variants(images.png_header_only(size), PNG)

    figures = re.fullmatch(r"the image is \d+x\d+, ([\d,]+) pixels; the limit is ([\d,]+) pixels", str(rejected.value))
    assert figures is not None, str(rejected.value)
    shown, limit = (int(figure.replace(",", "")) for figure in figures.groups())
    assert shown == size[0] * size[1]
    assert shown > limit == 50_000_000


# ------------------------------------------------------------------ HEIC, HEIF and AVIF
def no_metadata(rendered: Rendered) -> None:
    for name, data in rendered.variants.items():
        for marker in (images.SECRET, b"Exif\x00", b"ICC_PROFILE", b"http://ns.adobe.com", b"<x:xmpmeta"):
            assert marker not in data, (name, marker)
        variant = Image.open(io.BytesIO(data))
        assert variant.format == "JPEG"
        assert not variant.getexif(), name
        assert not {"exif", "icc_profile", "xmp"} & set(variant.info), (name, variant.info.keys())


def p3_in_srgb(colour: tuple[int, int, int]) -> tuple[int, ...]:
    """A Display P3 colour in sRGB from the two spaces' definitions: P3's curve (sRGB's) undone,
    P3's primaries to XYZ (D50), XYZ to sRGB's linear light, clipped to the sRGB gamut, encoded."""

    def linear(level: int) -> float:
        value = level / 255
        return value / 12.92 if value <= 0.04045 else ((value + 0.055) / 1.055) ** 2.4

    p3 = images.p3_primaries_d50()
    xyz = [sum(p3[channel][axis] * linear(colour[channel]) for channel in range(3)) for axis in range(3)]
    to_srgb = images._inverse([list(row) for row in images.SRGB_PRIMARIES_D50])
    light = [sum(to_srgb[row][axis] * xyz[axis] for axis in range(3)) for row in range(3)]
    return tuple(srgb(min(1.0, max(0.0, value))) for value in light)


def test_an_iphone_heic_is_published_upright_in_srgb_without_its_metadata() -> None:
    # Given what an iPhone held upright writes: coded on its side (landscape ispe), irot 270°,
    # EXIF orientation 6 beside it, a Display P3 profile, GPS, XMP.
    data = images.heic_phone_like((600, 800))
    assert images.heif_property(data, b"irot") == b"\x03"
    assert images.heif_property(data, b"ispe") == b"\0\0\0\0" + (800).to_bytes(4, "big") + (600).to_bytes(4, "big")
    assert pillow_heif.open_heif(io.BytesIO(data)).info["exif"].count(b"\x01\x12\x00\x03\x00\x00\x00\x01\x00\x06") == 1

    rendered = render_variants(data, HEIC)

    assert (rendered.width, rendered.height) == (600, 800)
    assert sizes(rendered) == {"thumbnail": (150, 150), "medium": (600, 800), "large": (600, 800)}
    picture = large(rendered)
    sun = picture.getpixel((516, 96))  # scene(): the sun's centre at 86% across, 12% down
    expected = p3_in_srgb(images.SUN_RED)
    assert close(sun, expected, 4), (sun, expected)  # type: ignore[arg-type]
    assert not close(sun, images.SUN_RED, 10)  # type: ignore[arg-type]  # the profile was applied
    assert not close(picture.getpixel((84, 96)), sun, 60)  # type: ignore[arg-type]  # top-left is sky
    no_metadata(rendered)


def test_libheif_applies_irot_and_pillow_heif_resets_the_exif_orientation() -> None:
    """Why the worker turns a HEIF by nothing more: the decoder hands it over upright and says so."""
    image = pillow_heif.HeifImageFile(io.BytesIO(images.heic_phone_like((600, 800))))

    assert image.size == (600, 800)  # as shown, before decoding
    assert image.info["original_orientation"] == 6
    assert image.getexif()[images.ORIENTATION] == 1
    image.load()
    assert image.size == (600, 800)


def test_a_10_bit_heif_is_published_in_8_bits_with_its_colours() -> None:
    picture = large(render_variants(images.heic_10_bit((256, 128)), HEIF))

    assert close(picture.getpixel((64, 64)), images.P3_RED, 4)  # type: ignore[arg-type]  # no profile: as coded
    assert close(picture.getpixel((192, 64)), (120, 120, 120), 4)  # type: ignore[arg-type]


def test_an_avif_is_published_upright_without_its_metadata() -> None:
    """Pillow hands the AVIF's irot over as the EXIF orientation and leaves the pixels as coded."""
    data = images.avif_photo((900, 600))
    assert images.heif_property(data, b"irot") == b"\x03"

    rendered = render_variants(data, AVIF)

    assert (rendered.width, rendered.height) == (900, 600)
    picture = large(rendered)
    assert close(picture.getpixel((774, 72)), images.SUN_RED, 8)  # type: ignore[arg-type]  # top-right
    assert not close(picture.getpixel((126, 72)), images.SUN_RED, 60)  # type: ignore[arg-type]
    no_metadata(rendered)


def test_every_accepted_type_has_a_format() -> None:
    assert set(imaging.FORMATS) == {JPEG, PNG, WEBP, HEIC, HEIF, AVIF}


# ------------------------------------------------------------------ the BlurHash placeholder
def average_colour(picture: Image.Image) -> tuple[int, ...]:
    """The mean of the picture's light, as BlurHash's average colour is: in linear light, per
    channel, then sRGB-encoded (https://github.com/woltapp/blurhash/blob/master/Algorithm.md)."""
    means = []
    for channel in picture.convert("RGB").split():
        counts = channel.histogram()
        total = sum(count * blurhash.srgb_to_linear(level) for level, count in enumerate(counts))
        means.append(srgb(total / sum(counts)))
    return tuple(means)


def hash_average(hash_: str) -> tuple[int, int, int]:
    """The hash's average colour: its DC term, characters 3 to 6, base 83, as 8-bit sRGB."""
    value = 0
    for character in hash_[2:6]:
        value = value * 83 + BASE83.index(character)
    return (value >> 16, (value >> 8) & 255, value & 255)


BASE83 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz#$%*+,-.:;=?@[]^_{|}~"


def test_the_blurhash_is_a_4x3_hash_of_the_picture_and_the_same_every_time() -> None:
    data = images.scene_jpeg((640, 480), variant=2)  # a blue sky over blue water

    rendered = render_variants(data, JPEG)

    assert len(rendered.blurhash) == 4 + 2 * 4 * 3
    assert blurhash.components(rendered.blurhash) == (4, 3)
    red, green, blue = hash_average(rendered.blurhash)
    assert blue > red + 40
    assert blue > green
    assert close((red, green, blue), average_colour(large(rendered)), 6)
    assert render_variants(data, JPEG).blurhash == rendered.blurhash


def test_the_blurhash_is_of_the_picture_as_shown() -> None:
    """Stored on its side with EXIF orientation 6, red over blue as shown: the hash's top is red."""
    rendered = render_variants(images.red_over_blue_jpeg(orientation=6), JPEG)

    decoded = blurhash.decode(rendered.blurhash, 4, 6)
    top, bottom = decoded[0], decoded[-1]
    assert all(red > blue + 100 for red, _, blue in top), top
    assert all(blue > red + 100 for red, _, blue in bottom), bottom


# ------------------------------------------------------------------ nothing cropped, stretched or blown up
@pytest.mark.parametrize(
    ("size", "medium", "large_size"),
    [((1200, 3000), (640, 1600), (1080, 2700)), ((3000, 1000), (640, 213), (1080, 360))],
    ids=["tall", "wide"],
)
def test_a_tall_or_wide_photo_keeps_its_proportions_and_all_of_its_picture(
    size: tuple[int, int], medium: tuple[int, int], large_size: tuple[int, int]
) -> None:
    rendered = render_variants(images.jpeg(size), JPEG)

    assert sizes(rendered) == {"thumbnail": (150, 150), "medium": medium, "large": large_size}
    picture = large(rendered)
    width, height = picture.size
    # _picture()'s red marker covers the top-left quarter of each side: not cropped, not stretched.
    assert close(picture.getpixel((width // 4 - 8, height // 4 - 8)), (255, 0, 0), 40)  # type: ignore[arg-type]
    assert not close(picture.getpixel((width // 4 + 8, height // 4 + 8)), (255, 0, 0), 80)  # type: ignore[arg-type]


def test_a_photo_narrower_than_the_large_size_is_never_blown_up() -> None:
    rendered = render_variants(images.jpeg((700, 525)), JPEG)

    assert sizes(rendered) == {"thumbnail": (150, 150), "medium": (640, 480), "large": (700, 525)}
