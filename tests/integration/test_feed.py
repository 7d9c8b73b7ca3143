"""GET /feed through the read handler: fan-out, cursors, delete/follow/unfollow, rebuilds after
cache loss, DynamoDB when Redis is down, and the hybrid fan-out across the threshold. Every test
runs twice: on one Valkey node, and on a real three-primary Valkey cluster (ElastiCache cluster
mode), where a reader's keys, the posts and the timelines sit on different shards."""

from __future__ import annotations

import json
import random
import threading
import uuid
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from photofeed import wiring
from tests.conftest import LocalAws
from tests.integration.feed_world import World


@pytest.fixture(params=["one node", "cluster"])
def world(request: pytest.FixtureRequest, lambda_context: Any) -> World:
    local_aws: LocalAws = request.getfixturevalue("local_aws" if request.param == "one node" else "local_aws_cluster")
    return World(local_aws, lambda_context)


def test_a_follower_sees_a_new_post_and_the_author_too(world: World) -> None:
    world.follow("bob", "alice")
    world.user("carol")
    post = world.publish("alice")
    world.settle()

    assert world.feed("bob") == [post]
    assert world.feed("alice") == [post]
    assert world.feed("carol") == []


def test_feed_items_are_contract_posts(world: World) -> None:
    from photofeed.models.posts import PostList

    world.follow("bob", "alice")
    world.publish("alice", title="Harbour at dusk")
    world.settle()

    page = PostList.model_validate(world.page("bob", 10))
    item = page.items[0]
    assert item.title == "Harbour at dusk"
    assert item.author.username == world.user("alice")["username"]
    assert item.status == "published"
    assert item.media is not None
    assert item.media.large.startswith("http")
    assert (item.like_count, item.comment_count, item.liked_by_me) == (0, 0, False)


def test_pages_have_no_duplicates_and_no_gaps_while_posts_arrive(world: World) -> None:
    world.follow("bob", "alice")
    older = [world.publish("alice", f"p{index}") for index in range(12)]
    world.settle()

    seen: list[str] = []
    cursor = None
    newer = []
    while True:
        page = world.page("bob", 5, cursor)
        seen += [item["id"] for item in page["items"]]
        newer.append(world.publish("alice", "new"))  # a new post at the head between pages
        world.settle()
        cursor = page["next_cursor"]
        if cursor is None:
            break

    assert seen == list(reversed(older))
    assert world.feed("bob")[: len(newer)] == list(reversed(newer))


def test_delete_unfollow_and_follow_backfill_show_in_feeds(world: World) -> None:
    world.follow("bob", "alice")
    kept, deleted = world.publish("alice"), world.publish("alice")
    mine = world.publish("carol")
    world.settle()
    assert world.feed("bob") == [deleted, kept]

    assert world.delete("alice", deleted) == 204
    world.settle()
    assert world.feed("bob") == [kept]

    assert world.follow("bob", "carol") == 204
    world.settle()
    assert world.feed("bob") == [mine, kept]  # the follow brought carol's recent posts

    assert world.unfollow("bob", "alice") == 204
    assert world.feed("bob") == [mine]  # at once: the reader's following set is written through
    world.settle()
    assert world.feed("bob") == [mine]
    assert world.expected_feed("bob") == [mine]


def test_a_deleted_post_disappears_before_fan_out_catches_up(world: World) -> None:
    world.follow("bob", "alice")
    post = world.publish("alice")
    world.settle()

    world.delete("alice", post)  # no settle: the fan-out has not run yet

    assert world.feed("bob") == []  # the read checks the post itself (cache tombstone or DynamoDB)


def test_a_page_passes_over_many_deleted_posts_without_ending_the_feed(world: World) -> None:
    world.follow("bob", "alice")
    posts = [world.publish("alice") for _ in range(30)]
    world.settle()
    assert len(world.feed("bob")) == 30

    for post in posts[-22:]:  # more than a page's window of the newest, and fan-out has not run
        assert world.delete("alice", post) == 204

    assert world.feed("bob", limit=5) == list(reversed(posts[:8]))


def test_after_flushall_the_next_read_is_right(world: World) -> None:
    for follower in ("bob", "dave"):
        world.follow(follower, "alice")
    world.follow("bob", "carol")
    posts = [world.publish("alice"), world.publish("carol"), world.publish("bob")]
    world.settle()
    before = world.feed("bob")

    world.flush_cache()

    assert before == sorted(posts, reverse=True)
    assert world.feed("bob") == before
    assert world.feed("dave") == [posts[0]]
    after = world.publish("alice")  # fan-out into rebuilt feeds keeps working
    world.settle()
    assert world.feed("bob")[0] == after


def test_concurrent_readers_of_a_missing_feed_rebuild_it_once(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    world.follow("bob", "alice")
    post = world.publish("alice")
    world.settle()
    world.flush_cache()
    service = wiring.feed_service()
    rebuilds: list[int] = []
    real = service._recent_rows

    def counted(*args: Any, **kwargs: Any) -> Any:
        rebuilds.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(service, "_recent_rows", counted)
    results: list[list[str]] = []
    threads = [threading.Thread(target=lambda: results.append(world.feed("bob"))) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert results == [[post]] * 6
    assert len(rebuilds) == 1


def test_with_redis_down_the_feed_answers_from_dynamodb(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    world.follow("bob", "alice")
    posts = [world.publish("alice") for _ in range(3)]
    world.settle()
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")  # nothing listens there
    wiring.reset()

    first = world.page("bob", 2)
    rest = world.page("bob", 2, first["next_cursor"])

    assert [item["id"] for item in first["items"] + rest["items"]] == list(reversed(posts))
    assert rest["next_cursor"] is None


def test_a_warm_read_touches_dynamodb_zero_times(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    import botocore.client

    world.follow("bob", "alice")
    for _ in range(3):
        world.publish("alice")
    world.settle()
    world.feed("bob")  # warm
    calls: list[str] = []
    real = botocore.client.BaseClient._make_api_call

    def counting(self: Any, operation: str, params: Any) -> Any:
        calls.append(f"{self.meta.service_model.service_name}.{operation}")
        return real(self, operation, params)

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", counting)
    assert len(world.feed("bob")) == 3
    assert calls == []


def test_large_audiences_are_split_into_chunks(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FANOUT_CHUNK_SIZE", "2")
    wiring.reset()
    fans = [f"fan{index}" for index in range(7)]
    for fan in fans:
        world.follow(fan, "star")
        world.feed(fan)  # their feeds exist (fan-out only writes into existing feeds)
    world.settle()
    post = world.publish("star")
    world.relay()
    first_round = world.fanout.receive()
    world.settle()

    assert first_round
    assert all("post_published" in m["Body"] for m in first_round)
    for fan in fans:
        assert world.feed(fan) == [post]


def test_crossing_the_threshold_either_way_keeps_every_feed_right(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CELEBRITY_THRESHOLD", "3")
    wiring.reset()
    client = world.cache
    fans = [f"fan{index}" for index in range(5)]

    def check() -> None:
        for fan in fans:
            assert world.feed(fan) == world.expected_feed(fan), fan

    for fan in fans[:3]:
        world.follow(fan, "star")
    early = world.publish("star")  # 3 followers: fanned out
    world.settle()
    check()

    for fan in fans[3:]:
        world.follow(fan, "star")  # 5 > 3: readers merge the star's timeline from now on
    world.settle()
    assert client.sismember("nofan", world.user("star")["id"])
    writes_before = client.info("commandstats")
    middle = world.publish("star")
    world.settle()
    check()
    assert all(middle in world.feed(fan) for fan in fans)

    for fan in fans[1:4]:
        world.unfollow(fan, "star")  # 2 < 3 * 0.9: fanned out again, merged posts backfilled
    world.settle()
    assert not client.sismember("celebs", world.user("star")["id"])
    late = world.publish("star")
    world.settle()
    check()
    assert world.feed(fans[0])[:3] == [late, middle, early]
    assert writes_before  # (the command counts are the benchmark's business)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    operations=st.lists(
        st.tuples(st.sampled_from(["publish", "delete", "follow", "unfollow"]), st.integers(0, 2), st.integers(0, 2)),
        min_size=1,
        max_size=14,
    ),
    seed=st.integers(0, 2**16),
)
def test_any_interleaving_with_duplicates_and_shuffles_ends_in_the_true_feeds(
    world: World, operations: list[tuple[str, int, int]], seed: int
) -> None:
    tag = uuid.uuid4().hex[:8]  # fresh users per example (hypothesis seeds `random` itself)
    names = [f"{tag}u{index}" for index in range(3)]
    published: dict[str, list[str]] = {name: [] for name in names}
    shuffle = random.Random(seed)
    for operation, first, second in operations:
        actor, other = names[first], names[second]
        if operation == "publish":
            published[actor].append(world.publish(actor))
        elif operation == "delete" and published[actor]:
            world.delete(actor, published[actor].pop(0))
        elif operation == "follow" and actor != other:
            world.follow(actor, other)
        elif operation == "unfollow" and actor != other:
            world.unfollow(actor, other)
        if shuffle.random() < 0.5:
            world.feed(actor)  # some feeds exist while things happen, some are built later
        if shuffle.random() < 0.3:
            world.settle(shuffle, duplicate=0.5)
    world.settle(shuffle, duplicate=0.5)

    for name in names:
        assert world.feed(name, limit=2) == world.expected_feed(name), name


@pytest.mark.filterwarnings("ignore:No application metrics")  # the stream relay adds none
def test_the_fan_out_reports_the_feeds_it_reached_and_its_lag_for_the_dashboard(
    world: World, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("FANOUT_CHUNK_SIZE", "2")
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")  # the tests' stack turns them off
    wiring.reset()
    fans = [f"fan{index}" for index in range(5)]
    for fan in fans:
        world.follow(fan, "star")
        world.feed(fan)
    world.settle()
    capsys.readouterr()
    world.publish("star")
    world.settle()

    # Powertools writes each invocation's metrics as one CloudWatch embedded-metric-format line.
    emitted = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]

    def values(name: str) -> list[float]:  # one value, or a list when an invocation added several
        found = [metric[name] for metric in emitted if name in metric]
        return [value for entry in found for value in (entry if isinstance(entry, list) else [entry])]

    deliveries, lags = values("FeedDeliveries"), values("FanoutLag")
    assert sum(deliveries) == 1 + len(fans)  # the author's feed and every fan's, chunks included
    assert len(lags) == len(deliveries)  # every delivering message knows when the post was published
    assert all(0 <= lag < 60_000 for lag in lags)
    assert all(metric["service"] == "fanout" for metric in emitted if "FeedDeliveries" in metric)
