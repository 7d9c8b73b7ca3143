"""A real Valkey cluster (cluster mode enabled) from the pinned server, as the local stack and the
tests run it when the template asks for cluster mode.

Each promise is one a cluster client would notice: a cluster client finds every shard from one
URL; keys sharing a hash tag go together in a transaction or a script; a lost shard leaves the
others serving while its own keys fail fast; a shard started again is empty and serves its slots
again; replicas receive what their primary is given; every node runs the template's cache
parameter group; a kept cluster comes back as it was.
"""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from devstack.aws import cache_server_settings
from devstack.redis_cluster import ClusterNode, ValkeyCluster
from devstack.redis_server import RedisServerFailed
from devstack.template import Template
from tests.conftest import REGION, TEMPLATE

KEYS = [f"feed:{index}" for index in range(40)]  # enough keys for every shard to hold some


@pytest.fixture(scope="module")
def settings() -> dict[str, str]:
    return cache_server_settings(Template.load(TEMPLATE, "test", REGION))


@pytest.fixture(scope="module")
def cluster(settings: dict[str, str]) -> Iterator[ValkeyCluster]:
    started = ValkeyCluster(primaries=3, replicas_per_primary=1, settings=settings).start()
    try:
        yield started
    finally:
        started.stop()


def cluster_client(url: str) -> redis.RedisCluster:
    """A cluster client that gives up fast on a node that is gone (one attempt, short timeouts)."""
    return redis.RedisCluster.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5, retry=Retry(NoBackoff(), 1))


def cluster_state(node: ClusterNode) -> str:
    info = str(node.client().execute_command("CLUSTER", "INFO"))
    return next(line.split(":", 1)[1].strip() for line in info.splitlines() if line.startswith("cluster_state:"))


def marked_failed(by: ClusterNode, node: ClusterNode) -> bool:
    nodes = str(by.client().execute_command("CLUSTER", "NODES"))
    [line] = [line for line in nodes.splitlines() if line.startswith(node.node_id)]
    return "fail" in line.split()[2].split(",")


def test_a_client_finds_every_primary_from_one_url_and_keys_land_on_all_of_them(cluster: ValkeyCluster) -> None:
    client = cluster_client(cluster.url)
    for key in KEYS:
        client.set(key, f"value of {key}")

    owners = {cluster.primary_for_slot(client.keyslot(key)).port for key in KEYS}
    assert owners == {node.port for node in cluster.primary_nodes}
    assert len(owners) == 3
    assert {node.port for node in client.get_primaries()} == owners
    for key in KEYS:
        assert client.get(key) == f"value of {key}".encode()
        assert client.keyslot(key) == int(cluster.nodes[0].client().execute_command("CLUSTER", "KEYSLOT", key))
        assert cluster.primary_for_key(key).client().get(key) == f"value of {key}"  # held where the map says


def test_hash_tagged_keys_go_together_in_a_transaction_and_a_script(cluster: ValkeyCluster) -> None:
    client = cluster_client(cluster.url)

    with client.pipeline(transaction=True) as transaction:
        transaction.set("{u1}a", "1").set("{u1}b", "2").incr("{u1}a")
        assert transaction.execute()[-1] == 2
    summed = client.eval(
        "return redis.call('INCRBY', KEYS[1], ARGV[1]) + redis.call('INCRBY', KEYS[2], ARGV[1])",
        2,
        "{u1}a",
        "{u1}b",
        10,
    )

    assert summed == 12 + 12
    assert client.mget("{u1}a", "{u1}b") == [b"12", b"12"]
    with pytest.raises(redis.RedisClusterException, match="same key slot"):  # without a shared tag: refused
        client.eval("return redis.call('GET', KEYS[1])", 2, "{u1}a", "{u2}a")


def test_every_node_runs_the_cache_parameter_group(cluster: ValkeyCluster, settings: dict[str, str]) -> None:
    assert settings["zset-max-listpack-entries"] == "1024"  # what the template's parameter group says

    for node in cluster.nodes:
        client = node.client()
        assert client.config_get("zset-max-listpack-entries") == {
            "zset-max-listpack-entries": settings["zset-max-listpack-entries"]
        }
        assert client.config_get("maxmemory-policy") == {"maxmemory-policy": settings["maxmemory-policy"]}


def test_a_lost_shard_leaves_the_others_serving_and_comes_back_empty_with_its_slots() -> None:
    # A shorter node timeout than the stack's: the lost shard is marked failed, and cleared again
    # (after twice the timeout), sooner.
    cluster = ValkeyCluster(primaries=3, node_timeout_ms=1000).start()
    try:
        client = cluster_client(cluster.url)
        for key in KEYS:
            client.set(key, "before")
        lost = cluster.primary_nodes[1]
        lost_slots = lost.slots
        on_lost = [key for key in KEYS if cluster.primary_for_key(key) is lost]
        elsewhere = [key for key in KEYS if cluster.primary_for_key(key) is not lost]
        survivors = [node for node in cluster.nodes if node is not lost]

        cluster.kill(lost)
        deadline = time.monotonic() + 10
        while not all(marked_failed(node, lost) for node in survivors):  # not merely unreachable: failed
            assert time.monotonic() < deadline, "the survivors never marked the lost shard failed"
            time.sleep(0.05)

        assert {cluster_state(node) for node in survivors} == {"ok"}
        for key in elsewhere:
            assert client.get(key) == b"before"
            client.set(key, "during")
        started = time.monotonic()
        with pytest.raises(redis.RedisError):
            client.get(on_lost[0])
        assert time.monotonic() - started < 5

        cluster.restart(lost)

        assert lost.slots == lost_slots
        assert lost.client().dbsize() == 0
        assert {cluster_state(node) for node in cluster.nodes} == {"ok"}
        client = cluster_client(cluster.url)
        assert client.get(on_lost[0]) is None
        client.set(on_lost[0], "after")
        assert client.get(on_lost[0]) == b"after"
        assert client.get(elsewhere[0]) == b"during"
    finally:
        cluster.stop()


def test_every_primary_has_a_replica_that_receives_its_writes(cluster: ValkeyCluster) -> None:
    client = cluster_client(cluster.url)
    for key in KEYS:
        client.set(f"replicated:{key}", f"value of {key}")

    assert len(cluster.nodes) == 6
    for primary in cluster.primary_nodes:
        [replica] = cluster.replicas_of(primary)
        assert primary.client().wait(1, 2000) == 1  # acknowledged by its replica
        reader = replica.client()
        reader.execute_command("READONLY")  # a replica answers reads of its primary's slots
        held = [f"replicated:{key}" for key in KEYS if cluster.primary_for_key(f"replicated:{key}") is primary]
        assert held
        assert [reader.get(key) for key in held] == [f"value of {key.split(':', 1)[1]}" for key in held]
        assert reader.dbsize() == primary.client().dbsize()


def test_a_kept_cluster_comes_back_with_its_slot_map_and_its_data_or_gives_way_to_a_new_one(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    kept = tmp_path / "redis-cluster"
    first = ValkeyCluster(primaries=3, data_dir=kept).start()
    try:
        layout = first.describe()
        client = cluster_client(first.url)
        for key in KEYS:
            client.set(key, "kept")
    finally:
        first.stop()
    assert len(list(kept.glob("node-*/nodes.conf"))) == 3

    again = ValkeyCluster(primaries=3, data_dir=kept).start()
    try:
        assert again.describe() == layout  # same ports, node ids and slots: nothing re-assigned
        assert cluster_client(again.url).mget_nonatomic(KEYS) == [b"kept"] * len(KEYS)
    finally:
        again.stop()

    with socket.socket() as holder, caplog.at_level(logging.WARNING, logger="devstack.redis"):
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # the port may be in TIME_WAIT
        holder.bind((first.host, first.nodes[1].port))  # one of its ports is someone else's now
        holder.listen()
        new = ValkeyCluster(primaries=3, data_dir=kept).start()
    try:
        assert first.nodes[1].port not in {node.port for node in new.nodes}
        assert cluster_client(new.url).mget_nonatomic(KEYS) == [None] * len(KEYS)
        assert "Address already in use" in caplog.text
        assert "starting a new, empty one" in caplog.text
    finally:
        new.stop()


def test_a_node_that_cannot_start_shows_its_own_log() -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        taken = holder.getsockname()[1]
        cluster = ValkeyCluster(primaries=1, base_port=taken)

        with pytest.raises(RedisServerFailed, match="Address already in use"):
            cluster.start()
