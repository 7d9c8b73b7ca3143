"""Follows, posts and the media pipeline over HTTP against the local stack, as an app uses them."""

from __future__ import annotations

import io
import random
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests
from PIL import Image

from tests import images
from tests.e2e.conftest import Account, Api
from tests.stack_runner import RunningStack, eventually

pytestmark = pytest.mark.e2e


def upload_like_a_browser(upload: dict[str, Any], data: bytes, filename: str, content_type: str) -> int:
    """multipart/form-data: every field of `upload.fields` first, the file last in `file`."""
    answer = requests.post(
        upload["url"], data=upload["fields"], files={"file": (filename, data, content_type)}, timeout=30
    )
    return answer.status_code


def post_photo(api: Api, author: Account, data: bytes, content_type: str = "image/jpeg", title: str = "Photo") -> str:
    created = api.call(
        "POST",
        "/posts",
        token=author.id_token,
        json={"title": title, "content_type": content_type, "content_length": len(data)},
    )
    assert created.status_code == 201, created.text
    assert upload_like_a_browser(created.json()["upload"], data, "photo", content_type) in (200, 201, 204)
    return str(created.json()["post"]["id"])


def settled(api: Api, author: Account, post_id: str, timeout: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        post = api.call("GET", f"/posts/{post_id}", token=author.id_token).json()
        if post["status"] not in ("pending_upload", "processing"):
            return dict(post)
        assert time.monotonic() < deadline, f"post {post_id} still {post['status']}"
        time.sleep(0.1)


def test_a_photo_goes_from_upload_to_published_with_clean_media(api: Api, stack: RunningStack) -> None:
    alice, bob = api.sign_up(), api.sign_up()
    assert api.call("PUT", f"/users/{alice.username}/follow", token=bob.id_token).status_code == 204

    post_id = post_photo(api, alice, images.gps_jpeg_orientation_6((1600, 1200)), title="Rotated")
    post = settled(api, alice, post_id)

    assert post["status"] == "published"
    assert (post["width"], post["height"]) == (1200, 1600)
    expected = {"thumbnail": (150, 150), "medium": (640, 853), "large": (1080, 1440), "original": (1600, 1200)}
    for name, url in post["media"].items():
        answer = requests.get(url, timeout=30)
        assert answer.status_code == 200, name
        image = Image.open(io.BytesIO(answer.content))
        assert image.size == expected[name], name
        if name != "original":  # the original is the file as sent; the variants carry nothing else
            assert not image.getexif()
            assert images.SECRET not in answer.content
            assert "icc_profile" not in image.info
    assert api.call("GET", f"/posts/{post_id}", token=bob.id_token).json()["status"] == "published"
    listed = api.call("GET", f"/users/{alice.username}/posts", token=bob.id_token).json()
    assert [item["id"] for item in listed["items"]] == [post_id]
    assert api.call("GET", f"/users/{alice.username}", token=bob.id_token).json()["post_count"] == 1
    # The outbox: the posts table's stream handed the publish on to the fan-out, and bob's feed has it.
    eventually(
        lambda: [item["id"] for item in api.call("GET", "/feed", token=bob.id_token).json()["items"]] == [post_id],
        what="the post in the follower's feed",
    )


@pytest.mark.parametrize(
    ("make", "content_type"),
    [
        (images.png_81_megapixels, "image/png"),
        (images.truncated_jpeg, "image/jpeg"),
        (images.html_named_jpg, "image/jpeg"),
        (images.svg, "image/png"),
        (images.gif, "image/jpeg"),
    ],
    ids=["81-megapixel-png", "truncated-jpeg", "html-as-jpeg", "svg", "gif"],
)
def test_hostile_files_end_rejected(api: Api, make: Any, content_type: str) -> None:
    author = api.sign_up()

    post = settled(api, author, post_photo(api, author, make(), content_type))

    assert post["status"] == "rejected"
    assert post["rejection_reason"]
    assert post["media"] is None
    assert api.call("GET", "/me", token=author.id_token).json()["post_count"] == 0


def test_accepted_formats_and_a_jpeg_with_a_zip_appended_publish_clean(api: Api) -> None:
    author = api.sign_up()
    ids = [
        post_photo(api, author, images.png_with_alpha(), "image/png"),
        post_photo(api, author, images.webp(), "image/webp"),
        post_photo(api, author, images.jpeg_with_zip_appended(), "image/jpeg"),
    ]
    for post_id in ids:
        post = settled(api, author, post_id)
        assert post["status"] == "published"
        large = requests.get(post["media"]["large"], timeout=30).content
        assert b"PK\x03\x04" not in large
        assert images.SECRET not in large
    listed = api.call("GET", f"/users/{author.username}/posts", token=author.id_token, headers={}).json()
    assert [item["id"] for item in listed["items"]] == list(reversed(ids))  # newest first


def test_only_the_author_deletes_and_then_the_post_is_gone(api: Api) -> None:
    alice, bob = api.sign_up(), api.sign_up()
    post_id = post_photo(api, alice, images.jpeg())
    settled(api, alice, post_id)

    refused = api.call("DELETE", f"/posts/{post_id}", token=bob.id_token)
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "forbidden"
    assert api.call("DELETE", f"/posts/{post_id}", token=alice.id_token).status_code == 204
    assert api.call("GET", f"/posts/{post_id}", token=bob.id_token).status_code == 404
    assert api.call("GET", f"/users/{alice.username}/posts", token=bob.id_token).json()["items"] == []
    assert api.call("GET", "/me", token=alice.id_token).json()["post_count"] == 0


def test_create_post_contract_errors(api: Api) -> None:
    author = api.sign_up()
    base = {"title": "t", "content_type": "image/jpeg", "content_length": 10}

    gif = api.call("POST", "/posts", token=author.id_token, json={**base, "content_type": "image/gif"})
    huge = api.call("POST", "/posts", token=author.id_token, json={**base, "content_length": 21 * 1024 * 1024})
    owned = api.call("POST", "/posts", token=author.id_token, json={**base, "status": "published"})

    assert (gif.status_code, huge.status_code, owned.status_code) == (415, 413, 422)


def test_the_same_idempotency_key_gives_the_same_post(api: Api) -> None:
    author = api.sign_up()
    body = {"title": "once", "content_type": "image/png", "content_length": 100}

    first = api.call("POST", "/posts", token=author.id_token, json=body, headers={"Idempotency-Key": "abc-123"})
    second = api.call("POST", "/posts", token=author.id_token, json=body, headers={"Idempotency-Key": "abc-123"})

    assert first.status_code == second.status_code == 201
    assert first.json()["post"]["id"] == second.json()["post"]["id"]


def test_concurrent_and_repeated_follows_and_unfollows_leave_exact_counts(api: Api, stack: RunningStack) -> None:
    star = api.sign_up()
    fans = [api.sign_up() for _ in range(12)]
    stays = fans[:7]

    def follow_many(fan: Account) -> None:
        client = Api(stack.api_url)
        for _ in range(3):
            assert client.call("PUT", f"/users/{star.username}/follow", token=fan.id_token).status_code == 204

    def churn(fan: Account) -> None:
        client = Api(stack.api_url)
        steps = ["PUT", "DELETE"] * 3 + (["PUT"] if fan in stays else ["DELETE"])
        for method in steps[:-1]:
            if random.random() < 0.5:
                client.call(method, f"/users/{star.username}/follow", token=fan.id_token)
        assert client.call(steps[-1], f"/users/{star.username}/follow", token=fan.id_token).status_code == 204

    with ThreadPoolExecutor(max_workers=12) as pool:
        list(pool.map(follow_many, fans))
        list(pool.map(churn, fans))

    profile = api.call("GET", f"/users/{star.username}", token=fans[0].id_token).json()
    followers: list[str] = []
    cursor = None
    while True:
        query = f"?limit=5{'&cursor=' + cursor if cursor else ''}"
        page = api.call("GET", f"/users/{star.username}/followers{query}", token=star.id_token).json()
        followers += [item["username"] for item in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert sorted(followers) == sorted(fan.username for fan in stays)
    assert profile["follower_count"] == len(stays)
    for fan in fans:
        me = api.call("GET", "/me", token=fan.id_token).json()
        assert me["following_count"] == (1 if fan in stays else 0)
