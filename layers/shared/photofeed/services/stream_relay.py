"""The tables' streams are the outbox: a change becomes work on the fan-out queue, and a
notification (an execution of the notification state machine, named after the change).

A post marked published (or a follow written) reaches the fan-out even if every worker died right
after the write, because the stream holds the change until this relay has handed it on (a failed
record is retried by the stream's event source mapping). Messages may repeat or arrive out of
order; their consumers are idempotent and check the truth.
"""

from __future__ import annotations

from typing import Any

from photofeed.services.notifications import NotificationStarter, event_for_change
from photofeed.storage.posts import DELETED, IN_FLIGHT, PUBLISHED, REJECTED
from photofeed.storage.queues import WorkQueue


def post_message(old: dict[str, Any] | None, new: dict[str, Any] | None) -> dict[str, Any] | None:
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
    if old and old_status in IN_FLIGHT and new_status in (REJECTED, DELETED, None):
        # Never published, but some of its photos may have been rendered: their variants go.
        return {"type": "post_discarded", "post_id": old["id"], "author_id": old["author_id"]}
    return None


def follow_message(old: dict[str, Any] | None, new: dict[str, Any] | None) -> dict[str, Any] | None:
    if new and not old:
        return {"type": "followed", "follower_id": new["follower_id"], "followee_id": new["followee_id"]}
    if old and not new:
        return {"type": "unfollowed", "follower_id": old["follower_id"], "followee_id": old["followee_id"]}
    return None


def change_message(old: dict[str, Any] | None, new: dict[str, Any] | None) -> dict[str, Any] | None:
    image = new or old or {}
    if "follower_id" in image:
        return follow_message(old, new)
    if "status" in image:
        return post_message(old, new)
    return None  # comments and likes: notifications only


class StreamRelay:
    def __init__(self, fanout: WorkQueue, notifications: NotificationStarter) -> None:
        self._fanout = fanout
        self._notifications = notifications

    def relay(self, old: dict[str, Any] | None, new: dict[str, Any] | None) -> list[str]:
        """What the change was handed on as: a fan-out message type, a notification type."""
        done = []
        message = change_message(old, new)
        if message is not None:
            self._fanout.send(message)
            done.append(message["type"])
        event = event_for_change(old, new)
        if event is not None:
            self._notifications.start(event)
            done.append(f"notify:{event.type}")
        return done
