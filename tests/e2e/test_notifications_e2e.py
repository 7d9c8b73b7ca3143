"""Notifications over HTTP against `make local`: the streams start the notification state
machine, which moto executes with the project's notify function as its tasks."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests import images
from tests.e2e.conftest import Account, Api
from tests.e2e.test_posts_and_follows_e2e import post_photo, settled

pytestmark = pytest.mark.e2e


def inbox(api: Api, account: Account) -> list[dict[str, Any]]:
    answer = api.call("GET", "/notifications?limit=50", token=account.id_token)
    assert answer.status_code == 200, answer.text
    return list(answer.json()["items"])


def settle(api: Api, expected: dict[str, int], accounts: dict[str, Account], timeout: float = 60) -> None:
    """Until each account has as many notifications as expected (then a moment more, to see
    that no duplicate follows)."""
    deadline = time.monotonic() + timeout
    while any(len(inbox(api, accounts[name])) < count for name, count in expected.items()):
        assert time.monotonic() < deadline, {name: inbox(api, accounts[name]) for name in expected}
        time.sleep(0.2)
    time.sleep(1.5)


def test_each_recipient_is_told_once_and_nobody_of_their_own_act(api: Api) -> None:
    alice, bob = api.sign_up(), api.sign_up()
    phone = {"platform": "GCM", "token": "e2e-" + alice.username}
    devices = [
        api.call("POST", "/me/devices", token=alice.id_token, json=phone),
        api.call("POST", "/me/devices", token=bob.id_token, json={"platform": "APNS", "token": "ab" * 32}),
    ]
    assert [d.status_code for d in devices] == [201, 201]
    again = api.call("POST", "/me/devices", token=alice.id_token, json=phone)
    assert again.json() == devices[0].json()

    assert api.call("PUT", f"/users/{alice.username}/follow", token=bob.id_token).status_code == 204
    post_id = post_photo(api, alice, images.jpeg((320, 240)), title="Notify me")
    assert settled(api, alice, post_id)["status"] == "published"
    comment = api.call("POST", f"/posts/{post_id}/comments", token=bob.id_token, json={"text": "Nice"}).json()
    own = api.call("POST", f"/posts/{post_id}/comments", token=alice.id_token, json={"text": "Thanks"})
    assert own.status_code == 201
    for _ in range(3):  # a like repeated is one like, and one notification
        like = api.call("PUT", f"/posts/{post_id}/comments/{comment['id']}/like", token=alice.id_token)
        assert like.status_code == 204
    assert api.call("PUT", f"/posts/{post_id}/like", token=bob.id_token).status_code == 204
    assert api.call("PUT", f"/posts/{post_id}/like", token=alice.id_token).status_code == 204  # her own post

    settle(api, {"alice": 3, "bob": 2}, {"alice": alice, "bob": bob})
    told_alice = inbox(api, alice)
    told_bob = inbox(api, bob)
    assert sorted((n["type"], n["actor"]["id"]) for n in told_alice) == [
        ("comment", bob.id),
        ("follow", bob.id),
        ("post_like", bob.id),
    ]
    assert sorted((n["type"], n["post_id"], n["actor"]["id"]) for n in told_bob) == [
        ("comment_like", post_id, alice.id),
        ("new_post", post_id, alice.id),
    ]
    assert next(n for n in told_bob if n["type"] == "comment_like")["comment_id"] == comment["id"]

    assert api.call("POST", "/notifications/read", token=bob.id_token, json={"all": True}).status_code == 204
    assert all(n["read"] for n in inbox(api, bob))
    device_id = devices[1].json()["id"]
    assert api.call("DELETE", f"/me/devices/{device_id}", token=alice.id_token).status_code == 404
    assert api.call("DELETE", f"/me/devices/{device_id}", token=bob.id_token).status_code == 204
