"""The home feed over HTTP against `make local`: real uploads, the stream relay, fan-out workers
and the read path, with a real FLUSHALL of the local Redis."""

from __future__ import annotations

from typing import Any

import pytest
import redis

from tests import images
from tests.e2e.conftest import Account, Api
from tests.e2e.test_posts_and_follows_e2e import post_photo, settled
from tests.stack_runner import RunningStack, eventually

pytestmark = pytest.mark.e2e


def feed_ids(api: Api, who: Account, limit: int = 50) -> list[str]:
    ids: list[str] = []
    cursor = None
    while True:
        query = f"?limit={limit}" + (f"&cursor={cursor}" if cursor else "")
        answer = api.call("GET", f"/feed{query}", token=who.id_token)
        assert answer.status_code == 200, answer.text
        ids += [item["id"] for item in answer.json()["items"]]
        cursor = answer.json()["next_cursor"]
        if not cursor:
            return ids


def publish(api: Api, author: Account) -> str:
    post_id = post_photo(api, author, images.jpeg((320, 240)))
    assert settled(api, author, post_id)["status"] == "published"
    return post_id


def wait_for_feed(api: Api, who: Account, expected: list[str], what: str) -> None:
    eventually(lambda: feed_ids(api, who) == expected, timeout=20, what=what)


def test_a_follower_sees_new_posts_and_changes_show_in_feeds(api: Api, stack: RunningStack) -> None:
    alice, bob, carol = api.sign_up(), api.sign_up(), api.sign_up()
    assert api.call("PUT", f"/users/{alice.username}/follow", token=bob.id_token).status_code == 204
    assert feed_ids(api, bob) == []  # bob's feed exists from now on

    first, second = publish(api, alice), publish(api, alice)
    wait_for_feed(api, bob, [second, first], "alice's posts in bob's feed")

    assert api.call("DELETE", f"/posts/{second}", token=alice.id_token).status_code == 204
    wait_for_feed(api, bob, [first], "the deleted post gone from bob's feed")

    carols = publish(api, carol)
    assert api.call("PUT", f"/users/{carol.username}/follow", token=bob.id_token).status_code == 204
    wait_for_feed(api, bob, [carols, first], "carol's recent post backfilled on follow")

    assert api.call("DELETE", f"/users/{alice.username}/follow", token=bob.id_token).status_code == 204
    assert feed_ids(api, bob) == [carols]  # at once
    assert feed_ids(api, alice) == [first]  # an author sees their own posts


def test_pages_of_five_walk_the_feed_with_no_duplicates_while_a_post_arrives(api: Api) -> None:
    author, reader = api.sign_up(), api.sign_up()
    api.call("PUT", f"/users/{author.username}/follow", token=reader.id_token)
    feed_ids(api, reader)
    posts = [publish(api, author) for _ in range(11)]
    wait_for_feed(api, reader, list(reversed(posts)), "all eleven posts")

    seen: list[str] = []
    page = api.call("GET", "/feed?limit=5", token=reader.id_token).json()
    seen += [item["id"] for item in page["items"]]
    newest = publish(api, author)  # arrives at the head while the reader pages
    wait_for_feed(api, reader, [newest, *reversed(posts)], "the new post")
    while page["next_cursor"]:
        page = api.call("GET", f"/feed?limit=5&cursor={page['next_cursor']}", token=reader.id_token).json()
        assert len(page["items"]) <= 5
        seen += [item["id"] for item in page["items"]]

    assert seen == list(reversed(posts))


def test_after_flushall_the_next_read_is_right(api: Api, stack: RunningStack) -> None:
    author, reader = api.sign_up(), api.sign_up()
    api.call("PUT", f"/users/{author.username}/follow", token=reader.id_token)
    feed_ids(api, reader)
    posts = [publish(api, author), publish(api, author)]
    wait_for_feed(api, reader, list(reversed(posts)), "both posts")

    redis.Redis.from_url(stack.redis_url).flushall()

    assert feed_ids(api, reader) == list(reversed(posts))
    later = publish(api, author)
    wait_for_feed(api, reader, [later, *reversed(posts)], "a post published after the flush")


def test_feed_cursor_and_limit_errors(api: Api) -> None:
    reader = api.sign_up()

    for query in ("?limit=0", "?limit=51", "?cursor=garbage!", "?cursor=eyJzIjoxfQ"):
        answer: Any = api.call("GET", f"/feed{query}", token=reader.id_token)
        assert answer.status_code == 422, query
        assert answer.json()["error"]["code"] == "validation_error"
    assert api.call("GET", "/feed").status_code == 401
