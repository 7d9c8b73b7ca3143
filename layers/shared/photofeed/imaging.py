"""Turn an uploaded photo into the published variants, or say why it cannot be published.

Pure: bytes in, bytes out. The decoder only accepts the type the client announced (JPEG, PNG or
WebP, checked by magic bytes and by Pillow), refuses more than `max_pixels` pixels before it
decodes anything, and decodes the whole file (a truncated one fails). The variants are new
images made from the pixels alone, after the EXIF orientation is applied and the colours are
moved to sRGB: no EXIF, GPS, XMP, ICC profile, comment or trailing data survives.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError

FORMATS = {"image/jpeg": "JPEG", "image/png": "PNG", "image/webp": "WEBP"}
THUMBNAIL = 150
MEDIUM_WIDTH = 640
LARGE_WIDTH = 1080
JPEG_QUALITY = 85

# Pillow's own bomb guard, set above ours: `render_variants` refuses more than `max_pixels`
# (50 MP) with a clear reason after reading the header; Pillow's check only backs it up.
Image.MAX_IMAGE_PIXELS = 200_000_000


class RejectedImage(Exception):
    """The file can never be published; the message is shown to the author."""


@dataclass(frozen=True)
class Rendered:
    width: int
    height: int
    variants: dict[str, bytes]


def sniff(data: bytes) -> str | None:
    if data.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    return None


def render_variants(data: bytes, content_type: str, max_pixels: int = 50_000_000) -> Rendered:
    expected = FORMATS.get(content_type)
    if expected is None:
        raise RejectedImage(f"{content_type} is not an accepted image type")
    found = sniff(data)
    if found != expected:
        what = f"a {found} image" if found else "not an image of an accepted type"
        raise RejectedImage(f"the file was announced as {content_type} but is {what}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=[expected])
            width, height = image.size
            if width * height > max_pixels:
                raise RejectedImage(
                    f"the image is {width}x{height} ({width * height / 1e6:.0f} MP); the limit is "
                    f"{max_pixels / 1e6:.0f} MP"
                )
            if expected == "JPEG" and width > 2 * LARGE_WIDTH:
                # Decode straight at a reduced scale (the DCT does it for free): the largest
                # variant is 1080 wide, so 12 MP never has to be decoded at full size.
                image.draft("RGB", (2 * LARGE_WIDTH, 2 * LARGE_WIDTH * height // width))
            image.load()
            oriented = ImageOps.exif_transpose(image)
            clean = _srgb_pixels(oriented)
    except RejectedImage:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise RejectedImage(f"the image has far too many pixels ({error})") from error
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as error:
        raise RejectedImage(f"the file is not a decodable {expected} image ({error})") from error
    original_width, original_height = (height, width) if _swaps_axes(image) else (width, height)
    return Rendered(
        width=original_width,
        height=original_height,
        variants={
            "thumbnail": _jpeg(ImageOps.fit(clean, (THUMBNAIL, THUMBNAIL), Image.Resampling.LANCZOS)),
            "medium": _jpeg(_scale_to_width(clean, MEDIUM_WIDTH, original_width)),
            "large": _jpeg(_scale_to_width(clean, LARGE_WIDTH, original_width)),
        },
    )


def _swaps_axes(image: Image.Image) -> bool:
    orientation = image.getexif().get(0x0112, 1)
    return orientation in (5, 6, 7, 8)


def _srgb_pixels(image: Image.Image) -> Image.Image:
    """An RGB image in sRGB holding the pixels only (alpha flattened on white)."""
    icc = image.info.get("icc_profile")
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        flattened = Image.new("RGB", rgba.size, (255, 255, 255))
        flattened.paste(rgba, mask=rgba.getchannel("A"))
        image = flattened
    elif image.mode in ("I;16", "I;16B", "I;16L", "I"):
        image = image.point(lambda value: value / 256).convert("L").convert("RGB")
    elif image.mode != "RGB":
        image = image.convert("RGB")
    if icc:
        try:
            source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            converted = ImageCms.profileToProfile(image, source, ImageCms.createProfile("sRGB"), outputMode="RGB")
            if converted is not None:
                image = converted
        except (ImageCms.PyCMSError, OSError):
            pass  # a broken profile: keep the pixels as they are
    # `image` is always a new object here (exif_transpose copies): drop every metadata block it
    # carried. The JPEG encoder only writes what `save()` is given, and `save()` is given none.
    image.info = {}
    return image


def _scale_to_width(image: Image.Image, width: int, original_width: int) -> Image.Image:
    """Scale to `width` pixels wide, never wider than the original photo."""
    target = min(width, original_width, image.width)
    if image.width == target:
        return image
    height = max(1, round(image.height * target / image.width))
    return image.resize((target, height), Image.Resampling.LANCZOS, reducing_gap=2.0)


def _jpeg(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, "JPEG", quality=JPEG_QUALITY, optimize=True, progressive=True)
    return out.getvalue()
