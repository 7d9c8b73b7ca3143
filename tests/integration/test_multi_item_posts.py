"""Posts of several photos through the real handlers on moto: one presigned POST per item, each
item rendered on its own, the post published once when the last is done (whatever the order and
however often the events come), rejected as a whole when one item is refused or never comes, and
every item's variants gone when the post is deleted."""

from __future__ import annotations

import io
import json
import random
from datetime import timedelta
from typing import Any

import pytest
from PIL import Image

from photofeed import wiring
from photofeed.clock import utc_now
from photofeed.storage.posts import PostRepository
from tests import images
from tests.conftest import LocalAws
from tests.integration.drain import SqsDriver
from tests.integration.helpers import route
from tests.integration.test_media_pipeline import Pipeline, crash_once

# Ten different pictures, each of its own size, so the order they come out in can be told apart.
SIZES = [(320 + 16 * n, 240) for n in range(10)]


@pytest.fixture
def pipeline(local_aws: LocalAws, lambda_context: Any) -> Pipeline:
    return Pipeline(local_aws, lambda_context)


def many(pipeline: Pipeline, files: list[bytes], **extra: Any) -> tuple[int, dict[str, Any]]:
    body = {
        "title": "A day out",
        "media": [
            {"content_type": "image/jpeg", "content_length": len(data), "alt_text": f"Photo {n} of the day"}
            for n, data in enumerate(files, start=1)
        ],
        **extra,
    }
    return route(pipeline.local_aws, pipeline.ctx, "api_create_post.json", pipeline.author, body=body)


def upload_item(pipeline: Pipeline, upload: dict[str, Any], data: bytes) -> None:
    pipeline.s3.put_object(
        Bucket=pipeline.local_aws.template.refs["UploadsBucket"],
        Key=upload["fields"]["key"],
        Body=data,
        ContentType=upload["fields"]["Content-Type"],
    )


def variants_of(pipeline: Pipeline, post_id: str) -> list[str]:
    return [key for key in pipeline.media_objects() if key.startswith(f"posts/{post_id}/")]


def fanout(pipeline: Pipeline) -> SqsDriver:
    """The fan-out queue, delivered to the fan-out function."""
    return SqsDriver(pipeline.local_aws, "FanoutQueue", "FanoutFunction", pipeline.ctx)


def published_messages(pipeline: Pipeline) -> list[str]:
    return [m["post_id"] for m in pipeline.fanout_messages() if m["type"] == "post_published"]


def test_a_ten_item_post_is_published_once_whatever_the_order_and_repeats_then_deleted_clean(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = [images.scene_jpeg(size, variant=n) for n, size in enumerate(SIZES)]
    status, created = many(pipeline, files)
    assert status == 201, created
    post_id = created["post"]["id"]
    assert [u["fields"]["key"] for u in created["uploads"]] == [
        f"uploads/{pipeline.author['id']}/{post_id}/{n}" for n in range(1, 11)
    ]
    assert created["upload"] == created["uploads"][0]
    assert created["post"]["media_items"] == []

    order = list(range(10))
    random.Random(7).shuffle(order)
    for index in order:
        upload_item(pipeline, created["uploads"][index], files[index])
    # Every S3 event delivered three times, shuffled; a worker dies right after recording an item.
    events = [message["Body"] for message in pipeline.media_queue.receive()]
    assert len(events) == 10
    repeats = events * 2
    random.Random(8).shuffle(repeats)
    sqs = pipeline.local_aws.aws("sqs")
    for body in repeats:
        sqs.send_message(QueueUrl=pipeline.media_queue.url, MessageBody=body)
    crashes = crash_once(monkeypatch, PostRepository, "complete_item", after=True)
    pipeline.media_queue.drain(rounds=20)
    pipeline.stream.drain()

    assert crashes
    post = pipeline.post(post_id)
    assert post["status"] == "published"
    items = post["media_items"]
    assert [(item["width"], item["height"]) for item in items] == SIZES
    assert [item["alt_text"] for item in items] == [f"Photo {n} of the day" for n in range(1, 11)]
    assert all(item["type"] == "image" and len(item["blurhash"]) == 28 for item in items)  # 4x3: 28 characters
    assert post["media"] == items[0]["variants"]
    assert (post["width"], post["height"]) == SIZES[0]
    assert published_messages(pipeline) == [post_id]  # published once
    assert pipeline.me()["post_count"] == 1
    assert len(variants_of(pipeline, post_id)) == 30

    listed = pipeline.own_posts()[0]["media_items"]
    assert [item["alt_text"] for item in listed] == [item["alt_text"] for item in items]

    assert pipeline.delete(post_id) == 204
    pipeline.stream.drain()
    fanout(pipeline).drain()
    assert variants_of(pipeline, post_id) == []  # every item's variants; the originals stay
    assert pipeline.s3.get_object(
        Bucket=pipeline.local_aws.template.refs["UploadsBucket"], Key=created["uploads"][9]["fields"]["key"]
    )


def test_one_hostile_item_among_ten_rejects_the_post_naming_it_and_leaves_nothing_behind(pipeline: Pipeline) -> None:
    files = [images.scene_jpeg(size, variant=n) for n, size in enumerate(SIZES)]
    files[6] = images.truncated_jpeg()
    status, created = many(pipeline, files)
    assert status == 201, created
    post_id = created["post"]["id"]
    for index in [0, 1, 2, 3, 6, 4, 5, 7, 8, 9]:  # some items are rendered before the bad one, some after
        upload_item(pipeline, created["uploads"][index], files[index])
    pipeline.media_queue.drain(rounds=20)
    pipeline.stream.drain()
    fanout(pipeline).drain()  # the rejection's clean-up, through the outbox

    post = pipeline.post(post_id)
    assert post["status"] == "rejected"
    assert post["rejection_reason"].startswith("item 7: the file is not a decodable JPEG image")
    assert post["media_items"] == []
    assert variants_of(pipeline, post_id) == []
    assert published_messages(pipeline) == []
    assert pipeline.me()["post_count"] == 0


def test_an_item_never_uploaded_ends_the_post_rejected_naming_it_within_the_hour(pipeline: Pipeline) -> None:
    files = [images.scene_jpeg(size, variant=n) for n, size in enumerate(SIZES[:4])]
    status, created = many(pipeline, files)
    assert status == 201, created
    for index in (0, 1, 3):  # the third never comes
        upload_item(pipeline, created["uploads"][index], files[index])
    pipeline.media_queue.drain()
    assert pipeline.post(created["post"]["id"])["status"] == "processing"
    assert len(variants_of(pipeline, created["post"]["id"])) == 9

    assert pipeline.sweep(utc_now() + timedelta(minutes=51)) == 1
    pipeline.stream.drain()
    fanout(pipeline).drain()

    post = pipeline.post(created["post"]["id"])
    assert post["status"] == "rejected"
    assert post["rejection_reason"] == "item 3: no photo was uploaded within 50 minutes of creating the post"
    assert variants_of(pipeline, created["post"]["id"]) == []


def test_a_post_deleted_before_its_last_photo_came_leaves_no_variant(pipeline: Pipeline) -> None:
    files = [images.scene_jpeg(size, variant=n) for n, size in enumerate(SIZES[:3])]
    status, created = many(pipeline, files)
    assert status == 201, created
    post_id = created["post"]["id"]
    for index in (0, 1):  # the third never comes: the author gives up and deletes the post
        upload_item(pipeline, created["uploads"][index], files[index])
    pipeline.media_queue.drain()
    assert len(variants_of(pipeline, post_id)) == 6

    assert pipeline.delete(post_id) == 204
    pipeline.stream.drain()
    fanout(pipeline).drain()

    assert variants_of(pipeline, post_id) == []
    assert published_messages(pipeline) == []


def test_the_many_item_form_is_checked_item_by_item_and_its_idempotency_key_covers_the_post(
    pipeline: Pipeline,
) -> None:
    def create(body: dict[str, Any], key: str | None = None) -> tuple[int, dict[str, Any]]:
        headers = {"Idempotency-Key": key} if key else None
        return route(
            pipeline.local_aws, pipeline.ctx, "api_create_post.json", pipeline.author, body=body, headers=headers
        )

    photo = {"content_type": "image/heic", "content_length": 2_000_000}
    status, answer = create({"title": "x", "media": [photo, {"content_type": "video/x-msvideo", "content_length": 9}]})
    assert (status, answer["error"]["code"]) == (415, "unsupported_media_type")
    assert answer["error"]["message"].startswith("media[1]: video/x-msvideo is not accepted")
    status, answer = create({"title": "x", "media": [photo, {**photo, "content_length": 21 * 1024 * 1024}]})
    assert (status, answer["error"]["message"]) == (413, "media[1]: photos may be at most 20971520 bytes")
    for body in (
        {"title": "x", "media": [photo] * 11},
        {"title": "x", "media": []},
        {"title": "x", "media": [{**photo, "alt_text": "a" * 1501}]},
        {"title": "x", "media": [photo], **photo},
        {"title": "x"},
    ):
        assert create(body)[0] == 422, body

    def posts_counted() -> int:  # by WriteRateLimits, in this minute's window
        cache = wiring.feed_store().redis
        return sum(int(cache.get(key) or 0) for key in cache.scan_iter(f"rl:post:{pipeline.author['id']}:*"))

    counted = posts_counted()
    assert create({"title": "Ten", "media": [photo] * 10})[0] == 201
    assert posts_counted() == counted + 1  # a post counts once, whatever its number of items

    body = {"title": "Three", "media": [{**photo, "alt_text": f"alt {n}"} for n in range(3)]}
    first = create(body, key="three-photos")
    again = create(body, key="three-photos")
    assert first[0] == again[0] == 201
    assert again[1]["post"]["id"] == first[1]["post"]["id"]
    assert [u["fields"]["key"] for u in again[1]["uploads"]] == [u["fields"]["key"] for u in first[1]["uploads"]]
    assert create({**body, "title": "Four"}, key="three-photos")[0] == 422


def test_a_single_photo_post_still_answers_one_upload_and_one_media_item(pipeline: Pipeline) -> None:
    post = pipeline.run(images.scene_jpeg((700, 500)))
    assert post["status"] == "published"
    [item] = post["media_items"]
    assert (item["width"], item["height"], item["alt_text"]) == (700, 500, "")
    assert item["variants"] == post["media"]
    assert len(item["blurhash"]) == 28
    large = Image.open(io.BytesIO(pipeline.variants(post["id"])["large"]))
    assert large.size == (700, 500)  # never upscaled, aspect ratio kept


def test_a_post_cached_before_posts_had_several_photos_is_read_again_with_its_media_items(
    pipeline: Pipeline,
) -> None:
    post = pipeline.run(images.scene_jpeg((400, 300)))
    pipeline.stream.drain()
    fanout(pipeline).drain()

    def feed() -> list[dict[str, Any]]:
        status, page = route(pipeline.local_aws, pipeline.ctx, "api_get_feed.json", pipeline.author)
        assert status == 200, page
        return list(page["items"])

    assert [item["id"] for item in feed()] == [post["id"]]  # now in the post cache
    cache, key = wiring.feed_store().redis, f"post:{post['id']}"
    # As the code before this change cached it: the JSON under `j`, without `media_items`.
    head = cache.hget(key, "m").decode().replace("\0", "{}")
    old = json.loads(head + "}")
    del old["media_items"]
    cache.hdel(key, "m")
    cache.hset(key, "j", json.dumps(old, separators=(",", ":"))[:-1])

    [item] = feed()

    assert [(media["width"], media["height"]) for media in item["media_items"]] == [(400, 300)]
    assert item["media_items"][0]["variants"] == item["media"]
