"""FeedStore: the feeds and their companions in Redis (ElastiCache Valkey), never the source of truth.

The same code runs on one node and on a cluster (ElastiCache cluster mode; a single node is a
cluster of one shard). Keys are laid out for a cluster: what one read or one delivery needs
together shares a hash slot, the reader's `{user}` tag; what is shared between readers (posts,
timelines, the set of merged authors) is read with one pipeline per node, never from inside a
script that would have to reach another shard.

A reader's keys, one slot (`{user}` is the hash tag):
- `feed:{user}`  sorted set, the home feed, capped. Member: the post id without its first ten
                 characters (a ULID's time, which the score already holds: score = the post's ULID
                 time in ms), so an entry costs about 30 bytes, not 41. `~` at +inf marks the
                 feed complete; `!` marks it being rebuilt (fan-out delivers into it meanwhile).
- `fol:{user}`   set of whom the user follows (`~` marks it complete). Deliveries check it in the
                 same script (a post lands only in the feeds of its author's current followers).
- `unf:{user}`   authors the user unfollowed since the feed was built (`~` marks it present):
                 readers drop their posts at once, before fan-out has removed them.
- `merge:{user}` followed authors whose posts are not fanned out: their timelines are merged
                 into the feed at read time (`~` complete, `!` being built).
- `lk:{user}`    the posts the user likes, as feed members (`~` complete): `liked_by_me`.
The feed, `fol`, `unf` and `merge` are built together and are only valid together: if any is
missing (evicted, expired, a shard lost) the reader rebuilds all four from DynamoDB.

Shared keys (slot by key):
- `tl:{author}`  the author's recent published posts (a timeline); members as in feeds, `~`.
- `flw:{author}` the author's followers, for fan-out (`~` complete, `!` being built).
- `post:{id}`    hash: a = author id, s = status, m = the post's JSON without its last three fields,
                 l / c = like and comment counts. A published post with no `m` is not cached.
- `celebs`       authors in pull or draining mode (`~` complete): what a rebuilt `merge` holds.
- `nofan`        authors whose posts are not fanned out (a subset of `celebs`).

Round trips. A warm page of a reader who follows no merged author takes one on a single node (or
a cluster of one shard) and two on a cluster: one script on the reader's slot checks the keys,
refreshes their TTLs, reads a window of the feed, `unf`, `merge`, and the post hashes and likes of
the page's posts that its node holds (all of them on one node; a third of them on three shards);
then one pipeline reads the rest, a script call per node that holds any. Following merged authors
adds their timelines (one pipeline) before the posts that are not in the feed are read. A delivery chunk
is one pipeline with one script call per node holding any of its followers. Scripts that take
keys in ARGV (all on the node they are sent to, in any slot) carry `allow-cross-slot-keys`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import Any, NamedTuple, cast

import redis
from redis.crc import key_slot
from redis.exceptions import NoScriptError, RedisClusterException
from ulid import ULID

COMPLETE, BUILDING = "~", "!"
_SENTINELS = (b"~", b"!")
TIMELINE, FOLLOWERS, POST = "tl:", "flw:", "post:"
CELEBS, NOFAN = "celebs", "nofan"
DELETED = "deleted"
PUBLISHED = "published"

# The first ten characters of a ULID are its millisecond time in Crockford base32.
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_TIME_CHARS = 10


def feed_key(user_id: str) -> str:
    return f"feed:{{{user_id}}}"


def following_key(user_id: str) -> str:
    return f"fol:{{{user_id}}}"


def unfollowed_key(user_id: str) -> str:
    return f"unf:{{{user_id}}}"


def merge_key(user_id: str) -> str:
    return f"merge:{{{user_id}}}"


def likes_key(user_id: str) -> str:
    return f"lk:{{{user_id}}}"


def _user_keys(user_id: str) -> list[str]:
    return [feed_key(user_id), following_key(user_id), unfollowed_key(user_id), merge_key(user_id)]


def score_of(post_id: str) -> int:
    """A post's feed score: the millisecond time in its ULID, so score order is id order."""
    return int(ULID.from_str(post_id).milliseconds)


def member_of(post_id: str) -> str:
    """A post's member in a feed or timeline: its id without the time, which is the score."""
    return post_id[_TIME_CHARS:]


def post_id_of(score: int, member: str) -> str:
    """The post id back from a feed entry (score in ms, member)."""
    return _time_chars(score) + member


@lru_cache(maxsize=65_536)
def _time_chars(score: int) -> str:
    return "".join(_CROCKFORD[(score >> shift) & 31] for shift in range(45, -1, -5))


# The reader's slot (KEYS: feed, fol, unf, merge, lk; ARGV: range max, window, ttl, cursor
# member or '', how many rows to hydrate). Answers
#   {0}   the feed is not valid: rebuild it (and its fol, unf, merge)
#   {-1}  the likes set is missing: rebuild it
#   {1, unf members, merge members, {member, score, ...} newest first strictly after the cursor,
#    {liked, ...} for each row, {{a, s, m, l, c} or 0, ...} for the first rows,
#    {member, score} of the window's last row if the window was full (the feed may hold more), or {}}
# A row's post hash is read here when this node holds it (always on one node or a one-shard
# cluster: the page is then one round trip); 0 says it is on another node (the client reads it).
_READ_USER = """#!lua flags=allow-cross-slot-keys
local call = redis.call
local feed, following, unfollowed, merge, likes = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local range_max, window, ttl = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local cursor_member, hydrate = ARGV[4], tonumber(ARGV[5])
-- `~` sorts last (+inf, and after `!`): reading the last entry is O(1), ZSCORE walks the listpack.
if call('ZRANGE', feed, -1, -1)[1] ~= '~' or call('EXISTS', following) == 0
   or call('EXISTS', unfollowed) == 0 or call('EXISTS', merge) == 0 then
  return {0}
end
if call('EXISTS', likes) == 0 then return {-1} end
for _, key in ipairs(KEYS) do call('EXPIRE', key, ttl) end
local a = {}
for i = 1, 32 do a[i - 1] = string.sub('0123456789ABCDEFGHJKMNPQRSTVWXYZ', i, i) end
local cursor_score = tonumber(range_max)
local rows, liked, posts = {}, {}, {}
local raw = call('ZREVRANGEBYSCORE', feed, range_max, '-inf', 'WITHSCORES', 'LIMIT', 0, window)
for i = 1, #raw, 2 do
  local member, score = raw[i], raw[i + 1]
  if member ~= '~' and member ~= '!'
     and not (cursor_member ~= '' and tonumber(score) == cursor_score and member >= cursor_member) then
    rows[#rows + 1] = member
    rows[#rows + 1] = score
    liked[#liked + 1] = call('SISMEMBER', likes, member)
    if #posts < hydrate then
      -- The post id: its ten time characters (Crockford base32 of the score) and the member.
      local ms = tonumber(score)
      local d0 = ms % 32; ms = (ms - d0) / 32
      local d1 = ms % 32; ms = (ms - d1) / 32
      local d2 = ms % 32; ms = (ms - d2) / 32
      local d3 = ms % 32; ms = (ms - d3) / 32
      local d4 = ms % 32; ms = (ms - d4) / 32
      local d5 = ms % 32; ms = (ms - d5) / 32
      local d6 = ms % 32; ms = (ms - d6) / 32
      local d7 = ms % 32; ms = (ms - d7) / 32
      local d8 = ms % 32; ms = (ms - d8) / 32
      local id = a[ms] .. a[d8] .. a[d7] .. a[d6] .. a[d5] .. a[d4] .. a[d3] .. a[d2] .. a[d1] .. a[d0] .. member
      local post = redis.pcall('HMGET', 'post:' .. id, 'a', 's', 'm', 'l', 'c')
      if post.err then posts[#posts + 1] = 0 else posts[#posts + 1] = post end
    end
  end
end
local last = {}
if #raw == 2 * window then last = {raw[#raw - 1], raw[#raw]} end
return {1, call('SMEMBERS', unfollowed), call('SMEMBERS', merge), rows, liked, posts, last}
"""

# The post hashes of ARGV (post ids), all on this node: {{a, s, m, l, c}, ...}.
_HYDRATE = """#!lua flags=no-writes,allow-cross-slot-keys
local out = {}
for i = 1, #ARGV do
  out[i] = redis.call('HMGET', 'post:' .. ARGV[i], 'a', 's', 'm', 'l', 'c')
end
return out
"""

# The status field of each post of ARGV, all on this node.
_STATUSES = """#!lua flags=no-writes,allow-cross-slot-keys
local out = {}
for i = 1, #ARGV do
  out[i] = redis.call('HGET', 'post:' .. ARGV[i], 's')
end
return out
"""

# Cache posts (ARGV: ttl, then id, author, status, json, likes, comments per post; all on this
# node), except over a tombstone: deletion is final.
_CACHE_POSTS = """#!lua flags=allow-cross-slot-keys
local ttl = tonumber(ARGV[1])
for at = 2, #ARGV, 6 do
  local key = 'post:' .. ARGV[at]
  if redis.call('HGET', key, 's') ~= 'deleted' then
    redis.call('HSET', key, 'a', ARGV[at + 1], 's', ARGV[at + 2], 'm', ARGV[at + 3],
      'l', ARGV[at + 4], 'c', ARGV[at + 5])
    redis.call('EXPIRE', key, ttl)
  end
end
return 0
"""

# Add one post (ARGV: member, score, cap, author, then user ids on this node) to the feeds that
# exist of users who follow the author (or are the author), each kept at most `cap` posts.
_DELIVER = """#!lua flags=allow-cross-slot-keys
local call = redis.call
local member, score, cap, author = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4]
local added = 0
for i = 5, #ARGV do
  local user = ARGV[i]
  local feed = 'feed:{' .. user .. '}'
  if call('EXISTS', feed) == 1
     and (user == author or call('SISMEMBER', 'fol:{' .. user .. '}', author) == 1)
     and call('ZADD', feed, score, member) == 1 then
    added = added + 1
    if call('ZCARD', feed) > cap + 1 then call('ZREMRANGEBYRANK', feed, 0, -(cap + 2)) end
  end
end
return added
"""

# Remove posts (ARGV: count n, n members, then user ids on this node) from those users' feeds.
_UNDELIVER = """#!lua flags=allow-cross-slot-keys
local n = tonumber(ARGV[1])
local removed = 0
for i = n + 2, #ARGV do
  removed = removed + redis.call('ZREM', 'feed:{' .. ARGV[i] .. '}', unpack(ARGV, 2, n + 1))
end
return removed
"""

# Add an author's posts (ARGV: cap, author, count n, n pairs of score and member, then user ids on
# this node) to the existing feeds of users who follow the author, capped.
_BACKFILL = """#!lua flags=allow-cross-slot-keys
local cap, author, n = tonumber(ARGV[1]), ARGV[2], tonumber(ARGV[3])
local added = 0
for i = 4 + 2 * n, #ARGV do
  local user = ARGV[i]
  local feed = 'feed:{' .. user .. '}'
  if redis.call('EXISTS', feed) == 1
     and (user == author or redis.call('SISMEMBER', 'fol:{' .. user .. '}', author) == 1) then
    added = added + redis.call('ZADD', feed, unpack(ARGV, 4, 3 + 2 * n))
    if redis.call('ZCARD', feed) > cap + 1 then
      redis.call('ZREMRANGEBYRANK', feed, 0, -(cap + 2))
    end
  end
end
return added
"""

# Add (ARGV[1] = 'SADD') or remove ('SREM') an author (ARGV[2]) in the merge sets that exist of
# the users of ARGV[3..] (all on this node): a threshold crossing reaching every follower.
_MERGE_MANY = """#!lua flags=allow-cross-slot-keys
local command, author = ARGV[1], ARGV[2]
for i = 3, #ARGV do
  local key = 'merge:{' .. ARGV[i] .. '}'
  if redis.call('EXISTS', key) == 1 then redis.call(command, key, author) end
end
return 0
"""

# One post into a cached timeline (KEYS[1]; ARGV: member, score, cap, ttl); 0 if not cached.
_TIMELINE_ADD = """
if redis.call('ZSCORE', KEYS[1], '~') == false then return 0 end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
if redis.call('ZCARD', KEYS[1]) > tonumber(ARGV[3]) + 1 then
  redis.call('ZREMRANGEBYRANK', KEYS[1], 0, -(tonumber(ARGV[3]) + 2))
end
redis.call('EXPIRE', KEYS[1], ARGV[4])
return 1
"""

# A follow (KEYS: fol, unf, merge of the follower; ARGV: followee, merged '1'/'0').
_FOLLOW = """
redis.call('SREM', KEYS[2], ARGV[1])
if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('SADD', KEYS[1], ARGV[1]) end
if ARGV[2] == '1' and redis.call('EXISTS', KEYS[3]) == 1 then redis.call('SADD', KEYS[3], ARGV[1]) end
return 0
"""

# An unfollow (KEYS: fol, unf, merge of the follower; ARGV: followee): readers drop the followee's
# posts at once (`unf`), and stop merging the followee's timeline.
_UNFOLLOW = """
redis.call('SREM', KEYS[1], ARGV[1])
redis.call('SREM', KEYS[3], ARGV[1])
if redis.call('EXISTS', KEYS[2]) == 1 then redis.call('SADD', KEYS[2], ARGV[1]) end
return 0
"""

# Start a rebuild (KEYS: feed, fol, unf, merge; ARGV: building ttl, ttl, followee ids): all four
# anew, the feed and merge marked being built, so fan-out delivers (checking `fol`) meanwhile.
_RESET_USER = """
local feed, following, unfollowed, merge = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local building, ttl = tonumber(ARGV[1]), tonumber(ARGV[2])
redis.call('DEL', feed, following, unfollowed, merge)
redis.call('ZADD', feed, 'inf', '!')
redis.call('SADD', following, '~')
for start = 3, #ARGV, 1000 do
  redis.call('SADD', following, unpack(ARGV, start, math.min(start + 999, #ARGV)))
end
redis.call('SADD', unfollowed, '~')
redis.call('SADD', merge, '!')
redis.call('EXPIRE', feed, building)
redis.call('EXPIRE', merge, building)
redis.call('EXPIRE', following, ttl)
redis.call('EXPIRE', unfollowed, ttl)
return 0
"""

# Finish a rebuild's merge set (KEYS[1]; ARGV: ttl, merged author ids).
_CLOSE_MERGE = """
for start = 2, #ARGV, 1000 do
  redis.call('SADD', KEYS[1], unpack(ARGV, start, math.min(start + 999, #ARGV)))
end
redis.call('SADD', KEYS[1], '~')
redis.call('SREM', KEYS[1], '!')
redis.call('EXPIRE', KEYS[1], ARGV[1])
return 0
"""

# Publish a rebuilt feed (KEYS[1]; ARGV: cap, ttl, score/member pairs), merged with what fan-out
# delivered meanwhile.
_WRITE_FEED = """
local cap = tonumber(ARGV[1])
for start = 3, #ARGV, 1000 do
  redis.call('ZADD', KEYS[1], unpack(ARGV, start, math.min(start + 999, #ARGV)))
end
redis.call('ZADD', KEYS[1], 'inf', '~')
redis.call('ZREM', KEYS[1], '!')
redis.call('ZREMRANGEBYRANK', KEYS[1], 0, -(cap + 2))
redis.call('EXPIRE', KEYS[1], ARGV[2])
return 0
"""

# Is the feed valid (KEYS: feed, fol, unf, merge)?
_VALID = """
if redis.call('ZRANGE', KEYS[1], -1, -1)[1] ~= '~' then return 0 end
for i = 2, 4 do if redis.call('EXISTS', KEYS[i]) == 0 then return 0 end end
return 1
"""

_SET_IF_EXISTS = "if redis.call('EXISTS', KEYS[1]) == 1 then return redis.call(ARGV[1], KEYS[1], ARGV[2]) end return 0"

_SCRIPTS = {
    "read_user": _READ_USER,
    "hydrate": _HYDRATE,
    "statuses": _STATUSES,
    "cache_posts": _CACHE_POSTS,
    "deliver": _DELIVER,
    "undeliver": _UNDELIVER,
    "backfill": _BACKFILL,
    "merge_many": _MERGE_MANY,
    "timeline_add": _TIMELINE_ADD,
    "follow": _FOLLOW,
    "unfollow": _UNFOLLOW,
    "reset_user": _RESET_USER,
    "close_merge": _CLOSE_MERGE,
    "write_feed": _WRITE_FEED,
    "valid": _VALID,
    "set_if_exists": _SET_IF_EXISTS,
}


class FeedEntry(NamedTuple):  # a tuple: a page makes 21 of them on every read
    post_id: str
    score: int
    author_id: str  # '' when the post is not in the cache
    json_head: str
    like_count: int
    comment_count: int
    liked_by_me: bool = False

    @property
    def cached(self) -> bool:
        return bool(self.author_id)


@dataclass(frozen=True)
class FeedRead:
    state: str  # "ok", "missing_feed" (rebuild the feed), "missing_likes" (rebuild the likes)
    entries: list[FeedEntry]


@dataclass(frozen=True)
class CachedPost:
    post_id: str
    author_id: str
    status: str
    json_head: str
    like_count: int
    comment_count: int


# A function that caches posts missing from the post cache and returns them (services/feed.py).
Filler = Callable[[Sequence[str]], Sequence[CachedPost]]


class _Candidate(NamedTuple):
    score: int
    member: str
    from_feed: bool  # else from a merged author's timeline


def _newer(first: tuple[int, str], second: tuple[int, str]) -> bool:
    return first > second


class FeedStore:
    """The feed engine on a `redis.Redis` (one node) or a `redis.RedisCluster` (cluster mode).

    Every method raises redis.RedisError when the cache does not answer; callers fall back to
    DynamoDB or let the message be retried (everything here is idempotent).
    """

    windows = 50  # the most windows one page reads (each after the last one's boundary)

    def __init__(
        self,
        client: redis.Redis | redis.RedisCluster | Callable[[], redis.Redis | redis.RedisCluster],
        feed_cap: int = 800,
        timeline_cap: int = 200,
        ttl_seconds: int = 30 * 24 * 3600,
        post_ttl_seconds: int = 3600,
        timeline_reader: Callable[[], Any] | None = None,
    ) -> None:
        """`client`, or a function that connects (called on first use: a cluster client reads the
        slot map when it is made, and a cache that is down then must not fail the caller).
        `timeline_reader` connects the client that reads merged authors' timelines for pages: on a
        cluster, one that reads them from the shards' replicas (a celebrity's timeline is one key
        every follower reads; its replicas share that). Only those reads: a replica a few
        milliseconds behind can only leave out a post just published, which the next read shows;
        every post is still checked against the post cache on the primaries (deleted ones drop)."""
        self._connect_timeline_reader = timeline_reader
        self._timeline_client: Any = None
        self._connect = (
            client if callable(client) and not isinstance(client, redis.Redis | redis.RedisCluster) else None
        )
        self._client = None if self._connect is not None else cast(redis.Redis | redis.RedisCluster, client)
        self.feed_cap = feed_cap
        self.timeline_cap = timeline_cap
        self.ttl = ttl_seconds
        self.post_ttl = post_ttl_seconds

    @property
    def redis(self) -> Any:
        """The client (connected on first use); redis.ConnectionError if it cannot connect."""
        if self._client is None:
            assert self._connect is not None
            try:
                self._client = self._connect()
            except RedisClusterException as error:
                raise redis.ConnectionError(f"the cache cluster cannot be reached: {error}") from error
        return self._client

    @property
    def cluster(self) -> bool:
        return isinstance(self.redis, redis.RedisCluster)

    @cached_property
    def _scripts(self) -> dict[str, Any]:
        client = self.redis
        return {name: client.register_script(text) for name, text in _SCRIPTS.items()}

    # ------------------------------------------------------------------ one pipeline, every node
    def _by_node(self, slot_keys: Sequence[str]) -> list[tuple[Any, list[int]]]:
        """Indexes of `slot_keys` grouped by the primary that owns their slot (one group, node
        None, on a single server)."""
        if not self.cluster:
            return [(None, list(range(len(slot_keys))))]
        nodes = cast(redis.RedisCluster, self.redis).nodes_manager
        owners = nodes.slots_cache  # slot -> [primary, replicas...], as the client last read it
        groups: dict[str, tuple[Any, list[int]]] = {}
        for index, key in enumerate(slot_keys):
            slot = key_slot(key.encode())
            owner = owners.get(slot)
            node = owner[0] if owner else nodes.get_node_from_slot(slot)  # raises SlotNotCoveredError
            groups.setdefault(node.name, (node, []))[1].append(index)
        return list(groups.values())

    def _run(self, build: Callable[[], list[tuple[Any, ...]]]) -> list[Any]:
        """Send the commands `build` gives, ("script name" or None, node, *arguments) each, in one
        pipeline: on a cluster, all nodes are written before any is read, so it is one round trip.
        A node that lost its scripts (restarted) gets them again; a stale slot map is refreshed
        once (`build` groups again)."""
        for attempt in range(3):
            commands = build()
            if not commands:
                return []
            pipe = self.redis.pipeline(transaction=False)
            for script_name, node, *arguments in commands:
                if script_name is not None:
                    arguments = ["EVALSHA", self._scripts[script_name].sha, 0, *arguments]
                if node is None:
                    pipe.execute_command(*arguments)
                else:
                    pipe.execute_command(*arguments, target_nodes=node)
            results = pipe.execute(raise_on_error=False)
            failure = next((result for result in results if isinstance(result, Exception)), None)
            if failure is None:
                return cast(list[Any], results)
            if attempt == 2:
                raise failure
            if any(isinstance(result, NoScriptError) for result in results):
                for script in self._scripts.values():
                    self.redis.script_load(script.script)  # on every primary of a cluster
            elif self.cluster and _is_topology_error(failure):
                cast(redis.RedisCluster, self.redis).nodes_manager.initialize()
            else:
                raise failure
        raise AssertionError("unreachable")

    def _per_node(
        self, script_name: str, ids: Sequence[str], slot_key: Callable[[str], str], head: list[Any], batch: int
    ) -> list[Any]:
        """One call of a node script per node (and per `batch` ids), in one pipeline."""

        def build() -> list[tuple[Any, ...]]:
            commands: list[tuple[Any, ...]] = []
            for node, indexes in self._by_node([slot_key(item) for item in ids]):
                for start in range(0, len(indexes), batch):
                    commands.append((script_name, node, *head, *(ids[i] for i in indexes[start : start + batch])))
            return commands

        return self._run(build)

    # ------------------------------------------------------------------ fan-out
    def deliver(self, post_id: str, score: int, user_ids: Sequence[str], author_id: str, batch: int = 1000) -> int:
        """Add a post to the feeds that exist of `user_ids` who follow `author_id` (or are the
        author): one script call per node (and per `batch` users), in one pipeline."""
        if not user_ids:
            return 0
        head = [member_of(post_id), score, self.feed_cap, author_id]
        results = self._per_node("deliver", list(user_ids), _tag, head, batch)
        return sum(int(added) for added in results)

    def undeliver(self, post_ids: Sequence[str], user_ids: Sequence[str], batch: int = 1000) -> None:
        if not post_ids or not user_ids:
            return
        members = [member_of(post_id) for post_id in post_ids]
        self._per_node("undeliver", list(user_ids), _tag, [len(members), *members], batch)

    def backfill(
        self, user_ids: Sequence[str], posts: Sequence[tuple[str, int]], author_id: str, batch: int = 200
    ) -> None:
        """Add an author's `posts` (id, score) to the existing feeds of `user_ids` who follow them."""
        if not posts or not user_ids:
            return
        head: list[Any] = [self.feed_cap, author_id, len(posts)]
        for post_id, score in posts:
            head += [score, member_of(post_id)]
        self._per_node("backfill", list(user_ids), _tag, head, batch)

    # ------------------------------------------------------------------ building a reader's keys
    def reset_user(self, user_id: str, followee_ids: Sequence[str]) -> None:
        """Start a rebuild: the feed (marked being built), the following set from DynamoDB, an
        empty `unf`, and `merge` marked being built (`close_merge` finishes it)."""
        self._scripts["reset_user"](keys=_user_keys(user_id), args=[120, self.ttl, *followee_ids])

    def close_merge(self, user_id: str, merged_ids: Iterable[str]) -> None:
        self._scripts["close_merge"](keys=[merge_key(user_id)], args=[self.ttl, *merged_ids])

    def write_feed(self, user_id: str, posts: Iterable[tuple[str, int]]) -> None:
        """Publish a rebuilt feed: merge `posts` into whatever fan-out delivered meanwhile."""
        top = sorted(posts, key=lambda post: (post[1], post[0]), reverse=True)[: self.feed_cap]
        pairs: list[Any] = []
        for post_id, score in top:
            pairs += [score, member_of(post_id)]
        self._scripts["write_feed"](keys=[feed_key(user_id)], args=[self.feed_cap, self.ttl, *pairs])

    def feed_exists(self, user_id: str) -> bool:
        """Is the feed valid: complete, with its following, unfollowed and merge sets?"""
        return bool(self._scripts["valid"](keys=_user_keys(user_id)))

    def lock(self, name: str, seconds: int = 30) -> bool:
        return bool(self.redis.set(f"lock:{name}", "1", nx=True, ex=seconds))

    def unlock(self, name: str) -> None:
        self.redis.delete(f"lock:{name}")

    def write_set(self, key: str, members: Iterable[str], ttl: int | None = None) -> None:
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(key)
            pipe.sadd(key, COMPLETE, *members)
            if ttl:
                pipe.expire(key, ttl)
            pipe.execute()

    def follow(self, user_id: str, followee_id: str, merged: bool | None = None) -> None:
        """Write-through of a follow: the followee leaves `unf`, joins the following set (if cached)
        and, if their posts are not fanned out, the merge set. `merged` None: ask `celebs`."""
        if merged is None:
            merged = bool(self.redis.sismember(CELEBS, followee_id))
        self._scripts["follow"](keys=_user_keys(user_id)[1:], args=[followee_id, "1" if merged else "0"])

    def unfollow(self, user_id: str, followee_id: str) -> None:
        """Write-through of an unfollow: readers drop the followee's posts from now on."""
        self._scripts["unfollow"](keys=_user_keys(user_id)[1:], args=[followee_id])

    def _if_exists_set(self, key: str, command: str, member: str) -> None:
        self._scripts["set_if_exists"](keys=[key], args=[command, member])

    # ------------------------------------------------------------------ followers (fan-out's audience)
    def followers(self, author_id: str) -> list[str] | None:
        """The cached follower ids of an author, or None if not cached (or still being built)."""
        members = cast(set[bytes], self.redis.smembers(FOLLOWERS + author_id))
        if b"~" not in members:
            return None
        return [member.decode() for member in members if member not in _SENTINELS]

    def open_followers(self, author_id: str) -> None:
        """Start building: follow messages add to the set from now on, so none is lost."""
        key = FOLLOWERS + author_id
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.sadd(key, BUILDING)
            pipe.expire(key, 300)
            pipe.execute()

    def close_followers(self, author_id: str, follower_ids: Sequence[str]) -> None:
        key = FOLLOWERS + author_id
        with self.redis.pipeline(transaction=True) as pipe:
            for start in range(0, len(follower_ids), 5000):
                pipe.sadd(key, *follower_ids[start : start + 5000])
            pipe.sadd(key, COMPLETE)
            pipe.srem(key, BUILDING)
            pipe.expire(key, self.ttl)
            pipe.execute()

    def add_follower(self, author_id: str, follower_id: str) -> None:
        self._if_exists_set(FOLLOWERS + author_id, "SADD", follower_id)

    def remove_follower(self, author_id: str, follower_id: str) -> None:
        self._if_exists_set(FOLLOWERS + author_id, "SREM", follower_id)

    # ------------------------------------------------------------------ counts and likes
    def add_to_count(self, post_id: str, field: str, delta: int) -> None:
        """A cached post's like (`l`) or comment (`c`) count follows a committed write."""
        self.redis.eval(
            "if redis.call('EXISTS', KEYS[1]) == 1 then return redis.call('HINCRBY', KEYS[1], ARGV[1], ARGV[2]) end "
            "return 0",
            1,
            POST + post_id,
            field,
            delta,
        )

    def liked(self, user_id: str, post_id: str, delta: int) -> None:
        self._if_exists_set(likes_key(user_id), "SADD" if delta > 0 else "SREM", member_of(post_id))
        self.add_to_count(post_id, "l", delta)

    def write_likes(self, user_id: str, post_ids: Iterable[str]) -> None:
        self.write_set(likes_key(user_id), (member_of(post_id) for post_id in post_ids), self.ttl)

    # ------------------------------------------------------------------ merged authors
    def celebrity_sets_exist(self) -> bool:
        return bool(self.redis.exists(CELEBS)) and bool(self.redis.exists(NOFAN))

    def write_celebrity_sets(self, merged: Iterable[str], not_fanned_out: Iterable[str]) -> None:
        self.write_set(CELEBS, merged)
        self.write_set(NOFAN, not_fanned_out)

    def set_merged(self, author_id: str, merged: bool) -> None:
        """In or out of `celebs`, what rebuilt merge sets hold (if the set exists: a missing one is
        rebuilt whole)."""
        self._if_exists_set(CELEBS, "SADD" if merged else "SREM", author_id)

    def set_fanned_out(self, author_id: str, fanned_out: bool) -> None:
        self._if_exists_set(NOFAN, "SREM" if fanned_out else "SADD", author_id)

    def merge_into(self, user_ids: Sequence[str], author_id: str, merged: bool, batch: int = 1000) -> None:
        """Add the author to (or remove them from) the merge sets of `user_ids` that exist."""
        if user_ids:
            self._per_node("merge_many", list(user_ids), _tag, ["SADD" if merged else "SREM", author_id], batch)

    def merged_among(self, author_ids: Sequence[str]) -> list[str]:
        """Which of `author_ids` are in `celebs` (the caller makes sure the set exists)."""
        if not author_ids:
            return []
        flags = cast(list[int], self.redis.smismember(CELEBS, list(author_ids)))
        return [author_id for author_id, flag in zip(author_ids, flags, strict=True) if flag]

    def is_fanned_out(self, author_id: str) -> bool:
        return not self.redis.sismember(NOFAN, author_id)

    # ------------------------------------------------------------------ timelines
    def timeline(self, author_id: str, count: int) -> list[tuple[str, int]] | None:
        """The author's newest posts, or None if the timeline is not cached."""
        key = TIMELINE + author_id
        with self.redis.pipeline(transaction=False) as pipe:
            pipe.zscore(key, COMPLETE)
            pipe.zrevrangebyscore(key, "(inf", "-inf", start=0, num=count, withscores=True)
            complete, rows = pipe.execute()
        if complete is None:
            return None
        return [(post_id_of(int(score), member.decode()), int(score)) for member, score in rows]

    def write_timeline(self, author_id: str, posts: Iterable[tuple[str, int]]) -> None:
        key = TIMELINE + author_id
        top = sorted(posts, key=lambda post: (post[1], post[0]), reverse=True)[: self.timeline_cap]
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(key)
            pipe.zadd(key, {COMPLETE: float("inf"), **{member_of(post_id): score for post_id, score in top}})
            pipe.expire(key, self.ttl)
            pipe.execute()

    def add_to_timeline(self, author_id: str, post_id: str, score: int) -> bool:
        """Add to a cached timeline; False if it is not cached (the caller rebuilds it)."""
        added = self._scripts["timeline_add"](
            keys=[TIMELINE + author_id], args=[member_of(post_id), score, self.timeline_cap, self.ttl]
        )
        return bool(added)

    def remove_from_timeline(self, author_id: str, post_id: str) -> None:
        self.redis.zrem(TIMELINE + author_id, member_of(post_id))

    # ------------------------------------------------------------------ posts
    def cache_posts(self, posts: Sequence[CachedPost]) -> None:
        """Cache posts read from DynamoDB, one script call per node. A tombstone is never
        overwritten: a reader that read a post just before it was deleted must not bring it back."""
        if not posts:
            return
        by_id = {post.post_id: post for post in posts}

        def build() -> list[tuple[Any, ...]]:
            ids = list(by_id)
            commands: list[tuple[Any, ...]] = []
            for node, indexes in self._by_node([POST + post_id for post_id in ids]):
                arguments: list[Any] = [self.post_ttl]
                for index in indexes:
                    post = by_id[ids[index]]
                    arguments += [
                        post.post_id,
                        post.author_id,
                        post.status,
                        post.json_head,
                        post.like_count,
                        post.comment_count,
                    ]
                commands.append(("cache_posts", node, *arguments))
            return commands

        self._run(build)

    def forget_post(self, post_id: str) -> None:
        """A tombstone: readers drop the post at once, even where fan-out has not removed it yet."""
        key = POST + post_id
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, mapping={"s": DELETED, "a": "-", "m": ""})
            pipe.expire(key, self.post_ttl)
            pipe.execute()

    def deleted_among(self, post_ids: Sequence[str]) -> set[str]:
        """Which of `post_ids` carry a tombstone (one pipeline, a script call per node)."""
        statuses, _ = self._post_fields("statuses", post_ids, None)
        return {post_id for post_id, status in statuses.items() if status == b"deleted"}

    def _hydrate(self, post_ids: Sequence[str], likes_of: str | None) -> tuple[dict[str, Any], dict[str, bool]]:
        """The post hashes of `post_ids` (a, s, m, l, c; None where missing), and whether
        `likes_of` likes them."""
        return self._post_fields("hydrate", post_ids, likes_of)

    def _post_fields(
        self, script_name: str, post_ids: Sequence[str], likes_of: str | None
    ) -> tuple[dict[str, Any], dict[str, bool]]:
        """What a node script (`hydrate`, `statuses`) answers for each post, by id, and whether
        `likes_of` likes them: one pipeline, a script call per node holding any of the posts, plus
        SMISMEMBER on the reader's node."""
        ids = list(post_ids)
        if not ids:
            return {}, {}
        groups: list[list[int]] = []

        def build() -> list[tuple[Any, ...]]:
            groups.clear()
            commands: list[tuple[Any, ...]] = []
            for node, indexes in self._by_node([POST + post_id for post_id in ids]):
                groups.append(indexes)
                commands.append((script_name, node, *(ids[index] for index in indexes)))
            if likes_of is not None:  # routed by its key
                commands.append((None, None, "SMISMEMBER", likes_key(likes_of), *map(member_of, ids)))
            return commands

        replies = self._run(build)
        answers: dict[str, Any] = {}
        for indexes, rows in zip(groups, replies, strict=False):
            for index, row in zip(indexes, rows, strict=True):
                answers[ids[index]] = row
        liked = {}
        if likes_of is not None:
            liked = {post_id: bool(flag) for post_id, flag in zip(ids, replies[-1], strict=True)}
        return answers, liked

    # ------------------------------------------------------------------ reading
    def read(self, user_id: str, limit: int, after: tuple[int, str] | None, fill: Filler | None = None) -> FeedRead:
        """Up to `limit + 1` entries of the feed merged with the timelines of followed authors whose
        posts are not fanned out, newest first, strictly after `after` (score, post id): deleted
        posts and posts of authors the reader unfollowed are dropped. Posts missing from the post
        cache are given to `fill` (which caches and returns them); without it they come back
        uncached (`author_id` '')."""
        want = limit + 1
        window = want + 8  # a few spare rows for posts the page drops (deleted, unfollowed)
        cursor = (after[0], member_of(after[1])) if after else None
        entries: list[FeedEntry] = []
        seen: set[str] = set()
        for _ in range(self.windows):
            range_max = "+inf" if cursor is None else str(cursor[0])
            reply = self._scripts["read_user"](
                keys=[*_user_keys(user_id), likes_key(user_id)],
                args=[range_max, window, self.ttl, cursor[1] if cursor else "", want],
            )
            code = int(reply[0])
            if code == 0:
                return FeedRead("missing_feed", [])
            if code == -1:
                return FeedRead("missing_likes", [])
            unfollowed = {member.decode() for member in reply[1]}
            merged = sorted(member.decode() for member in reply[2] if member not in _SENTINELS)
            feed_rows = _rows(reply[3])
            liked = {member: bool(flag) for (member, _), flag in zip(feed_rows, reply[4], strict=True)}
            known = {member: post for (member, _), post in zip(feed_rows, reply[5], strict=False) if post != 0}
            last = _rows(reply[6])
            sources: list[_Source] = [(feed_rows, True, last[0] if last else None)]
            if merged:
                for rows in self._timeline_windows(merged, range_max, window):
                    sources.append((rows, False, rows[-1] if len(rows) == window else None))
            candidates, boundary = _candidates(sources, cursor, seen)
            wanted = want - len(entries)
            position = 0
            while wanted > 0 and position < len(candidates):
                batch = candidates[position : position + wanted]
                position += len(batch)
                entries += self._decide(user_id, batch, unfollowed, known, liked, fill)
                seen.update(candidate.member for candidate in batch)
                wanted = want - len(entries)
            if wanted <= 0 or boundary is None:
                break
            cursor = boundary
        return FeedRead("ok", entries[:want])

    def _timeline_windows(
        self, author_ids: Sequence[str], range_max: str, window: int
    ) -> list[list[tuple[str, float]]]:
        if self._timeline_client is None:
            self._timeline_client = self._connect_timeline_reader() if self._connect_timeline_reader else self.redis
        with self._timeline_client.pipeline(transaction=False) as pipe:
            for author_id in author_ids:
                pipe.zrevrangebyscore(TIMELINE + author_id, range_max, "-inf", start=0, num=window, withscores=True)
            replies = pipe.execute()
        return [[(member.decode(), score) for member, score in rows] for rows in replies]

    def _decide(
        self,
        user_id: str,
        batch: Sequence[_Candidate],
        unfollowed: set[str],
        known: dict[str, list[Any]],
        liked_rows: dict[str, bool],
        fill: Filler | None,
    ) -> list[FeedEntry]:
        """The entries among `batch` (newest first) that the reader sees, hydrated: from `known`
        (the post hashes the reader's node read, by member), else in one pipeline; `liked_rows`
        tells the reader's likes of the feed's rows (a timeline's are asked in that pipeline)."""
        ids = [post_id_of(candidate.score, candidate.member) for candidate in batch]
        posts: dict[str, list[Any]] = {}
        liked: dict[str, bool] = {}
        for candidate, post_id in zip(batch, ids, strict=True):
            if candidate.from_feed:
                liked[post_id] = liked_rows.get(candidate.member, False)
                if candidate.member in known:
                    posts[post_id] = known[candidate.member]
        remote = [post_id for post_id in ids if post_id not in posts]
        if remote:
            unliked = [post_id for post_id in remote if post_id not in liked]
            fetched, fetched_liked = self._hydrate(remote, user_id if unliked else None)
            posts.update(fetched)
            liked.update({post_id: fetched_liked[post_id] for post_id in unliked})
        misses = [post_id for post_id in ids if _is_miss(posts.get(post_id))]
        if misses and fill is not None:
            for post in fill(misses):
                posts[post.post_id] = [
                    post.author_id.encode(),
                    post.status.encode(),
                    post.json_head.encode(),
                    str(post.like_count).encode(),
                    str(post.comment_count).encode(),
                ]
        entries = []
        for candidate, post_id in zip(batch, ids, strict=True):
            row = posts.get(post_id)
            liked_by_me = liked.get(post_id, False)
            if _is_miss(row):
                if fill is None:
                    entries.append(FeedEntry(post_id, candidate.score, "", "", 0, 0, liked_by_me))
                continue
            assert row is not None
            author, status = row[0].decode(), row[1].decode()
            if status != PUBLISHED:
                continue
            if candidate.from_feed and author != user_id and author in unfollowed:
                continue
            entries.append(
                FeedEntry(
                    post_id=post_id,
                    score=candidate.score,
                    author_id=author,
                    json_head=row[2].decode(),
                    like_count=int(row[3] or 0),
                    comment_count=int(row[4] or 0),
                    liked_by_me=liked_by_me,
                )
            )
        return entries

    def wait_for_feed(self, user_id: str, seconds: float) -> bool:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.feed_exists(user_id):
                return True
            time.sleep(0.02)
        return False


def _tag(user_id: str) -> str:
    """The hash tag of a reader's keys: their slot."""
    return f"{{{user_id}}}"


def _rows(flat: Sequence[bytes]) -> list[tuple[str, float]]:
    return [(flat[index].decode(), float(flat[index + 1])) for index in range(0, len(flat), 2)]


def _is_miss(row: list[Any] | None) -> bool:
    """Not in the post cache: no hash, or a published post cached without its JSON."""
    return row is None or row[0] is None or (row[1] == b"published" and not row[2])


# One source of a page: its window of (member, score) rows, newest first; whether it is the feed
# (else a merged author's timeline); and the window's last row if the window was full (the source
# may hold more below it).
_Source = tuple[list[tuple[str, float]], bool, tuple[str, float] | None]


def _candidates(
    sources: Sequence[_Source],
    cursor: tuple[int, str] | None,
    seen: set[str],
) -> tuple[list[_Candidate], tuple[int, str] | None]:
    """The posts of one window of every source, newest first, that can be answered now: a source
    that filled its window may hold more below its last row, so nothing older than the newest
    such last row (the boundary, returned) is taken until the next window."""
    candidates: dict[str, _Candidate] = {}
    boundary: tuple[int, str] | None = None
    for rows, from_feed, full_last in sources:
        for member, raw_score in rows:
            if member in ("~", "!"):
                continue
            score = int(raw_score)
            if cursor is not None and not _newer(cursor, (score, member)):
                continue
            if member in seen or member in candidates:
                continue
            candidates[member] = _Candidate(score, member, from_feed)
        if full_last is not None:
            member, raw_score = full_last
            last = (int(raw_score), member)
            if boundary is None or _newer(last, boundary):
                boundary = last
    ordered = sorted(candidates.values(), key=lambda candidate: (candidate.score, candidate.member), reverse=True)
    if boundary is not None:
        ordered = [candidate for candidate in ordered if not _newer(boundary, (candidate.score, candidate.member))]
    return ordered, boundary


def _is_topology_error(error: Exception) -> bool:
    """A slot moved, a node went away, or a script reached a key this node does not hold."""
    if isinstance(error, redis.ConnectionError | redis.TimeoutError | redis.exceptions.ClusterError):
        return True
    text = str(error)
    return any(marker in text for marker in ("MOVED", "ASK", "non local key", "CLUSTERDOWN", "TRYAGAIN"))
