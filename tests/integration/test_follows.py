"""The follow graph: idempotent follows with exact counters, and newest-first lists with cursors."""

from __future__ import annotations

from typing import Any

from photofeed.wiring import follow_repository
from tests.conftest import LocalAws
from tests.integration.helpers import route, sign_up


def follow(local_aws: LocalAws, ctx: Any, who: dict, whom: str, method: str = "PUT") -> int:
    sample = "api_follow.json" if method == "PUT" else "api_unfollow.json"
    status, _ = route(local_aws, ctx, sample, who, path=f"/users/{whom}/follow", path_parameters={"username": whom})
    return status


def profile(local_aws: LocalAws, ctx: Any, viewer: dict, username: str) -> dict[str, Any]:
    status, body = route(
        local_aws, ctx, "api_get_user.json", viewer, path=f"/users/{username}", path_parameters={"username": username}
    )
    assert status == 200
    return body


def test_following_twice_and_unfollowing_twice_keep_counts_exact(local_aws: LocalAws, lambda_context: Any) -> None:
    alice, bob = sign_up(local_aws, lambda_context, "alice"), sign_up(local_aws, lambda_context, "bob")

    assert [follow(local_aws, lambda_context, bob, "alice") for _ in range(3)] == [204, 204, 204]
    seen = profile(local_aws, lambda_context, bob, "alice")
    assert (seen["follower_count"], seen["followed_by_me"]) == (1, True)
    assert profile(local_aws, lambda_context, alice, "bob")["following_count"] == 1

    assert [follow(local_aws, lambda_context, bob, "alice", "DELETE") for _ in range(3)] == [204, 204, 204]
    seen = profile(local_aws, lambda_context, bob, "alice")
    assert (seen["follower_count"], seen["followed_by_me"]) == (0, False)
    assert profile(local_aws, lambda_context, alice, "bob")["following_count"] == 0


def test_you_cannot_follow_yourself_or_nobody(local_aws: LocalAws, lambda_context: Any) -> None:
    alice = sign_up(local_aws, lambda_context, "alice")

    status, body = route(
        local_aws,
        lambda_context,
        "api_follow.json",
        alice,
        path="/users/alice/follow",
        path_parameters={"username": "alice"},
    )
    assert (status, body["error"]["code"]) == (400, "bad_request")
    status, body = route(
        local_aws,
        lambda_context,
        "api_follow.json",
        alice,
        path="/users/ghost/follow",
        path_parameters={"username": "ghost"},
    )
    assert (status, body["error"]["code"]) == (404, "not_found")
    assert profile(local_aws, lambda_context, alice, "alice")["following_count"] == 0


def walk(local_aws: LocalAws, ctx: Any, viewer: dict, sample: str, path: str, username: str, limit: int) -> list[str]:
    names: list[str] = []
    cursor = None
    while True:
        query = {"limit": str(limit), **({"cursor": cursor} if cursor else {})}
        status, page = route(
            local_aws, ctx, sample, viewer, path=path, path_parameters={"username": username}, query=query
        )
        assert status == 200, page
        assert len(page["items"]) <= limit
        names += [item["username"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            return names


def test_followers_and_following_list_newest_first_across_pages(local_aws: LocalAws, lambda_context: Any) -> None:
    star = sign_up(local_aws, lambda_context, "star")
    fans = [sign_up(local_aws, lambda_context, f"fan_{index}") for index in range(7)]
    for fan in fans:
        assert follow(local_aws, lambda_context, fan, "star") == 204
        assert follow(local_aws, lambda_context, star, fan["username"]) == 204

    followers = walk(local_aws, lambda_context, star, "api_get_followers.json", "/users/star/followers", "star", 3)
    following = walk(local_aws, lambda_context, fans[0], "api_get_following.json", "/users/star/following", "star", 2)

    expected = [fan["username"] for fan in reversed(fans)]
    assert followers == expected  # newest follow first, every one exactly once
    assert following == expected
    assert set(followers) == {f"fan_{index}" for index in range(7)}


def test_a_cursor_from_another_list_or_a_forged_one_is_422(local_aws: LocalAws, lambda_context: Any) -> None:
    alice, bob = sign_up(local_aws, lambda_context, "alice"), sign_up(local_aws, lambda_context, "bob")
    carol = sign_up(local_aws, lambda_context, "carol")
    for who in (bob, carol):
        follow(local_aws, lambda_context, who, "alice")
    _, page = route(
        local_aws,
        lambda_context,
        "api_get_followers.json",
        alice,
        path="/users/alice/followers",
        path_parameters={"username": "alice"},
        query={"limit": "1"},
    )

    for username, cursor in (("bob", page["next_cursor"]), ("alice", "not-a-cursor!"), ("alice", "e30")):
        status, body = route(
            local_aws,
            lambda_context,
            "api_get_followers.json",
            alice,
            path=f"/users/{username}/followers",
            path_parameters={"username": username},
            query={"cursor": cursor},
        )
        assert (status, body["error"]["code"]) == (422, "validation_error"), cursor


def test_limits_outside_1_to_50_are_422(local_aws: LocalAws, lambda_context: Any) -> None:
    alice = sign_up(local_aws, lambda_context, "alice")
    for limit in ("0", "51", "many"):
        status, body = route(
            local_aws,
            lambda_context,
            "api_get_followers.json",
            alice,
            path="/users/alice/followers",
            path_parameters={"username": "alice"},
            query={"limit": limit},
        )
        assert (status, body["error"]["code"]) == (422, "validation_error")


def test_fan_out_reads_every_follower_in_large_pages(local_aws: LocalAws, lambda_context: Any) -> None:
    star = sign_up(local_aws, lambda_context, "star")
    repository = follow_repository()
    follower_ids = [f"user-{index:04d}" for index in range(230)]
    from photofeed.storage.tables import FollowRow

    with FollowRow.batch_write() as batch:
        for index, follower_id in enumerate(follower_ids):
            batch.save(
                FollowRow(follower_id=follower_id, followee_id=star["id"], followed_at=f"2026-11-21T00:{index:04d}")
            )

    pages = list(repository.iter_follower_ids(star["id"], page_size=100))

    assert [len(page) for page in pages] == [100, 100, 30]
    assert sorted(user for page in pages for user in page) == follower_ids
