"""Search by title through the real handlers: the posts stream -> index_search -> GET /search."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from photofeed import wiring
from photofeed.services.search import Query, SearchService
from photofeed.storage.tables import SearchEntryRow
from tests.conftest import LocalAws
from tests.integration.drain import StreamDriver
from tests.integration.feed_world import World
from tests.integration.helpers import route


class SearchWorld(World):
    def __init__(self, local_aws: LocalAws, ctx: Any) -> None:
        super().__init__(local_aws, ctx)
        self.indexer = StreamDriver(local_aws, "PostsTable", "IndexSearchFunction", ctx)

    def search(self, q: str, who: str = "reader", **query: str) -> tuple[int, dict[str, Any]]:
        return route(self.local_aws, self.ctx, "api_search.json", self.user(who), query={"q": q, **query})

    def found(self, q: str, who: str = "reader", limit: int = 50) -> list[str]:
        """Every post id the query finds, walking the cursors."""
        ids: list[str] = []
        cursor = None
        for _ in range(200):
            status, page = self.search(q, who, limit=str(limit), **({"cursor": cursor} if cursor else {}))
            assert status == 200, page
            ids += [item["id"] for item in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                return ids
        raise AssertionError("the search never ended")


@pytest.fixture
def world(local_aws: LocalAws, lambda_context: Any) -> SearchWorld:
    return SearchWorld(local_aws, lambda_context)


def test_finds_by_every_word_in_any_case_and_accent_and_by_a_prefix(world: SearchWorld) -> None:
    creme = world.publish("alice", "Café Crème at the Beach")
    sunset = world.publish("bob", "beach SUNSET, Île de Ré")
    cafe = world.publish("alice", "Sunrise over the CAFE")
    world.indexer.drain()

    assert world.found("cafe") == [cafe, creme]  # newest first
    assert world.found("CAFÉ crè") == [creme]
    assert world.found("beach sun") == [sunset]
    assert world.found("be") == [sunset, creme]
    assert world.found("ile DE re") == [sunset]
    assert world.found("the") == [cafe, creme]
    assert world.found("b") == []  # one letter is a word, not a prefix
    assert world.found("beach night") == []

    _status, page = world.search("creme")
    post = page["items"][0]
    assert post["title"] == "Café Crème at the Beach"
    assert post["author"]["id"] == world.user("alice")["id"]
    assert post["media"]["thumbnail"]
    assert post["liked_by_me"] is False
    assert post["like_count"] == 0


def test_a_deleted_post_is_not_found_and_leaves_the_index(world: SearchWorld) -> None:
    kept = world.publish("alice", "Lighthouse at dawn")
    gone = world.publish("alice", "Lighthouse at dusk")
    world.indexer.drain()
    assert world.found("lighthouse") == [gone, kept]

    assert world.delete("alice", gone) == 204
    assert world.found("lighthouse") == [kept]  # before the index catches up: the post's status decides
    world.indexer.drain()
    assert world.found("lighthouse") == [kept]
    assert not [entry for entry in SearchEntryRow.scan() if entry.post_id == gone]


def test_only_published_posts_are_indexed_and_counts_do_not_reindex(world: SearchWorld) -> None:
    post = world.publish("alice", "Harbour lights")
    pending = world.publish("alice", "Harbour fog")
    wiring.post_repository().delete(pending, world.user("alice")["id"])
    status, _ = route(
        world.local_aws,
        world.ctx,
        "api_like_post.json",
        world.user("reader"),
        path=f"/posts/{post}/like",
        path_parameters={"post_id": post},
    )
    assert status == 204
    world.indexer.drain()
    world.indexer.drain()  # a replay changes nothing
    assert world.found("harbour") == [post]
    [found] = world.search("harbour")[1]["items"]
    assert found["like_count"] == 1
    assert found["liked_by_me"] is True
    assert {entry.post_id for entry in SearchEntryRow.scan()} == {post}


def test_cursors_walk_every_match_once_newest_first(world: SearchWorld) -> None:
    matching = [world.publish("alice", f"Mountain view {index}") for index in range(23)]
    for index in range(10):
        world.publish("bob", f"Mountain river {index}")
    world.indexer.drain()
    assert world.found("mountain view", limit=4) == sorted(matching, reverse=True)
    assert len(world.found("mountain", limit=7)) == 33

    status, page = world.search("mountain view", limit="5")
    assert status == 200
    assert len(page["items"]) == 5
    assert page["next_cursor"]
    status, answer = world.search("mountain river", cursor=page["next_cursor"])
    assert status == 422
    assert answer["error"]["code"] == "validation_error"


def test_a_rare_match_among_common_words_comes_in_short_pages(world: SearchWorld) -> None:
    """The scan budget: a request looks at a bounded number of index entries and answers what it
    found with a cursor, so following cursors still finds everything."""
    rare = world.publish("alice", "Old town square")
    for index in range(40):
        world.publish("alice", f"Old town street {index}")
    world.indexer.drain()
    budgeted = SearchService(
        wiring.search_index(), wiring.post_repository(), wiring.post_presenter(), wiring.engagement_repository(), 10
    )
    pages = []
    cursor = None
    while True:
        page = budgeted.search(world.user("reader")["id"], "old town squ", 20, cursor)
        pages.append([post.id for post in page.items])
        cursor = page.next_cursor
        if cursor is None:
            break
    assert [post_id for page in pages for post_id in page] == [rare]
    assert len(pages) >= 4  # 41 entries, 10 per request


def test_very_long_words_are_indexed_and_found(world: SearchWorld) -> None:
    """NFKD makes some characters many (㌖ is キロメートル): words are cut, keys stay small."""
    long_title = "\u3316" * 120
    post = world.publish("alice", long_title)
    world.indexer.drain()
    assert world.found("\u3316" * 197 + " ab") == []
    assert world.found("\u3316" * 120) == [post]


def _cursor(key: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(key).encode()).decode()


@pytest.mark.parametrize(
    ("query", "problem"),
    [
        ({}, "q"),
        ({"q": ""}, "q"),
        ({"q": " ,.!? "}, "q"),
        ({"q": "a" * 201}, "q"),
        ({"q": " ".join(f"w{index}" for index in range(9))}, "q"),
        ({"q": "sea", "limit": "0"}, "limit"),
        ({"q": "sea", "limit": "51"}, "limit"),
        ({"q": "sea", "cursor": "not-a-cursor"}, "cursor"),
        ({"q": "sea", "cursor": _cursor([1])}, "cursor"),
        ({"q": "sea", "cursor": _cursor({"q": Query.parse("sea").fingerprint})}, "cursor"),
        ({"q": "sea", "cursor": _cursor({"q": Query.parse("sea").fingerprint, "before": "x" * 65})}, "cursor"),
    ],
)
def test_bad_queries_are_validation_errors(world: SearchWorld, query: dict[str, str], problem: str) -> None:
    status, answer = route(world.local_aws, world.ctx, "api_search.json", world.user("reader"), query=query or None)
    assert status == 422, answer
    assert answer["error"]["code"] == "validation_error"
    assert problem in answer["error"]["message"]
