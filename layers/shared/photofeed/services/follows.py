"""Use cases of the follow routes."""

from __future__ import annotations

import logging
from collections.abc import Callable

from photofeed.errors import BadRequest
from photofeed.models.users import UserSummary
from photofeed.pagination import Page
from photofeed.storage.feed_store import FeedStore
from photofeed.storage.follows import FollowRepository
from photofeed.storage.redis_client import CACHE_ERRORS
from photofeed.storage.users import UserRepository

log = logging.getLogger(__name__)


class FollowService:
    def __init__(self, users: UserRepository, follows: FollowRepository, feeds: FeedStore | None = None) -> None:
        self._users = users
        self._follows = follows
        self._feeds = feeds

    def follow(self, caller_id: str, username: str) -> bool:
        target = self._users.id_for_username(username)
        if target == caller_id:
            raise BadRequest("you cannot follow yourself")
        changed = self._follows.follow(caller_id, target)

        def cache(feeds: FeedStore) -> None:
            feeds.follow(caller_id, target)
            feeds.add_follower(target, caller_id)

        self._write_through(cache)
        return changed

    def unfollow(self, caller_id: str, username: str) -> bool:
        """Idempotent: unfollowing someone you do not follow, yourself included, undoes nothing."""
        target = self._users.id_for_username(username)
        if target == caller_id:
            return False
        changed = self._follows.unfollow(caller_id, target)

        def cache(feeds: FeedStore) -> None:
            feeds.unfollow(caller_id, target)
            feeds.remove_follower(target, caller_id)

        self._write_through(cache)
        return changed

    def _write_through(self, change: Callable[[FeedStore], None]) -> None:
        """The reader's cached following set changes now, so the feed filters at once; the
        stream's follow message does the rest (backfill, removal) and repairs a missed write."""
        if self._feeds is None:
            return
        try:
            change(self._feeds)
        except CACHE_ERRORS as error:
            log.warning("following set not updated in the cache: %s", error)

    def followers(self, username: str, limit: int, cursor: str | None) -> Page[UserSummary]:
        page = self._follows.followers_page(self._users.id_for_username(username), limit, cursor)
        return self._summaries(page)

    def following(self, username: str, limit: int, cursor: str | None) -> Page[UserSummary]:
        page = self._follows.following_page(self._users.id_for_username(username), limit, cursor)
        return self._summaries(page)

    def _summaries(self, page: Page[str]) -> Page[UserSummary]:
        found = self._users.summaries(page.items)
        return Page([found[user_id] for user_id in page.items if user_id in found], page.next_cursor)
