"""The home feed: read a page fast from Redis, rebuild what is missing from DynamoDB, and answer
from DynamoDB alone when Redis is down (slower, never a 5xx).

A warm page is two round trips on one node or on a cluster (storage/feed_store.py): a script on
the reader's slot gives a window of the feed, then one pipeline reads the page's posts from the
post cache on every node that holds them; following authors whose posts are not fanned out adds a
round trip for their timelines. The JSON of each post is cached with its signed media URLs, so a
warm read signs nothing and touches DynamoDB zero times.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import redis

from photofeed.config import Settings, get_settings
from photofeed.errors import ValidationFailed
from photofeed.models.posts import Post
from photofeed.pagination import decode_cursor, encode_cursor
from photofeed.services.posts import PostPresenter
from photofeed.storage.engagement import EngagementRepository
from photofeed.storage.feed_store import CachedPost, FeedEntry, FeedStore, score_of
from photofeed.storage.follows import FollowRepository
from photofeed.storage.posts import PUBLISHED, PostRepository
from photofeed.storage.redis_client import CACHE_ERRORS
from photofeed.storage.tables import PostRow
from photofeed.storage.users import UserRepository

log = logging.getLogger(__name__)

_COUNTS = ("like_count", "comment_count", "liked_by_me")
_READ_ATTEMPTS = 4
_REDIS_RETRY_AFTER_SECONDS = 5.0


# Stands in the cached JSON for the first item's variants, which are the post's `media` again: a
# NUL never appears unescaped in JSON text, so it cannot be mistaken for anything a post holds.
_SAME_AS_MEDIA = "\x00"
_MEDIA_KEY = '"media":'


def post_json_head(post: Post) -> str:
    """The post's JSON without its closing brace and the three fields that change per reader or
    often (counts, liked_by_me): those are appended at read time. The first item's variants are
    left out (they are `media`'s, written out again by `post_json`), so caching a post costs its
    signed URLs once."""
    head = post.model_dump_json(exclude=set(_COUNTS))[:-1]
    if post.media is not None:
        head = head.replace(f'"variants":{post.media.model_dump_json()}', f'"variants":{_SAME_AS_MEDIA}', 1)
    return head


def post_json(head: str, like_count: int, comment_count: int, liked_by_me: bool) -> str:
    if _SAME_AS_MEDIA in head:
        # `"media":` is the post's own key (in a string its quotes would be escaped), and its value
        # is an object of URL strings, which never hold a brace.
        start = head.index(_MEDIA_KEY) + len(_MEDIA_KEY)
        head = head.replace(_SAME_AS_MEDIA, head[start : head.index("}", start) + 1], 1)
    liked = "true" if liked_by_me else "false"
    return f'{head},"like_count":{like_count},"comment_count":{comment_count},"liked_by_me":{liked}}}'


class PostCache:
    """Fills the Redis post cache from DynamoDB (posts, authors, signed media URLs)."""

    def __init__(self, store: FeedStore, posts: PostRepository, presenter: PostPresenter) -> None:
        self._store = store
        self._posts = posts
        self._presenter = presenter

    def fill(self, post_ids: Sequence[str]) -> list[CachedPost]:
        rows = self._posts.many(list(post_ids), consistent=True)
        # Only published posts are shown in feeds; any other status is cached as a tombstone.
        published = [row for row in rows.values() if row.status == PUBLISHED]
        presented = {post.id: post for post in self._presenter.present(published)}
        cached = []
        for post_id in post_ids:
            row, post = rows.get(post_id), presented.get(post_id)
            if row is None:
                cached.append(CachedPost(post_id, "-", "missing", "", 0, 0))
            elif post is None:
                cached.append(CachedPost(post_id, row.author_id, row.status, "", 0, 0))
            else:
                cached.append(
                    CachedPost(
                        post_id, row.author_id, row.status, post_json_head(post), post.like_count, post.comment_count
                    )
                )
        self._store.cache_posts(cached)
        return cached


class FeedService:
    def __init__(
        self,
        store: FeedStore,
        posts: PostRepository,
        users: UserRepository,
        follows: FollowRepository,
        presenter: PostPresenter,
        engagement: EngagementRepository,
        settings: Settings | None = None,
    ) -> None:
        self._store = store
        self._engagement = engagement
        self._posts = posts
        self._users = users
        self._follows = follows
        self._presenter = presenter
        self._settings = settings or get_settings()
        self._cache = PostCache(store, posts, presenter)
        self._redis_down_until = 0.0

    # ------------------------------------------------------------------ reading
    def page(self, user_id: str, limit: int, cursor: str | None) -> str:
        """One page of the caller's feed as the contract's JSON: {"items": [...], "next_cursor": ...}."""
        after = _decode_feed_cursor(cursor)
        if time.monotonic() >= self._redis_down_until:
            try:
                return self._page_from_redis(user_id, limit, after)
            except CACHE_ERRORS as error:
                log.warning("feed cache unavailable; answering from DynamoDB: %s", error)
                self._redis_down_until = time.monotonic() + _REDIS_RETRY_AFTER_SECONDS
        return self._page_from_dynamodb(user_id, limit, after)

    def _page_from_redis(self, user_id: str, limit: int, after: tuple[int, str] | None) -> str:
        for _ in range(_READ_ATTEMPTS):
            # Posts missing from the post cache are read from DynamoDB and cached on the way.
            read = self._store.read(user_id, limit, after, fill=self._cache.fill)
            if read.state == "missing_feed":
                if not self.rebuild(user_id):
                    return self._page_from_dynamodb(user_id, limit, after)
                continue
            if read.state == "missing_likes":
                self._store.write_likes(user_id, self._engagement.liked_post_ids(user_id))
                continue
            return _render(read.entries, limit)
        raise redis.RedisError("the feed kept changing under the reader")

    def _page_from_dynamodb(self, user_id: str, limit: int, after: tuple[int, str] | None) -> str:
        authors = [*self._follows.all_following_ids(user_id), user_id]
        before_id = after[1] if after else None
        rows = self._recent_rows(authors, limit + 1, before_id)
        rows.sort(key=lambda row: row.id, reverse=True)
        # Redis is down here: the index lags the table, so the page's statuses are read consistently
        # (a post deleted a moment ago is dropped, and the page filled from the next candidates).
        confirmed: list[PostRow] = []
        start = 0
        while len(confirmed) <= limit and start < len(rows):
            chunk = rows[start : start + limit + 1 - len(confirmed)]
            confirmed += self._posts.published_now(chunk)
            start += len(chunk)
        posts = self._presenter.present(confirmed)
        liked = self._engagement.liked_posts(user_id, [post.id for post in posts])
        entries = [
            FeedEntry(
                post.id,
                score_of(post.id),
                post.author.id,
                post_json_head(post),
                post.like_count,
                post.comment_count,
                post.id in liked,
            )
            for post in posts
        ]
        return _render(entries, limit)

    # ------------------------------------------------------------------ rebuilding
    def rebuild(self, user_id: str) -> bool:
        """Rebuild a missing feed (with its following, unfollowed and merge sets) from DynamoDB.
        One reader rebuilds (a lock on the reader's slot); the others wait for it. False if it
        could not be done in time (the caller answers from DynamoDB).

        The order keeps every post reachable: the keys are reset first (fan-out delivers into the
        feed from then on, checking the following set just written), `celebs` is read after the
        merge set exists (a threshold crossing under way adds to it), and the posts come last."""
        name = f"feed:{{{user_id}}}"
        if not self._store.lock(name, seconds=30):
            return self._store.wait_for_feed(user_id, seconds=3.0)
        try:
            if self._store.feed_exists(user_id):
                return True  # rebuilt by the reader that held the lock just before us
            followees = self._follows.all_following_ids(user_id)
            self._store.reset_user(user_id, followees)
            self._store.close_merge(user_id, self._merged_among(followees))
            rows = self._recent_rows([*followees, user_id], self._settings.rebuild_posts_per_author, None)
            self._store.write_feed(user_id, [(row.id, score_of(row.id)) for row in rows])
            return True
        finally:
            self._store.unlock(name)

    def rebuild_celebrity_sets(self) -> None:
        if not self._store.lock("celebs", seconds=30):
            time.sleep(0.05)
            return
        try:
            pulled = self._users.authors_in_fanout_mode("pull")
            draining = self._users.authors_in_fanout_mode("draining")
            self._store.write_celebrity_sets(merged=[*pulled, *draining], not_fanned_out=pulled)
        finally:
            self._store.unlock("celebs")

    def _merged_among(self, followees: Sequence[str]) -> list[str]:
        """The followees whose timelines readers merge: from `celebs`, else from DynamoDB."""
        if not self._store.celebrity_sets_exist():
            self.rebuild_celebrity_sets()
            if not self._store.celebrity_sets_exist():  # another reader is rebuilding them
                merged = {*self._users.authors_in_fanout_mode("pull"), *self._users.authors_in_fanout_mode("draining")}
                return [followee for followee in followees if followee in merged]
        return self._store.merged_among(followees)

    def _recent_rows(self, authors: Sequence[str], per_author: int, before_id: str | None) -> list[PostRow]:
        """Each author's newest published posts (queried in parallel: one query per author)."""

        def newest(author_id: str) -> list[PostRow]:
            return self._posts.published_before(author_id, before_id, per_author)

        with ThreadPoolExecutor(max_workers=8) as pool:
            return [row for rows in pool.map(newest, authors) for row in rows]


def _render(entries: Sequence[FeedEntry], limit: int) -> str:
    page = entries[:limit]
    items = ",".join(
        post_json(entry.json_head, entry.like_count, entry.comment_count, entry.liked_by_me) for entry in page
    )
    cursor = encode_cursor({"s": page[-1].score, "i": page[-1].post_id}) if len(entries) > limit else None
    return f'{{"items":[{items}],"next_cursor":{json.dumps(cursor)}}}'


def _decode_feed_cursor(cursor: str | None) -> tuple[int, str] | None:
    key = decode_cursor(cursor)
    if key is None:
        return None
    score, post_id = key.get("s"), key.get("i")
    if not isinstance(score, int) or not isinstance(post_id, str) or len(post_id) != 26:
        raise ValidationFailed("cursor: not a cursor this API gave out")
    return score, post_id
