"""Limits on abuse over HTTP: a burst gets 429, and one user can change nothing of another's."""

from __future__ import annotations

from typing import Any

import pytest

from tests import images
from tests.e2e.conftest import Api
from tests.e2e.test_posts_and_follows_e2e import post_photo, settled
from tests.stack_runner import eventually

pytestmark = pytest.mark.e2e


def test_a_burst_of_follows_gets_429_with_retry_after(api: Api) -> None:
    target, burster, other = api.sign_up(), api.sign_up(), api.sign_up()

    statuses = [
        api.call("PUT", f"/users/{target.username}/follow", token=burster.id_token).status_code for _ in range(61)
    ]
    limited = api.call("PUT", f"/users/{target.username}/follow", token=burster.id_token)

    assert statuses.count(204) <= 60
    assert limited.status_code == 429
    assert limited.json()["error"]["code"] == "rate_limited"
    assert int(limited.headers["Retry-After"]) >= 1
    assert api.call("PUT", f"/users/{target.username}/follow", token=other.id_token).status_code == 204


def test_a_second_user_can_change_nothing_of_the_firsts(api: Api) -> None:
    owner, intruder = api.sign_up(), api.sign_up()
    device = api.call("POST", "/me/devices", token=owner.id_token, json={"platform": "GCM", "token": "m-" + owner.id})
    assert device.status_code == 201
    assert api.call("PUT", f"/users/{owner.username}/follow", token=intruder.id_token).status_code == 204
    told = eventually(
        lambda: api.call("GET", "/notifications", token=owner.id_token).json()["items"], what="the follow notification"
    )
    post_id = post_photo(api, owner, images.jpeg((320, 240)))
    settled(api, owner, post_id)
    comment = api.call("POST", f"/posts/{post_id}/comments", token=owner.id_token, json={"text": "mine"}).json()
    assert api.call("PUT", f"/posts/{post_id}/like", token=owner.id_token).status_code == 204
    assert api.call("PUT", f"/posts/{post_id}/comments/{comment['id']}/like", token=owner.id_token).status_code == 204

    def state() -> dict[str, Any]:
        post = api.call("GET", f"/posts/{post_id}", token=owner.id_token).json()
        post.pop("media")  # signed URLs carry the time they were signed
        for item in post["media_items"]:
            item.pop("variants")
        comments = api.call("GET", f"/posts/{post_id}/comments", token=owner.id_token).json()["items"]
        me = api.call("GET", "/me", token=owner.id_token).json()
        notifications = api.call("GET", "/notifications", token=owner.id_token).json()["items"]
        return {"post": post, "comments": comments, "me": me, "notifications": notifications}

    before = state()
    attempts = [
        ("DELETE", f"/posts/{post_id}", None, 403),
        ("DELETE", f"/posts/{post_id}/comments/{comment['id']}", None, 403),
        # Unliking removes only the caller's own like: the owner's stays.
        ("DELETE", f"/posts/{post_id}/like", None, 204),
        ("DELETE", f"/posts/{post_id}/comments/{comment['id']}/like", None, 204),
        # Server-owned fields cannot be set, and /me is always the caller.
        ("PATCH", "/me", {"id": owner.id}, 422),
        ("PATCH", "/me", {"post_count": 0}, 422),
        (
            "POST",
            "/posts",
            {"title": "x", "content_type": "image/jpeg", "content_length": 1, "author_id": owner.id},
            422,
        ),
        ("POST", f"/posts/{post_id}/comments", {"text": "x", "author_id": owner.id}, 422),
        # Devices and read marks are the caller's own: someone else's are not found.
        ("DELETE", f"/me/devices/{device.json()['id']}", None, 404),
        ("POST", "/notifications/read", {"ids": [told[0]["id"]]}, 404),
        ("POST", "/notifications/read", {"all": True}, 204),
    ]
    for method, path, body, expected in attempts:
        answer = api.call(method, path, json=body, token=intruder.id_token)
        assert answer.status_code == expected, (method, path, answer.text)

    after = state()
    assert after["post"] == before["post"]
    assert after["comments"] == before["comments"]
    assert after["me"] == before["me"]
    assert after["notifications"] == before["notifications"]
    assert [(n["type"], n["read"]) for n in after["notifications"]] == [("follow", False)]
    assert (after["post"]["like_count"], after["post"]["liked_by_me"]) == (1, True)


LONG_ID = "a" * 65


def test_over_limit_requests_get_a_4xx_never_a_5xx(api: Api) -> None:
    owner = api.sign_up()
    post_id = post_photo(api, owner, images.jpeg((320, 240)))
    settled(api, owner, post_id)
    comment_id = api.call("POST", f"/posts/{post_id}/comments", token=owner.id_token, json={"text": "hi"}).json()["id"]
    attempts: list[tuple[str, str, Any]] = [
        # Path parameters
        ("GET", f"/posts/{LONG_ID}", None),
        ("GET", f"/users/{LONG_ID}", None),
        ("GET", f"/posts/{LONG_ID}/comments", None),
        ("DELETE", f"/posts/{LONG_ID}", None),
        ("PUT", f"/users/{LONG_ID}/follow", None),
        ("PUT", f"/posts/{LONG_ID}/like", None),
        ("POST", f"/posts/{LONG_ID}/comments", {"text": "hi"}),
        ("PUT", f"/posts/{post_id}/comments/{LONG_ID}/like", None),
        ("DELETE", f"/posts/{post_id}/comments/{LONG_ID}", None),
        ("DELETE", f"/me/devices/{LONG_ID}", None),
        # Page sizes and cursors
        ("GET", f"/posts/{post_id}/comments?limit=51", None),
        ("GET", f"/users/{owner.username}/posts?limit=0", None),
        ("GET", f"/users/{owner.username}/followers?limit=51", None),
        ("GET", "/notifications?limit=51", None),
        ("GET", "/search?q=sea&limit=51", None),
        ("GET", "/feed?cursor=" + "x" * 2049, None),
        # Text fields
        ("GET", "/search?q=" + "sea+" * 51, None),
        ("POST", f"/posts/{post_id}/comments", {"text": "x" * 2201}),
        ("POST", "/posts", {"title": "x" * 121, "content_type": "image/jpeg", "content_length": 10}),
        ("POST", "/posts", {"title": "x", "caption": "x" * 2201, "content_type": "image/jpeg", "content_length": 10}),
        ("POST", "/me/devices", {"platform": "GCM", "token": "t" * 4097}),
        ("POST", "/notifications/read", {"ids": ["n"] * 101}),
        ("POST", "/notifications/read", {"ids": [LONG_ID]}),
    ]
    for method, path, body in attempts:
        answer = api.call(method, path, json=body, token=owner.id_token)
        assert answer.status_code == 422, (method, path, answer.status_code, answer.text[:200])
        assert answer.json()["error"]["code"] == "validation_error"

    huge = api.call("POST", f"/posts/{post_id}/comments", token=owner.id_token, json={"text": "x" * 1_000_000})
    assert huge.status_code == 413
    comments = api.call("GET", f"/posts/{post_id}/comments", token=owner.id_token).json()["items"]
    assert [c["id"] for c in comments] == [comment_id]
