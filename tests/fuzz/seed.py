"""Seed a running stack with what every operation needs to reach its real logic: two users who follow
each other, a published photo post of each, comments, likes on posts and comments, a device, and
the notifications all that causes."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from tests import images
from tests.e2e.conftest import Account, Api
from tests.e2e.test_posts_and_follows_e2e import post_photo, settled
from tests.stack_runner import eventually


@dataclass
class Seeded:
    """What schemathesis is given: a token, and the ids it may put into paths."""

    reader: Account
    usernames: list[str] = field(default_factory=list)
    post_ids: list[str] = field(default_factory=list)
    comment_ids: list[str] = field(default_factory=list)
    device_ids: list[str] = field(default_factory=list)
    notification_ids: list[str] = field(default_factory=list)


def seed(api: Api) -> Seeded:
    tag = uuid.uuid4().hex[:6]
    alice, bob = api.sign_up(f"alice_{tag}"), api.sign_up(f"bob_{tag}")
    for who, whom in ((alice, bob), (bob, alice)):
        assert api.call("PUT", f"/users/{whom.username}/follow", token=who.id_token).status_code == 204
    seeded = Seeded(reader=alice, usernames=[alice.username, bob.username])
    for author, title in ((alice, "Harbour at dusk"), (bob, "Crème brûlée")):
        post_id = post_photo(api, author, images.jpeg((640, 480)), title=title)
        assert settled(api, author, post_id)["status"] == "published"
        seeded.post_ids.append(post_id)
    for post_id in seeded.post_ids:
        assert api.call("PUT", f"/posts/{post_id}/like", token=alice.id_token).status_code == 204
        assert api.call("PUT", f"/posts/{post_id}/like", token=bob.id_token).status_code == 204
        for commenter in (alice, bob):
            answer = api.call("POST", f"/posts/{post_id}/comments", token=commenter.id_token, json={"text": "Lovely"})
            assert answer.status_code == 201, answer.text
            comment_id = answer.json()["id"]
            seeded.comment_ids.append(comment_id)
            liker = bob if commenter is alice else alice
            like = api.call("PUT", f"/posts/{post_id}/comments/{comment_id}/like", token=liker.id_token)
            assert like.status_code == 204
    device = api.call("POST", "/me/devices", token=alice.id_token, json={"platform": "GCM", "token": f"fcm-{tag}-0001"})
    assert device.status_code == 201, device.text
    seeded.device_ids.append(device.json()["id"])

    def notifications() -> list[str] | None:
        items = api.call("GET", "/notifications?limit=50", token=alice.id_token).json()["items"]
        kinds = {item["type"] for item in items}
        return [item["id"] for item in items] if {"follow", "new_post", "comment", "post_like"} <= kinds else None

    seeded.notification_ids = eventually(notifications, timeout=60, what="alice's notifications")
    return seeded
