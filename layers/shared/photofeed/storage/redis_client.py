"""The Redis client for the feed cache (ElastiCache Valkey on AWS, a local server elsewhere)."""

from __future__ import annotations

import redis

from photofeed.config import get_settings


def connect() -> redis.Redis:
    """Short timeouts: a cache that does not answer fast is treated as down (reads then go to
    DynamoDB), not waited for. `rediss://` URLs use TLS, as ElastiCache requires."""
    return redis.Redis.from_url(
        get_settings().redis_url,
        socket_timeout=1.0,
        socket_connect_timeout=0.5,
        health_check_interval=30,
        retry_on_timeout=False,
    )
