"""The posts table's stream is the outbox: a status change becomes work for the fan-out.

A post marked published reaches the fan-out queue even if every worker died right after the
write, because the stream holds the change until this relay has handed it on (a failed record
is retried by the stream's event source mapping). Messages may repeat; their consumers are
idempotent.
"""

from __future__ import annotations

from typing import Any

from photofeed.storage.posts import DELETED, PUBLISHED
from photofeed.storage.queues import WorkQueue


def fanout_message(old: dict[str, Any] | None, new: dict[str, Any] | None) -> dict[str, Any] | None:
    """The fan-out's message for one change of a post, or None if the change is not its business."""
    old_status = (old or {}).get("status")
    new_status = (new or {}).get("status")
    if new and new_status == PUBLISHED and old_status != PUBLISHED:
        return {
            "type": "post_published",
            "post_id": new["id"],
            "author_id": new["author_id"],
            "published_at": new.get("published_at"),
        }
    if old and old_status == PUBLISHED and new_status in (DELETED, None):
        return {"type": "post_deleted", "post_id": old["id"], "author_id": old["author_id"]}
    return None


class PostEventRelay:
    def __init__(self, fanout: WorkQueue) -> None:
        self._fanout = fanout

    def relay(self, old: dict[str, Any] | None, new: dict[str, Any] | None) -> dict[str, Any] | None:
        message = fanout_message(old, new)
        if message is not None:
            self._fanout.send(message)
        return message
