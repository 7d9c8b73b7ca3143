"""Notifications: which change tells whom, and delivering them (in-app rows and push).

Changes come from the tables' streams (the outbox): the stream relay turns a change into a
notification event and starts one execution of the notification state machine for it, named
after the event, so the same change relayed twice starts it once. The state machine
(`statemachines/notify.asl.json`) calls the `notify` function's actions below: `deliver` for one
recipient, or `plan` + `deliver_page` (a Map over pages of followers) for a new post.

Nobody is told about their own act, and nothing is said about a post or comment that is gone.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import Any

from botocore.exceptions import ClientError

from photofeed.clock import now_iso
from photofeed.config import Settings
from photofeed.errors import NotFound
from photofeed.models.notifications import Notification
from photofeed.models.users import UserSummary
from photofeed.pagination import Page
from photofeed.storage.clients import client
from photofeed.storage.engagement import EngagementRepository
from photofeed.storage.follows import FollowRepository
from photofeed.storage.notifications import NotificationRepository, notification_id
from photofeed.storage.posts import PUBLISHED, PostRepository
from photofeed.storage.push import DeviceRegistry, PushGateway
from photofeed.storage.tables import NotificationRow, PostRow
from photofeed.storage.users import UserRepository

PUSH_THREADS = 16

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class NotificationEvent:
    type: str
    actor_id: str
    occurred_at: str
    key: str  # what makes the event itself: the same key is the same event
    recipient_id: str | None = None
    post_id: str | None = None
    comment_id: str | None = None

    @classmethod
    def of(cls, data: dict[str, Any]) -> NotificationEvent:
        return cls(**{name: data.get(name) for name in cls.__dataclass_fields__})  # type: ignore[arg-type]

    def as_input(self) -> dict[str, Any]:
        return {name: value for name, value in asdict(self).items() if value is not None}

    @property
    def execution_name(self) -> str:
        """≤ 80 characters of [A-Za-z0-9-_], the same for the same event."""
        return f"{self.type}-{hashlib.sha256(self.key.encode()).hexdigest()[:48]}"


def _iso(value: Any) -> str:
    text = str(value or "")
    return text[:24] if len(text) >= 20 else now_iso()


def event_for_change(old: dict[str, Any] | None, new: dict[str, Any] | None) -> NotificationEvent | None:
    """The notification a table change calls for, if any. Only creations notify: a follow, a
    comment, a like, a post becoming published."""
    if new is None:
        return None
    if "follower_id" in new:
        if old is not None:
            return None
        return NotificationEvent(
            "follow",
            new["follower_id"],
            _iso(new.get("followed_at")),
            f"follow:{new['follower_id']}:{new['followee_id']}",
            recipient_id=new["followee_id"],
        )
    if "target" in new:  # a like
        if old is not None:
            return None
        target, user_id = str(new["target"]), str(new["user_id"])
        if target.startswith("p#"):
            return NotificationEvent(
                "post_like", user_id, _iso(new.get("liked_at")), f"like:{target}:{user_id}", post_id=target[2:]
            )
        return NotificationEvent(
            "comment_like",
            user_id,
            _iso(new.get("liked_at")),
            f"like:{target}:{user_id}",
            post_id=new.get("post_id"),
            comment_id=target[2:],
        )
    if "post_id" in new and "text" in new:  # a comment
        if old is not None:
            return None
        return NotificationEvent(
            "comment",
            new["author_id"],
            _iso(new.get("created_at")),
            f"comment:{new['id']}",
            post_id=new["post_id"],
            comment_id=new["id"],
        )
    if new.get("status") == PUBLISHED and (old or {}).get("status") != PUBLISHED:
        return NotificationEvent(
            "new_post", new["author_id"], _iso(new.get("published_at")), f"post:{new['id']}", post_id=new["id"]
        )
    return None


class NotificationStarter:
    """Starts the state machine for an event, once: executions are named after their event
    (Step Functions keeps names for 90 days; a name reused is refused). A continuation (the rest
    of a large audience, from a cursor) is named after the event and the cursor."""

    def __init__(self, state_machine_arn: str) -> None:
        self._arn = state_machine_arn

    def start(self, event: NotificationEvent, after: str | None = None) -> bool:
        name = event.execution_name
        payload = event.as_input()
        if after is not None:
            name += "-" + hashlib.sha256(after.encode()).hexdigest()[:12]
            payload["after"] = after
        try:
            client("stepfunctions").start_execution(
                stateMachineArn=self._arn, name=name, input=json.dumps(payload, sort_keys=True)
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "ExecutionAlreadyExists":
                return False
            raise
        return True


class NotificationService:
    def __init__(
        self,
        notifications: NotificationRepository,
        devices: DeviceRegistry,
        push: PushGateway,
        users: UserRepository,
        follows: FollowRepository,
        posts: PostRepository,
        engagement: EngagementRepository,
        settings: Settings,
        starter: NotificationStarter | None = None,
    ) -> None:
        self._starter = starter or NotificationStarter(settings.notify_state_machine_arn)
        self._notifications = notifications
        self._devices = devices
        self._push = push
        self._users = users
        self._follows = follows
        self._posts = posts
        self._engagement = engagement
        self._settings = settings

    # ------------------------------------------------------------------ the state machine's actions
    def deliver(self, event: NotificationEvent) -> dict[str, int]:
        """An event with one recipient: works out who, then delivers."""
        recipient, detail = self._recipient(event)
        if recipient is None or recipient == event.actor_id:
            return {"recipients": 0, "pushed": 0}
        return self._deliver_to(event, [recipient], detail)

    def plan(self, event: NotificationEvent, after: str | None) -> dict[str, Any]:
        """Pages of a new post's audience (its author's followers): up to `notify_pages_per_plan`
        page starts from `after`. If more followers remain, a continuation execution is started
        for them from the next cursor (idempotently, by name), so an execution's payloads and
        history stay small whatever the audience (Step Functions caps a history at 25,000
        events)."""
        pages: list[dict[str, str | None]] = []
        if self._published(event) is None:
            return {"pages": pages, "next": None}
        cursor = after
        while len(pages) < self._settings.notify_pages_per_plan:
            page = self._follows.followers_page(event.actor_id, self._settings.notify_page_size, cursor)
            if page.items:
                pages.append({"after": cursor})
            cursor = page.next_cursor
            if cursor is None:
                break
        if cursor is not None:
            self._starter.start(event, after=cursor)
        return {"pages": pages, "next": cursor}

    def deliver_page(self, event: NotificationEvent, after: str | None) -> dict[str, int]:
        page = self._follows.followers_page(event.actor_id, self._settings.notify_page_size, after)
        recipients = [follower for follower in page.items if follower != event.actor_id]
        post = self._published(event) if recipients else None
        if post is None:
            return {"recipients": 0, "pushed": 0}
        return self._deliver_to(event, recipients, post.title)

    # ------------------------------------------------------------------ delivering
    def _recipient(self, event: NotificationEvent) -> tuple[str | None, str]:
        """Who is told of a single-recipient event (None: nobody), and the text the push quotes."""
        if event.type == "follow":
            following = self._follows.is_following(event.actor_id, event.recipient_id or "")
            return (event.recipient_id if following else None), ""
        post = self._published(event)
        if post is None:
            return None, ""
        if event.type == "post_like":
            return post.author_id, ""
        if event.type in ("comment", "comment_like"):
            try:
                comment = self._engagement.comment(post.id, event.comment_id or "")
            except NotFound:
                return None, ""  # deleted meanwhile: nothing to tell
            return (post.author_id, comment.text) if event.type == "comment" else (comment.author_id, "")
        raise ValueError(f"unknown notification type {event.type!r}")

    def _published(self, event: NotificationEvent) -> PostRow | None:
        """The event's post, if it is still published (nothing is said of a post that is gone)."""
        post = self._posts.find(event.post_id or "")
        return post if post is not None and post.status == PUBLISHED else None

    def _deliver_to(self, event: NotificationEvent, recipients: list[str], detail: str) -> dict[str, int]:
        """`detail`: the post's title or the comment's text, for the push."""
        expires_at = int(time.time()) + self._settings.notification_ttl_days * 86400
        delivered_at = now_iso()
        rows = [
            NotificationRow(
                recipient_id=recipient,
                id=notification_id(event.occurred_at, event.key, recipient),
                type=event.type,
                actor_id=event.actor_id,
                post_id=event.post_id,
                comment_id=event.comment_id,
                created_at=event.occurred_at,
                read=False,
                delivered_at=delivered_at,
                expires_at=expires_at,
            )
            for recipient in recipients
        ]
        self._notifications.add(rows)
        pushed = self._push_to(event, rows, detail)
        return {"recipients": len(rows), "pushed": pushed}

    def _push_to(self, event: NotificationEvent, rows: list[NotificationRow], detail: str) -> int:
        endpoints = self._devices.endpoints([row.recipient_id for row in rows])
        if not endpoints:
            return 0
        title, body, data = self._message(event, detail)
        jobs = [(row, device, target) for row in rows for device, target in endpoints.get(row.recipient_id, {}).items()]

        def send(job: tuple[NotificationRow, str, dict[str, str]]) -> bool:
            """One push. A failure is logged and counted, never raised: raising would retry the
            whole task and push again to everyone the task had already reached."""
            row, device, target = job
            try:
                sent = self._push.publish(
                    target["endpoint_arn"], target["platform"], title, body, {**data, "notification_id": row.id}
                )
                if not sent:  # SNS reports the endpoint disabled (or gone): the device goes
                    self._devices.forget(row.recipient_id, device, target["endpoint_arn"])
            except Exception:
                logger.exception("push failed", extra={"endpoint": target["endpoint_arn"]})
                return False
            return sent

        client("sns")  # built once here, not by the first threads at the same time

        if len(jobs) == 1:
            return int(send(jobs[0]))
        with ThreadPoolExecutor(max_workers=min(PUSH_THREADS, len(jobs))) as pool:
            return sum(pool.map(send, jobs))

    def _message(self, event: NotificationEvent, detail: str) -> tuple[str, str, dict[str, str]]:
        actor = self._users.summaries([event.actor_id]).get(event.actor_id)
        name = actor.username if actor else "Someone"
        data = {"type": event.type, "actor_id": event.actor_id}
        if event.post_id:
            data["post_id"] = event.post_id
            data["link"] = f"photofeed://posts/{event.post_id}"
        if event.comment_id:
            data["comment_id"] = event.comment_id
            data["link"] = f"photofeed://posts/{event.post_id}/comments/{event.comment_id}"
        if event.type == "follow":
            data["link"] = f"photofeed://users/{name}"
            return "New follower", f"{name} started following you", data
        if event.type == "new_post":
            return "New post", f"{name} posted: {detail}", data
        if event.type == "comment":
            return "New comment", f"{name} commented: {detail[:100]}", data
        if event.type == "comment_like":
            return "New like", f"{name} liked your comment", data
        return "New like", f"{name} liked your post", data

    # ------------------------------------------------------------------ the API
    def page(self, caller_id: str, limit: int, cursor: str | None) -> Page[Notification]:
        page, read_upto = self._notifications.page(caller_id, limit, cursor)
        actors = self._users.summaries([row.actor_id for row in page.items])
        unknown = UserSummary(id="", username="", display_name="")
        items = [
            Notification(
                id=row.id,
                type=row.type,
                actor=actors.get(row.actor_id, unknown.model_copy(update={"id": row.actor_id})),
                post_id=row.post_id,
                comment_id=row.comment_id,
                created_at=row.created_at,
                read=bool(row.read) or (read_upto is not None and (row.delivered_at or row.created_at) <= read_upto),
            )
            for row in page.items
        ]
        return Page(items, page.next_cursor)

    def mark_read(self, caller_id: str, ids: list[str] | None, everything: bool) -> None:
        if everything:
            self._notifications.mark_all_read(caller_id)
        else:
            self._notifications.mark_read(caller_id, ids or [])
