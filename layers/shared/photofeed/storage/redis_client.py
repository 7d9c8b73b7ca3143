"""The Redis client for the feed cache (ElastiCache Valkey on AWS, a local server elsewhere).

In cluster mode (`REDIS_CLUSTER`, ElastiCache cluster mode enabled) the client is redis-py's
`RedisCluster`: it reads the slot map from the configuration endpoint and routes each command to
the shard that owns its key; FeedStore groups multi-key work by node itself.
"""

from __future__ import annotations

import redis
from redis.backoff import NoBackoff
from redis.cluster import LoadBalancingStrategy
from redis.exceptions import RedisClusterException
from redis.retry import Retry

from photofeed.config import get_settings

# What a cache that is down, or a cluster that lost a shard, raises: callers that can do without
# the cache (reads from DynamoDB, writes through) catch these. redis-py's cluster client raises
# RedisClusterException, which is not a RedisError, for a slot map it cannot make whole.
CACHE_ERRORS: tuple[type[Exception], ...] = (redis.RedisError, RedisClusterException)


def connect_timeline_reader() -> redis.RedisCluster:
    """On a cluster, the client FeedStore reads merged authors' timelines with: from the shards'
    replicas in turn (their primaries when a shard has none). redis.ConnectionError if the
    cluster cannot be reached."""
    settings = get_settings()
    try:
        return redis.RedisCluster.from_url(
            settings.redis_url,
            socket_timeout=1.0,
            socket_connect_timeout=0.5,
            retry=Retry(NoBackoff(), 1),
            load_balancing_strategy=LoadBalancingStrategy.ROUND_ROBIN_REPLICAS,
        )
    except RedisClusterException as error:
        raise redis.ConnectionError(f"the cache cluster cannot be reached: {error}") from error


def connect() -> redis.Redis | redis.RedisCluster:
    """Short timeouts: a cache that does not answer fast is treated as down (reads then go to
    DynamoDB), not waited for. `rediss://` URLs use TLS, as ElastiCache requires.

    On a cluster a node that does not answer is retried once, after the slot map is read again
    (a failover promotes a replica within seconds; until then that shard's readers use DynamoDB).
    """
    settings = get_settings()
    if settings.redis_cluster:
        return redis.RedisCluster.from_url(
            settings.redis_url,
            socket_timeout=1.0,
            socket_connect_timeout=0.5,
            retry=Retry(NoBackoff(), 1),
        )
    return redis.Redis.from_url(
        settings.redis_url,
        socket_timeout=1.0,
        socket_connect_timeout=0.5,
        health_check_interval=30,
        retry_on_timeout=False,
    )
