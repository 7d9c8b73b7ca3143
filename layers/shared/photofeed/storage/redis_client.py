"""The Redis client for the feed cache (ElastiCache Valkey on AWS, a local server elsewhere).

In cluster mode (`REDIS_CLUSTER`, ElastiCache cluster mode enabled) the client is redis-py's
`RedisCluster`: it reads the slot map from the configuration endpoint and routes each command to
the shard that owns its key; FeedStore groups multi-key work by node itself.
"""

from __future__ import annotations

import redis
from redis.backoff import NoBackoff
from redis.exceptions import RedisClusterException
from redis.retry import Retry

from photofeed.config import get_settings

# What a cache that is down, or a cluster that lost a shard, raises: callers that can do without
# the cache (reads from DynamoDB, writes through) catch these. redis-py's cluster client raises
# RedisClusterException, which is not a RedisError, for a slot map it cannot make whole.
CACHE_ERRORS: tuple[type[Exception], ...] = (redis.RedisError, RedisClusterException)


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
