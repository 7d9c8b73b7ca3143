"""The feed on a real Valkey cluster (ElastiCache cluster mode) where only a cluster can tell:
how many round trips a page and a delivery take across shards, and a shard lost in the middle of
a run (its readers answered from DynamoDB meanwhile, their feeds rebuilt once it is back, nothing
wrong served at any time)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from redis.cluster import ClusterPipeline

from devstack.aws import cache_server_settings
from devstack.redis_cluster import ValkeyCluster
from devstack.template import Template
from photofeed import wiring
from photofeed.storage.feed_store import feed_key
from tests.conftest import REGION, TEMPLATE, LocalAws, local_aws_context
from tests.integration.feed_world import World
from tests.stack_runner import eventually


@pytest.fixture
def world(local_aws_cluster: LocalAws, lambda_context: Any) -> World:
    return World(local_aws_cluster, lambda_context)


@pytest.fixture
def round_trips(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """Round trips the cluster client makes: single commands (scripts included) and pipelines
    (one round trip however many nodes: every node is written before any is read)."""
    counts: Counter[str] = Counter()
    single, pipelined = redis.RedisCluster.execute_command, ClusterPipeline.execute

    def command(self: Any, *args: Any, **kwargs: Any) -> Any:
        counts["commands"] += 1
        return single(self, *args, **kwargs)

    def pipeline(self: Any, *args: Any, **kwargs: Any) -> Any:
        counts["pipelines"] += 1
        counts["pipelined_commands"] += len(self._execution_strategy.command_queue)
        return pipelined(self, *args, **kwargs)

    monkeypatch.setattr(redis.RedisCluster, "execute_command", command)
    monkeypatch.setattr(ClusterPipeline, "execute", pipeline)
    return counts


def _nodes_of(cluster: redis.RedisCluster, keys: list[str]) -> set[str]:
    return {cluster.get_node_from_key(key).name for key in keys}


def test_a_warm_page_is_two_round_trips_and_three_with_a_merged_author(
    world: World, round_trips: Counter[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CELEBRITY_THRESHOLD", "1")  # two followers make "star" a merged author
    wiring.reset()
    world.follow("bob", "alice")
    posts = [world.publish("alice") for _ in range(12)]
    world.settle()
    cache = world.cache
    assert len(_nodes_of(cache, [f"post:{post}" for post in posts])) == 3  # the page spans every shard
    assert world.feed("bob", limit=20) == list(reversed(posts))  # cold: rebuilt, posts cached

    round_trips.clear()
    assert world.feed("bob", limit=20) == list(reversed(posts))
    # The script on the reader's node read its share of the posts; one call per other node did the rest.
    assert round_trips == {"commands": 1, "pipelines": 1, "pipelined_commands": 2}

    for fan in ("bob", "carol"):
        world.follow(fan, "star")
    world.settle()
    merged = world.publish("star")
    world.settle()
    assert world.feed("bob", limit=20)[0] == merged
    round_trips.clear()
    assert world.feed("bob", limit=20) == [merged, *reversed(posts)]
    assert round_trips["commands"] == 1
    assert round_trips["pipelines"] == 2  # + the star's timeline


def test_a_delivery_chunk_is_one_pipeline_with_a_script_call_per_node(world: World, round_trips: Counter[str]) -> None:
    fans = [f"fan{index}" for index in range(12)]
    for fan in fans:
        world.follow(fan, "alice")
        world.feed(fan)  # their feeds exist
    world.settle()
    store = wiring.feed_store()
    ids = [world.user(fan)["id"] for fan in fans]
    assert len(_nodes_of(world.cache, [feed_key(user_id) for user_id in ids])) == 3
    post = world.publish("alice")
    from photofeed.storage.feed_store import score_of

    round_trips.clear()
    assert store.deliver(post, score_of(post), ids, world.user("alice")["id"]) == len(ids)
    assert round_trips == {"pipelines": 1, "pipelined_commands": 3}


@pytest.fixture
def own_cluster() -> Iterator[ValkeyCluster]:
    """A cluster of this test's own, to kill a shard of."""
    settings = cache_server_settings(Template.load(TEMPLATE, "test", REGION, {"CacheClusterMode": "enabled"}))
    cluster = ValkeyCluster(primaries=3, settings=settings).start()
    try:
        yield cluster
    finally:
        cluster.stop()


def test_a_shard_lost_mid_run_serves_nothing_wrong_and_its_readers_feeds_are_rebuilt(
    own_cluster: ValkeyCluster, lambda_context: Any
) -> None:
    with local_aws_context(own_cluster.url, cluster=True) as local_aws:
        world = World(local_aws, lambda_context)
        readers = [f"reader{index}" for index in range(9)]
        for reader in readers:
            world.follow(reader, "alice")
            world.follow(reader, "carol")
        kept = [world.publish("alice"), world.publish("carol")]
        doomed = world.publish("alice")
        world.settle()
        for reader in readers:
            assert world.feed(reader) == world.expected_feed(reader)
        victim = own_cluster.primary_for_key(feed_key(world.user(readers[0])["id"]))
        on_victim = [r for r in readers if own_cluster.primary_for_key(feed_key(world.user(r)["id"])) is victim]
        elsewhere = [r for r in readers if r not in on_victim]
        assert on_victim
        assert elsewhere

        own_cluster.kill(victim)  # a shard lost, with its data
        during = world.publish("carol")
        assert world.delete("alice", doomed) == 204
        world.relay()
        failed = _run_fanout(world)  # work that reaches the lost shard fails, to be retried
        assert failed

        def check_nothing_wrong(reader: str) -> None:
            served, truth = world.feed(reader), world.expected_feed(reader)
            assert doomed not in served, reader  # deleted: never shown again
            assert served == [post for post in truth if post in served], reader  # truth's order, nothing else
            assert set(kept) <= set(served), reader

        for reader in readers:
            check_nothing_wrong(reader)
        for reader in on_victim:  # their keys are gone: DynamoDB answers, complete
            assert world.feed(reader) == world.expected_feed(reader)

        own_cluster.restart(victim)  # back, empty
        wiring.reset()  # a new client (and no memory of the outage): as a fresh invocation would
        assert not _run_fanout(world, failed)  # the retried messages now succeed
        world.settle()
        for reader in readers:
            assert world.feed(reader) == world.expected_feed(reader)
            assert during in world.feed(reader)
        store = wiring.feed_store()
        assert all(store.feed_exists(world.user(reader)["id"]) for reader in on_victim)  # rebuilt


def _run_fanout(world: World, messages: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """Run fan-out messages (those queued, or `messages`) through the worker once each; the ones
    it reports failed (left on the queue for a retry, as SQS would)."""
    if messages is None:
        messages = world.take_fanout_messages()
    return [message for message in messages if not world.try_fanout(message)]


@pytest.fixture
def cluster_with_replicas() -> Iterator[ValkeyCluster]:
    settings = cache_server_settings(Template.load(TEMPLATE, "test", REGION, {"CacheClusterMode": "enabled"}))
    cluster = ValkeyCluster(primaries=3, replicas_per_primary=1, settings=settings).start()
    try:
        yield cluster
    finally:
        cluster.stop()


def test_a_merged_authors_timeline_is_read_from_its_shards_replica(
    cluster_with_replicas: ValkeyCluster, lambda_context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    with local_aws_context(cluster_with_replicas.url, cluster=True) as local_aws:
        monkeypatch.setenv("CELEBRITY_THRESHOLD", "1")  # over the template's, which the functions were given
        wiring.reset()
        world = World(local_aws, lambda_context)
        for fan in ("bob", "carol"):
            world.follow(fan, "star")  # two followers: the star is merged, not fanned out
        world.settle()
        post = world.publish("star")
        world.settle()
        timeline = f"tl:{world.user('star')['id']}"
        primary = cluster_with_replicas.primary_for_key(timeline)
        (replica,) = cluster_with_replicas.replicas_of(primary)

        def timeline_reads(node: Any) -> int:
            stats = node.client().info("commandstats").get("cmdstat_zrevrangebyscore", {})
            return int(stats.get("calls", 0))

        before = timeline_reads(replica)
        eventually(lambda: world.feed("bob") == [post], what="the star's post, once the replica has it")
        assert world.feed("carol") == [post]
        assert timeline_reads(replica) >= before + 2  # the pages' timeline reads came from the replica
