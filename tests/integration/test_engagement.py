"""Comments and likes: exact counts under repeats, who may delete, liked_by_me everywhere."""

from __future__ import annotations

from typing import Any

import pytest

from photofeed.storage.tables import CommentRow, LikeRow
from tests.conftest import LocalAws
from tests.integration.feed_world import World
from tests.integration.helpers import route


@pytest.fixture
def world(local_aws: LocalAws, lambda_context: Any) -> World:
    return World(local_aws, lambda_context)


def on_post(
    world: World,
    sample: str,
    who: str,
    post_id: str,
    comment_id: str | None = None,
    body: Any = None,
    query: dict[str, str] | None = None,
) -> tuple[int, dict[str, Any]]:
    params = {"post_id": post_id, **({"comment_id": comment_id} if comment_id else {})}
    path = (
        f"/posts/{post_id}"
        + {
            "api_create_comment.json": "/comments",
            "api_get_comments.json": "/comments",
            "api_delete_comment.json": f"/comments/{comment_id}",
            "api_like_post.json": "/like",
            "api_unlike_post.json": "/like",
            "api_like_comment.json": f"/comments/{comment_id}/like",
            "api_unlike_comment.json": f"/comments/{comment_id}/like",
        }[sample]
    )
    return route(
        world.local_aws, world.ctx, sample, world.user(who), path=path, path_parameters=params, body=body, query=query
    )


def post_of(world: World, who: str, post_id: str) -> dict[str, Any]:
    return route(
        world.local_aws,
        world.ctx,
        "api_get_post.json",
        world.user(who),
        path=f"/posts/{post_id}",
        path_parameters={"post_id": post_id},
    )[1]


def test_comments_list_oldest_first_and_count_exactly(world: World) -> None:
    post = world.publish("alice")
    texts = [f"comment {index}" for index in range(5)]
    ids = [on_post(world, "api_create_comment.json", "bob", post, body={"text": text})[1]["id"] for text in texts]

    seen: list[str] = []
    cursor = None
    while True:
        status, page = on_post(
            world,
            "api_get_comments.json",
            "carol",
            post,
            query={"limit": "2", **({"cursor": cursor} if cursor else {})},
        )
        assert status == 200
        seen += [item["text"] for item in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break

    assert seen == texts
    assert post_of(world, "carol", post)["comment_count"] == 5
    assert on_post(world, "api_delete_comment.json", "bob", post, ids[0])[0] == 204
    assert on_post(world, "api_delete_comment.json", "bob", post, ids[0])[0] == 404
    assert post_of(world, "carol", post)["comment_count"] == 4


def test_only_the_comment_author_or_the_post_author_deletes_a_comment(world: World) -> None:
    post = world.publish("alice")
    first = on_post(world, "api_create_comment.json", "bob", post, body={"text": "one"})[1]["id"]
    second = on_post(world, "api_create_comment.json", "bob", post, body={"text": "two"})[1]["id"]

    status, body = on_post(world, "api_delete_comment.json", "carol", post, first)
    assert (status, body["error"]["code"]) == (403, "forbidden")
    assert on_post(world, "api_delete_comment.json", "bob", post, first)[0] == 204
    assert on_post(world, "api_delete_comment.json", "alice", post, second)[0] == 204
    assert post_of(world, "alice", post)["comment_count"] == 0


@pytest.mark.parametrize("text", ["", "   ", "x" * 2201])
def test_comment_text_is_validated(world: World, text: str) -> None:
    post = world.publish("alice")
    status, body = on_post(world, "api_create_comment.json", "bob", post, body={"text": text})

    assert (status, body["error"]["code"]) == (422, "validation_error")


def test_commenting_or_liking_a_post_you_cannot_see_is_404(world: World) -> None:
    post = world.publish("alice")
    world.delete("alice", post)

    for sample in ("api_create_comment.json", "api_like_post.json", "api_get_comments.json"):
        status, body = on_post(world, sample, "bob", post, body={"text": "hi"} if "create" in sample else None)
        assert (status, body["error"]["code"]) == (404, "not_found"), sample


def test_likes_count_once_and_show_as_liked_by_me_everywhere(world: World) -> None:
    world.follow("bob", "alice")
    post = world.publish("alice")
    world.settle()
    assert world.feed("bob") == [post]  # bob's feed is cached before he likes

    assert [on_post(world, "api_like_post.json", "bob", post)[0] for _ in range(3)] == [204, 204, 204]
    on_post(world, "api_like_post.json", "carol", post)

    assert post_of(world, "bob", post)["like_count"] == 2
    assert post_of(world, "bob", post)["liked_by_me"] is True
    assert post_of(world, "dave", post)["liked_by_me"] is False
    item = world.page("bob", 5)["items"][0]
    assert (item["like_count"], item["liked_by_me"]) == (2, True)
    alice = world.user("alice")["username"]
    listed = route(
        world.local_aws,
        world.ctx,
        "api_get_user_posts.json",
        world.user("bob"),
        path=f"/users/{alice}/posts",
        path_parameters={"username": alice},
    )[1]
    assert listed["items"][0]["liked_by_me"] is True

    assert [on_post(world, "api_unlike_post.json", "bob", post)[0] for _ in range(2)] == [204, 204]
    assert post_of(world, "bob", post)["like_count"] == 1
    item = world.page("bob", 5)["items"][0]
    assert (item["like_count"], item["liked_by_me"]) == (1, False)


def test_comment_likes_count_once(world: World) -> None:
    post = world.publish("alice")
    comment = on_post(world, "api_create_comment.json", "bob", post, body={"text": "nice"})[1]["id"]

    for _ in range(3):
        assert on_post(world, "api_like_comment.json", "carol", post, comment)[0] == 204
    page = on_post(world, "api_get_comments.json", "carol", post)[1]
    assert (page["items"][0]["like_count"], page["items"][0]["liked_by_me"]) == (1, True)
    for _ in range(2):
        assert on_post(world, "api_unlike_comment.json", "carol", post, comment)[0] == 204
    page = on_post(world, "api_get_comments.json", "carol", post)[1]
    assert (page["items"][0]["like_count"], page["items"][0]["liked_by_me"]) == (0, False)
    assert on_post(world, "api_like_comment.json", "carol", post, "nope")[0] == 404


def likes_of(target: str) -> list[str]:
    return [row.user_id for row in LikeRow.query(target)]


def test_a_deleted_comments_likes_go_with_it(world: World) -> None:
    post = world.publish("alice")
    comment = on_post(world, "api_create_comment.json", "bob", post, body={"text": "nice"})[1]["id"]
    assert on_post(world, "api_like_comment.json", "carol", post, comment)[0] == 204
    assert likes_of(f"c#{comment}") == [world.user("carol")["id"]]

    assert on_post(world, "api_delete_comment.json", "alice", post, comment)[0] == 204

    assert likes_of(f"c#{comment}") == []
    assert on_post(world, "api_like_comment.json", "carol", post, comment)[0] == 404


def test_a_deleted_posts_comments_and_likes_go_with_it(world: World) -> None:
    post = world.publish("alice")
    comments = [on_post(world, "api_create_comment.json", "bob", post, body={"text": t})[1]["id"] for t in "ab"]
    assert on_post(world, "api_like_post.json", "carol", post)[0] == 204
    assert on_post(world, "api_like_comment.json", "carol", post, comments[0])[0] == 204

    world.delete("alice", post)
    world.settle()

    assert list(CommentRow.query(post)) == []
    assert [likes_of(target) for target in [f"p#{post}", f"c#{comments[0]}"]] == [[], []]
