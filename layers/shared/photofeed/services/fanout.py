"""Fan-out: put each published post where its readers will look, and keep it right.

Messages arrive on the fan-out queue from the stream relay (post and follow changes) and from
fan-out itself (chunks of a large audience). Every handler is idempotent and safe in any order:
Redis operations add or remove exact members, follow messages are checked against DynamoDB (the
truth) before acting, and readers filter deleted posts and unfollowed authors anyway.

Hybrid fan-out: an author with more than `celebrity_threshold` followers is not fanned out; the
post goes into the author's timeline and readers merge the timelines of such authors they follow.
Crossing the threshold is done in an order that never leaves a post unreachable, on one node or
across a cluster's shards (each follower's merge set lives in that follower's slot):
- up:   the author joins `celebs` (what rebuilt merge sets take), then every follower's merge
        set (one pipeline per node a page of followers), then fan-out stops (`nofan`);
- down: fan-out starts again, every follower's feed is backfilled from the timeline, then
        readers stop merging (`celebs`, then every merge set). The mode is kept in DynamoDB
        (`fanout_mode`) so a crash resumes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from photofeed.config import Settings, get_settings
from photofeed.services.feed import FeedService, PostCache
from photofeed.storage.engagement import EngagementRepository
from photofeed.storage.feed_store import FeedStore, score_of
from photofeed.storage.follows import FollowRepository
from photofeed.storage.media import MediaStore
from photofeed.storage.posts import PostRepository
from photofeed.storage.queues import WorkQueue
from photofeed.storage.users import UserRepository

log = logging.getLogger(__name__)

PULL, DRAINING = "pull", "draining"


class FanoutService:
    def __init__(
        self,
        store: FeedStore,
        posts: PostRepository,
        users: UserRepository,
        follows: FollowRepository,
        cache: PostCache,
        feeds: FeedService,
        queue: WorkQueue,
        settings: Settings | None = None,
        engagement: EngagementRepository | None = None,
        media: MediaStore | None = None,
    ) -> None:
        self._store = store
        self._engagement = engagement
        self._media = media
        self._posts = posts
        self._users = users
        self._follows = follows
        self._cache = cache
        self._feeds = feeds
        self._queue = queue
        self._settings = settings or get_settings()
        self._handlers: dict[str, Callable[[dict[str, Any]], int | None]] = {
            "post_published": self.post_published,
            "post_deleted": self.post_deleted,
            "post_discarded": self.post_discarded,
            "deliver": self.deliver,
            "undeliver": self.undeliver,
            "followed": self.followed,
            "unfollowed": self.unfollowed,
        }

    def handle(self, message: dict[str, Any]) -> int:
        """Apply one fan-out message; returns how many feeds it delivered a post to here (the
        author's and the first chunk's for `post_published`, the chunk's for `deliver`, else 0).
        Raises ValueError for an unknown message type."""
        handler = self._handlers.get(str(message.get("type")))
        if handler is None:
            raise ValueError(f"unknown fan-out message type {message.get('type')!r}")
        return handler(message) or 0

    # ------------------------------------------------------------------ posts
    def post_published(self, message: dict[str, Any]) -> int:
        post_id, author_id = message["post_id"], message["author_id"]
        score = score_of(post_id)
        self._cache.fill([post_id])  # every reader of this post will want it: warm it once
        if not self._store.add_to_timeline(author_id, post_id, score):
            self._rebuild_timeline(author_id)
        self._store.deliver(post_id, score, [author_id], author_id)
        if not self._fanned_out(author_id):
            return 1  # O(1): readers merge this author's timeline
        # The chunks carry the publishing time on, for the fan-out lag each one reports.
        chunk = {
            "type": "deliver",
            "post_id": post_id,
            "author_id": author_id,
            "score": score,
            "published_at": message.get("published_at"),
        }
        return 1 + self._for_each_follower_chunk(
            author_id, chunk, lambda chunk: self._store.deliver(post_id, score, chunk, author_id)
        )

    def post_deleted(self, message: dict[str, Any]) -> None:
        post_id, author_id = message["post_id"], message["author_id"]
        self._store.forget_post(post_id)  # readers drop it at once
        if self._engagement is not None:
            self._engagement.delete_post_engagement(post_id)  # its comments and likes go with it
        if self._media is not None:
            self._media.delete_variants(post_id)  # every item's; the originals stay (versioned)
        self._store.remove_from_timeline(author_id, post_id)
        self._store.undeliver([post_id], [author_id])
        if not self._fanned_out(author_id):
            return
        self._for_each_follower_chunk(
            author_id,
            {"type": "undeliver", "post_ids": [post_id]},
            lambda chunk: self._store.undeliver([post_id], chunk),
        )

    def post_discarded(self, message: dict[str, Any]) -> None:
        """A post rejected or deleted before it was published: the variants its rendered photos
        left go (a worker still rendering one finds the post gone from flight and removes its own)."""
        if self._media is not None:
            self._media.delete_variants(message["post_id"])

    def deliver(self, message: dict[str, Any]) -> int:
        post_id = message["post_id"]
        author_id = message.get("author_id") or self._author_of(post_id)  # chunks queued before it was sent
        if author_id is None:
            return 0  # the post is gone: nothing to deliver
        self._store.deliver(post_id, int(message["score"]), message["user_ids"], author_id)
        return len(message["user_ids"])

    def _author_of(self, post_id: str) -> str | None:
        row = self._posts.many([post_id], consistent=True).get(post_id)
        return row.author_id if row is not None else None

    def undeliver(self, message: dict[str, Any]) -> None:
        self._store.undeliver(message["post_ids"], message["user_ids"])

    def _for_each_follower_chunk(
        self, author_id: str, template: dict[str, Any], inline: Callable[[list[str]], Any]
    ) -> int:
        """The first chunk is done here; the rest go back on the queue for other workers. Returns
        the size of the first chunk."""
        chunk_size = self._settings.fanout_chunk_size
        followers = self._followers(author_id)
        if not followers:
            return 0
        inline(followers[:chunk_size])
        self._queue.send_many(
            [
                {**template, "user_ids": followers[start : start + chunk_size]}
                for start in range(chunk_size, len(followers), chunk_size)
            ]
        )
        return min(chunk_size, len(followers))

    def _followers(self, author_id: str) -> list[str]:
        """Everyone who follows the author: from the cache, else from DynamoDB (then cached). The
        set is opened before DynamoDB is read, so a follow landing meanwhile is never lost."""
        cached = self._store.followers(author_id)
        if cached is not None:
            return cached
        self._store.open_followers(author_id)
        followers = [user_id for page in self._follows.iter_follower_ids(author_id) for user_id in page]
        self._store.close_followers(author_id, followers)
        return followers

    # ------------------------------------------------------------------ follows
    def followed(self, message: dict[str, Any]) -> None:
        follower_id, followee_id = message["follower_id"], message["followee_id"]
        if self._follows.is_following(follower_id, followee_id):  # the truth, not the event
            _, mode = self._users.fanout_state(followee_id)
            self._store.follow(follower_id, followee_id, merged=mode in (PULL, DRAINING))
            self._store.add_follower(followee_id, follower_id)
            recent = self._recent(followee_id, self._settings.follow_backfill_posts)
            self._store.backfill([follower_id], recent, followee_id)
        self._check_threshold(followee_id)

    def unfollowed(self, message: dict[str, Any]) -> None:
        follower_id, followee_id = message["follower_id"], message["followee_id"]
        if not self._follows.is_following(follower_id, followee_id):
            self._store.unfollow(follower_id, followee_id)
            self._store.remove_follower(followee_id, follower_id)
            recent = self._recent(followee_id, self._settings.timeline_cap)
            self._store.undeliver([post_id for post_id, _ in recent], [follower_id])
        self._check_threshold(followee_id)

    # ------------------------------------------------------------------ the threshold
    def _check_threshold(self, author_id: str) -> None:
        followers, mode = self._users.fanout_state(author_id)
        threshold = self._settings.celebrity_threshold
        if mode is None and followers > threshold:
            self._stop_fanning_out(author_id)
        elif mode == DRAINING or (mode == PULL and followers < threshold * self._settings.celebrity_exit_ratio):
            self._start_fanning_out(author_id, mode)

    def _stop_fanning_out(self, author_id: str) -> None:
        if self._users.set_fanout_mode(author_id, PULL, expected=None):
            self._ensure_celebrity_sets()
            self._store.set_merged(author_id, True)  # merge sets rebuilt from now on take the author
            for page in self._follows.iter_follower_ids(author_id):
                self._store.merge_into(page, author_id, merged=True)  # and every cached one
            self._store.set_fanned_out(author_id, False)
            log.info("author no longer fanned out", extra={"author_id": author_id})

    def _start_fanning_out(self, author_id: str, mode: str | None) -> None:
        if mode == PULL and not self._users.set_fanout_mode(author_id, DRAINING, expected=PULL):
            return
        self._ensure_celebrity_sets()
        self._store.set_merged(author_id, True)
        self._store.set_fanned_out(author_id, True)  # new posts fan out again
        recent = self._recent(author_id, self._settings.timeline_cap)
        for page in self._follows.iter_follower_ids(author_id):
            self._store.backfill(page, recent, author_id)  # the posts readers were merging
        if self._users.set_fanout_mode(author_id, None, expected=DRAINING):
            self._store.set_merged(author_id, False)
            for page in self._follows.iter_follower_ids(author_id):
                self._store.merge_into(page, author_id, merged=False)
            log.info("author fanned out again", extra={"author_id": author_id})

    # ------------------------------------------------------------------ helpers
    def _fanned_out(self, author_id: str) -> bool:
        self._ensure_celebrity_sets()
        return self._store.is_fanned_out(author_id)

    def _ensure_celebrity_sets(self) -> None:
        if not self._store.celebrity_sets_exist():
            self._feeds.rebuild_celebrity_sets()

    def _recent(self, author_id: str, count: int) -> list[tuple[str, int]]:
        cached = self._store.timeline(author_id, count)
        if cached is not None:
            return cached
        return self._rebuild_timeline(author_id)[:count]

    def _rebuild_timeline(self, author_id: str) -> list[tuple[str, int]]:
        rows = self._posts.published_before(author_id, None, self._settings.timeline_cap)
        posts = [(row.id, score_of(row.id)) for row in rows]
        self._store.write_timeline(author_id, posts)
        return posts
