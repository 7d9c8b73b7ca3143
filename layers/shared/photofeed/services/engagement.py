"""Use cases of the comment and like routes."""

from __future__ import annotations

import logging
from collections.abc import Callable

from photofeed.clock import now_iso
from photofeed.errors import Forbidden, NotFound
from photofeed.models.engagement import Comment, CreateCommentRequest
from photofeed.pagination import Page
from photofeed.services.posts import new_post_id
from photofeed.storage.engagement import EngagementRepository, comment_target
from photofeed.storage.feed_store import FeedStore
from photofeed.storage.posts import PUBLISHED, PostRepository
from photofeed.storage.redis_client import CACHE_ERRORS
from photofeed.storage.tables import CommentRow, PostRow
from photofeed.storage.users import UserRepository

log = logging.getLogger(__name__)


class EngagementService:
    def __init__(
        self,
        engagement: EngagementRepository,
        posts: PostRepository,
        users: UserRepository,
        feeds: FeedStore | None = None,
    ) -> None:
        self._engagement = engagement
        self._posts = posts
        self._users = users
        self._feeds = feeds

    def _visible_post(self, post_id: str) -> PostRow:
        """Comments and likes are on published posts; anything else is 404 (as GET /posts/{id})."""
        post = self._posts.find(post_id) if len(post_id) <= 64 else None
        if post is None or post.status != PUBLISHED:
            raise NotFound("post not found")
        return post

    # ------------------------------------------------------------------ comments
    def comment(self, caller_id: str, post_id: str, request: CreateCommentRequest) -> Comment:
        self._visible_post(post_id)
        row = CommentRow(
            post_id=post_id, id=new_post_id(), author_id=caller_id, text=request.text, created_at=now_iso()
        )
        self._engagement.add_comment(row)
        self._cache(lambda feeds: feeds.add_to_count(post_id, "c", 1))
        return self._present([row], caller_id)[0]

    def comments(self, caller_id: str, post_id: str, limit: int, cursor: str | None) -> Page[Comment]:
        self._visible_post(post_id)
        page = self._engagement.comments_page(post_id, limit, cursor)
        return Page(self._present(page.items, caller_id), page.next_cursor)

    def delete_comment(self, caller_id: str, post_id: str, comment_id: str) -> None:
        post = self._visible_post(post_id)
        comment = self._engagement.comment(post_id, comment_id)
        if caller_id not in (comment.author_id, post.author_id):
            raise Forbidden("only the comment's author or the post's author can delete it")
        if self._engagement.delete_comment(comment):
            self._cache(lambda feeds: feeds.add_to_count(post_id, "c", -1))

    def _present(self, rows: list[CommentRow], caller_id: str) -> list[Comment]:
        authors = self._users.summaries([row.author_id for row in rows])
        liked = self._engagement.liked(caller_id, [comment_target(row.id) for row in rows])
        return [
            Comment(
                id=row.id,
                post_id=row.post_id,
                author=authors[row.author_id],
                text=row.text,
                created_at=row.created_at,
                like_count=int(row.like_count),
                liked_by_me=comment_target(row.id) in liked,
            )
            for row in rows
            if row.author_id in authors
        ]

    # ------------------------------------------------------------------ likes
    def like_post(self, caller_id: str, post_id: str) -> None:
        self._visible_post(post_id)
        if self._engagement.like_post(post_id, caller_id):
            self._cache(lambda feeds: feeds.liked(caller_id, post_id, 1))

    def unlike_post(self, caller_id: str, post_id: str) -> None:
        self._visible_post(post_id)
        if self._engagement.unlike_post(post_id, caller_id):
            self._cache(lambda feeds: feeds.liked(caller_id, post_id, -1))

    def like_comment(self, caller_id: str, post_id: str, comment_id: str) -> None:
        self._visible_post(post_id)
        self._engagement.comment(post_id, comment_id)
        self._engagement.like_comment(post_id, comment_id, caller_id)

    def unlike_comment(self, caller_id: str, post_id: str, comment_id: str) -> None:
        self._visible_post(post_id)
        self._engagement.comment(post_id, comment_id)
        self._engagement.unlike_comment(post_id, comment_id, caller_id)

    def _cache(self, change: Callable[[FeedStore], None]) -> None:
        """Counts and the reader's likes in the feed cache follow the write (only where cached)."""
        if self._feeds is None:
            return
        try:
            change(self._feeds)
        except CACHE_ERRORS as error:
            log.warning("feed cache not updated: %s", error)
