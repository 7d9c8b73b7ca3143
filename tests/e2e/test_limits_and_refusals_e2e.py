"""Limits on abuse over HTTP: a burst gets 429, and one user can change nothing of another's."""

from __future__ import annotations

from typing import Any

import pytest

from tests import images
from tests.e2e.conftest import Api
from tests.e2e.test_posts_and_follows_e2e import post_photo, settled

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
    post_id = post_photo(api, owner, images.jpeg((320, 240)))
    settled(api, owner, post_id)
    comment = api.call("POST", f"/posts/{post_id}/comments", token=owner.id_token, json={"text": "mine"}).json()
    assert api.call("PUT", f"/posts/{post_id}/like", token=owner.id_token).status_code == 204
    assert api.call("PUT", f"/posts/{post_id}/comments/{comment['id']}/like", token=owner.id_token).status_code == 204

    def state() -> dict[str, Any]:
        post = api.call("GET", f"/posts/{post_id}", token=owner.id_token).json()
        post.pop("media")  # signed URLs carry the time they were signed
        comments = api.call("GET", f"/posts/{post_id}/comments", token=owner.id_token).json()["items"]
        me = api.call("GET", "/me", token=owner.id_token).json()
        return {"post": post, "comments": comments, "me": me}

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
    ]
    for method, path, body, expected in attempts:
        answer = api.call(method, path, json=body, token=intruder.id_token)
        assert answer.status_code == expected, (method, path, answer.text)

    after = state()
    assert after["post"] == before["post"]
    assert after["comments"] == before["comments"]
    assert after["me"] == before["me"]
    assert (after["post"]["like_count"], after["post"]["liked_by_me"]) == (1, True)
