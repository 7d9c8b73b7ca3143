"""The media pipeline's use case: an uploaded original becomes a published (or rejected) post.

Safe to run twice, in any order, and to die between any two steps: each step is idempotent and
every status change is conditional on the status it moves from. A transient failure (S3, DynamoDB)
propagates, so the SQS record is retried; a file that can never be published (anything wrong while
decoding or rendering it: `render_variants` turns every such error into a RejectedImage) is
rejected at once. An upload whose every retry fails is dead-lettered, and its post rejected by the
stuck-post rule (photofeed.services.stuck_posts), which may also reject a post while this worker
is still at it: then the worker's publish finds the post gone from flight and removes its variants.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import unquote_plus

from photofeed.config import Settings, get_settings
from photofeed.imaging import RejectedImage, Rendered, render_variants
from photofeed.storage.media import MediaStore, parse_upload_key
from photofeed.storage.posts import IN_FLIGHT, PUBLISHED, PostRepository
from photofeed.storage.tables import PostRow

log = logging.getLogger(__name__)


class Outcome(StrEnum):
    PUBLISHED = "published"
    REJECTED = "rejected"
    IGNORED = "ignored"


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
    def __init__(self, posts: PostRepository, media: MediaStore, settings: Settings | None = None) -> None:
        self._posts = posts
        self._media = media
        self._settings = settings or get_settings()

    def process(self, upload: UploadEvent) -> Outcome:
        ids = parse_upload_key(upload.key)
        if ids is None:
            log.warning("not an upload key: %s", upload.key)
            return Outcome.IGNORED
        author_id, post_id = ids
        post = self._posts.find(post_id)
        if post is None or post.author_id != author_id or post.status not in IN_FLIGHT:
            return Outcome.IGNORED  # unknown, someone else's key, or already done: nothing to redo
        if not self.claim(post):
            return Outcome.IGNORED
        reason = self.check_upload(post, upload)
        if reason is None:
            try:
                rendered = self.render(post, upload)
            except RejectedImage as rejected:
                reason = str(rejected)
        if reason is not None:
            self._posts.reject(post.id, reason)
            return Outcome.REJECTED
        keys = self.store(post, rendered)
        return self.publish(post, rendered, keys, upload)

    # Each step below is one unit of work; a crash between any two is recovered by a retry.
    def claim(self, post: PostRow) -> bool:
        return self._posts.mark_processing(post.id)

    def check_upload(self, post: PostRow, upload: UploadEvent) -> str | None:
        """S3 enforces the POST policy on AWS (not locally): check size and type again here."""
        found = self._media.inspect_upload(upload.key, upload.version_id)
        if found is None:
            raise FileNotFoundError(f"{upload.key} is not in the uploads bucket (yet)")
        limit = min(int(post.content_length), self._settings.max_upload_bytes)
        if found.size > limit:
            return f"the file is {found.size} bytes; {limit} were announced"
        if found.size == 0:
            return "the file is empty"
        if found.content_type.split(";")[0].strip().lower() != post.content_type:
            return f"the file was stored as {found.content_type or 'no type'}, not {post.content_type}"
        return None

    def render(self, post: PostRow, upload: UploadEvent) -> Rendered:
        data = self._media.read_upload(upload.key, upload.version_id)
        return render_variants(data, post.content_type, self._settings.max_image_pixels)

    def store(self, post: PostRow, rendered: Rendered) -> dict[str, str]:
        return self._media.store_variants(post.id, rendered.variants)

    def publish(self, post: PostRow, rendered: Rendered, keys: dict[str, str], upload: UploadEvent) -> Outcome:
        if self._posts.publish(post, rendered.width, rendered.height, keys, upload.version_id):
            return Outcome.PUBLISHED
        latest = self._posts.find(post.id)
        if latest is None or latest.status != PUBLISHED:
            # Deleted, or rejected by the stuck-post rule, while we worked: leave nothing behind.
            # (Published by a duplicate of this event instead: the variants are the same keys.)
            self._media.delete_variants(post.id)
        return Outcome.IGNORED
