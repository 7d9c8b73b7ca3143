"""The media pipeline in-process on moto: S3 -> media queue -> process_media -> posts stream ->
stream_relay -> fan-out queue, with redeliveries, crashes and hostile files; and the stuck-post
rule: the media dead-letter queue and the scheduled sweep -> stuck_posts."""

from __future__ import annotations

import contextlib
import io
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError
from botocore.exceptions import ClientError
from PIL import Image

from devstack.pollers import EventSources
from devstack.schedules import Rate
from photofeed import imaging
from photofeed.clock import utc_now
from photofeed.services.media import MediaProcessor, Rendition
from photofeed.storage.media import MediaStore
from photofeed.storage.posts import PostRepository
from photofeed.storage.queues import WorkQueue
from photofeed.storage.tables import MediaKeys, PostRow
from tests import images
from tests.conftest import LocalAws, load_event
from tests.integration.drain import SqsDriver, StreamDriver
from tests.integration.helpers import route, sign_up


class Pipeline:
    def __init__(self, local_aws: LocalAws, ctx: Any) -> None:
        self.local_aws = local_aws
        self.ctx = ctx
        self.media_queue = SqsDriver(local_aws, "MediaQueue", "ProcessMediaFunction", ctx)
        self.fanout_queue = SqsDriver(local_aws, "FanoutQueue", "ProcessMediaFunction", ctx)
        self.stream = StreamDriver(local_aws, "PostsTable", "StreamRelayFunction", ctx)
        self.author = sign_up(local_aws, ctx, "alice")
        self.s3 = local_aws.aws("s3")

    def create(self, content_type: str = "image/jpeg", length: int = 1_000_000) -> dict[str, Any]:
        body = {"title": "A photo", "content_type": content_type, "content_length": length}
        status, created = route(self.local_aws, self.ctx, "api_create_post.json", self.author, body=body)
        assert status == 201, created
        return created

    def upload(self, created: dict[str, Any], data: bytes, stored_type: str | None = None) -> None:
        """What the browser's multipart POST leaves in the bucket (moto enforces no policy)."""
        fields = created["upload"]["fields"]
        self.s3.put_object(
            Bucket=self.local_aws.template.refs["UploadsBucket"],
            Key=fields["key"],
            Body=data,
            ContentType=stored_type or fields["Content-Type"],
        )

    def post(self, post_id: str) -> dict[str, Any]:
        status, post = route(
            self.local_aws,
            self.ctx,
            "api_get_post.json",
            self.author,
            path=f"/posts/{post_id}",
            path_parameters={"post_id": post_id},
        )
        assert status == 200, post
        return post

    def delete(self, post_id: str) -> int:
        return route(
            self.local_aws,
            self.ctx,
            "api_delete_post.json",
            self.author,
            path=f"/posts/{post_id}",
            path_parameters={"post_id": post_id},
        )[0]

    def own_posts(self) -> list[dict[str, Any]]:
        """The first page of the author's profile list."""
        status, listed = route(
            self.local_aws,
            self.ctx,
            "api_get_user_posts.json",
            self.author,
            path="/users/alice/posts",
            path_parameters={"username": "alice"},
        )
        assert status == 200, listed
        return list(listed["items"])

    def me(self) -> dict[str, Any]:
        return route(self.local_aws, self.ctx, "api_get_me.json", self.author)[1]

    def variants(self, post_id: str) -> dict[str, bytes]:
        bucket = self.local_aws.template.refs["MediaBucket"]
        return {
            name: self.s3.get_object(Bucket=bucket, Key=f"posts/{post_id}/{name}.jpg")["Body"].read()
            for name in ("thumbnail", "medium", "large")
        }

    def media_objects(self) -> list[str]:
        answer = self.s3.list_objects_v2(Bucket=self.local_aws.template.refs["MediaBucket"])
        return [item["Key"] for item in answer.get("Contents", [])]

    def fanout_messages(self) -> list[dict[str, Any]]:
        return self.fanout_queue.bodies()

    def run(self, data: bytes, content_type: str = "image/jpeg", stored_type: str | None = None) -> dict[str, Any]:
        created = self.create(content_type, len(data))
        self.upload(created, data, stored_type)
        self.media_queue.drain()
        return self.post(created["post"]["id"])

    def original(self, post_id: str) -> bytes:
        bucket = self.local_aws.template.refs["UploadsBucket"]
        return bytes(self.s3.get_object(Bucket=bucket, Key=f"uploads/{self.author['id']}/{post_id}")["Body"].read())

    @property
    def dead_letters(self) -> SqsDriver:
        """The media dead-letter queue, read by the stuck_posts function."""
        return SqsDriver(self.local_aws, "MediaDeadLetterQueue", "StuckPostsFunction", self.ctx)

    def sweep(self, at: datetime) -> int:
        """The scheduled sweep, fired at `at` (the clock is the schedule's own event time)."""
        event = load_event("schedule_stuck_posts.json")
        event["time"] = at.strftime("%Y-%m-%dT%H:%M:%SZ")
        return int(self.local_aws.handler("StuckPostsFunction")(event, self.ctx)["rejected"])


@pytest.fixture
def pipeline(local_aws: LocalAws, lambda_context: Any) -> Pipeline:
    return Pipeline(local_aws, lambda_context)


def assert_clean(data: bytes) -> None:
    """No metadata block and nothing but the picture in a published variant."""
    image = Image.open(io.BytesIO(data))
    assert image.format == "JPEG"
    assert not image.getexif()
    assert not {"exif", "icc_profile", "xmp", "comment", "photoshop"} & set(image.info)
    for marker in (images.SECRET, b"Exif\x00", b"ICC_PROFILE", b"http://ns.adobe.com", b"PK\x03\x04", b"<x:xmpmeta"):
        assert marker not in data


def size_of(data: bytes) -> tuple[int, int]:
    return Image.open(io.BytesIO(data)).size


def test_a_gps_tagged_rotated_jpeg_is_published_upright_and_clean(pipeline: Pipeline) -> None:
    post = pipeline.run(images.gps_jpeg_orientation_6((1600, 1200)))

    assert post["status"] == "published"
    assert (post["width"], post["height"]) == (1200, 1600)  # orientation 6: shown portrait
    variants = pipeline.variants(post["id"])
    assert size_of(variants["thumbnail"]) == (150, 150)
    assert size_of(variants["medium"]) == (640, 853)
    assert size_of(variants["large"]) == (1080, 1440)
    for data in variants.values():
        assert_clean(data)
    # The red marker was top-left as stored; turned 90° clockwise it is top-right as shown.
    large = Image.open(io.BytesIO(variants["large"])).convert("RGB")
    red, green, blue = large.getpixel((1080 - 20, 20))  # type: ignore[misc]
    assert red > 200
    assert green < 60
    assert blue < 60
    assert set(post["media"]) == {"thumbnail", "medium", "large", "original"}
    assert pipeline.me()["post_count"] == 1


@pytest.mark.parametrize(
    ("make", "content_type", "size"),
    [
        (images.png_with_alpha, "image/png", (800, 600)),
        (images.webp, "image/webp", (900, 700)),
        (images.jpeg_with_zip_appended, "image/jpeg", (640, 480)),
    ],
)
def test_accepted_files_are_published_clean_and_never_upscaled(
    pipeline: Pipeline, make: Callable[[], bytes], content_type: str, size: tuple[int, int]
) -> None:
    post = pipeline.run(make(), content_type)

    assert post["status"] == "published"
    assert (post["width"], post["height"]) == size
    variants = pipeline.variants(post["id"])
    assert size_of(variants["large"])[0] == min(size[0], 1080)
    assert size_of(variants["medium"])[0] == min(size[0], 640)
    for data in variants.values():
        assert_clean(data)


@pytest.mark.parametrize(
    ("make", "content_type", "reason"),
    [
        (images.png_81_megapixels, "image/png", "81,000,000 pixels; the limit is 50,000,000 pixels"),
        (images.truncated_jpeg, "image/jpeg", "not a decodable JPEG"),
        (images.html_named_jpg, "image/jpeg", "not an image of an accepted type"),
        (images.svg, "image/png", "not an image of an accepted type"),
        (images.gif, "image/jpeg", "not an image of an accepted type"),
        (images.webp, "image/jpeg", "is a WEBP image"),
    ],
)
def test_hostile_files_end_rejected_with_a_reason(
    pipeline: Pipeline, make: Callable[[], bytes], content_type: str, reason: str
) -> None:
    data = make()
    post = pipeline.run(data, content_type)

    assert post["status"] == "rejected"
    assert reason in post["rejection_reason"]
    assert post["media"] is None
    assert pipeline.media_objects() == []
    assert pipeline.me()["post_count"] == 0
    original = pipeline.s3.get_object(
        Bucket=pipeline.local_aws.template.refs["UploadsBucket"], Key=f"uploads/{pipeline.author['id']}/{post['id']}"
    )["Body"].read()
    assert original == data  # nothing is lost: the original stays in versioned storage


def test_a_file_larger_than_announced_is_rejected(pipeline: Pipeline) -> None:
    created = pipeline.create("image/jpeg", 1000)
    pipeline.upload(created, images.jpeg())
    pipeline.media_queue.drain()

    post = pipeline.post(created["post"]["id"])
    assert post["status"] == "rejected"
    assert "1000 were announced" in post["rejection_reason"]


def test_a_file_stored_with_another_type_is_rejected(pipeline: Pipeline) -> None:
    post = pipeline.run(images.jpeg(), "image/jpeg", stored_type="text/html")

    assert post["status"] == "rejected"
    assert "text/html" in post["rejection_reason"]


def test_redelivered_events_publish_once(pipeline: Pipeline) -> None:
    data = images.jpeg()
    created = pipeline.create("image/jpeg", len(data))
    pipeline.upload(created, data)
    event = pipeline.media_queue.receive()
    pipeline.media_queue.deliver(event)
    for _ in range(3):  # the same S3 event again, as SQS may deliver it
        pipeline.local_aws.aws("sqs").send_message(QueueUrl=pipeline.media_queue.url, MessageBody=event[-1]["Body"])
    pipeline.upload(created, data)  # and a second upload to the same key (a newer version)
    pipeline.media_queue.drain()
    pipeline.stream.drain()

    assert pipeline.post(created["post"]["id"])["status"] == "published"
    assert pipeline.me()["post_count"] == 1
    published = [m for m in pipeline.fanout_messages() if m["type"] == "post_published"]
    assert [m["post_id"] for m in published] == [created["post"]["id"]]


def test_a_post_deleted_before_processing_is_never_resurrected(pipeline: Pipeline) -> None:
    data = images.jpeg()
    created = pipeline.create("image/jpeg", len(data))
    post_id = created["post"]["id"]
    pipeline.upload(created, data)
    assert pipeline.delete(post_id) == 204

    pipeline.media_queue.drain()
    pipeline.stream.drain()

    assert (
        route(
            pipeline.local_aws,
            pipeline.ctx,
            "api_get_post.json",
            pipeline.author,
            path=f"/posts/{post_id}",
            path_parameters={"post_id": post_id},
        )[0]
        == 404
    )
    assert pipeline.me()["post_count"] == 0
    assert pipeline.media_objects() == []
    assert [m["type"] for m in pipeline.fanout_messages()] == ["post_discarded"]  # its variants go, no fan-out


def test_deleting_a_published_post_tells_the_fan_out_and_the_count(pipeline: Pipeline) -> None:
    post = pipeline.run(images.jpeg())
    assert pipeline.me()["post_count"] == 1

    status = pipeline.delete(post["id"])
    pipeline.stream.drain()

    assert status == 204
    assert pipeline.me()["post_count"] == 0
    assert [m["type"] for m in pipeline.fanout_messages()] == ["post_published", "post_deleted"]
    assert pipeline.own_posts() == []


class Crash(Exception):
    """The worker dies here (Lambda reports the invocation failed)."""


def crash_once(monkeypatch: pytest.MonkeyPatch, owner: type, name: str, after: bool = False) -> list[int]:
    """Make `owner.name` die on its first call (before doing its work, or right after it)."""
    real = getattr(owner, name)
    calls: list[int] = []

    def dying(self: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == 1 and not after:
            raise Crash(name)
        result = real(self, *args, **kwargs)
        if len(calls) == 1 and after:
            raise Crash(f"after {name}")
        return result

    monkeypatch.setattr(owner, name, dying)
    return calls


@pytest.mark.parametrize(
    ("owner", "step", "after"),
    [
        (MediaProcessor, "claim", False),
        (MediaProcessor, "claim", True),
        (MediaProcessor, "check_upload", False),
        (MediaProcessor, "render", False),
        (MediaProcessor, "store", False),
        (MediaProcessor, "store", True),
        (MediaProcessor, "publish", False),
        (PostRepository, "publish", True),  # marked published, then died before anything else
        (WorkQueue, "send", False),  # the relay died before handing the post on
        (WorkQueue, "send", True),  # the relay handed it on, then died: a duplicate, never a loss
    ],
    ids=lambda value: value if isinstance(value, str) else getattr(value, "__name__", str(value)),
)
def test_a_worker_killed_at_any_step_still_publishes_once_and_reaches_the_fan_out(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch, owner: type, step: str, after: bool
) -> None:
    calls = crash_once(monkeypatch, owner, step, after)
    data = images.gps_jpeg_orientation_6((1000, 800))
    created = pipeline.create("image/jpeg", len(data))
    pipeline.upload(created, data)

    pipeline.media_queue.drain()  # failed records come back and are retried
    pipeline.stream.drain()  # the outbox: a failed relay batch is retried from its failed record

    assert len(calls) >= 1  # the crash really happened
    post = pipeline.post(created["post"]["id"])
    assert post["status"] == "published"
    assert pipeline.me()["post_count"] == 1
    published = {m["post_id"] for m in pipeline.fanout_messages() if m["type"] == "post_published"}
    assert published == {created["post"]["id"]}


# ------------------------------------------------------------------ never stuck
def drain_through_failures(queue: SqsDriver, rounds: int = 10) -> int:
    """`queue.drain()` for records that always fail: when every record of a batch fails, the
    invocation fails as a whole (Powertools raises) and Lambda leaves the whole batch to retry."""
    for invocations in range(rounds):
        messages = queue.receive()
        if not messages:
            return invocations
        with contextlib.suppress(BatchProcessingError):
            queue.deliver(messages)
    raise AssertionError(f"{queue.url} still not empty after {rounds} rounds")


def test_a_jpeg_far_wider_than_tall_is_published_at_once(pipeline: Pipeline) -> None:
    """4400x2 made the worker raise on every delivery: retried, dead-lettered, `processing` for ever."""
    data = images.jpeg_wide_and_flat((4400, 2))
    created = pipeline.create("image/jpeg", len(data))
    pipeline.upload(created, data)

    assert pipeline.media_queue.drain() == 1  # one delivery, no retry
    post = pipeline.post(created["post"]["id"])
    assert post["status"] == "published"
    assert (post["width"], post["height"]) == (4400, 2)
    assert size_of(pipeline.variants(post["id"])["large"]) == (1080, 1)


def test_an_error_while_rendering_rejects_the_post_at_once(pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch) -> None:
    def failing_encoder(image: Image.Image) -> bytes:
        raise OSError("encoder error -2 when writing image file")

    monkeypatch.setattr(imaging, "_jpeg", failing_encoder)
    data = images.jpeg()
    created = pipeline.create("image/jpeg", len(data))
    pipeline.upload(created, data)

    assert pipeline.media_queue.drain() == 1
    post = pipeline.post(created["post"]["id"])
    assert post["status"] == "rejected"
    assert post["rejection_reason"] == "the picture could not be converted into the published sizes"
    assert pipeline.media_objects() == []
    assert pipeline.original(post["id"]) == data


def _s3_keeps_failing(pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch, created: dict[str, Any]) -> None:
    def slow_down(self: MediaStore, key: str, version_id: str | None) -> bytes:
        raise ClientError({"Error": {"Code": "SlowDown", "Message": "Please reduce your request rate."}}, "GetObject")

    monkeypatch.setattr(MediaStore, "read_upload", slow_down)


def _uploaded_version_gone(pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch, created: dict[str, Any]) -> None:
    bucket, key = pipeline.local_aws.template.refs["UploadsBucket"], created["upload"]["fields"]["key"]
    version = pipeline.s3.head_object(Bucket=bucket, Key=key)["VersionId"]
    pipeline.s3.delete_object(Bucket=bucket, Key=key, VersionId=version)


@pytest.mark.parametrize(
    "poison", [_s3_keeps_failing, _uploaded_version_gone], ids=["s3-keeps-failing", "version-gone"]
)
def test_an_upload_that_keeps_failing_is_dead_lettered_and_its_post_rejected(
    pipeline: Pipeline,
    monkeypatch: pytest.MonkeyPatch,
    poison: Callable[[Pipeline, pytest.MonkeyPatch, dict[str, Any]], None],
) -> None:
    data = images.jpeg()
    created = pipeline.create("image/jpeg", len(data))
    pipeline.upload(created, data)
    poison(pipeline, monkeypatch, created)

    drain_through_failures(pipeline.media_queue)  # 5 failed deliveries (maxReceiveCount), then the DLQ
    assert pipeline.post(created["post"]["id"])["status"] == "processing"
    assert pipeline.dead_letters.drain() == 1

    post = pipeline.post(created["post"]["id"])
    assert post["status"] == "rejected"
    assert post["rejection_reason"] == "the photo could not be processed: every attempt failed"
    assert pipeline.media_objects() == []
    assert pipeline.me()["post_count"] == 0
    pipeline.stream.drain()
    assert [m["type"] for m in pipeline.fanout_messages()] == ["post_discarded"]  # its variants go, no fan-out


def test_an_upload_that_never_comes_is_rejected_after_the_deadline(pipeline: Pipeline) -> None:
    published = pipeline.run(images.jpeg())
    refused = pipeline.run(images.html_named_jpg())
    waiting = pipeline.create()["post"]["id"]
    now = utc_now()

    assert pipeline.sweep(now + timedelta(minutes=10)) == 0
    assert pipeline.sweep(now + timedelta(minutes=49)) == 0
    assert pipeline.post(waiting)["status"] == "pending_upload"

    assert pipeline.sweep(now + timedelta(minutes=51)) == 1
    post = pipeline.post(waiting)
    assert post["status"] == "rejected"
    assert post["rejection_reason"] == "no photo was uploaded within 50 minutes of creating the post"
    assert pipeline.sweep(now + timedelta(minutes=56)) == 0  # the next run: nothing left to do
    assert pipeline.post(published["id"])["status"] == "published"
    assert pipeline.post(refused["id"])["rejection_reason"] == refused["rejection_reason"]


def test_an_upload_whose_event_was_lost_is_rejected_after_the_deadline_and_kept(pipeline: Pipeline) -> None:
    data = images.jpeg()
    created = pipeline.create("image/jpeg", len(data))
    pipeline.upload(created, data)
    pipeline.local_aws.aws("sqs").purge_queue(QueueUrl=pipeline.media_queue.url)  # the S3 event never arrives

    assert pipeline.sweep(utc_now() + timedelta(minutes=51)) == 1

    post = pipeline.post(created["post"]["id"])
    assert post["status"] == "rejected"
    assert post["rejection_reason"] == "the photo could not be processed within 50 minutes of creating the post"
    assert pipeline.original(post["id"]) == data


def test_a_post_rejected_by_the_sweep_while_the_worker_renders_stays_rejected_and_clean(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_store = MediaProcessor.store

    def store_after_the_sweep(self: MediaProcessor, post: PostRow, index: int, rendition: Rendition) -> MediaKeys:
        pipeline.sweep(utc_now() + timedelta(hours=2))  # the deadline passes while the worker renders
        return real_store(self, post, index, rendition)

    monkeypatch.setattr(MediaProcessor, "store", store_after_the_sweep)
    data = images.jpeg()
    created = pipeline.create("image/jpeg", len(data))
    pipeline.upload(created, data)

    pipeline.media_queue.drain()
    pipeline.stream.drain()

    post = pipeline.post(created["post"]["id"])
    assert post["status"] == "rejected"
    assert post["rejection_reason"] == "the photo could not be processed within 50 minutes of creating the post"
    assert pipeline.media_objects() == []  # the worker lost the race and removed its variants
    assert pipeline.me()["post_count"] == 0
    assert [m["type"] for m in pipeline.fanout_messages()] == ["post_discarded"]  # its variants go, no fan-out


def test_a_sweep_that_read_a_stale_status_never_rejects_a_published_post(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    post = pipeline.run(images.jpeg())
    stale = PostRow(id=post["id"], status="processing", upload_key=f"uploads/{pipeline.author['id']}/{post['id']}")
    monkeypatch.setattr(PostRepository, "in_flight_created_before", lambda self, before, limit: [stale])

    assert pipeline.sweep(utc_now() + timedelta(hours=2)) == 0
    assert pipeline.post(post["id"])["status"] == "published"


def test_the_local_stack_runs_the_stuck_post_rule_from_the_template(local_aws: LocalAws) -> None:
    sources = EventSources(local_aws.template, local_aws.runtime, local_aws.aws)

    (schedule,) = [s for s in sources.schedules if s.function.logical_id == "StuckPostsFunction"]
    assert isinstance(schedule.schedule, Rate)
    assert schedule.schedule.interval == timedelta(minutes=5)
    assert schedule.event(datetime(2026, 11, 21, 21, 55, tzinfo=utc_now().tzinfo), 1)["time"] == "2026-11-21T21:55:00Z"
    dead_letters = local_aws.template.attributes["MediaDeadLetterQueue"]["Arn"]
    assert any(
        m.function.logical_id == "StuckPostsFunction" and m.queue_arn == dead_letters for m in sources.sqs_mappings
    )


def test_a_post_the_sweep_cannot_check_does_not_hold_up_the_others(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On AWS, S3 answers HeadObject of a missing key with 403 unless the caller may list the
    bucket; whatever one post's check raises, the sweep goes on with the rest."""
    from botocore.exceptions import ClientError

    from photofeed.storage.media import MediaStore

    blocked, waiting = pipeline.create()["post"]["id"], pipeline.create()["post"]["id"]
    real = MediaStore.inspect_upload

    def forbidden_for_one(self: MediaStore, key: str, version_id: str | None) -> Any:
        if key.endswith(blocked):
            raise ClientError({"Error": {"Code": "403", "Message": "Forbidden"}}, "HeadObject")
        return real(self, key, version_id)

    monkeypatch.setattr(MediaStore, "inspect_upload", forbidden_for_one)

    assert pipeline.sweep(utc_now() + timedelta(minutes=51)) == 1
    assert pipeline.post(waiting)["status"] == "rejected"
    assert pipeline.post(blocked)["status"] == "pending_upload"  # the next run tries it again


def test_a_message_that_is_not_an_s3_notification_is_dropped_not_retried(pipeline: Pipeline) -> None:
    for function in ("ProcessMediaFunction", "StuckPostsFunction"):
        event = load_event("sqs_s3_upload.json")
        for body in ("not json", '{"Records": [{"eventName": "ObjectCreated:Post"}]}', "[1, 2]"):
            event["Records"][0]["body"] = body
            answer = pipeline.local_aws.handler(function)(event, pipeline.ctx)
            assert answer["batchItemFailures"] == [], (function, body)


def test_the_functions_that_look_for_an_upload_may_list_the_uploads_bucket(local_aws: LocalAws) -> None:
    """HeadObject of a missing key is 404 only with s3:ListBucket (else 403, which reads as a failure)."""
    for function in ("ProcessMediaFunction", "StuckPostsFunction"):
        statements = [
            statement
            for policy in local_aws.template.resources[function]["Properties"]["Policies"]
            for statement in policy.get("Statement", [])
        ]
        listing = [statement for statement in statements if statement["Action"] == "s3:ListBucket"]
        assert listing, function
        assert local_aws.template.resolve(listing[0]["Resource"]).endswith(local_aws.template.refs["UploadsBucket"])
        assert "Condition" not in listing[0]  # HeadObject's existence check carries no s3:prefix
