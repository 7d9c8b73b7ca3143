"""A post of several photos over HTTP against the local stack, as a phone app makes one: a JPEG, an
iPhone's HEIC and an AVIF, each with its alt text, uploaded in parallel to their presigned POSTs."""

from __future__ import annotations

import io
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests
from PIL import Image

from tests import images
from tests.e2e.conftest import Api
from tests.e2e.test_posts_and_follows_e2e import settled, upload_like_a_browser
from tests.stack_runner import eventually

pytestmark = pytest.mark.e2e

ALT_TEXTS = [
    "A lake at dusk under a red sun, hills behind",
    "The same lake from the jetty, taken on a phone held upright",
    "Ridges and water, wide",
]


def fetch(url: str) -> Image.Image:
    answer = requests.get(url, timeout=30)
    assert answer.status_code == 200, url
    return Image.open(io.BytesIO(answer.content))


def test_a_jpeg_a_heic_and_an_avif_with_alt_text_publish_as_one_post_everywhere(api: Api) -> None:
    alice, bob = api.sign_up(), api.sign_up()
    assert api.call("PUT", f"/users/{alice.username}/follow", token=bob.id_token).status_code == 204
    files = [
        (images.scene_jpeg((1200, 900)), "image/jpeg", "lake.jpg"),
        (images.heic_phone_like((600, 800)), "image/heic", "IMG_0001.HEIC"),
        (images.avif_photo((900, 600)), "image/avif", "ridges.avif"),
    ]
    body = {
        "title": "Three from the lake",
        "media": [
            {"content_type": kind, "content_length": len(data), "alt_text": alt}
            for (data, kind, _), alt in zip(files, ALT_TEXTS, strict=True)
        ],
    }
    created = api.call("POST", "/posts", token=alice.id_token, json=body, headers={"Idempotency-Key": "lake-3"})
    assert created.status_code == 201, created.text
    uploads = created.json()["uploads"]
    assert len(uploads) == 3

    def send(upload: dict[str, Any], file: tuple[bytes, str, str]) -> int:
        data, kind, name = file
        return upload_like_a_browser(upload, data, name, kind)

    with ThreadPoolExecutor(3) as pool:  # as a phone sends them: at once, finishing in any order
        statuses = list(pool.map(send, uploads, files))
    assert all(status in (200, 201, 204) for status in statuses), statuses
    post_id = created.json()["post"]["id"]
    post = settled(api, alice, post_id)

    assert post["status"] == "published", post.get("rejection_reason")
    items = post["media_items"]
    assert [item["alt_text"] for item in items] == ALT_TEXTS
    assert [(item["width"], item["height"]) for item in items] == [(1200, 900), (600, 800), (900, 600)]
    assert all(item["type"] == "image" and len(item["blurhash"]) == 28 for item in items)
    assert post["media"] == items[0]["variants"]
    for item in items:
        large = fetch(item["variants"]["large"])
        width = min(1080, item["width"])  # 1080 wide, or the photo's own width: never upscaled
        assert (large.format, large.size) == ("JPEG", (width, round(item["height"] * width / item["width"])))
        assert not large.getexif()
        assert "icc_profile" not in large.info
        assert fetch(item["variants"]["thumbnail"]).size == (150, 150)
    # The HEIC: upright (it was coded on its side) and its P3 red turned into sRGB's.
    heic = fetch(items[1]["variants"]["large"]).convert("RGB")
    sun, sky = heic.getpixel((516, 96)), heic.getpixel((84, 96))
    assert isinstance(sun, tuple)
    assert isinstance(sky, tuple)
    assert (sun[0] > 200, sun[1] < 90, sun[2] < 90) == (True, True, True), sun
    assert sky[2] > sky[0], sky

    def alt_texts(answer: dict[str, Any]) -> list[list[str]]:
        return [[item["alt_text"] for item in post["media_items"]] for post in answer["items"]]

    eventually(
        lambda: alt_texts(api.call("GET", "/feed", token=bob.id_token).json()) == [ALT_TEXTS],
        what="the three photos in the follower's feed",
    )
    assert alt_texts(api.call("GET", f"/users/{alice.username}/posts", token=bob.id_token).json()) == [ALT_TEXTS]
    eventually(
        lambda: alt_texts(api.call("GET", "/search?q=lake", token=bob.id_token).json()) == [ALT_TEXTS],
        what="the post found by its title",
    )

    assert api.call("DELETE", f"/posts/{post_id}", token=alice.id_token).status_code == 204
    eventually(
        lambda: all(requests.get(item["variants"]["large"], timeout=30).status_code == 404 for item in items),
        what="every item's variants deleted",
    )
    assert requests.get(items[2]["variants"]["original"], timeout=30).status_code == 200  # the original stays
