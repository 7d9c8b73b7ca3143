"""Test photos made on the spot: ordinary ones and every hostile file the media worker must refuse."""

from __future__ import annotations

import functools
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


# ------------------------------------------------------------------ HEIC, HEIF and AVIF, as phones write them
# Display P3 (an iPhone's colour space): the DCI-P3 primaries with a D65 white and sRGB's own tone
# curve. Its primaries adapted to D50 (Bradford) are computed below from their chromaticities.
P3_PRIMARIES_XY = ((0.680, 0.320), (0.265, 0.690), (0.150, 0.060))
D65_XY = (0.3127, 0.3290)
# Reds whose sRGB values are far from their P3 values: read without the profile, they would
# publish duller (a pure P3 red clips to sRGB's pure red either way, so it could not show that).
P3_RED = (200, 40, 40)
SUN_RED = (228, 32, 40)  # the sun of scene(): in a P3 file, a P3 colour


def _xyz_of(xy: tuple[float, float]) -> tuple[float, float, float]:
    x, y = xy
    return (x / y, 1.0, (1 - x - y) / y)


def _matrix_product(a: list[list[float]], b: list[list[float]]) -> list[list[float]]:
    return [[sum(a[i][k] * b[k][j] for k in range(3)) for j in range(3)] for i in range(3)]


def _inverse(m: list[list[float]]) -> list[list[float]]:
    (a, b, c), (d, e, f), (g, h, i) = m
    det = a * (e * i - f * h) - b * (d * i - f * g) + c * (d * h - e * g)
    adjugate = [
        [e * i - f * h, c * h - b * i, b * f - c * e],
        [f * g - d * i, a * i - c * g, c * d - a * f],
        [d * h - e * g, b * g - a * h, a * e - b * d],
    ]
    return [[value / det for value in row] for row in adjugate]


def p3_primaries_d50() -> list[tuple[float, float, float]]:
    """XYZ of Display P3's red, green and blue at full intensity, adapted from D65 to D50 with the
    Bradford transform (as ICC profiles hold them)."""
    columns = [_xyz_of(xy) for xy in P3_PRIMARIES_XY]
    white = _xyz_of(D65_XY)
    unscaled = [[columns[j][i] for j in range(3)] for i in range(3)]
    scale = [sum(row[j] * white[j] for j in range(3)) for row in _inverse(unscaled)]
    rgb_to_xyz = [[unscaled[i][j] * scale[j] for j in range(3)] for i in range(3)]
    bradford = [[0.8951, 0.2664, -0.1614], [-0.7502, 1.7135, 0.0367], [0.0389, -0.0685, 1.0296]]
    cone_source = [sum(bradford[i][j] * white[j] for j in range(3)) for i in range(3)]
    cone_target = [sum(bradford[i][j] * D50[j] for j in range(3)) for i in range(3)]
    gain = [[cone_target[i] / cone_source[i] if i == j else 0.0 for j in range(3)] for i in range(3)]
    adapt = _matrix_product(_inverse(bradford), _matrix_product(gain, bradford))
    adapted = _matrix_product(adapt, rgb_to_xyz)
    return [(adapted[0][j], adapted[1][j], adapted[2][j]) for j in range(3)]


def _srgb_curve_tag() -> bytes:
    """sRGB's tone curve as an ICC parametric curve (type 3: gamma 2.4 with a linear toe)."""
    parameters = (2.4, 1 / 1.055, 0.055 / 1.055, 1 / 12.92, 0.04045)
    return b"para\0\0\0\0" + struct.pack(">H2x", 3) + b"".join(_s15(value) for value in parameters)


def icc_display_p3() -> bytes:
    red, green, blue = p3_primaries_d50()
    return _icc(
        b"mntr",
        b"RGB ",
        {
            b"desc": _description_tag("Display P3"),
            b"wtpt": _xyz_tag(D50),
            b"rXYZ": _xyz_tag(red),
            b"gXYZ": _xyz_tag(green),
            b"bXYZ": _xyz_tag(blue),
            b"rTRC": _srgb_curve_tag(),
            b"gTRC": _srgb_curve_tag(),
            b"bTRC": _srgb_curve_tag(),
        },
    )


# The EXIF orientation entry (tag 0x0112, SHORT, one value) as Pillow writes it (big-endian).
_EXIF_ORIENTATION_1 = struct.pack(">HHIH", ORIENTATION, 3, 1, 1)


def _phone_metadata(image: Image.Image) -> tuple[bytes, bytes]:
    """EXIF (orientation 1 for now, a camera name, a description and a GPS position) and XMP, each
    holding SECRET."""
    exif = image.getexif()
    exif[ORIENTATION] = 1
    exif[0x010F] = "Apple"  # Make
    exif[0x010E] = SECRET.decode()  # ImageDescription
    gps = exif.get_ifd(GPS_IFD)
    gps[1] = "N"
    gps[2] = (48.0, 51.0, 29.6)
    gps[3] = "E"
    gps[4] = (2.0, 17.0, 40.2)
    xmp = (
        b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF><rdf:Description>'
        + SECRET
        + b"</rdf:Description></rdf:RDF></x:xmpmeta>"
    )
    return exif.tobytes(), xmp


def _heic(image: Image.Image, quality: int = 90, **options: object) -> bytes:
    import pillow_heif

    out = io.BytesIO()
    pillow_heif.from_pillow(image).save(out, quality=quality, **options)
    return out.getvalue()


def heic_phone_like(shown: tuple[int, int] = (600, 800)) -> bytes:
    """A portrait HEIC as an iPhone held upright writes it: the picture coded on its side (the
    sensor's landscape), an `irot` box turning it 90° clockwise to show, EXIF orientation 6 beside
    it (informative only: applied as well, the picture would end upside down), a Display P3
    profile in the `colr` box, EXIF with GPS, and XMP. Shown upright, the red sun is top-right
    and its colour (SUN_RED) is a P3 colour."""
    return _heic_phone_like(shown)


@functools.cache
def _heic_phone_like(shown: tuple[int, int]) -> bytes:
    upright = scene(shown)
    stored = upright.transpose(Image.Transpose.ROTATE_90)  # counter-clockwise: irot 270° undoes it
    exif, xmp = _phone_metadata(stored)
    return _as_phone_writes(_heic(stored, exif=exif, xmp=xmp, icc_profile=icc_display_p3()))


def _as_phone_writes(data: bytes) -> bytes:
    """A HEIF written with EXIF orientation 1 and no transformation, given what an iPhone held
    upright writes: an `irot` of 270° anti-clockwise and EXIF orientation 6 (pillow-heif turns an
    EXIF orientation into irot itself, and for 6 and 8 it turns the pixels the wrong way: the
    picture then decodes upside down)."""
    assert heif_property(data, b"irot") is None
    assert data.count(_EXIF_ORIENTATION_1) == 1
    return with_irot(data.replace(_EXIF_ORIENTATION_1, struct.pack(">HHIH", ORIENTATION, 3, 1, 6)), 3)


def heic_10_bit(size: tuple[int, int] = (256, 128)) -> bytes:
    """A 10-bit HEIC (as HDR cameras write): the left half P3_RED at 16 bits, the right half grey
    30840 (120 in 8 bits), no profile."""
    import pillow_heif

    width, height = size
    left = struct.pack("<3H", *(value * 257 for value in P3_RED))
    right = struct.pack("<3H", *(120 * 257,) * 3)
    row = left * (width // 2) + right * (width - width // 2)
    heif = pillow_heif.from_bytes("RGB;16", size, row * height)
    out = io.BytesIO()
    heif.save(out, quality=95, chroma=444)
    return out.getvalue()


def avif_photo(shown: tuple[int, int] = (900, 600)) -> bytes:
    """An AVIF shown landscape, coded on its side with an `irot` box (Pillow writes EXIF
    orientation 6 as irot), with EXIF holding SECRET. Shown upright, the red sun is top-right."""
    stored = scene(shown, 2).transpose(Image.Transpose.ROTATE_90)
    exif = stored.getexif()
    exif[ORIENTATION] = 6
    exif[0x010E] = SECRET.decode()
    out = io.BytesIO()
    stored.save(out, "AVIF", quality=85, exif=exif, speed=8)
    data = out.getvalue()
    assert b"irot" in data
    return data


def heic_claiming_size(size: tuple[int, int]) -> bytes:
    """A small HEIC whose `ispe` box (the size a reader learns from the header) claims `size`."""
    data = _heic(Image.new("RGB", (64, 64), (30, 120, 200)))
    ispe = b"ispe\0\0\0\0" + struct.pack(">II", 64, 64)
    assert data.count(ispe) == 1
    return data.replace(ispe, b"ispe\0\0\0\0" + struct.pack(">II", *size))


def truncated_heic() -> bytes:
    data = _heic(scene((320, 240)))
    return data[: len(data) // 2]


def twelve_megapixel_heic() -> bytes:
    """4000 x 3000 shown, as an iPhone writes it (coded on its side with irot, a Display P3
    profile, EXIF and XMP), with a grain of detail that weighs what a phone's HEIC weighs (about
    2 MB); encoded once per process (x265 takes seconds)."""
    return _twelve_megapixel_heic()


@functools.cache
def _twelve_megapixel_heic() -> bytes:
    size = (3000, 4000)  # coded on its side
    grain = Image.effect_noise((size[0] // 4, size[1] // 4), 60).resize(size, Image.Resampling.BICUBIC)
    base = scene((4000, 3000)).transpose(Image.Transpose.ROTATE_90)
    textured = Image.merge("RGB", [Image.blend(band, grain, 0.2) for band in base.split()])
    exif, xmp = _phone_metadata(textured)
    data = _heic(
        textured, quality=75, exif=exif, xmp=xmp, icc_profile=icc_display_p3(), enc_params={"preset": "faster"}
    )
    return _as_phone_writes(data)


# ISO-BMFF boxes, for writing the HEIF properties pillow-heif cannot be asked for.
def _box(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", 8 + len(body)) + kind + body


def iso_boxes(data: bytes, start: int = 0, end: int | None = None) -> list[tuple[bytes, int, int]]:
    """The boxes in data[start:end]: (type, offset of the box, offset of its end)."""
    end = len(data) if end is None else end
    found, position = [], start
    while position + 8 <= end:
        size, kind = struct.unpack_from(">I4s", data, position)
        if size == 1:
            size = struct.unpack_from(">Q", data, position + 8)[0]
        elif size == 0:
            size = end - position
        if size < 8 or position + size > end:
            raise ValueError(f"box {kind!r} overruns its container")
        found.append((kind, position, position + size))
        position += size
    return found


def _child(data: bytes, start: int, end: int, kind: bytes) -> tuple[int, int]:
    matches = [(box_start, box_end) for name, box_start, box_end in iso_boxes(data, start, end) if name == kind]
    if len(matches) != 1:
        raise ValueError(f"expected one {kind!r} box, found {len(matches)}")
    return matches[0]


def heif_property(data: bytes, kind: bytes) -> bytes | None:
    """The body of the first `kind` property box (irot, imir, ispe, colr...) in the file's ipco box."""
    meta_start, meta_end = _child(data, 0, len(data), b"meta")
    iprp = _child(data, meta_start + 12, meta_end, b"iprp")
    ipco = _child(data, iprp[0] + 8, iprp[1], b"ipco")
    for name, start, end in iso_boxes(data, ipco[0] + 8, ipco[1]):
        if name == kind:
            return data[start + 8 : end]
    return None


def with_irot(data: bytes, angle: int) -> bytes:
    """`data` (a HEIF with no transformation) with an essential `irot` property of `angle` x 90°
    anti-clockwise (ISO/IEC 23008-12 6.5.10) on its primary item. The meta box grows, so every
    item offset in `iloc` that points past it is moved by as much."""
    meta_start, meta_end = _child(data, 0, len(data), b"meta")
    body = meta_start + 12  # meta is a full box
    primary = struct.unpack_from(">H", data, _child(data, body, meta_end, b"pitm")[0] + 12)[0]
    iprp_start, iprp_end = _child(data, body, meta_end, b"iprp")
    ipco_start, ipco_end = _child(data, iprp_start + 8, iprp_end, b"ipco")
    ipma_start, ipma_end = _child(data, iprp_start + 8, iprp_end, b"ipma")
    index = len(iso_boxes(data, ipco_start + 8, ipco_end)) + 1
    ipco = _box(b"ipco", data[ipco_start + 8 : ipco_end] + _box(b"irot", bytes([angle & 3])))
    ipma = _ipma_with(data[ipma_start + 8 : ipma_end], primary, index)
    iprp_children = data[iprp_start + 8 : ipco_start] + ipco + data[ipco_end:ipma_start] + ipma
    iprp = _box(b"iprp", iprp_children + data[ipma_end:iprp_end])
    grown = len(iprp) - (iprp_end - iprp_start)
    iloc_start, iloc_end = _child(data, body, meta_end, b"iloc")
    iloc = _iloc_moved(data[iloc_start:iloc_end], meta_end, grown)
    meta_body = data[meta_start + 8 : iloc_start] + iloc + data[iloc_end:iprp_start] + iprp + data[iprp_end:meta_end]
    return data[:meta_start] + _box(b"meta", meta_body) + data[meta_end:]


def _ipma_with(body: bytes, item: int, index: int) -> bytes:
    """An ipma box body with property `index` associated, as essential, with `item`."""
    version, flags = body[0], int.from_bytes(body[1:4], "big")
    id_size, wide = (2 if version < 1 else 4), bool(flags & 1)
    count = struct.unpack_from(">I", body, 4)[0]
    out, position = bytearray(body[:8]), 8
    for _ in range(count):
        entry_id = int.from_bytes(body[position : position + id_size], "big")
        associations = body[position + id_size]
        size = associations * (2 if wide else 1)
        existing = body[position + id_size + 1 : position + id_size + 1 + size]
        if entry_id == item:
            added = struct.pack(">H", 0x8000 | index) if wide else bytes([0x80 | index])
            out += body[position : position + id_size] + bytes([associations + 1]) + existing + added
        else:
            out += body[position : position + id_size + 1 + size]
        position += id_size + 1 + size
    return _box(b"ipma", bytes(out))


def _iloc_moved(box: bytes, past: int, by: int) -> bytes:
    """An iloc box whose file offsets (construction method 0) at or past `past` are moved by `by`."""
    out = bytearray(box)
    version = box[8]
    offset_size, length_size = box[12] >> 4, box[12] & 15
    base_size, index_size = box[13] >> 4, (box[13] & 15 if version in (1, 2) else 0)
    position = 14
    count_size = 2 if version < 2 else 4
    count = int.from_bytes(box[position : position + count_size], "big")
    position += count_size

    def move(at: int, size: int) -> None:
        value = int.from_bytes(out[at : at + size], "big")
        if size and value >= past:
            out[at : at + size] = (value + by).to_bytes(size, "big")

    for _ in range(count):
        position += count_size  # item ID
        method = 0
        if version in (1, 2):
            method = struct.unpack_from(">H", box, position)[0] & 15
            position += 2
        position += 2  # data reference index
        base = int.from_bytes(box[position : position + base_size], "big")
        if method == 0 and base_size:
            move(position, base_size)
        position += base_size
        extents = struct.unpack_from(">H", box, position)[0]
        position += 2
        for _ in range(extents):
            position += index_size
            if method == 0 and not base:
                move(position, offset_size)
            position += offset_size + length_size
    return bytes(out)


def red_over_blue_jpeg(orientation: int = 1, shown: tuple[int, int] = (480, 640)) -> bytes:
    """Shown: the top half red, the bottom half blue; stored on its side when `orientation` is 6
    (turned counter-clockwise, which orientation 6 undoes)."""
    width, height = shown
    image = Image.new("RGB", shown, (20, 40, 210))
    image.paste((220, 30, 30), (0, 0, width, height // 2))
    exif = image.getexif()
    if orientation == 6:
        image = image.transpose(Image.Transpose.ROTATE_90)
        exif[ORIENTATION] = 6
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90, exif=exif)
    return out.getvalue()
