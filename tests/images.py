"""Test photos made on the spot: ordinary ones and every hostile file the media worker must refuse."""

from __future__ import annotations

import io
import zipfile

from PIL import Image, ImageCms, ImageDraw

GPS_IFD = 0x8825
ORIENTATION = 0x0112
SECRET = b"SECRET-METADATA-42"


def _picture(size: tuple[int, int], mode: str = "RGB") -> Image.Image:
    """Not a flat colour: a gradient with a marker in the top-left corner, so orientation shows."""
    width, height = size
    image = Image.linear_gradient("L").resize(size).convert(mode)
    ImageDraw.Draw(image).rectangle((0, 0, width // 4, height // 4), fill="red" if mode != "L" else 0)
    return image


def jpeg(size: tuple[int, int] = (1200, 800), quality: int = 90) -> bytes:
    out = io.BytesIO()
    _picture(size).save(out, "JPEG", quality=quality)
    return out.getvalue()


def gps_jpeg_orientation_6(size: tuple[int, int] = (1600, 1200)) -> bytes:
    """Stored landscape, shown portrait (EXIF orientation 6), with GPS, XMP, an ICC profile and a comment."""
    image = _picture(size)
    exif = image.getexif()
    exif[ORIENTATION] = 6
    exif[0x010F] = "CameraMaker"  # Make
    exif[0x010E] = SECRET.decode()  # ImageDescription
    gps = exif.get_ifd(GPS_IFD)
    gps[1] = "N"
    gps[2] = (52.0, 31.0, 12.5)
    gps[3] = "E"
    gps[4] = (13.0, 24.0, 3.1)
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    xmp = (
        b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF><rdf:Description>'
        + SECRET
        + b"</rdf:Description></rdf:RDF></x:xmpmeta>"
    )
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif, icc_profile=icc, comment=SECRET, xmp=xmp, quality=90)
    return out.getvalue()


def png_with_alpha(size: tuple[int, int] = (800, 600)) -> bytes:
    image = _picture(size, "RGBA")
    image.putalpha(Image.linear_gradient("L").resize(size))
    out = io.BytesIO()
    image.save(out, "PNG", pnginfo=_png_text())
    return out.getvalue()


def _png_text() -> object:
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text("Comment", SECRET.decode())
    return info


def webp(size: tuple[int, int] = (900, 700)) -> bytes:
    out = io.BytesIO()
    _picture(size).save(out, "WEBP", quality=80)
    return out.getvalue()


def png_81_megapixels() -> bytes:
    """9000 x 9000 pixels in a few KB: a decompression bomb."""
    out = io.BytesIO()
    Image.new("1", (9000, 9000), 1).save(out, "PNG", optimize=True)
    return out.getvalue()


def truncated_jpeg() -> bytes:
    data = jpeg((1200, 900))
    return data[: len(data) // 2]


def html_named_jpg() -> bytes:
    return b"<!doctype html><html><body><script>alert(1)</script></body></html>"


def jpeg_with_zip_appended() -> bytes:
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as handle:
        handle.writestr("payload.txt", SECRET.decode())
    return jpeg((640, 480)) + archive.getvalue()


def svg() -> bytes:
    return b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><script>alert(1)</script></svg>'


def gif() -> bytes:
    out = io.BytesIO()
    _picture((300, 200)).convert("P").save(out, "GIF")
    return out.getvalue()


def twelve_megapixel_jpeg() -> bytes:
    """4000 x 3000 with sensor-like noise, so it weighs what a phone photo weighs (a few MB)."""
    size = (4000, 3000)
    noise = [Image.effect_noise(size, 40) for _ in range(3)]
    base = _picture(size)
    noisy = Image.merge("RGB", [Image.blend(band, n, 0.35) for band, n in zip(base.split(), noise, strict=True)])
    out = io.BytesIO()
    noisy.save(out, "JPEG", quality=92)
    return out.getvalue()


def largest_accepted_png() -> bytes:
    """7000 x 7000 RGBA (49 MP, just under the limit): the most memory an accepted file can need."""
    out = io.BytesIO()
    _picture((7000, 7000), "RGBA").save(out, "PNG")
    return out.getvalue()
