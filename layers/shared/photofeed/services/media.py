"""The media pipeline's use case: uploaded originals become a published (or rejected) post.

A post has 1 to 10 items, each uploaded on its own and announced by its own event; each is
checked and rendered on its own, and recorded on the post (a conditional write on the post still
being in flight). The worker that records the last item publishes the post, in the same
transaction when it can see that every other item is already recorded; otherwise the recording
write answers the post as it now is, and whoever sees every item recorded publishes. Publishing is
conditional on the post being in flight and every item recorded, so it happens exactly once
whatever order the events come in and however often they are repeated. One refused item rejects
the whole post (its reason names the item); the variants its other items left are deleted by the
fan-out worker when the posts stream hands it the rejection (`post_discarded`).

Safe to run twice, in any order, and to die between any two steps: each step is idempotent and
every status change is conditional on the status it moves from. A transient failure (S3, DynamoDB)
propagates, so the SQS record is retried; a file that can never be published (anything wrong while
decoding or rendering it: `render_variants` turns every such error into a RejectedImage, and
`photofeed.video.transcode` into a RejectedVideo) is rejected at once. An upload whose every retry
fails is dead-lettered, and its post rejected by the stuck-post rule
(photofeed.services.stuck_posts), which may also reject a post while this worker is still at it:
then the worker's publish finds the post gone from flight and removes its variants.

A video is the same kind of item: downloaded to local disk (up to 100 MiB), converted by
photofeed.video (PyAV, in the video worker only, whose layer has it) into an H.264/AAC MP4 and a
poster frame, whose image variants and BlurHash stand for it like a photo's. Its conversion must
end by the `deadline` the handler gives (the function's own timeout less the time to store and
record); a clip that could not is refused up front by its size and length, and one that
overruns all the same is refused, never retried for ever.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import unquote_plus

from photofeed.config import Settings, get_settings
from photofeed.imaging import RejectedImage, Rendered, render_variants
from photofeed.models.posts import VIDEO_CONTENT_TYPES
from photofeed.storage.media import MediaStore, item_number, parse_upload_key
from photofeed.storage.posts import IN_FLIGHT, PENDING_UPLOAD, PUBLISHED, PostRepository, items_of
from photofeed.storage.tables import ItemRow, MediaKeys, PostRow

log = logging.getLogger(__name__)


class Outcome(StrEnum):
    PUBLISHED = "published"
    REJECTED = "rejected"
    IGNORED = "ignored"


@dataclass(frozen=True)
class Rendition:
    """What an item becomes before it is stored: the image variants of the picture as shown (a
    video's made from its poster frame), and for a video the converted MP4 on local disk and its
    length in seconds."""

    picture: Rendered
    video_path: str | None = None
    duration_s: float | None = None


@dataclass(frozen=True)
class UploadEvent:
    key: str
    version_id: str | None


def uploads_in_notification(body: str) -> list[UploadEvent]:
    """The uploads an S3 event notification (an SQS message body) announces. Keys arrive
    URL-encoded; S3's test event, and events other than ObjectCreated, announce none. A message
    that is not an S3 notification announces none either (logged): no retry could ever process
    it, so it must not be retried until its queue's retention ends."""
    try:
        notification = json.loads(body)
        if notification.get("Event") == "s3:TestEvent":
            return []  # S3 sends one when notifications are configured
        return [
            UploadEvent(
                key=unquote_plus(record["s3"]["object"]["key"]), version_id=record["s3"]["object"].get("versionId")
            )
            for record in notification.get("Records", [])
            if str(record.get("eventName", "")).startswith("ObjectCreated")
        ]
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        log.error("not an S3 event notification, dropped: %r (%s)", body[:200], error)
        return []


class MediaProcessor:
    """One upload (one item of a post) at a time: check it, render it, record it; the worker that
    records a post's last item publishes the post."""

    def __init__(self, posts: PostRepository, media: MediaStore, settings: Settings | None = None) -> None:
        self._posts = posts
        self._media = media
        self._settings = settings or get_settings()

    def process(self, upload: UploadEvent, deadline: float | None = None) -> Outcome:
        """Check, render, store and record one uploaded item; publish its post if it is the last.
        `deadline` (a time.monotonic() value) bounds a video's conversion."""
        ids = parse_upload_key(upload.key)
        if ids is None:
            log.warning("not an upload key: %s", upload.key)
            return Outcome.IGNORED
        author_id, post_id = ids
        post = self._posts.find(post_id)
        if post is None or post.author_id != author_id or post.status not in IN_FLIGHT:
            return Outcome.IGNORED  # unknown, someone else's key, or already done: nothing to redo
        items = items_of(post)
        index = next((i for i, item in enumerate(items) if item.upload_key == upload.key), None)
        if index is None:
            log.warning("no item of post %s is uploaded to %s", post.id, upload.key)
            return Outcome.IGNORED
        if items[index].media is not None:
            # Rendered and recorded before (a repeated event, or a worker that died after
            # recording): only the publish may be left to do.
            return self.publish(post, None)
        if post.status == PENDING_UPLOAD and not self.claim(post):  # the first item claims the post
            return Outcome.IGNORED
        # The local work space: a video's original and its conversion (Lambda's /tmp).
        with tempfile.TemporaryDirectory(prefix="media-") as work:
            reason = self.check_upload(items[index], upload)
            if reason is None:
                rendition = self.render(items[index], upload, work, deadline)
                if isinstance(rendition, str):
                    reason = rendition
            if reason is not None:
                return self.reject(post, index, reason)
            assert not isinstance(rendition, str)
            keys = self.store(post, index, rendition)
        done = ItemRow(
            content_type=items[index].content_type,
            content_length=items[index].content_length,
            alt_text=items[index].alt_text,
            upload_key=upload.key,
            upload_version=upload.version_id,
            width=rendition.picture.width,
            height=rendition.picture.height,
            blurhash=rendition.picture.blurhash,
            duration_s=rendition.duration_s,
            media=keys,
        )
        if all(item.media is not None for i, item in enumerate(items) if i != index):
            return self.publish(post, (index, done))  # the last item: recorded and published at once
        recorded = self._posts.complete_item(post, index, done)
        if recorded is None:
            return self._left_flight(post.id)
        return self.publish(recorded, None)

    # Each step below is one unit of work; a crash between any two is recovered by a retry.
    def claim(self, post: PostRow) -> bool:
        return self._posts.mark_processing(post.id)

    def check_upload(self, item: ItemRow, upload: UploadEvent) -> str | None:
        """S3 enforces the POST policy on AWS (not locally): check size and type again here."""
        found = self._media.inspect_upload(upload.key, upload.version_id)
        if found is None:
            raise FileNotFoundError(f"{upload.key} is not in the uploads bucket (yet)")
        video = item.content_type in VIDEO_CONTENT_TYPES
        largest = self._settings.max_video_bytes if video else self._settings.max_upload_bytes
        limit = min(int(item.content_length), largest)
        if found.size > limit:
            return f"the file is {found.size} bytes; {limit} were announced"
        if found.size == 0:
            return "the file is empty"
        if found.content_type.split(";")[0].strip().lower() != item.content_type:
            return f"the file was stored as {found.content_type or 'no type'}, not {item.content_type}"
        return None

    def render(self, item: ItemRow, upload: UploadEvent, work: str, deadline: float | None) -> Rendition | str:
        """The item's rendition, or the reason it can never be published. `work` is a directory
        for local files (a video's original and conversion)."""
        if item.content_type in VIDEO_CONTENT_TYPES:
            return self._render_video(item, upload, work, deadline)
        data = self._media.read_upload(upload.key, upload.version_id)
        try:
            return Rendition(render_variants(data, item.content_type, self._settings.max_image_pixels))
        except RejectedImage as rejected:
            return str(rejected)

    def _render_video(self, item: ItemRow, upload: UploadEvent, work: str, deadline: float | None) -> Rendition | str:
        # PyAV is in the video worker's layer only; the photo worker never imports it.
        import photofeed.video as video

        settings = self._settings
        limits = video.VideoLimits(
            max_seconds=settings.max_video_seconds,
            max_side=settings.max_video_side,
            max_fps=settings.max_video_fps,
            max_work=settings.max_video_work,
        )
        source = os.path.join(work, "original")
        self._media.download_upload(upload.key, upload.version_id, source)
        try:
            made = video.transcode(source, os.path.join(work, "video.mp4"), item.content_type, limits, deadline)
        except video.RejectedVideo as rejected:
            return str(rejected)
        finally:
            os.remove(source)  # the conversion and the original need not share the space
        return Rendition(made.poster, video_path=made.video_path, duration_s=made.duration_s)

    def store(self, post: PostRow, index: int, rendition: Rendition) -> MediaKeys:
        """Write the item's renditions to the media bucket; their keys."""
        number = item_number(items_of(post)[index].upload_key)
        video = None if rendition.video_path is None else self._media.store_video(post.id, rendition.video_path, number)
        return MediaKeys(**self._media.store_variants(post.id, rendition.picture.variants, number), video=video)

    def reject(self, post: PostRow, index: int, reason: str) -> Outcome:
        """The whole post is rejected, its reason naming the item when it has several. The
        variants its other items left go through the outbox: the posts stream hands the rejection
        to the fan-out worker as `post_discarded`, retried until done."""
        if len(items_of(post)) > 1:
            reason = f"item {index + 1}: {reason}"
        self._posts.reject(post.id, reason)
        return Outcome.REJECTED

    def publish(self, post: PostRow, done: tuple[int, ItemRow] | None) -> Outcome:
        if all(item.media is not None for i, item in enumerate(items_of(post)) if done is None or i != done[0]):
            if self._posts.publish(post, done):
                return Outcome.PUBLISHED
            return self._left_flight(post.id)
        return Outcome.IGNORED  # other items are still on their way: the last one publishes

    def _left_flight(self, post_id: str) -> Outcome:
        """After a conditional write that found the post no longer in flight."""
        latest = self._posts.find(post_id)
        if latest is not None and latest.status in IN_FLIGHT:
            raise RuntimeError(f"post {post_id} is still in flight but could not be published; retrying")
        if latest is None or latest.status != PUBLISHED:
            # Deleted, or rejected (another item refused, or the stuck-post rule) while we worked:
            # leave nothing behind. (Published by a duplicate of this event instead: the variants
            # are the same keys.)
            self._media.delete_variants(post_id)
        return Outcome.IGNORED
