"""A post of a photo and a phone's MOV clip over HTTP against the local stack: uploaded to their
presigned POSTs, the clip converted by the video worker, the post published with two media items
and carried by the feed, the profile, search and the follower's notification; the MP4 streams
(byte ranges, `moov` first) and plays; deleting the post removes the renditions, not the originals."""

from __future__ import annotations

import io
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import av
import pytest
import requests

from tests import images, videos
from tests.e2e.conftest import Api
from tests.e2e.test_posts_and_follows_e2e import settled, upload_like_a_browser
from tests.stack_runner import eventually

pytestmark = pytest.mark.e2e


def test_a_photo_and_a_rotated_mov_clip_publish_as_one_post_that_streams_everywhere(api: Api) -> None:
    alice, bob = api.sign_up(), api.sign_up()
    assert api.call("PUT", f"/users/{alice.username}/follow", token=bob.id_token).status_code == 204
    clip = videos.hevc_mov(480, 272, 2.0, rotation=90, gps=True, audio=True, fps=30)
    files = [
        (images.scene_jpeg((1200, 900)), "image/jpeg", "harbour.jpg"),
        (clip, "video/quicktime", "IMG_0420.MOV"),
    ]
    body = {
        "title": "Harbour at noon, with the ferry",
        "media": [
            {"content_type": kind, "content_length": len(data), "alt_text": f"{name}, from the pier"}
            for data, kind, name in files
        ],
    }
    created = api.call("POST", "/posts", token=alice.id_token, json=body)
    assert created.status_code == 201, created.text

    def send(upload: dict[str, Any], file: tuple[bytes, str, str]) -> int:
        data, kind, name = file
        return upload_like_a_browser(upload, data, name, kind)

    with ThreadPoolExecutor(2) as pool:
        statuses = list(pool.map(send, created.json()["uploads"], files))
    assert all(status in (200, 201, 204) for status in statuses), statuses
    post_id = created.json()["post"]["id"]
    post = settled(api, alice, post_id, timeout=120)

    assert post["status"] == "published", post.get("rejection_reason")
    photo, video = post["media_items"]
    assert (photo["type"], photo["width"], photo["height"]) == ("image", 1200, 900)
    assert video["type"] == "video"
    assert (video["width"], video["height"]) == (272, 480)  # as shown: the 90° turn applied
    assert video["duration_s"] == pytest.approx(2.0, abs=0.1)
    assert len(video["blurhash"]) == 28
    poster = requests.get(video["variants"]["large"], timeout=30)
    assert poster.status_code == 200
    assert poster.headers["Content-Type"] == "image/jpeg"

    whole = requests.get(video["video"], timeout=30)
    assert whole.status_code == 200
    assert whole.headers["Content-Type"] == "video/mp4"
    mp4 = whole.content
    boxes = videos.top_level_boxes(mp4)
    assert boxes.index("moov") < boxes.index("mdat")  # playable while it downloads
    assert b"\xa9xyz" not in mp4
    assert b"+48.85" not in mp4
    part = requests.get(video["video"], headers={"Range": "bytes=0-1023"}, timeout=30)
    assert part.status_code == 206
    assert part.content == mp4[:1024]
    with av.open(io.BytesIO(mp4)) as container:
        assert {stream.type: stream.codec_context.name for stream in container.streams} == {
            "video": "h264",
            "audio": "aac",
        }
        frames = sum(1 for _ in container.decode(video=0))
    assert frames >= 2 * 25  # it plays through (the clip was made at 30 fps)

    def kinds(answer: dict[str, Any]) -> list[list[str]]:
        return [[item["type"] for item in listed["media_items"]] for listed in answer["items"]]

    eventually(
        lambda: kinds(api.call("GET", "/feed", token=bob.id_token).json()) == [["image", "video"]],
        what="the post in the follower's feed",
    )
    assert kinds(api.call("GET", f"/users/{alice.username}/posts", token=bob.id_token).json()) == [["image", "video"]]
    eventually(
        lambda: kinds(api.call("GET", "/search?q=ferry", token=bob.id_token).json()) == [["image", "video"]],
        what="the post found by its title",
    )
    eventually(
        lambda: any(
            note["type"] == "new_post" and note.get("post_id") == post_id
            for note in api.call("GET", "/notifications", token=bob.id_token).json()["items"]
        ),
        what="the follower told of the new post",
    )

    assert api.call("DELETE", f"/posts/{post_id}", token=alice.id_token).status_code == 204
    eventually(
        lambda: (
            requests.get(video["video"], timeout=30).status_code == 404
            and requests.get(video["variants"]["large"], timeout=30).status_code == 404
        ),
        what="the video and its poster deleted",
    )
    original = requests.get(video["variants"]["original"], timeout=30)
    assert original.status_code == 200
    assert original.content == clip
