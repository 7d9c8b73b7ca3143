"""Turn an uploaded photo into the published variants, or say why it cannot be published.

Pure: bytes in, bytes out. Nothing in here talks to another service, so any error while decoding
or rendering is a property of the file and retrying cannot help: it becomes a `RejectedImage`
whose message is a plain sentence for the author (the error itself is logged).

The decoder only accepts the type the client announced (JPEG, PNG, WebP, HEIC/HEIF or AVIF,
checked by magic bytes and decoded by that format's decoder alone), refuses more than
`max_pixels` pixels before it decodes anything (from the header), refuses PNG metadata that
inflates past `PNG_METADATA_LIMIT`, and decodes the whole picture (a truncated one fails). What is
not the picture cannot refuse it: a JPEG is read as its primary image (an MPO's index and other
frames are never looked at), a PNG's ancillary chunk with a wrong checksum is left out (as libpng
does), unreadable orientation means none.

The variants are new images made from the pixels alone: colours moved to sRGB through the
embedded ICC profile, whatever the picture's mode (greyscale, RGB, CMYK; a profile that cannot be
applied is logged and the colours are kept as they are), deeper samples (16-bit PNG, 10- and
12-bit HEIF and AVIF) brought to 8 bits, every kind of transparency (alpha channels, palette
alpha, tRNS colour keys at any bit depth) flattened onto white, the orientation applied (EXIF;
a HEIF's or AVIF's `irot`/`imir` boxes). No EXIF, GPS, XMP, ICC profile, comment or trailing data
survives.
"""

from __future__ import annotations

import functools
import io
import logging
import struct
import warnings
import zlib
from dataclasses import dataclass

import blurhash
from PIL import Image, ImageChops, ImageCms, ImageMath, ImageOps, JpegImagePlugin, PngImagePlugin
from pillow_heif import HeifImageFile

log = logging.getLogger(__name__)

# Each accepted content type and the one format its file must be. image/heic and image/heif both
# take any HEIF still image (an iPhone's .heic, a .heif from another camera), not an AVIF: an AVIF
# is announced as image/avif.
FORMATS = {
    "image/jpeg": "JPEG",
    "image/png": "PNG",
    "image/webp": "WEBP",
    "image/heic": "HEIF",
    "image/heif": "HEIF",
    "image/avif": "AVIF",
}
THUMBNAIL = 150
MEDIUM_WIDTH = 640
LARGE_WIDTH = 1080
# Measured with `python -m tools.jpeg_quality` (five real photos at 1080 and 640 px wide, SSIM
# against the picture before encoding). 4:2:0 and 4:4:4 keep the same luma at a given quality;
# 4:4:4 costs a third more bytes for colour detail, and at equal bytes (4:4:4 q75, 119 KB a large
# variant, vs 4:2:0 q85, 123 KB) 4:2:0 keeps more of the detail the eye sees (luma SSIM 0.9897
# vs 0.9837). Quality 88 is the lowest whose luma SSIM reaches 0.99 at 1080 px (0.9916; 85 gives
# 0.9897): 13% more bytes than 85 (139 vs 123 KB large, 64 vs 57 KB medium) for a fifth less
# loss. Past it each step costs more: 90 is +10%, 95 is +55% more bytes again.
JPEG_QUALITY = 88
JPEG_SUBSAMPLING = "4:2:0"
# The largest width or height libjpeg writes: a variant of a very tall picture is scaled to fit.
JPEG_MAX_SIDE = 65_500
# Compressed PNG metadata (zTXt, iTXt, iCCP chunks) is inflated to at most this many bytes in all.
PNG_METADATA_LIMIT = 16 * 1024 * 1024
WHITE = (255, 255, 255)
ORIENTATION = 0x0112
_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_SWAPS_AXES = (5, 6, 7, 8)
_PROFILE_SPACES = {"L": "GRAY", "RGB": "RGB", "CMYK": "CMYK"}
_WIDE_GREY = ("I;16", "I;16B", "I;16L", "I;16N", "I")
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# ISO-BMFF brands in a file's leading `ftyp` box (ISO/IEC 23008-12 annex B for HEIF, the AV1
# Image File Format spec for AVIF). An AVIF also names mif1/msf1, so avif/avis decide first.
_AVIF_BRANDS = frozenset({b"avif", b"avis"})
_HEIF_BRANDS = frozenset({b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1"})
_MAX_BRANDS = 64
# BlurHash components across and down (API.md: 4x3), computed on the shown picture scaled to at
# most this many pixels on its long side: the hash cannot hold more detail than that.
BLURHASH_COMPONENTS = (4, 3)
BLURHASH_SIDE = 32
_COMPRESSED_PNG_METADATA = {b"zTXt": "text", b"iTXt": "text", b"iCCP": "colour profile"}

# Pillow's own guards, set above ours so that ours speak first with a clear reason: more than
# `max_pixels` (50 MP) is refused after reading the header, more than PNG_METADATA_LIMIT of
# metadata while walking the chunks. Pillow's checks only back them up.
Image.MAX_IMAGE_PIXELS = 200_000_000
PngImagePlugin.MAX_TEXT_CHUNK = PNG_METADATA_LIMIT
PngImagePlugin.MAX_TEXT_MEMORY = 4 * PNG_METADATA_LIMIT


class RejectedImage(Exception):
    """The file can never be published; the message is shown to the author."""


@dataclass(frozen=True)
class Rendered:
    """What a publishable photo becomes.

    `width` and `height` are the photo's own size in pixels as shown (after its orientation);
    `variants` maps "thumbnail", "medium" and "large" to JPEG bytes; `blurhash` is the BlurHash
    (https://blurha.sh, the woltapp/blurhash algorithm) of the shown picture with 4 components
    across and 3 down: 28 characters of base 83, for a placeholder while the picture loads.
    """

    width: int
    height: int
    variants: dict[str, bytes]
    blurhash: str


def sniff(data: bytes) -> str | None:
    """The format the file's leading bytes say it is (a FORMATS value), or None."""
    if data.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if data.startswith(_PNG_SIGNATURE):
        return "PNG"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    brands = _ftyp_brands(data)
    if brands & _AVIF_BRANDS:
        return "AVIF"
    if brands & _HEIF_BRANDS:
        return "HEIF"
    return None


def _ftyp_brands(data: bytes) -> frozenset[bytes]:
    """The major and compatible brands of an ISO-BMFF file's first box, if that is `ftyp`."""
    if len(data) < 16 or data[4:8] != b"ftyp":
        return frozenset()
    size = struct.unpack_from(">I", data)[0]
    if size < 16 or size > len(data):
        return frozenset()
    # major brand, minor version, then the compatible brands up to the end of the box (a real
    # file names a handful: a box claiming megabytes of them is not read through)
    end = min(size, 16 + 4 * _MAX_BRANDS)
    return frozenset({data[8:12], *(data[offset : offset + 4] for offset in range(16, end - 3, 4))})


def render_variants(data: bytes, content_type: str, max_pixels: int = 50_000_000) -> Rendered:
    """The published variants of an uploaded photo, its size as shown and its BlurHash.

    `data` is the file as uploaded and `content_type` the type its author announced (a FORMATS
    key); `max_pixels` caps width x height, read from the header before anything is decoded
    (API.md: 50 megapixels). The variants (API.md, "Posts and media") are JPEGs: `thumbnail` a
    150x150 centre crop, `medium` 640 px wide and `large` 1080 px wide, both in the photo's own
    proportions and never wider than the photo, each no taller than a JPEG can be (65,500 px).

    Raises RejectedImage, with a sentence for the author, when the file is not of the announced
    accepted type, has more than `max_pixels` pixels, is damaged or incomplete, or cannot be
    rendered.
    """
    expected = FORMATS.get(content_type)
    if expected is None:
        raise RejectedImage(f"{content_type} is not an accepted image type")
    found = sniff(data)
    if found != expected:
        what = f"{_article(found)} {found} image" if found else "not an image of an accepted type"
        raise RejectedImage(f"the file was announced as {content_type} but is {what}")
    decoded = _decode(data, expected, max_pixels)
    width, height = decoded.shown_size
    try:
        picture = _upright(flatten_to_srgb(decoded.image), decoded.orientation)
    except Exception as error:
        log.warning("rendering failed: %s: %s", type(error).__name__, error, exc_info=True)
        raise RejectedImage("the picture could not be converted into the published sizes") from error
    return render_picture(picture, width, height)


def render_picture(picture: Image.Image, width: int, height: int) -> Rendered:
    """The published variants and BlurHash of a decoded picture, as `render_variants` makes them.

    `picture` is upright 8-bit RGB (mode "RGB", colours in sRGB), at most `width` x `height`
    pixels: the picture's own size as shown, which the result reports (a JPEG may have been decoded
    at a reduced scale; a video's poster frame is its shown size). The variants are the JPEGs of
    API.md, "Posts and media": `thumbnail` 150x150 centre crop, `medium` 640 px and `large`
    1080 px wide, never wider than `width`. `picture.info` is emptied so no metadata is written.

    Raises RejectedImage, with a sentence for the author, if the variants cannot be made.
    """
    try:
        # Drop every metadata block `picture` may still carry (the JPEG encoder falls back to
        # `info` for the comment), so `save()` writes the pixels alone.
        picture.info = {}
        medium = _scale_to_width(picture, MEDIUM_WIDTH, width)
        variants = {
            "thumbnail": _jpeg(ImageOps.fit(picture, (THUMBNAIL, THUMBNAIL), Image.Resampling.LANCZOS)),
            "medium": _jpeg(medium),
            "large": _jpeg(_scale_to_width(picture, LARGE_WIDTH, width)),
        }
        placeholder = blurhash_of(medium)
    except Exception as error:
        log.warning("rendering failed: %s: %s", type(error).__name__, error, exc_info=True)
        raise RejectedImage("the picture could not be converted into the published sizes") from error
    return Rendered(width=width, height=height, variants=variants, blurhash=placeholder)


def blurhash_of(picture: Image.Image) -> str:
    """The 4x3 BlurHash (https://blurha.sh) of an 8-bit RGB picture as it is shown.

    The picture is first scaled to at most BLURHASH_SIDE pixels on its long side (the hash's
    cosine components are as good from that as from the full picture, and the pure-Python
    encoder's cost grows with the pixel count)."""
    scale = BLURHASH_SIDE / max(picture.size)
    small = picture
    if scale < 1:
        size = (max(1, round(picture.width * scale)), max(1, round(picture.height * scale)))
        small = picture.resize(size, Image.Resampling.BOX, reducing_gap=2.0)
    samples = small.convert("RGB").tobytes()
    width = small.width
    rows = [
        [samples[offset : offset + 3] for offset in range(start, start + 3 * width, 3)]
        for start in range(0, len(samples), 3 * width)
    ]
    across, down = BLURHASH_COMPONENTS
    return str(blurhash.encode(rows, components_x=across, components_y=down))


def _article(word: str) -> str:
    return "an" if word[0] in "AEIOU" else "a"


@dataclass(frozen=True)
class _Decoded:
    image: Image.Image  # possibly decoded at a reduced scale (JPEG)
    stored_size: tuple[int, int]  # the photo's own size, from its header
    orientation: int

    @property
    def shown_size(self) -> tuple[int, int]:
        width, height = self.stored_size
        return (height, width) if self.orientation in _SWAPS_AXES else (width, height)


def _decode(data: bytes, expected: str, max_pixels: int) -> _Decoded:
    """Decode the picture; every failure is a RejectedImage."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            bit_depth = 8
            if expected == "PNG":
                data, bit_depth = _checked_png(data)
            image = _open(data, expected)
            width, height = image.size
            if width * height > max_pixels:
                raise RejectedImage(
                    f"the image is {width}x{height}, {width * height:,} pixels; the limit is {max_pixels:,} pixels"
                )
            if isinstance(image, JpegImagePlugin.JpegImageFile):
                _decode_reduced(image, _orientation(image, expected))
            image.load()
            orientation = _orientation(image, expected)
            if expected == "PNG":
                image = _png_colour_key(image, data, bit_depth)
    except RejectedImage:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise RejectedImage(
            f"the image has more than {Image.MAX_IMAGE_PIXELS:,} pixels; the limit is {max_pixels:,} pixels"
        ) from error
    except Exception as error:
        log.warning("undecodable %s upload: %s: %s", expected, type(error).__name__, error)
        raise RejectedImage(f"the file is not a decodable {expected} image; it is damaged or incomplete") from error
    return _Decoded(image, (width, height), orientation)


def _open(data: bytes, expected: str) -> Image.Image:
    if expected == "JPEG":
        # The primary image only: a camera's MPO index (a second frame, a depth or gain map) is
        # never parsed, so a broken one cannot refuse a good photo.
        return JpegImagePlugin.JpegImageFile(io.BytesIO(data))
    if expected == "HEIF":
        # pillow-heif's plugin class itself, so nothing is registered with Pillow for other
        # formats to be guessed as. Opening reads the container only (the size is known then);
        # libheif decodes the primary image on load.
        return HeifImageFile(io.BytesIO(data))
    return Image.open(io.BytesIO(data), formats=[expected])


def _orientation(image: Image.Image, expected: str) -> int:
    """How the decoded pixels must still be turned to be shown: 1 when there is nothing to do, no
    orientation or an unreadable one.

    JPEG, PNG, WebP: the EXIF (or XMP) orientation. HEIF: always 1, as its `irot` and `imir`
    boxes are the orientation (ISO/IEC 23008-12; MIAF makes the EXIF one informative only) and
    libheif has applied them while decoding (pillow-heif then resets the EXIF orientation to 1).
    AVIF: Pillow decodes the stored pixels and gives their `irot`/`imir` as the EXIF orientation,
    in place of the file's own EXIF one, so that alone counts (never an XMP one)."""
    if expected == "HEIF":
        return 1
    try:
        if expected == "AVIF":
            exif = Image.Exif()
            exif.load(image.info.get("exif") or b"")
            value = exif.get(ORIENTATION, 1)
        else:
            value = image.getexif().get(ORIENTATION, 1)
    except Exception as error:
        log.warning("orientation unreadable, taken as none: %s: %s", type(error).__name__, error)
        return 1
    return value if value in _TRANSPOSE else 1


def _upright(image: Image.Image, orientation: int) -> Image.Image:
    return image.transpose(_TRANSPOSE[orientation]) if orientation in _TRANSPOSE else image


def _decode_reduced(image: JpegImagePlugin.JpegImageFile, orientation: int) -> None:
    """Let libjpeg decode at 1/2, 1/4 or 1/8 scale (the DCT does it for free) as far as the
    picture stays, as shown, at least twice the largest variant wide and, on its other side, at
    least a thumbnail: a photo 8,000 px across decodes at half size, 16,000 at a quarter."""
    size = image.size
    needed = [min(THUMBNAIL, side) for side in size]
    across = 1 if orientation in _SWAPS_AXES else 0  # the stored axis that is shown horizontally
    needed[across] = min(2 * LARGE_WIDTH, size[across])
    image.draft(None, (needed[0], needed[1]))


def flatten_to_srgb(image: Image.Image) -> Image.Image:
    """The picture as 8-bit RGB in sRGB: its colours through its ICC profile (greyscale, RGB or
    CMYK alike), and any transparency (alpha channel, palette alpha, colour key) flattened onto
    white."""
    colour, alpha = _colour_and_alpha(image)
    rgb = _to_srgb(colour, image.info.get("icc_profile"))
    if alpha is None:
        return rgb
    flattened = Image.new("RGB", rgb.size, WHITE)
    flattened.paste(rgb, mask=alpha)
    return flattened


def _colour_and_alpha(image: Image.Image) -> tuple[Image.Image, Image.Image | None]:
    """The colour channels (L, RGB or CMYK) and the alpha mask, if the picture has transparency."""
    if image.mode in _WIDE_GREY:
        return _wide_grey(image)
    if image.mode == "CMYK":
        return image, None
    if image.has_transparency_data:  # an alpha band, a palette's alpha, a tRNS colour key
        grey = image.mode in ("1", "L", "LA", "La")
        with_alpha = image if image.mode in ("LA", "RGBA") else image.convert("LA" if grey else "RGBA")
        return with_alpha.convert("L" if grey else "RGB"), with_alpha.getchannel("A")
    if image.mode in ("L", "RGB"):
        return image, None
    return image.convert("L" if image.mode == "1" else "RGB"), None


def _wide_grey(image: Image.Image) -> tuple[Image.Image, Image.Image | None]:
    """16-bit greyscale to 8 bits (rounded), with its tRNS key matched against all 16 bits."""
    wide = image.convert("I")
    grey = wide.point(lambda value: value / 257 + 0.5).convert("L")
    key = image.info.get("transparency")
    if not isinstance(key, int):
        return grey, None
    alpha = ImageMath.lambda_eval(lambda args: (args["value"] != key) * 255, value=wide).convert("L")
    return grey, alpha


def _to_srgb(colour: Image.Image, icc: bytes | None) -> Image.Image:
    """`colour` (L, RGB or CMYK) as RGB in sRGB, through its ICC profile when it has one."""
    if icc:
        converted = _through_profile(colour, icc)
        if converted is not None:
            return converted
    return colour if colour.mode == "RGB" else colour.convert("RGB")


def _through_profile(colour: Image.Image, icc: bytes) -> Image.Image | None:
    """`colour` moved from its embedded profile to sRGB, or None (logged) if that profile cannot be
    applied to it: unreadable, made for another colour space, or refused by LittleCMS."""
    try:
        profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        space = profile.profile.xcolor_space.strip()
        if space != _PROFILE_SPACES[colour.mode]:
            log.warning("colour profile not applied: a %s profile on a %s picture", space, colour.mode)
            return None
        return ImageCms.profileToProfile(
            colour, profile, _srgb_profile(), renderingIntent=ImageCms.Intent.PERCEPTUAL, outputMode="RGB"
        )
    except Exception as error:
        log.warning("colour profile not applied: %s: %s", type(error).__name__, error)
        return None


@functools.cache
def _srgb_profile() -> ImageCms.ImageCmsProfile:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))


def _checked_png(data: bytes) -> tuple[bytes, int]:
    """Walk the PNG's chunks before Pillow does: refuse compressed metadata that inflates past
    PNG_METADATA_LIMIT (said as such), and leave out every ancillary chunk whose checksum is
    wrong, as libpng and browsers do (Pillow refuses the whole file). Returns the bytes to
    decode and the bit depth of the samples."""
    bit_depth, inflated, position = 8, 0, len(_PNG_SIGNATURE)
    kept: list[tuple[int, int]] = []
    damaged = False
    view = memoryview(data)
    while position + 12 <= len(data):
        length, kind = struct.unpack_from(">I4s", data, position)
        body, end = position + 8, position + 12 + length
        if end > len(data):
            break  # truncated: Pillow says so
        if kind == b"IHDR" and length >= 9:
            bit_depth = data[body + 8]
        ancillary = bool(kind[0] & 0x20)  # a lower-case first letter
        if (
            ancillary
            and zlib.crc32(view[position + 4 : body + length]) != struct.unpack_from(">I", data, body + length)[0]
        ):
            log.warning("damaged PNG chunk left out: %s", kind.decode("latin-1"))
            damaged = True
        else:
            if kind in _COMPRESSED_PNG_METADATA:
                inflated += _inflated_size(kind, view[body : body + length], PNG_METADATA_LIMIT - inflated)
                if inflated > PNG_METADATA_LIMIT:
                    raise RejectedImage(
                        f"the PNG's compressed {_COMPRESSED_PNG_METADATA[kind]} metadata inflates to more than "
                        f"{PNG_METADATA_LIMIT:,} bytes; the limit is {PNG_METADATA_LIMIT:,} bytes"
                    )
            kept.append((position, end))
        position = end
        if kind == b"IEND":
            break
    if not damaged:
        return data, bit_depth
    return _PNG_SIGNATURE + b"".join(view[start:end] for start, end in kept) + view[position:], bit_depth


def _inflated_size(kind: bytes, body: memoryview, budget: int) -> int:
    """How many bytes the chunk's compressed part inflates to, counted no further than `budget` + 1
    and never holding more than 1 MiB of it at a time."""
    raw = body.tobytes()
    keyword_end = raw.find(b"\0")
    if keyword_end < 0:
        return 0
    start = keyword_end + 2  # zTXt and iCCP: the keyword, its NUL, the compression method
    if kind == b"iTXt":
        if raw[keyword_end + 1 : keyword_end + 2] != b"\x01":
            return 0  # not compressed: it costs no more than its own bytes
        language_end = raw.find(b"\0", keyword_end + 3)
        translated_end = raw.find(b"\0", language_end + 1) if language_end >= 0 else -1
        if translated_end < 0:
            return 0
        start = translated_end + 1
    stream = zlib.decompressobj()
    pending, size = raw[start:], 0
    try:
        while pending and size <= budget:
            out = stream.decompress(pending, min(1 << 20, budget + 1 - size))
            size += len(out)
            pending = stream.unconsumed_tail
            if not out or stream.eof:
                break
    except zlib.error:
        pass  # damaged: Pillow reads it as empty text
    return size


def _png_colour_key(image: Image.Image, data: bytes, bit_depth: int) -> Image.Image:
    """Pillow compares a tRNS colour key with 8-bit samples: scale a 2- or 4-bit grey key up to
    them, and match a 16-bit RGB key against all 16 bits of each sample (Pillow keeps only the
    high byte, so no pixel would ever match)."""
    key = image.info.get("transparency")
    if image.mode == "L" and isinstance(key, int) and bit_depth < 8:
        image.info["transparency"] = key * (255 // (2**bit_depth - 1))
    elif image.mode == "RGB" and isinstance(key, tuple) and bit_depth == 16:
        image = _with_16_bit_key(image, data, key)
    return image


def _with_16_bit_key(high: Image.Image, data: bytes, key: tuple[int, int, int]) -> Image.Image:
    """`high` (the samples' high bytes) given an alpha band: transparent where all 16 bits of
    every sample equal the key. The low bytes come from a second decode of the same data; one
    channel at a time, so a 50 MP picture costs two decodes and a few 8-bit bands."""
    low = Image.open(io.BytesIO(data), formats=["PNG"])
    if any(tile.args != "RGB;16B" for tile in low.tile):
        log.warning("16-bit colour key not applied: unexpected PNG decoder arguments")
        return high
    # Unpacked as little-endian, each big-endian 16-bit sample yields its second (low) byte.
    low.tile = [tile._replace(args="RGB;16L") for tile in low.tile]
    low.load()
    keyed: Image.Image | None = None
    for channel, value in enumerate(key):
        matches = ImageChops.darker(
            high.getchannel(channel).point(_equal_to(value >> 8)),
            low.getchannel(channel).point(_equal_to(value & 0xFF)),
        )
        keyed = matches if keyed is None else ImageChops.darker(keyed, matches)
    del low
    assert keyed is not None
    high.putalpha(ImageChops.invert(keyed))
    high.info.pop("transparency", None)
    return high


def _equal_to(level: int) -> list[int]:
    """A lookup table: 255 for `level`, 0 for every other 8-bit value."""
    return [255 if value == level else 0 for value in range(256)]


def _scale_to_width(image: Image.Image, width: int, original_width: int) -> Image.Image:
    """Scale to `width` pixels wide (never wider than the original photo), and no taller than a
    JPEG can be."""
    target = min(width, original_width, image.width)
    scale = min(target / image.width, JPEG_MAX_SIDE / image.height)
    if scale >= 1:
        return image
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    return image.resize(size, Image.Resampling.LANCZOS, reducing_gap=2.0)


def _jpeg(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, "JPEG", quality=JPEG_QUALITY, subsampling=JPEG_SUBSAMPLING, optimize=True, progressive=True)
    return out.getvalue()
