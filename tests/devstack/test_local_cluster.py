"""The local stack with the feed cache in cluster mode (template.yaml's CacheClusterMode=enabled):
a real Valkey cluster of NumNodeGroups shards, found by a cluster client from the stack's Redis
URL, every node with the settings of the template's cache parameter group."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis

from devstack.aws import cache_server_settings
from devstack.template import Template
from tests import images
from tests.conftest import REGION, TEMPLATE
from tests.e2e.conftest import Api
from tests.e2e.test_posts_and_follows_e2e import post_photo, settled
from tests.e2e.test_redrive_e2e import feed_ids
from tests.stack_runner import eventually, running_stack

pytestmark = pytest.mark.e2e


def test_the_local_stack_runs_the_cache_as_a_cluster_of_the_template_shards(tmp_path: Path) -> None:
    parameters = {"CacheClusterMode": "enabled", "NumNodeGroups": "3", "ReplicasPerNodeGroup": "1"}
    settings = cache_server_settings(Template.load(TEMPLATE, "test", REGION, parameters))

    with running_stack(tmp_path / "state", parameters=parameters, timeout=60) as stack:
        assert stack.redis_cluster
        primaries = {node["url"] for node in stack.redis_nodes if node["role"] == "primary"}
        replicas = {node["url"] for node in stack.redis_nodes if node["role"] == "replica"}
        assert len(primaries) == 3
        assert len(replicas) == 3
        assert stack.redis_url in primaries  # what the functions' REDIS_URL (the configuration endpoint) names

        client = redis.RedisCluster.from_url(stack.redis_url)
        reached = {f"redis://{node.host}:{node.port}/0" for node in client.get_primaries()}
        assert reached == primaries
        for index in range(30):
            client.set(f"feed:{index}", index)
        assert client.get("feed:29") == b"29"
        for node in client.get_nodes():
            config = client.config_get("zset-max-listpack-entries", target_nodes=node)
            assert config == {"zset-max-listpack-entries": settings["zset-max-listpack-entries"]}
        banner = eventually(lambda: "Ctrl-C stops it." in stack.log() and stack.log(), what="the banner")
        assert all(url in banner for url in primaries | replicas)

        # The same API on three shards: posts of three authors reach a follower's feed.
        api = Api(stack.api_url)
        reader, *authors = (api.sign_up() for _ in range(4))
        posted = []
        for author in authors:
            assert api.call("PUT", f"/users/{author.username}/follow", token=reader.id_token).status_code == 204
        assert api.call("GET", "/feed", token=reader.id_token).json() == {"items": [], "next_cursor": None}
        for index, author in enumerate(authors):
            post_id = post_photo(api, author, images.jpeg(), title=f"From shard land {index}")
            assert settled(api, author, post_id)["status"] == "published"
            posted.append(post_id)
        eventually(lambda: feed_ids(api, reader) == sorted(posted, reverse=True), what="the three posts in the feed")
