"""Use cases of the post routes, and the presenter that turns stored posts into the contract's Post."""

from __future__ import annotations

import logging
import re

from ulid import ULID

from photofeed.clock import now_iso
from photofeed.config import Settings, get_settings
from photofeed.errors import Conflict, NotFound, PayloadTooLarge, UnsupportedMediaType, ValidationFailed
from photofeed.models.posts import (
    IDEMPOTENCY_KEY_PATTERN,
    MEDIA_CONTENT_TYPES,
    VIDEO_CONTENT_TYPES,
    CreatedPost,
    CreatePostRequest,
    MediaItem,
    MediaUrls,
    Post,
    Upload,
)
from photofeed.models.users import UserSummary
from photofeed.pagination import Page
from photofeed.storage.engagement import EngagementRepository
from photofeed.storage.feed_store import FeedStore
from photofeed.storage.idempotency import IdempotentActions
from photofeed.storage.media import MediaStore, upload_key
from photofeed.storage.posts import DELETED, PENDING_UPLOAD, PUBLISHED, PostRepository, items_of
from photofeed.storage.redis_client import CACHE_ERRORS
from photofeed.storage.tables import ItemRow, MediaKeys, PostRow
from photofeed.storage.users import UserRepository

_IDEMPOTENCY_KEY = re.compile(IDEMPOTENCY_KEY_PATTERN)
log = logging.getLogger(__name__)


def new_post_id() -> str:
    """A ULID: 26 characters that sort by creation time, so newest-first is id-descending."""
    return str(ULID())


class PostPresenter:
    """Stored posts -> the contract's Post: authors, signed media URLs, counts."""

    def __init__(self, users: UserRepository, media: MediaStore, settings: Settings) -> None:
        self._users = users
        self._media = media
        self._ttl = settings.media_url_ttl_seconds

    def present(
        self, rows: list[PostRow], authors: dict[str, UserSummary] | None = None, liked: set[str] | None = None
    ) -> list[Post]:
        """`liked`: ids of the posts the reader likes (from one batch read for the whole list)."""
        authors = authors if authors is not None else self._users.summaries([row.author_id for row in rows])
        return [
            self._one(row, authors[row.author_id], row.id in (liked or set()))
            for row in rows
            if row.author_id in authors and row.status != DELETED
        ]

    def _one(self, row: PostRow, author: UserSummary, liked_by_me: bool) -> Post:
        items = self._items(row) if row.status == PUBLISHED else []
        return Post(
            id=row.id,
            author=author,
            title=row.title,
            caption=row.caption,
            status=row.status,
            created_at=row.created_at,
            media=items[0].variants if items else None,
            width=int(row.width) if row.width is not None else None,
            height=int(row.height) if row.height is not None else None,
            media_items=items,
            like_count=int(row.like_count),
            comment_count=int(row.comment_count),
            liked_by_me=liked_by_me,
            rejection_reason=row.rejection_reason,
        )

    def _items(self, row: PostRow) -> list[MediaItem]:
        return [
            MediaItem(
                type="video" if item.media.video else "image",
                alt_text=item.alt_text or "",
                width=int(item.width),
                height=int(item.height),
                blurhash=item.blurhash,
                variants=self._urls(item.media, item),
                video=self._media.signed_media_url(item.media.video, self._ttl) if item.media.video else None,
                duration_s=float(item.duration_s) if item.media.video and item.duration_s is not None else None,
            )
            for item in items_of(row)
            if item.media is not None and item.width is not None and item.height is not None
        ]

    def _urls(self, keys: MediaKeys, item: ItemRow) -> MediaUrls:
        return MediaUrls(
            thumbnail=self._media.signed_media_url(keys.thumbnail, self._ttl),
            medium=self._media.signed_media_url(keys.medium, self._ttl),
            large=self._media.signed_media_url(keys.large, self._ttl),
            original=self._media.signed_original_url(item.upload_key, item.upload_version, self._ttl),
        )


class PostService:
    def __init__(
        self,
        posts: PostRepository,
        users: UserRepository,
        media: MediaStore,
        idempotency: IdempotentActions | None = None,
        settings: Settings | None = None,
        engagement: EngagementRepository | None = None,
        feeds: FeedStore | None = None,
    ) -> None:
        self._engagement = engagement
        self._feeds = feeds
        self._posts = posts
        self._users = users
        self._media = media
        self._idempotency = idempotency
        self._settings = settings or get_settings()
        self._presenter = PostPresenter(users, media, self._settings)

    def create(self, caller_id: str, request: CreatePostRequest, idempotency_key: str | None) -> CreatedPost:
        """A post in `pending_upload` and one presigned POST per item, in order. Raises
        UnsupportedMediaType (415) for a type not accepted, PayloadTooLarge (413) for an item over
        the size limit, ValidationFailed (422) for a malformed Idempotency-Key, Conflict (409) when
        the key's post was deleted."""
        many = request.media is not None
        for number, item in enumerate(request.items(), start=1):
            where = f"media[{number - 1}]: " if many else ""
            if item.content_type not in MEDIA_CONTENT_TYPES:
                raise UnsupportedMediaType(
                    f"{where}{item.content_type} is not accepted: use one of {', '.join(MEDIA_CONTENT_TYPES)}"
                )
            video = item.content_type in VIDEO_CONTENT_TYPES
            limit = self._settings.max_video_bytes if video else self._settings.max_upload_bytes
            if item.content_length > limit:
                raise PayloadTooLarge(f"{where}{'videos' if video else 'photos'} may be at most {limit} bytes")
        if idempotency_key is None:
            post_id = self._create(caller_id, request)
        else:
            if not _IDEMPOTENCY_KEY.match(idempotency_key):
                raise ValidationFailed("Idempotency-Key: 1 to 255 visible ASCII characters")
            assert self._idempotency is not None
            post_id = self._idempotency.once(
                f"create-post:{caller_id}",
                idempotency_key,
                # Without the fields left out, a single-photo body fingerprints as it always has.
                request.model_dump(exclude_none=True),
                lambda: self._create(caller_id, request),
            )
        row = self._posts.find(post_id)
        if row is None or row.status == DELETED:
            # A retry of a request whose post was deleted meanwhile: that post will not come back,
            # and a new one under the same key would break the key's promise.
            raise Conflict("the post made with this Idempotency-Key was deleted; use a new key for a new post")
        ttl = self._settings.upload_url_ttl_seconds
        uploads = [
            Upload(**self._media.presigned_upload(item.upload_key, item.content_type, int(item.content_length), ttl))
            for item in items_of(row)
        ]
        return CreatedPost(post=self._presenter.present([row])[0], upload=uploads[0], uploads=uploads)

    def _create(self, caller_id: str, request: CreatePostRequest) -> str:
        post_id = new_post_id()
        many = request.media is not None
        items = [
            ItemRow(
                content_type=item.content_type,
                content_length=item.content_length,
                alt_text=item.alt_text,
                upload_key=upload_key(
                    caller_id, post_id, number if many else None, video=item.content_type in VIDEO_CONTENT_TYPES
                ),
            )
            for number, item in enumerate(request.items(), start=1)
        ]
        self._posts.create(
            PostRow(
                id=post_id,
                author_id=caller_id,
                title=request.title,
                caption=request.caption,
                status=PENDING_UPLOAD,
                created_at=now_iso(),
                content_type=items[0].content_type,
                content_length=items[0].content_length,
                upload_key=items[0].upload_key,
                items=items,
            )
        )
        return post_id

    def get(self, caller_id: str, post_id: str) -> Post:
        row = self._visible(caller_id, post_id)
        return self._presenter.present([row], liked=self._liked(caller_id, [row.id]))[0]

    def _liked(self, caller_id: str, post_ids: list[str]) -> set[str]:
        if self._engagement is None:
            return set()
        return self._engagement.liked_posts(caller_id, post_ids)

    def _visible(self, caller_id: str, post_id: str) -> PostRow:
        """A post the caller may see: published, or any live post of their own; else 404."""
        row = self._posts.find(post_id) if len(post_id) <= 64 else None
        if row is None or row.status == DELETED or (row.status != PUBLISHED and row.author_id != caller_id):
            raise NotFound("post not found")
        return row

    def delete(self, caller_id: str, post_id: str) -> None:
        """Delete a post. From the moment this returns no read shows it: the post cache gets a
        tombstone now, which every feed read and list checks; the stream's clean-up (fan-out
        removal, comments, likes, search) follows."""
        if len(post_id) > 64:
            raise NotFound("post not found")
        self._posts.delete(post_id, caller_id)
        if self._feeds is not None:
            try:
                self._feeds.forget_post(post_id)
            except CACHE_ERRORS as error:
                # Lists then confirm statuses in DynamoDB while Redis is away (see published_now).
                log.warning("deleted post not marked in the cache: %s", error)

    def by_author(self, caller_id: str, username: str, limit: int, cursor: str | None) -> Page[Post]:
        author = self._users.by_username(username)
        page = self._posts.published_page(author.id, limit, cursor)
        rows = still_published(page.items, self._posts, self._feeds)
        summary = UserSummary(id=author.id, username=author.username, display_name=author.display_name)
        liked = self._liked(caller_id, [row.id for row in rows])
        return Page(self._presenter.present(rows, {author.id: summary}, liked), page.next_cursor)


def still_published(rows: list[PostRow], posts: PostRepository, feeds: FeedStore | None) -> list[PostRow]:
    """Rows read from the published-posts index, which lags the table by up to a second on AWS,
    without the posts deleted meanwhile: the cache's tombstones say which (one round trip); when
    the cache cannot, a strongly consistent read of their status does."""
    if not rows:
        return rows
    if feeds is not None:
        try:
            deleted = feeds.deleted_among([row.id for row in rows])
            return [row for row in rows if row.id not in deleted]
        except CACHE_ERRORS as error:
            log.warning("post cache unavailable; checking statuses in DynamoDB: %s", error)
    return posts.published_now(rows)
