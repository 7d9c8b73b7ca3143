"""Video posts through the real handlers on moto: a video's upload goes to its own prefix and queue
(S3's notification rules in template.yaml), is converted by the video worker (the media worker's
code, with PyAV) into an H.264/AAC MP4 and a poster frame, and its post is published, mixed with
photos, or rejected with a reason; the worker never crashes or loops on a hostile file."""

from __future__ import annotations

import io
from typing import Any

import av
import pytest
from PIL import Image

from devstack.runtime import LambdaContext
from tests import images, videos
from tests.conftest import LocalAws
from tests.integration.drain import SqsDriver
from tests.integration.helpers import route
from tests.integration.test_media_pipeline import Pipeline

pytestmark = pytest.mark.timeout(300)


def video_context(timeout_seconds: int = 600) -> LambdaContext:
    """What Lambda hands the video worker (template.yaml: Timeout 600)."""
    return LambdaContext(
        function_name="process-video",
        memory_limit_in_mb=3538,
        invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:process-video",
        timeout_seconds=timeout_seconds,
    )


class VideoPipeline(Pipeline):
    def __init__(self, local_aws: LocalAws, ctx: Any) -> None:
        super().__init__(local_aws, ctx)
        self.video_queue = SqsDriver(local_aws, "VideoQueue", "ProcessVideoFunction", video_context())

    def many(self, files: list[tuple[str, bytes]]) -> dict[str, Any]:
        body = {
            "title": "A walk by the sea",
            "media": [
                {"content_type": kind, "content_length": len(data), "alt_text": f"Item {n}"}
                for n, (kind, data) in enumerate(files, start=1)
            ],
        }
        status, created = route(self.local_aws, self.ctx, "api_create_post.json", self.author, body=body)
        assert status == 201, created
        for upload, (_, data) in zip(created["uploads"], files, strict=True):
            self.s3.put_object(
                Bucket=self.local_aws.template.refs["UploadsBucket"],
                Key=upload["fields"]["key"],
                Body=data,
                ContentType=upload["fields"]["Content-Type"],
            )
        return created

    def run_video(self, data: bytes, content_type: str = "video/mp4") -> dict[str, Any]:
        created = self.create(content_type, len(data))
        self.upload(created, data)
        # A video is not the photo worker's (its queue holds at most S3's test event).
        assert not [m for m in self.media_queue.receive() if "video-uploads" in m["Body"]]
        self.video_queue.drain()
        return self.post(created["post"]["id"])

    def media_object(self, key: str) -> bytes:
        return bytes(self.s3.get_object(Bucket=self.local_aws.template.refs["MediaBucket"], Key=key)["Body"].read())


@pytest.fixture
def pipeline(local_aws: LocalAws, lambda_context: Any) -> VideoPipeline:
    return VideoPipeline(local_aws, lambda_context)


def test_a_post_of_a_photo_and_a_rotated_hevc_clip_is_published_upright_without_gps_then_deleted_clean(
    pipeline: VideoPipeline,
) -> None:
    photo = images.scene_jpeg((640, 480), 1)
    clip = videos.hevc_mov(320, 240, 1.0, rotation=90, gps=True, audio=True)
    created = pipeline.many([("image/jpeg", photo), ("video/quicktime", clip)])
    post_id = created["post"]["id"]
    keys = [upload["fields"]["key"] for upload in created["uploads"]]
    assert keys == [
        f"uploads/{pipeline.author['id']}/{post_id}/1",
        f"video-uploads/{pipeline.author['id']}/{post_id}/2",
    ]

    pipeline.media_queue.drain()
    assert pipeline.post(post_id)["status"] == "processing"  # the video is still on its way
    pipeline.video_queue.drain()
    pipeline.stream.drain()

    post = pipeline.post(post_id)
    assert post["status"] == "published", post.get("rejection_reason")
    photo_item, video_item = post["media_items"]
    assert photo_item["type"] == "image"
    assert "video" not in photo_item
    assert "duration_s" not in photo_item
    assert video_item["type"] == "video"
    assert (video_item["width"], video_item["height"]) == (240, 320)  # upright: the 90° turn applied
    assert video_item["duration_s"] == pytest.approx(1.0, abs=0.1)
    assert video_item["alt_text"] == "Item 2"
    assert len(video_item["blurhash"]) == 28
    assert "posts/" in video_item["video"]
    assert "video.mp4" in video_item["video"]

    mp4 = pipeline.media_object(f"posts/{post_id}/2/video.mp4")
    assert videos.top_level_boxes(mp4).index("moov") < videos.top_level_boxes(mp4).index("mdat")  # streams
    assert b"\xa9xyz" not in mp4
    assert b"+48.85" not in mp4
    with av.open(io.BytesIO(mp4)) as container:
        streams = {stream.type: stream.codec_context.name for stream in container.streams}
        shown = container.streams.video[0]
        assert (shown.width, shown.height) == (240, 320)
    assert streams == {"video": "h264", "audio": "aac"}
    poster = Image.open(io.BytesIO(pipeline.media_object(f"posts/{post_id}/2/large.jpg")))
    assert poster.size == (240, 320)  # never upscaled; as shown
    original = pipeline.s3.get_object(Bucket=pipeline.local_aws.template.refs["UploadsBucket"], Key=keys[1])
    assert original["Body"].read() == clip  # the original is kept as sent

    assert pipeline.delete(post_id) == 204
    pipeline.stream.drain()
    SqsDriver(pipeline.local_aws, "FanoutQueue", "FanoutFunction", pipeline.ctx).drain()
    assert [key for key in pipeline.media_objects() if key.startswith(f"posts/{post_id}/")] == []
    kept = pipeline.s3.get_object(Bucket=pipeline.local_aws.template.refs["UploadsBucket"], Key=keys[1])
    assert kept["Body"].read() == clip  # deleting the post removes the renditions, not the original


def test_an_mp4_without_sound_is_published_with_a_silent_h264_video(pipeline: VideoPipeline) -> None:
    post = pipeline.run_video(videos.h264_mp4(320, 180, 1.5, audio=False))
    assert post["status"] == "published", post.get("rejection_reason")
    (item,) = post["media_items"]
    assert (item["type"], item["width"], item["height"]) == ("video", 320, 180)
    assert item["duration_s"] == pytest.approx(1.5, abs=0.1)
    assert post["media"] == item["variants"]
    assert (post["width"], post["height"]) == (320, 180)
    with av.open(io.BytesIO(pipeline.media_object(f"posts/{post['id']}/video.mp4"))) as container:
        assert [stream.type for stream in container.streams] == ["video"]


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda: images.jpeg(), "JPEG"),
        (lambda: videos.truncated(videos.h264_mp4(160, 120, 1.0)), "incomplete"),
        (lambda: videos.audio_only_mp4(), "no video"),
        (lambda: videos.long_clip(62), "62"),
        (lambda: videos.huge_dimensions(), "60000"),
        (lambda: videos.random_bytes(), "not an MP4 or QuickTime video"),
    ],
    ids=["jpeg-as-mp4", "truncated", "sound-only", "too-long", "enormous-header", "random-bytes"],
)
def test_a_hostile_video_rejects_its_post_with_a_reason_in_one_invocation(
    pipeline: VideoPipeline, make: Any, reason: str
) -> None:
    data = make()
    created = pipeline.create("video/mp4", len(data))
    pipeline.upload(created, data)
    assert pipeline.video_queue.drain() == 1  # handled at once: no retry, no crash
    post = pipeline.post(created["post"]["id"])
    assert post["status"] == "rejected"
    assert reason.lower() in post["rejection_reason"].lower(), post["rejection_reason"]
    assert pipeline.media_objects() == []
    assert SqsDriver(pipeline.local_aws, "VideoDeadLetterQueue", "StuckPostsFunction", pipeline.ctx).receive() == []


def test_a_conversion_that_would_overrun_the_workers_timeout_is_refused_not_retried(
    local_aws: LocalAws, lambda_context: Any
) -> None:
    pipeline = VideoPipeline(local_aws, lambda_context)
    # An invocation left with no time beyond what storing and recording need.
    pipeline.video_queue = SqsDriver(local_aws, "VideoQueue", "ProcessVideoFunction", video_context(30))
    post = pipeline.run_video(videos.h264_mp4(320, 240, 2.0))
    assert post["status"] == "rejected"
    assert "could not be converted within" in post["rejection_reason"]


def test_video_sizes_and_types_are_checked_when_the_post_is_made(pipeline: VideoPipeline) -> None:
    def make(content_type: str, length: int) -> tuple[int, dict[str, Any]]:
        body = {"title": "Size check", "content_type": content_type, "content_length": length}
        return route(pipeline.local_aws, pipeline.ctx, "api_create_post.json", pipeline.author, body=body)

    status, created = make("video/quicktime", 100 * 1024 * 1024)
    assert status == 201
    assert created["upload"]["fields"]["key"].startswith("video-uploads/")
    assert make("video/mp4", 100 * 1024 * 1024 + 1)[0] == 413
    assert make("image/jpeg", 20 * 1024 * 1024 + 1)[0] == 413  # a photo's limit stays 20 MiB
    status, refused = make("video/webm", 1000)
    assert status == 415
    assert "video/mp4" in refused["error"]["message"]


def test_a_video_upload_every_retry_failed_on_rejects_its_post_naming_the_video(pipeline: VideoPipeline) -> None:
    created = pipeline.many([("image/jpeg", images.jpeg()), ("video/mp4", videos.h264_mp4(160, 120, 1.0))])
    (event,) = [m["Body"] for m in pipeline.video_queue.receive() if "video-uploads" in m["Body"]]
    dead_letters = SqsDriver(pipeline.local_aws, "VideoDeadLetterQueue", "StuckPostsFunction", pipeline.ctx)
    pipeline.local_aws.aws("sqs").send_message(QueueUrl=dead_letters.url, MessageBody=event)
    dead_letters.drain()
    post = pipeline.post(created["post"]["id"])
    assert post["status"] == "rejected"
    assert post["rejection_reason"] == "item 2: the video could not be processed: every attempt failed"
