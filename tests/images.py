"""Test photos made on the spot: ordinary ones and every hostile file the media worker must refuse."""

from __future__ import annotations

import io
import struct
import zipfile
import zlib

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


# ------------------------------------------------------------------ shapes that broke the worker
def jpeg_wide_and_flat(size: tuple[int, int] = (4400, 2), orientation: int = 1) -> bytes:
    """A JPEG wider than twice the large variant and far wider than tall (a panorama strip)."""
    image = Image.new("RGB", size, (10, 200, 30))
    exif = image.getexif()
    if orientation != 1:
        exif[ORIENTATION] = orientation
    out = io.BytesIO()
    image.save(out, "JPEG", quality=95, exif=exif)
    return out.getvalue()


def png_taller_than_a_jpeg_can_be(size: tuple[int, int] = (200, 70_000)) -> bytes:
    """Narrow and taller than libjpeg's 65,500 rows: its variants must be scaled to fit."""
    out = io.BytesIO()
    Image.new("L", size, 90).save(out, "PNG", optimize=True)
    return out.getvalue()


def png_of_size(size: tuple[int, int]) -> bytes:
    out = io.BytesIO()
    Image.new("1", size, 1).save(out, "PNG", optimize=True)
    return out.getvalue()


# ------------------------------------------------------------------ transparency, every kind
# Each picture: the left half is opaque OPAQUE, the right half is transparent; where a colour key
# marks it, the key is black (what the transparent area showed when the key was ignored).
OPAQUE = (200, 40, 40)
OPAQUE_GREY = 120
HALF = (96, 64)  # each half, in pixels (multiples of 16: flat JPEG blocks after re-encoding)


def _halves(mode: str, left: object, right: object) -> Image.Image:
    width, height = HALF
    image = Image.new(mode, (2 * width, height), right)  # type: ignore[arg-type]
    image.paste(left, (0, 0, width, height))  # type: ignore[arg-type]
    return image


def _png(image: Image.Image, **options: object) -> bytes:
    out = io.BytesIO()
    image.save(out, "PNG", **options)
    return out.getvalue()


def png_rgb_colour_key() -> bytes:
    return _png(_halves("RGB", OPAQUE, (0, 0, 0)), transparency=(0, 0, 0))


def png_grey_colour_key() -> bytes:
    return _png(_halves("L", OPAQUE_GREY, 0), transparency=0)


def png_bilevel_colour_key() -> bytes:
    """1-bit: the opaque half white, the transparent half black (the key)."""
    return _png(_halves("1", 1, 0), transparency=0)


def png_grey16_colour_key() -> bytes:
    """16-bit greyscale (Pillow's I;16); the key is 1000, the opaque half 30840 (120 in 8 bits)."""
    return _png(_halves("I;16", OPAQUE_GREY * 257, 1000), transparency=1000)


def png_palette_transparent_index() -> bytes:
    image = _halves("P", 1, 0)
    image.putpalette([0, 0, 0, *OPAQUE])
    return _png(image, transparency=0)


def png_palette_alpha() -> bytes:
    """A palette with an alpha per entry (tRNS as a list): entry 0 clear, entry 1 opaque."""
    image = _halves("P", 1, 0)
    image.putpalette([0, 0, 0, *OPAQUE])
    return _png(image, transparency=b"\x00\xff")


def png_grey_alpha() -> bytes:
    return _png(_halves("LA", (OPAQUE_GREY, 255), (0, 0)))


def png_rgba() -> bytes:
    return _png(_halves("RGBA", (*OPAQUE, 255), (0, 0, 0, 0)))


def webp_rgba() -> bytes:
    out = io.BytesIO()
    _halves("RGBA", (*OPAQUE, 255), (0, 0, 0, 0)).save(out, "WEBP", lossless=True)
    return out.getvalue()


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _raw_png(header: bytes, rows: list[bytes], *chunks: bytes) -> bytes:
    """A PNG written by hand (Pillow cannot write these bit depths), rows unfiltered."""
    pixels = zlib.compress(b"".join(b"\x00" + row for row in rows))
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + b"".join(chunks)
        + _png_chunk(b"IDAT", pixels)
        + _png_chunk(b"IEND", b"")
    )


RGB16_KEY = (0x0000, 0x0000, 0x0000)
RGB16_NEAR_KEY = (0x0080, 0x0000, 0x0000)  # differs from the key in the low byte only


def png_rgb16_colour_key() -> bytes:
    """16-bit RGB with a tRNS key: left quarter OPAQUE, then a quarter one 16-bit step off the key
    (opaque, near black), and the right half exactly the key (transparent)."""
    width, height = HALF
    opaque = struct.pack(">HHH", *(channel * 257 for channel in OPAQUE))
    row = opaque * (width // 2) + struct.pack(">HHH", *RGB16_NEAR_KEY) * (width // 2)
    row += struct.pack(">HHH", *RGB16_KEY) * width
    header = struct.pack(">IIBBBBB", 2 * width, height, 16, 2, 0, 0, 0)
    return _raw_png(header, [row] * height, _png_chunk(b"tRNS", struct.pack(">HHH", *RGB16_KEY)))


GREY2_LEVELS = (0, 1, 2, 3)  # 0, 85, 170, 255 in 8 bits
GREY2_KEY = 2


def png_grey_2_bit_colour_key() -> bytes:
    """2-bit greyscale in four vertical bands of levels 0..3; level 2 is the tRNS key."""
    width, height = 2 * HALF[0], HALF[1]
    band = width // 4
    levels = [GREY2_LEVELS[x // band] for x in range(width)]
    row = bytes(
        (levels[x] << 6) | (levels[x + 1] << 4) | (levels[x + 2] << 2) | levels[x + 3] for x in range(0, width, 4)
    )
    header = struct.pack(">IIBBBBB", width, height, 2, 0, 0, 0, 0)
    return _raw_png(header, [row] * height, _png_chunk(b"tRNS", struct.pack(">H", GREY2_KEY)))


# ------------------------------------------------------------------ colour management
# Profiles written byte by byte (ICC v2), so the expected colours follow from their definition
# alone: a tone curve of gamma 1.8 (the old Mac "Gray Gamma 1.8"), sRGB's own primaries with
# that curve, and a CMYK "ink" model whose linear light is 1 - (ink + black) / 2 per channel.
D50 = (0.9642, 1.0, 0.8249)
# sRGB's primaries adapted to D50 (columns: red, green, blue), as in the ICC sRGB profile.
SRGB_PRIMARIES_D50 = (
    (0.4360747, 0.3850649, 0.1430804),
    (0.2225045, 0.7168786, 0.0606169),
    (0.0139322, 0.0971045, 0.7141733),
)


def _s15(value: float) -> bytes:
    return struct.pack(">i", round(value * 65536))


def _xyz_tag(xyz: tuple[float, float, float]) -> bytes:
    return b"XYZ \0\0\0\0" + b"".join(_s15(value) for value in xyz)


def _gamma_tag(gamma: float) -> bytes:
    return b"curv\0\0\0\0" + struct.pack(">IH", 1, round(gamma * 256)) + b"\0\0"


def _description_tag(text: str) -> bytes:
    ascii_text = text.encode("ascii") + b"\0"
    return b"desc\0\0\0\0" + struct.pack(">I", len(ascii_text)) + ascii_text + b"\0" * (8 + 3 + 67)


def _icc(device_class: bytes, space: bytes, tags: dict[bytes, bytes]) -> bytes:
    table_size = 4 + 12 * len(tags)
    offset = 128 + table_size
    entries, blobs = [], b""
    for signature, blob in tags.items():
        padded = blob + b"\0" * (-len(blob) % 4)
        entries.append(struct.pack(">4sII", signature, offset + len(blobs), len(blob)))
        blobs += padded
    size = offset + len(blobs)
    header = (
        struct.pack(">I4sI4s4s4s", size, b"none", 0x02100000, device_class, space, b"XYZ ")
        + struct.pack(">6H", 2026, 1, 1, 0, 0, 0)
        + b"acsp"
        + b"\0" * 24
        + struct.pack(">I", 0)  # rendering intent: perceptual
        + b"".join(_s15(value) for value in D50)
        + b"\0" * 48
    )
    assert len(header) == 128
    return header + struct.pack(">I", len(tags)) + b"".join(entries) + blobs


def icc_grey_gamma_1_8() -> bytes:
    return _icc(
        b"mntr",
        b"GRAY",
        {b"desc": _description_tag("Grey Gamma 1.8"), b"wtpt": _xyz_tag(D50), b"kTRC": _gamma_tag(1.8)},
    )


def icc_rgb_gamma_1_8() -> bytes:
    red, green, blue = (tuple(row[column] for row in SRGB_PRIMARIES_D50) for column in range(3))
    return _icc(
        b"mntr",
        b"RGB ",
        {
            b"desc": _description_tag("sRGB primaries, gamma 1.8"),
            b"wtpt": _xyz_tag(D50),
            b"rXYZ": _xyz_tag(red),  # type: ignore[arg-type]
            b"gXYZ": _xyz_tag(green),  # type: ignore[arg-type]
            b"bXYZ": _xyz_tag(blue),  # type: ignore[arg-type]
            b"rTRC": _gamma_tag(1.8),
            b"gTRC": _gamma_tag(1.8),
            b"bTRC": _gamma_tag(1.8),
        },
    )


def icc_cmyk_linear_inks() -> bytes:
    """CMYK -> XYZ through a 2x2x2x2 grid holding, at its corners, linear light = 1 - (ink + black) / 2
    in sRGB's primaries: affine in every ink, so any interpolation between corners is exact."""
    grid = b""
    for cyan in (0, 1):
        for magenta in (0, 1):
            for yellow in (0, 1):
                for black in (0, 1):
                    light = [1 - (ink + black) / 2 for ink in (cyan, magenta, yellow)]
                    xyz = [sum(row[i] * light[i] for i in range(3)) for row in SRGB_PRIMARIES_D50]
                    grid += struct.pack(">3H", *(min(65535, round(value * 32768)) for value in xyz))
    identity = b"".join(_s15(1.0 if row == column else 0.0) for row in range(3) for column in range(3))
    ramp = struct.pack(">2H", 0, 65535)
    lut = b"mft2\0\0\0\0" + struct.pack(">4B", 4, 3, 2, 0) + identity + struct.pack(">2H", 2, 2)
    lut += ramp * 4 + grid + ramp * 3
    return _icc(b"prtr", b"CMYK", {b"desc": _description_tag("Linear inks"), b"wtpt": _xyz_tag(D50), b"A2B0": lut})


GREY_LEVELS = (64, 128, 192)
RGB_LEVELS = ((64, 128, 192), (192, 64, 128))
CMYK_LEVELS = ((0, 0, 0, 0), (128, 0, 0, 0), (0, 64, 191, 0), (0, 0, 0, 128), (64, 128, 0, 64))


def _patches(mode: str, colours: list[object]) -> Image.Image:
    """One 64x64 flat patch per colour, side by side (flat 8x8 blocks survive JPEG exactly)."""
    image = Image.new(mode, (64 * len(colours), 64))
    for index, colour in enumerate(colours):
        image.paste(colour, (64 * index, 0, 64 * (index + 1), 64))  # type: ignore[arg-type]
    return image


def _jpeg_with_profile(image: Image.Image, icc: bytes) -> bytes:
    out = io.BytesIO()
    image.save(out, "JPEG", quality=98, subsampling=0, icc_profile=icc)
    return out.getvalue()


def grey_jpeg_with_gamma_1_8_profile() -> bytes:
    return _jpeg_with_profile(_patches("L", list(GREY_LEVELS)), icc_grey_gamma_1_8())


def rgb_jpeg_with_gamma_1_8_profile() -> bytes:
    return _jpeg_with_profile(_patches("RGB", list(RGB_LEVELS)), icc_rgb_gamma_1_8())


def cmyk_jpeg_with_profile() -> bytes:
    return _jpeg_with_profile(_patches("CMYK", list(CMYK_LEVELS)), icc_cmyk_linear_inks())


def grey_png_with_gamma_1_8_profile() -> bytes:
    """The same grey patches as a PNG (its profile in a compressed iCCP chunk), with a tRNS key."""
    return _png(_patches("L", [*GREY_LEVELS, 0]), icc_profile=icc_grey_gamma_1_8(), transparency=0)


def grey_jpeg_with_rgb_profile() -> bytes:
    """A profile for another colour space than the picture's: it cannot be applied."""
    return _jpeg_with_profile(_patches("L", list(GREY_LEVELS)), icc_rgb_gamma_1_8())


def jpeg_with_broken_profile() -> bytes:
    return _jpeg_with_profile(_patches("RGB", list(RGB_LEVELS)), b"not an ICC profile at all" * 8)


# ------------------------------------------------------------------ metadata that is not the picture
def mpo_claiming_more_frames() -> bytes:
    """A camera MPO (two frames) whose MP index says it holds three."""
    frames = [Image.new("RGB", (640, 480), colour) for colour in (OPAQUE, (30, 30, 200))]
    out = io.BytesIO()
    frames[0].save(out, "MPO", save_all=True, append_images=frames[1:])
    data = out.getvalue()
    count = struct.pack("<HHII", 0xB001, 4, 1, 2)  # NumberOfImages, LONG, 1 value: 2
    assert data.count(count) == 1
    return data.replace(count, struct.pack("<HHII", 0xB001, 4, 1, 3))


def png_with_damaged_text_chunk() -> bytes:
    """A good picture with a tEXt chunk whose checksum is wrong (libpng skips such a chunk)."""
    good = png_rgba()
    text = b"Comment\0" + SECRET
    damaged = struct.pack(">I", len(text)) + b"tEXt" + text + struct.pack(">I", zlib.crc32(b"tEXt" + text) ^ 1)
    return good[:33] + damaged + good[33:]  # right after IHDR


def png_with_large_text_metadata(megabytes: int = 2) -> bytes:
    """What image generators and editors embed (a workflow, an edit history): a zTXt chunk of
    `megabytes` MB of text, and an iTXt chunk of a quarter of that, both compressed."""
    from PIL.PngImagePlugin import PngInfo

    steps = (
        f'{{"step": {i}, "sampler": "euler", "seed": {i * 7919 % 100_003}, "cfg": {i % 13}}}' for i in range(10**6)
    )
    text = ",".join(steps)[: megabytes * 1_000_000]
    info = PngInfo()
    info.add_text("workflow", text, zip=True)
    info.add_itxt("history", text[: len(text) // 4], zip=True)
    return _png(_halves("RGB", OPAQUE, (0, 0, 200)), pnginfo=info)


def png_with_text_bomb(inflated_bytes: int = 100_000_000) -> bytes:
    """A zTXt chunk of ~100 KB that inflates to 100 MB."""
    packer = zlib.compressobj(9)
    block = b"A" * 1_000_000
    compressed = b"".join(packer.compress(block) for _ in range(inflated_bytes // len(block))) + packer.flush()
    chunk = _png_chunk(b"zTXt", b"Comment\0\0" + compressed)
    good = png_rgba()
    return good[:33] + chunk + good[33:]


def png_header_only(size: tuple[int, int]) -> bytes:
    """A PNG whose header claims `size` but that holds no picture: a decoder must refuse it from
    the header alone, before allocating anything."""
    header = struct.pack(">IIBBBBB", size[0], size[1], 1, 0, 0, 0, 0)
    return _raw_png(header, [])


def scene(size: tuple[int, int] = (1080, 810), variant: int = 0) -> Image.Image:
    """A landscape a person would recognise (sky, a red sun top-right, ridges, water), in one of a
    few palettes: for the web app's tests and screenshots, where a test card would say nothing."""
    width, height = size
    palettes = [
        ((36, 84, 160), (250, 180, 120), (58, 66, 92), (34, 40, 60), (70, 110, 160)),
        ((20, 40, 90), (240, 120, 110), (70, 50, 90), (40, 30, 60), (90, 80, 140)),
        ((90, 160, 220), (230, 240, 250), (60, 110, 80), (30, 70, 50), (60, 130, 170)),
        ((60, 30, 80), (250, 150, 60), (90, 50, 60), (50, 25, 40), (120, 70, 90)),
    ]
    top, horizon, far, near, water = palettes[variant % len(palettes)]
    image = Image.new("RGB", size)
    draw = ImageDraw.Draw(image)
    sky_end = int(height * 0.62)
    for y in range(sky_end):
        t = y / sky_end
        draw.line([(0, y), (width, y)], fill=tuple(int(a + (b - a) * t) for a, b in zip(top, horizon, strict=True)))
    radius = int(min(width, height) * 0.09)
    centre = (int(width * 0.86), int(height * 0.12))
    draw.ellipse((centre[0] - radius, centre[1] - radius, centre[0] + radius, centre[1] + radius), fill=(228, 32, 40))
    for colour, base, peaks in ((far, 0.58, (0.1, 0.35, 0.6, 0.85)), (near, 0.64, (0.25, 0.5, 0.75))):
        points = [(0, height * base)]
        for n, x in enumerate(peaks):
            points.append((width * x, height * (base - (0.18 if n % 2 == 0 else 0.1))))
            points.append((width * (x + 0.12), height * base))
        points += [(width, height * base), (width, sky_end + 40), (0, sky_end + 40)]
        draw.polygon(points, fill=colour)
    draw.rectangle((0, sky_end, width, height), fill=water)
    for n in range(12):
        y = sky_end + (height - sky_end) * (n + 1) / 13
        draw.line([(width * 0.2, y), (width * 0.8, y)], fill=tuple(min(255, c + 25) for c in water), width=2)
    return image


def scene_jpeg(size: tuple[int, int] = (1080, 810), variant: int = 0) -> bytes:
    out = io.BytesIO()
    scene(size, variant).save(out, "JPEG", quality=88)
    return out.getvalue()


def scene_jpeg_orientation_6(shown: tuple[int, int] = (1200, 1600)) -> bytes:
    """A portrait scene stored on its side, as a phone held upright stores it: the pixels landscape,
    EXIF orientation 6 (rotate 90° clockwise to show). Shown upright, the red sun is top-right."""
    stored = scene(shown, 1).transpose(Image.Transpose.ROTATE_90)  # counter-clockwise: undone by orientation 6
    exif = stored.getexif()
    exif[ORIENTATION] = 6
    out = io.BytesIO()
    stored.save(out, "JPEG", exif=exif, quality=90)
    return out.getvalue()
