"""Which table change tells whom, and what a phone is sent (pure functions)."""

from __future__ import annotations

import json

import pytest

from photofeed.services.notifications import NotificationEvent, event_for_change
from photofeed.storage.notifications import notification_id
from photofeed.storage.push import device_id, payload

T = "2026-11-21T20:45:16.123Z"


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (None, {"follower_id": "b", "followee_id": "a", "followed_at": T + "a"}, ("follow", "b", "a", None)),
        ({"follower_id": "b", "followee_id": "a"}, None, None),  # an unfollow tells nobody
        (None, {"target": "p#P1", "user_id": "b", "liked_at": T}, ("post_like", "b", None, "P1")),
        (None, {"target": "c#C1", "user_id": "b", "liked_at": T, "post_id": "P1"}, ("comment_like", "b", None, "P1")),
        ({"target": "p#P1", "user_id": "b"}, None, None),  # an unlike
        (
            None,
            {"post_id": "P1", "id": "C1", "author_id": "b", "text": "hi", "created_at": T},
            ("comment", "b", None, "P1"),
        ),
        (
            {"id": "P1", "status": "processing"},
            {"id": "P1", "status": "published", "author_id": "a", "published_at": T},
            ("new_post", "a", None, "P1"),
        ),
        (
            {"id": "P1", "status": "published"},
            {"id": "P1", "status": "published", "author_id": "a", "like_count": 3},
            None,
        ),
        ({"id": "P1", "status": "processing"}, {"id": "P1", "status": "rejected", "author_id": "a"}, None),
    ],
)
def test_only_creations_notify(old: dict | None, new: dict | None, expected: tuple | None) -> None:
    event = event_for_change(old, new)
    if expected is None:
        assert event is None
    else:
        assert event is not None
        assert (event.type, event.actor_id, event.recipient_id, event.post_id) == expected
        assert event.occurred_at == T


def test_an_event_has_one_execution_name_and_one_id_per_recipient() -> None:
    event = NotificationEvent("post_like", "b", T, "like:p#P1:b", post_id="P1")
    again = NotificationEvent.of(json.loads(json.dumps(event.as_input())))
    assert again.execution_name == event.execution_name
    assert len(event.execution_name) <= 80
    assert notification_id(T, event.key, "a") == notification_id(T, again.key, "a")
    assert notification_id(T, event.key, "a") != notification_id(T, event.key, "c")
    later = notification_id("2026-11-21T20:45:17.000Z", "other", "a")
    assert later > notification_id(T, event.key, "a")  # ids sort by the event's time


def test_each_platform_gets_a_message_a_phone_can_show() -> None:
    data = {"link": "photofeed://posts/P1"}
    gcm = json.loads(payload("GCM", "New like", "bob liked your post", data)["GCM"])["fcmV1Message"]["message"]
    assert gcm["notification"] == {"title": "New like", "body": "bob liked your post"}
    assert gcm["data"] == data
    for platform in ("APNS", "APNS_SANDBOX"):
        apns = json.loads(payload(platform, "New like", "bob liked your post", data)[platform])
        assert apns["aps"]["alert"] == {"title": "New like", "body": "bob liked your post"}
        assert apns["link"] == data["link"]
    assert device_id("GCM", "t") == device_id("GCM", "t") != device_id("APNS", "t")
