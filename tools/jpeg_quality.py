"""Measure what each JPEG quality costs and keeps, to choose `photofeed.imaging.JPEG_QUALITY`.

Real photographs that ship with scikit-image (no download): the astronaut (NASA, a portrait),
Chelsea the cat (fur), coffee (a cup on a table), the rocket launch and the left view of the
Middlebury motorcycle (a cluttered scene with text and chrome). Each is scaled to the width of a
variant (1080 px, the large one, by default) with the filter the worker uses, then encoded as the
worker encodes (baseline JPEG by libjpeg through Pillow, optimize=True, progressive=True) at
qualities 70 to 95, with 4:2:0 and with 4:4:4 chroma subsampling. For each setting it prints the
mean size and the SSIM against the picture before encoding (Wang et al. 2004: Gaussian window,
sigma 1.5, over R, G and B; 1.0 is identical), as a mean and as the worst photo.

Then WebP and AVIF (Pillow's libwebp, method 4, and libavif with aom, speed 6) at the SSIM of
chosen JPEG settings (of luma by default): the smallest quality whose mean SSIM reaches the
JPEG's, its size and its encoding time, to decide whether a variant in a modern format pays for
its cost.

    python -m tools.jpeg_quality                # the large variant: photos scaled to 1080 px wide
    python -m tools.jpeg_quality --width 640    # the medium one
    python -m tools.jpeg_quality --matched "85 4:2:0" "88 4:4:4" --match-on rgb

The sources are 451 to 741 px wide: at 1080 they are upscaled and softer than a phone's photo
(which flatters low qualities); at 640 they are nearly at their own size. Read both.
"""

from __future__ import annotations

import argparse
import functools
import io
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PIL import Image
from skimage import data as samples
from skimage.metrics import structural_similarity

from photofeed.imaging import LARGE_WIDTH

PHOTOS: dict[str, Callable[[], np.ndarray]] = {
    "astronaut": samples.astronaut,
    "chelsea": samples.chelsea,
    "coffee": samples.coffee,
    "rocket": samples.rocket,
    "motorcycle": lambda: samples.stereo_motorcycle()[0],
}
QUALITIES = (70, 75, 80, 82, 85, 88, 90, 92, 95)
SUBSAMPLING = {"4:2:0": 2, "4:4:4": 0}  # Pillow's names for libjpeg's sampling factors


@dataclass(frozen=True)
class Row:
    label: str
    kilobytes: float  # mean over the photos
    ssim_mean: float  # over R, G and B
    ssim_worst: float
    luma_ssim_mean: float
    milliseconds: float  # mean encoding time of one photo


def photos(width: int) -> dict[str, Image.Image]:
    """Each photo scaled to `width` pixels wide (Lanczos, as the worker scales)."""
    scaled = {}
    for name, load in PHOTOS.items():
        image = Image.fromarray(load()).convert("RGB")
        height = round(image.height * width / image.width)
        scaled[name] = image.resize((width, height), Image.Resampling.LANCZOS, reducing_gap=2.0)
    return scaled


def ssim(reference: Image.Image, encoded: bytes) -> tuple[float, float]:
    """SSIM over R, G and B (colour detail counts as much as brightness), and over luma alone (as
    the eye sees most detail: there chroma subsampling costs almost nothing)."""
    decoded = Image.open(io.BytesIO(encoded)).convert("RGB")
    return _ssim(reference, decoded, "RGB"), _ssim(reference, decoded, "L")


def _ssim(reference: Image.Image, decoded: Image.Image, mode: str) -> float:
    return float(
        structural_similarity(
            np.asarray(reference.convert(mode)),
            np.asarray(decoded.convert(mode)),
            channel_axis=2 if mode == "RGB" else None,
            data_range=255,
            gaussian_weights=True,
            sigma=1.5,
            use_sample_covariance=False,
        )
    )


def jpeg(quality: int, subsampling: int, image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, "JPEG", quality=quality, subsampling=subsampling, optimize=True, progressive=True)
    return out.getvalue()


def webp(quality: int, image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, "WEBP", quality=quality, method=4)
    return out.getvalue()


def avif(quality: int, image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, "AVIF", quality=quality, speed=6)
    return out.getvalue()


def measure(label: str, pictures: dict[str, Image.Image], encode: Callable[[Image.Image], bytes]) -> Row:
    sizes, scores, luma, times = [], [], [], []
    for picture in pictures.values():
        started = time.perf_counter()
        encoded = encode(picture)
        times.append(time.perf_counter() - started)
        sizes.append(len(encoded))
        colour_score, luma_score = ssim(picture, encoded)
        scores.append(colour_score)
        luma.append(luma_score)
    return Row(
        label=label,
        kilobytes=statistics.mean(sizes) / 1000,
        ssim_mean=statistics.mean(scores),
        ssim_worst=min(scores),
        luma_ssim_mean=statistics.mean(luma),
        milliseconds=1000 * statistics.mean(times),
    )


def matched(
    label: str,
    pictures: dict[str, Image.Image],
    encode: Callable[[int, Image.Image], bytes],
    target: float,
    score: Callable[[Row], float],
) -> Row | None:
    """The smallest quality (by bisection over 40..100) whose `score` reaches `target`."""
    low, high, best = 40, 100, None
    while low <= high:
        quality = (low + high) // 2
        row = measure(f"{label} q{quality}", pictures, functools.partial(encode, quality))
        if score(row) >= target:
            best, high = row, quality - 1
        else:
            low = quality + 1
    return best


def _luma(row: Row) -> float:
    return row.luma_ssim_mean


def _rgb(row: Row) -> float:
    return row.ssim_mean


def table(rows: list[Row]) -> str:
    lines = [
        "| setting | mean KB | SSIM RGB mean | SSIM RGB worst | SSIM luma mean | encode ms |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {row.label} | {row.kilobytes:.1f} | {row.ssim_mean:.4f} | {row.ssim_worst:.4f} "
        f"| {row.luma_ssim_mean:.4f} | {row.milliseconds:.0f} |"
        for row in rows
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--width", type=int, default=LARGE_WIDTH, help="the variant width to scale the photos to")
    parser.add_argument(
        "--matched",
        nargs="*",
        default=["88 4:2:0"],
        help="JPEG settings ('QUALITY SUBSAMPLING') to find WebP and AVIF of the same SSIM for",
    )
    parser.add_argument(
        "--match-on",
        choices=["luma", "rgb"],
        default="luma",
        help="the SSIM to match: of luma (default: the detail the eye sees) or of R, G and B",
    )
    args = parser.parse_args(argv)
    pictures = photos(args.width)
    print(f"{len(pictures)} photos ({', '.join(pictures)}) scaled to {args.width} px wide\n")
    rows = {
        (quality, name): measure(f"JPEG q{quality} {name}", pictures, functools.partial(jpeg, quality, factor))
        for name, factor in SUBSAMPLING.items()
        for quality in QUALITIES
    }
    print(table(list(rows.values())))
    for setting in args.matched:
        quality_text, name = setting.split()
        target = rows[(int(quality_text), name)]
        found = [target]
        score = _luma if args.match_on == "luma" else _rgb
        for label, encode in (("WebP", webp), ("AVIF", avif)):
            row = matched(label, pictures, encode, score(target), score)
            if row is not None:
                found.append(row)
        print(f"\nAt the {args.match_on} SSIM of JPEG q{quality_text} {name} ({score(target):.4f}):\n")
        print(table(found))


if __name__ == "__main__":
    main()
