"""FeedStore: the feeds and their companions in Redis (ElastiCache Valkey), never the source of truth.

Keys (all rebuildable from DynamoDB, all with a TTL refreshed on use):
- `feed:{user}`   sorted set of post ids, score = the post's ULID time in ms, capped. The member
                  `~` at +inf marks a complete feed; fan-out writes only into feeds that exist,
                  so a feed that is missing (flushed, evicted, expired) is rebuilt on its next read.
- `tl:{author}`   the author's recent published posts (a timeline), same scoring and sentinel.
- `fol:{user}`    set of whom the user follows (`~` marks it complete).
- `flw:{author}`  set of the author's followers, for fan-out (`~` complete, `!` being built).
- `lk:{user}`     set of the posts the user likes (`~` marks it complete): `liked_by_me` in feeds.
- `celebs`        authors whose timelines readers merge (`~` marks it complete).
- `nofan`         authors whose posts are not fanned out (a subset of `celebs`).
- `post:{id}`     hash: a = author id, s = status, m = the post's JSON without its last three
                  fields (with `media_items`; `j` held it before posts had several photos, and a
                  published post with no `m` is read as not cached), l / c = like and comment
                  counts. Lets a warm read answer from Redis alone.

Scripts run the multi-step operations atomically and in one round trip. They touch keys they
compute (timelines, posts) besides their KEYS, which is fine on a non-clustered (replicated)
cache, which is what the template deploys.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any, cast

import redis
from ulid import ULID

COMPLETE = "~"
FEED, TIMELINE, FOLLOWING, FOLLOWERS, POST, LIKES = "feed:", "tl:", "fol:", "flw:", "post:", "lk:"
CELEBS, NOFAN = "celebs", "nofan"
DELETED = "deleted"

# Cache posts (KEYS: post:{id}...; ARGV: ttl, then author, status, json, likes, comments per post),
# except over a tombstone: deletion is final.
_CACHE_POSTS = """
local ttl = tonumber(ARGV[1])
for i, key in ipairs(KEYS) do
  if redis.call('HGET', key, 's') ~= 'deleted' then
    local at = 1 + (i - 1) * 5
    redis.call('HDEL', key, 'j')
    redis.call('HSET', key, 'a', ARGV[at + 1], 's', ARGV[at + 2], 'm', ARGV[at + 3],
      'l', ARGV[at + 4], 'c', ARGV[at + 5])
    redis.call('EXPIRE', key, ttl)
  end
end
return 0
"""

# Add one post to many feeds, only to feeds that exist, keeping each at most `cap` posts.
_DELIVER = """
local member, score, cap = ARGV[1], ARGV[2], tonumber(ARGV[3])
local added = 0
for i = 1, #KEYS do
  local key = KEYS[i]
  if redis.call('EXISTS', key) == 1 then
    if redis.call('ZADD', key, score, member) == 1 then
      added = added + 1
      if redis.call('ZCARD', key) > cap + 1 then
        redis.call('ZREMRANGEBYRANK', key, 0, -(cap + 2))
      end
    end
  end
end
return added
"""

# Remove posts (ARGV) from many feeds.
_UNDELIVER = """
local removed = 0
for i = 1, #KEYS do
  removed = removed + redis.call('ZREM', KEYS[i], unpack(ARGV))
end
return removed
"""

# Add many posts (ARGV[2..]: score, member, ...) to many existing feeds, capped at ARGV[1].
_BACKFILL = """
local cap = tonumber(ARGV[1])
if #ARGV < 3 then return 0 end
local added = 0
for i = 1, #KEYS do
  local key = KEYS[i]
  if redis.call('EXISTS', key) == 1 then
    added = added + redis.call('ZADD', key, unpack(ARGV, 2))
    if redis.call('ZCARD', key) > cap + 1 then
      redis.call('ZREMRANGEBYRANK', key, 0, -(cap + 2))
    end
  end
end
return added
"""

# One page of a feed, merged with the timelines of followed authors whose posts are not fanned
# out, newest first, starting after the cursor (score ARGV[2], member ARGV[3]); deleted posts and
# posts of authors the reader no longer follows are dropped. Answers
#   {0}                          the feed is missing: rebuild it
#   {-1, following?, celebs?, likes?}    a companion set is missing: rebuild it
#   {1, id, score, a, j, l, c, liked, ...}  up to limit+1 entries; a == '' is a post not in the cache
_READ = """
local feed, following, celebs, likes = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local user, limit, ttl = ARGV[1], tonumber(ARGV[4]), tonumber(ARGV[5])
if redis.call('ZSCORE', feed, '~') == false then return {0} end
local has_following = redis.call('EXISTS', following)
local has_celebs = redis.call('EXISTS', celebs)
local has_likes = redis.call('EXISTS', likes)
if has_following == 0 or has_celebs == 0 or has_likes == 0 then
  return {-1, has_following, has_celebs, has_likes}
end
redis.call('EXPIRE', feed, ttl)
redis.call('EXPIRE', following, ttl)
redis.call('EXPIRE', likes, ttl)

local sources = {feed}
for _, author in ipairs(redis.call('SINTER', following, celebs)) do
  if author ~= '~' then sources[#sources + 1] = 'tl:' .. author end
end

local function before(s1, m1, s2, m2)  -- is (s1, m1) newer than (s2, m2)?
  if s1 ~= s2 then return s1 > s2 end
  return m1 > m2
end

local max_score = ARGV[2] == '' and math.huge or tonumber(ARGV[2])
local max_member = ARGV[3]
local range_max = ARGV[2] == '' and '+inf' or ARGV[2]
local want = limit + 1
local window = limit * 2 + 8
local out = {}
local found = 0
local seen = {}
for _ = 1, 50 do
  local candidates = {}
  local boundary_score, boundary_member = nil, nil
  for _, key in ipairs(sources) do
    local rows = redis.call('ZREVRANGEBYSCORE', key, range_max, '-inf', 'WITHSCORES', 'LIMIT', 0, window)
    local count = #rows / 2
    for i = 1, #rows, 2 do
      local member, score = rows[i], tonumber(rows[i + 1])
      if member ~= '~' and member ~= '!' and not seen[member]
         and (max_member == '' or before(max_score, max_member, score, member)) then
        candidates[#candidates + 1] = {score, member}
        seen[member] = true
      end
    end
    if count == window then  -- this source may hold more below its last row
      local last_score, last_member = tonumber(rows[#rows]), rows[#rows - 1]
      if boundary_score == nil or before(last_score, last_member, boundary_score, boundary_member) then
        boundary_score, boundary_member = last_score, last_member
      end
    end
  end
  table.sort(candidates, function(x, y) return before(x[1], x[2], y[1], y[2]) end)
  local last_score, last_member = nil, nil
  for _, candidate in ipairs(candidates) do
    local score, member = candidate[1], candidate[2]
    if boundary_score ~= nil and before(boundary_score, boundary_member, score, member) then
      seen[member] = nil  -- past the boundary: it comes again in the next window
    else
      last_score, last_member = score, member
      local post = redis.call('HMGET', 'post:' .. member, 'a', 's', 'm', 'l', 'c')
      local author, status = post[1], post[2]
      local keep = false
      if author == false or (status == 'published' and post[3] == false) then
        author, keep = '', true
      elseif status == 'published' and (author == user or redis.call('SISMEMBER', following, author) == 1) then
        keep = true
      end
      if keep then
        out[#out + 1] = member
        out[#out + 1] = tostring(score)
        out[#out + 1] = author
        out[#out + 1] = post[3] or ''
        out[#out + 1] = post[4] or '0'
        out[#out + 1] = post[5] or '0'
        out[#out + 1] = tostring(redis.call('SISMEMBER', likes, member))
        found = found + 1
        if found >= want then break end
      end
    end
  end
  if found >= want or boundary_score == nil then break end
  max_score, max_member = boundary_score, boundary_member
  range_max = tostring(boundary_score)
end
table.insert(out, 1, 1)
return out
"""


def score_of(post_id: str) -> int:
    """A post's feed score: the millisecond time in its ULID, so score order is id order."""
    return int(ULID.from_str(post_id).milliseconds)


@dataclass(frozen=True)
class FeedEntry:
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
    state: str  # "ok", "missing_feed", "missing_sets"
    entries: list[FeedEntry]
    missing_following: bool = False
    missing_celebs: bool = False
    missing_likes: bool = False


@dataclass(frozen=True)
class CachedPost:
    post_id: str
    author_id: str
    status: str
    json_head: str
    like_count: int
    comment_count: int


class FeedStore:
    def __init__(
        self,
        client: redis.Redis,
        feed_cap: int = 800,
        timeline_cap: int = 200,
        ttl_seconds: int = 30 * 24 * 3600,
        post_ttl_seconds: int = 3600,
    ) -> None:
        self.redis = client
        self.feed_cap = feed_cap
        self.timeline_cap = timeline_cap
        self.ttl = ttl_seconds
        self.post_ttl = post_ttl_seconds

    @cached_property
    def _deliver(self) -> Any:
        return self.redis.register_script(_DELIVER)

    @cached_property
    def _undeliver(self) -> Any:
        return self.redis.register_script(_UNDELIVER)

    @cached_property
    def _backfill(self) -> Any:
        return self.redis.register_script(_BACKFILL)

    @cached_property
    def _read(self) -> Any:
        return self.redis.register_script(_READ)

    @cached_property
    def _cache_posts(self) -> Any:
        return self.redis.register_script(_CACHE_POSTS)

    # ------------------------------------------------------------------ fan-out
    def deliver(self, post_id: str, score: int, user_ids: Sequence[str], batch: int = 1000) -> int:
        """Add a post to the feeds of `user_ids` that exist (one script call per batch, pipelined)."""
        if not user_ids:
            return 0
        with self.redis.pipeline(transaction=False) as pipe:
            for start in range(0, len(user_ids), batch):
                keys = [FEED + user_id for user_id in user_ids[start : start + batch]]
                self._deliver(keys=keys, args=[post_id, score, self.feed_cap], client=pipe)
            return sum(int(added) for added in pipe.execute())

    def undeliver(self, post_ids: Sequence[str], user_ids: Sequence[str], batch: int = 1000) -> None:
        if not post_ids or not user_ids:
            return
        with self.redis.pipeline(transaction=False) as pipe:
            for start in range(0, len(user_ids), batch):
                keys = [FEED + user_id for user_id in user_ids[start : start + batch]]
                self._undeliver(keys=keys, args=list(post_ids), client=pipe)
            pipe.execute()

    def backfill(self, user_ids: Sequence[str], posts: Sequence[tuple[str, int]], batch: int = 200) -> None:
        """Add `posts` (id, score) to the existing feeds of `user_ids`."""
        if not posts or not user_ids:
            return
        args: list[Any] = [self.feed_cap]
        for post_id, score in posts:
            args += [score, post_id]
        with self.redis.pipeline(transaction=False) as pipe:
            for start in range(0, len(user_ids), batch):
                keys = [FEED + user_id for user_id in user_ids[start : start + batch]]
                self._backfill(keys=keys, args=args, client=pipe)
            pipe.execute()

    # ------------------------------------------------------------------ building
    def write_feed(self, user_id: str, posts: Iterable[tuple[str, int]]) -> None:
        """Publish a rebuilt feed: merge `posts` into whatever fan-out delivered meanwhile."""
        key = FEED + user_id
        top = sorted(posts, key=lambda post: (post[1], post[0]), reverse=True)[: self.feed_cap]
        with self.redis.pipeline(transaction=True) as pipe:
            mapping: dict[str, float] = {post_id: score for post_id, score in top}
            mapping[COMPLETE] = float("inf")
            pipe.zadd(key, mapping)
            pipe.zrem(key, "!")
            pipe.zremrangebyrank(key, 0, -(self.feed_cap + 2))
            pipe.expire(key, self.ttl)
            pipe.execute()

    def open_feed(self, user_id: str) -> None:
        """Mark a feed as being rebuilt: fan-out delivers into it from now on; readers wait for `~`."""
        key = FEED + user_id
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.zadd(key, {"!": float("inf")})
            pipe.expire(key, 120)
            pipe.execute()

    def feed_exists(self, user_id: str) -> bool:
        return self.redis.zscore(FEED + user_id, COMPLETE) is not None

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

    def write_following(self, user_id: str, followee_ids: Iterable[str]) -> None:
        self.write_set(FOLLOWING + user_id, followee_ids, self.ttl)

    def follow(self, user_id: str, followee_id: str) -> None:
        """Write-through: a reader sees a new follow (or unfollow) at once, if the set is cached."""
        self._if_exists_set(FOLLOWING + user_id, "SADD", followee_id)

    def unfollow(self, user_id: str, followee_id: str) -> None:
        self._if_exists_set(FOLLOWING + user_id, "SREM", followee_id)

    def _if_exists_set(self, key: str, command: str, member: str) -> None:
        self.redis.eval(
            f"if redis.call('EXISTS', KEYS[1]) == 1 then return redis.call('{command}', KEYS[1], ARGV[1]) end return 0",
            1,
            key,
            member,
        )

    # ------------------------------------------------------------------ followers (fan-out's audience)
    def followers(self, author_id: str) -> list[str] | None:
        """The cached follower ids of an author, or None if not cached (or still being built)."""
        members = cast(set[bytes], self.redis.smembers(FOLLOWERS + author_id))
        if b"~" not in members:
            return None
        return [member.decode() for member in members if member not in (b"~", b"!")]

    def open_followers(self, author_id: str) -> None:
        """Start building: follow messages add to the set from now on, so none is lost."""
        key = FOLLOWERS + author_id
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.sadd(key, "!")
            pipe.expire(key, 300)
            pipe.execute()

    def close_followers(self, author_id: str, follower_ids: Sequence[str]) -> None:
        key = FOLLOWERS + author_id
        with self.redis.pipeline(transaction=True) as pipe:
            for start in range(0, len(follower_ids), 5000):
                pipe.sadd(key, *follower_ids[start : start + 5000])
            pipe.sadd(key, COMPLETE)
            pipe.srem(key, "!")
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
        self._if_exists_set(LIKES + user_id, "SADD" if delta > 0 else "SREM", post_id)
        self.add_to_count(post_id, "l", delta)

    def write_likes(self, user_id: str, post_ids: Iterable[str]) -> None:
        self.write_set(LIKES + user_id, post_ids, self.ttl)

    def celebrity_sets_exist(self) -> bool:
        return bool(self.redis.exists(CELEBS)) and bool(self.redis.exists(NOFAN))

    def write_celebrity_sets(self, merged: Iterable[str], not_fanned_out: Iterable[str]) -> None:
        self.write_set(CELEBS, merged)
        self.write_set(NOFAN, not_fanned_out)

    def set_celebrity(self, author_id: str, merged: bool, fanned_out: bool) -> None:
        """Move an author between the sets (only sets that exist: a missing one is rebuilt whole)."""
        self._if_exists_set(CELEBS, "SADD" if merged else "SREM", author_id)
        self._if_exists_set(NOFAN, "SREM" if fanned_out else "SADD", author_id)

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
        return [(member.decode(), int(score)) for member, score in rows]

    def write_timeline(self, author_id: str, posts: Iterable[tuple[str, int]]) -> None:
        key = TIMELINE + author_id
        top = sorted(posts, key=lambda post: (post[1], post[0]), reverse=True)[: self.timeline_cap]
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(key)
            pipe.zadd(key, {COMPLETE: float("inf"), **{post_id: score for post_id, score in top}})
            pipe.expire(key, self.ttl)
            pipe.execute()

    def add_to_timeline(self, author_id: str, post_id: str, score: int) -> bool:
        """Add to a cached timeline; False if it is not cached (the caller rebuilds it)."""
        key = TIMELINE + author_id
        if self.redis.zscore(key, COMPLETE) is None:
            return False
        self._deliver(keys=[key], args=[post_id, score, self.timeline_cap])
        self.redis.expire(key, self.ttl)
        return True

    def remove_from_timeline(self, author_id: str, post_id: str) -> None:
        self.redis.zrem(TIMELINE + author_id, post_id)

    # ------------------------------------------------------------------ posts
    def cache_posts(self, posts: Sequence[CachedPost]) -> None:
        """Cache posts read from DynamoDB, in one script call. A tombstone is never overwritten: a
        reader that read a post just before it was deleted must not bring it back."""
        if not posts:
            return
        args: list[Any] = [self.post_ttl]
        for post in posts:
            args += [post.author_id, post.status, post.json_head, post.like_count, post.comment_count]
        self._cache_posts(keys=[POST + post.post_id for post in posts], args=args)

    def forget_post(self, post_id: str) -> None:
        """A tombstone: readers drop the post at once, even where fan-out has not removed it yet."""
        key = POST + post_id
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, mapping={"s": DELETED, "a": "-", "m": ""})
            pipe.expire(key, self.post_ttl)
            pipe.execute()

    def deleted_among(self, post_ids: Sequence[str]) -> set[str]:
        """Which of `post_ids` carry a tombstone (one pipelined round trip)."""
        if not post_ids:
            return set()
        with self.redis.pipeline(transaction=False) as pipe:
            for post_id in post_ids:
                pipe.hget(POST + post_id, "s")
            statuses = pipe.execute()
        return {post_id for post_id, status in zip(post_ids, statuses, strict=True) if status == DELETED.encode()}

    # ------------------------------------------------------------------ reading
    def read(self, user_id: str, limit: int, after: tuple[int, str] | None) -> FeedRead:
        score, member = after if after else ("", "")
        reply = self._read(
            keys=[FEED + user_id, FOLLOWING + user_id, CELEBS, LIKES + user_id],
            args=[user_id, score, member, limit, self.ttl],
        )
        code = int(reply[0])
        if code == 0:
            return FeedRead("missing_feed", [])
        if code == -1:
            return FeedRead(
                "missing_sets",
                [],
                missing_following=not int(reply[1]),
                missing_celebs=not int(reply[2]),
                missing_likes=not int(reply[3]),
            )
        entries = []
        for index in range(1, len(reply), 7):
            entries.append(
                FeedEntry(
                    post_id=reply[index].decode(),
                    score=int(float(reply[index + 1])),
                    author_id=reply[index + 2].decode(),
                    json_head=reply[index + 3].decode(),
                    like_count=int(reply[index + 4]),
                    comment_count=int(reply[index + 5]),
                    liked_by_me=reply[index + 6] == b"1",
                )
            )
        return FeedRead("ok", entries)

    def wait_for_feed(self, user_id: str, seconds: float) -> bool:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.feed_exists(user_id):
                return True
            time.sleep(0.02)
        return False
