"""The stuck-post rule: no post stays `pending_upload` or `processing` for ever.

A post that can never publish ends `rejected` with a reason, in one of two ways (its original,
if one came, stays in the versioned uploads bucket):
- `reject_dead_letter`: the media or video queue gave up on an upload (every delivery failed with an error
  that looked transient, `maxReceiveCount` times) and moved it to the dead-letter queue; the
  post is rejected at once.
- `sweep`: every few minutes, each post still in flight `deadline` after its creation is
  rejected: an upload that never came (its presigned POST expired long before), or one that came
  but was never processed (its event or its dead letter lost). Such posts are found through the
  sparse in-flight index, which lists nothing else.

Both are conditional status moves (still in flight; for the sweep, still in the status it read),
so they are safe to repeat, to run in any order and to race with the media worker: whichever
moves the status first wins, and a worker that loses removes the variants it wrote.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta

from photofeed.clock import iso
from photofeed.models.posts import VIDEO_CONTENT_TYPES
from photofeed.services.media import UploadEvent
from photofeed.storage.media import MediaStore, parse_upload_key
from photofeed.storage.posts import IN_FLIGHT, PostRepository, items_of
from photofeed.storage.tables import ItemRow, PostRow

log = logging.getLogger(__name__)


def gave_up(item: ItemRow | None) -> str:
    """The reason of a post whose upload (`item`) was dead-lettered."""
    return f"the {_kind(item)} could not be processed: every attempt failed"


def _kind(item: ItemRow | None) -> str:
    return "video" if item is not None and item.content_type in VIDEO_CONTENT_TYPES else "photo"


class StuckPosts:
    def __init__(self, posts: PostRepository, media: MediaStore, deadline: timedelta) -> None:
        self._posts = posts
        self._media = media
        self._deadline = deadline

    def reject_dead_letter(self, upload: UploadEvent) -> bool:
        """Reject the post of an upload the media queue gave up on. False if there is nothing
        to reject: not an upload key, someone else's key, or the post already left flight."""
        ids = parse_upload_key(upload.key)
        if ids is None:
            log.warning("dead letter without an upload key: %s", upload.key)
            return False
        author_id, post_id = ids
        post = self._posts.find(post_id)
        if post is None or post.author_id != author_id or post.status not in IN_FLIGHT:
            return False
        items = items_of(post)
        number = next((n for n, item in enumerate(items, start=1) if item.upload_key == upload.key), None)
        return self._reject(post, _naming(items, number, gave_up(items[number - 1] if number else None)), None)

    def sweep(self, now: datetime, limit: int = 50) -> int:
        """Reject every post still in flight that was created more than `deadline` before `now`;
        returns how many it rejected. At most `limit` of each index shard per run: the next run
        goes on from there."""
        overdue = self._posts.in_flight_created_before(iso(now - self._deadline), limit)
        rejected = 0
        for post in overdue:
            try:
                full = self._posts.find(post.id) or post  # the index holds only a few of its fields
                if self._reject(full, self._reason(full), post.status):
                    rejected += 1
            except Exception:  # one post that fails must not hold up the rest (the next run retries it)
                log.exception("stuck post not rejected: %s", post.id)
        return rejected

    def _reject(self, post: PostRow, reason: str, from_status: str | None) -> bool:
        """Reject the post (the variants its rendered items left go through the outbox: the posts
        stream hands the rejection to the fan-out worker as `post_discarded`)."""
        return self._posts.reject(post.id, reason, from_status=from_status)

    def _reason(self, post: PostRow) -> str:
        """Why the post never published, naming the first item to blame when it has several: one
        never uploaded, else one never processed."""
        waited = describe_duration(self._deadline)
        items = items_of(post)
        waiting = [(n, item) for n, item in enumerate(items, start=1) if item.media is None] or [(1, items[0])]
        for number, item in waiting:
            if self._media.inspect_upload(item.upload_key, None) is None:
                return _naming(items, number, f"no {_kind(item)} was uploaded within {waited} of creating the post")
        number, item = waiting[0]
        return _naming(items, number, f"the {_kind(item)} could not be processed within {waited} of creating the post")


def _naming(items: Sequence[object], number: int | None, reason: str) -> str:
    """`reason`, prefixed with the item it concerns (`item 3: ...`) when the post has several."""
    return f"item {number}: {reason}" if len(items) > 1 and number is not None else reason


def describe_duration(duration: timedelta) -> str:
    """`duration` in the largest unit that says it exactly: 1 hour, 50 minutes, 90 seconds."""
    seconds = int(duration.total_seconds())
    for unit, size in (("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            count = seconds // size
            return f"{count} {unit}{'' if count == 1 else 's'}"
    return f"{seconds} second{'' if seconds == 1 else 's'}"
