"""Per-user limits on writes, counted in Redis (fixed windows, one atomic call per request).

Each user has their own counter per action and window, so a burst from one user costs the others
nothing. If Redis does not answer, writes are allowed (and logged): the limits protect the system,
they must not take it down with the cache.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import redis

from photofeed.errors import RateLimited
from photofeed.storage.redis_client import CACHE_ERRORS

log = logging.getLogger(__name__)

_HIT = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return count
"""


@dataclass(frozen=True)
class Limit:
    requests: int
    seconds: int


_RULE = re.compile(r"^([a-z_]+)=([1-9][0-9]*)/([1-9][0-9]*)$")


def parse_limits(text: str) -> dict[str, Limit]:
    """`post=20/60,like=120/60`: at most 20 posts and 120 likes a minute per user.

    A malformed rule is a ValueError naming it: a typo in the setting must not pass for "no limit".
    """
    limits = {}
    for part in filter(None, (piece.strip() for piece in text.split(","))):
        rule = _RULE.match(part.replace(" ", ""))
        if rule is None:
            raise ValueError(f"write rate limit {part!r} is not action=requests/seconds (both positive)")
        action, requests, seconds = rule.groups()
        limits[action] = Limit(int(requests), int(seconds))
    return limits


class RateLimiter:
    def __init__(self, client: redis.Redis | Callable[[], Any], limits: dict[str, Limit]) -> None:
        """`client`, or a function giving it (called on each hit: the feed store connects lazily)."""
        self._client = client
        self._limits = limits

    @property
    def _script(self) -> Any:
        client = self._client if isinstance(self._client, redis.Redis | redis.RedisCluster) else self._client()
        return client.register_script(_HIT)  # a Script is the text and its SHA-1: cheap to make

    def hit(self, user_id: str, action: str) -> None:
        """Count one `action` by the user; RateLimited (429) past the limit, with the wait."""
        limit = self._limits.get(action)
        if limit is None:
            return
        now = time.time()
        window = int(now // limit.seconds)
        try:
            count = int(self._script(keys=[f"rl:{action}:{user_id}:{window}"], args=[limit.seconds + 1]))
        except CACHE_ERRORS as error:
            log.warning("rate limit not checked (cache unavailable): %s", error)
            return
        if count > limit.requests:
            retry_after = max(1, int((window + 1) * limit.seconds - now) + 1)
            raise RateLimited(
                f"too many {action} requests: at most {limit.requests} per {limit.seconds} s", retry_after
            )
