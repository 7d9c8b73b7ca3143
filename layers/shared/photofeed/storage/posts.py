"""PostRepository: posts in DynamoDB, with status changes that only move forward.

Every status change is a conditional write on the status it moves from, so redelivered or
reordered events can never publish twice, resurrect a deleted post or undo a publish. Publishing
and deleting a published post change the author's `post_count` in the same transaction. A post in
flight (pending_upload, processing) is listed in the sparse in-flight index until it leaves them,
which is how the stuck-post sweep finds it.
"""

from __future__ import annotations

import hashlib
from typing import Any

from pynamodb.connection import Connection
from pynamodb.exceptions import DoesNotExist, PutError, TransactWriteError, UpdateError
from pynamodb.expressions.update import Action
from pynamodb.transactions import TransactWrite

from photofeed.clock import now_iso
from photofeed.errors import Conflict, Forbidden, NotFound
from photofeed.pagination import Page, decode_cursor, encode_cursor
from photofeed.storage.tables import ItemRow, PostRow, UserRow, bind_tables

PENDING_UPLOAD = "pending_upload"
PROCESSING = "processing"
PUBLISHED = "published"
REJECTED = "rejected"
DELETED = "deleted"
IN_FLIGHT = (PENDING_UPLOAD, PROCESSING)
IN_FLIGHT_SHARDS = 16


def in_flight_shard(post_id: str) -> str:
    """The in-flight index's partition a post is listed in: 16 of them share the writes."""
    return format(hashlib.blake2b(post_id.encode(), digest_size=1).digest()[0] % IN_FLIGHT_SHARDS, "x")


def items_of(post: PostRow) -> list[ItemRow]:
    """The post's photos in order. A post made before posts had several has one, described by the
    post's own fields."""
    if post.items:
        items = list(post.items)
        first = items[0]
        if post.status == PUBLISHED and first.media is None and post.media is not None:
            # Published by a worker that predates items: it wrote the photo on the post only.
            items[0] = ItemRow(
                content_type=first.content_type,
                content_length=first.content_length,
                alt_text=first.alt_text,
                upload_key=first.upload_key,
                upload_version=first.upload_version or post.upload_version,
                width=post.width,
                height=post.height,
                blurhash=first.blurhash,
                media=post.media,
            )
        return items
    return [
        ItemRow(
            content_type=post.content_type,
            content_length=post.content_length,
            alt_text="",
            upload_key=post.upload_key,
            upload_version=post.upload_version,
            width=post.width,
            height=post.height,
            blurhash=None,
            media=post.media,
        )
    ]


def _item_path(index: int) -> Any:
    """The document path `items[index]`, whose attributes are ItemRow's (PynamoDB types it as a
    bare Path)."""
    return PostRow.items[index]


def _recording(path: Any, done: ItemRow) -> list[Action]:
    """The writes that record a rendered item at `path` (`items[n]`)."""
    actions: list[Action] = [
        path.width.set(done.width),
        path.height.set(done.height),
        path.blurhash.set(done.blurhash),
        path.media.set(done.media),
    ]
    if done.upload_version:
        actions.append(path.upload_version.set(done.upload_version))
    if done.duration_s is not None:
        actions.append(path.duration_s.set(done.duration_s))
    return actions


def _condition_failed(error: Exception) -> bool:
    if isinstance(error, TransactWriteError):
        return any(reason and reason.code == "ConditionalCheckFailed" for reason in error.cancellation_reasons or [])
    return getattr(error, "cause_response_code", None) == "ConditionalCheckFailedException"


class PostRepository:
    def __init__(self) -> None:
        bind_tables()
        meta: Any = PostRow.Meta
        self._connection = Connection(region=meta.region, host=meta.host)

    def create(self, row: PostRow) -> PostRow:
        if row.status in IN_FLIGHT:
            row.in_flight_shard = in_flight_shard(row.id)
        try:
            row.save(condition=PostRow.id.does_not_exist())
        except PutError as error:
            if _condition_failed(error):
                raise Conflict("post id already exists") from error
            raise
        return row

    def find(self, post_id: str) -> PostRow | None:
        try:
            return PostRow.get(post_id, consistent_read=True)
        except DoesNotExist:
            return None

    def many(self, post_ids: list[str], consistent: bool = False) -> dict[str, PostRow]:
        """The posts that exist among `post_ids`. `consistent` reads them strongly consistent (twice
        the read units), so a change committed just before is seen: a post deleted a moment ago."""
        unique = list(dict.fromkeys(post_ids))
        return {row.id: row for row in PostRow.batch_get(unique, consistent_read=consistent)} if unique else {}

    def published_now(self, rows: list[PostRow]) -> list[PostRow]:
        """`rows` (read from an index, which lags the table) without those that are no longer
        published: one strongly consistent batch read of their status."""
        if not rows:
            return rows
        ids = [row.id for row in rows]
        read = PostRow.batch_get(ids, consistent_read=True, attributes_to_get=["id", "status"])
        current = {row.id: row.status for row in read}
        return [row for row in rows if current.get(row.id) == PUBLISHED]

    def mark_processing(self, post_id: str) -> bool:
        """pending_upload -> processing. True if the post is now processing (by us or before)."""
        return self._move_in_flight(post_id, [PostRow.status.set(PROCESSING)])

    def _move_in_flight(self, post_id: str, actions: list[Action], from_status: str | None = None) -> bool:
        """Apply `actions` only while the post is still in flight (in `from_status`, if given);
        False if it had moved on."""
        condition = PostRow.status.is_in(*IN_FLIGHT)
        if from_status is not None:
            condition &= PostRow.status == from_status
        try:
            PostRow(id=post_id).update(actions=actions, condition=condition)
        except UpdateError as error:
            if _condition_failed(error):
                return False
            raise
        return True

    def complete_item(self, post: PostRow, index: int, done: ItemRow) -> PostRow | None:
        """Record item `index` of a post in flight as rendered (`done` carries its size, BlurHash,
        variant keys and upload version), and return the post as it is now (every other worker's
        items included: the write's own answer, so the worker that completes the last item sees
        it). None if the post left flight meanwhile (rejected or deleted)."""
        item = _item_path(index)
        row = PostRow(id=post.id)
        try:
            condition = PostRow.status.is_in(*IN_FLIGHT) & (item.upload_key == done.upload_key)
            row.update(actions=_recording(item, done), condition=condition)
        except UpdateError as error:
            if _condition_failed(error):
                return None
            raise
        return row

    def publish(self, post: PostRow, done: tuple[int, ItemRow] | None = None) -> bool:
        """processing -> published, and the author's post_count + 1, together; only when every item
        is rendered (`done`: the item this worker has just rendered, written in the same
        transaction). The post's `media`, `width`, `height` and `upload_version` are its first
        item's. False if the post already left processing (published before, rejected, or
        deleted meanwhile) or an item is not rendered yet."""
        items = items_of(post)
        if done is not None:
            items[done[0]] = done[1]
        first = items[0]
        if any(item.media is None for item in items) or first.width is None or first.height is None:
            return False
        actions: list[Action] = [
            PostRow.status.set(PUBLISHED),
            PostRow.published_at.set(now_iso()),
            PostRow.published_author_id.set(post.author_id),
            PostRow.width.set(first.width),
            PostRow.height.set(first.height),
            PostRow.media.set(first.media),
            PostRow.in_flight_shard.remove(),
        ]
        if first.upload_version:
            actions.append(PostRow.upload_version.set(first.upload_version))
        condition = PostRow.status.is_in(*IN_FLIGHT)
        if post.items:
            for index, item in enumerate(items):
                path = _item_path(index)
                if done is not None and index == done[0]:
                    actions += _recording(path, item)
                    condition &= path.upload_key == item.upload_key
                else:
                    condition &= path.media.exists()
        try:
            with TransactWrite(connection=self._connection) as tx:
                tx.update(PostRow(id=post.id), actions=actions, condition=condition)
                tx.update(UserRow(id=post.author_id), actions=[UserRow.post_count.add(1)])
        except TransactWriteError as error:
            if _condition_failed(error):
                return False
            raise
        return True

    def reject(self, post_id: str, reason: str, from_status: str | None = None) -> bool:
        """in flight (or `from_status`, one of them) -> rejected with `reason`. False if the post
        had already left that status (published, rejected, or deleted meanwhile)."""
        actions: list[Action] = [
            PostRow.status.set(REJECTED),
            PostRow.rejection_reason.set(reason),
            PostRow.in_flight_shard.remove(),
        ]
        return self._move_in_flight(post_id, actions, from_status)

    def in_flight_created_before(self, created_before: str, limit: int) -> list[PostRow]:
        """Posts still in flight created before `created_before` (ISO time), oldest first, at most
        `limit` from each shard of the in-flight index. Rows hold only the id, status, upload key
        and creation time; the index lags the table, so a status read here may be stale."""
        rows: list[PostRow] = []
        for shard in range(IN_FLIGHT_SHARDS):
            rows += PostRow.in_flight_by_creation.query(
                format(shard, "x"), range_key_condition=PostRow.created_at < created_before, limit=limit
            )
        return rows

    def delete(self, post_id: str, caller_id: str) -> PostRow:
        """Mark a post deleted (author only); a published one leaves the author's count."""
        for _ in range(5):
            post = self.find(post_id)
            if post is None or post.status == DELETED:
                raise NotFound("post not found")
            if post.author_id != caller_id:
                if post.status != PUBLISHED:
                    raise NotFound("post not found")  # others cannot even see it
                raise Forbidden("only the author can delete a post")
            try:
                with TransactWrite(connection=self._connection) as tx:
                    tx.update(
                        PostRow(id=post_id),
                        actions=[
                            PostRow.status.set(DELETED),
                            PostRow.deleted_at.set(now_iso()),
                            PostRow.published_author_id.remove(),
                            PostRow.in_flight_shard.remove(),
                        ],
                        condition=PostRow.status == post.status,
                    )
                    if post.status == PUBLISHED:
                        tx.update(UserRow(id=post.author_id), actions=[UserRow.post_count.add(-1)])
            except TransactWriteError as error:
                if _condition_failed(error):
                    continue  # its status moved meanwhile (e.g. it was just published): look again
                raise
            post.status = DELETED
            return post
        raise Conflict("the post kept changing; try again")

    def published_before(self, author_id: str, before_id: str | None, limit: int) -> list[PostRow]:
        """An author's newest published posts older than `before_id` (all, if None)."""
        condition = PostRow.id < before_id if before_id else None
        return list(
            PostRow.published_by_author.query(
                author_id, range_key_condition=condition, scan_index_forward=False, limit=limit
            )
        )

    def published_page(self, author_id: str, limit: int, cursor: str | None) -> Page[PostRow]:
        """An author's published posts, newest first (the sparse index holds only those)."""
        start = decode_cursor(cursor, {"published_author_id": {"S": author_id}}, ("published_author_id", "id"))
        results = PostRow.published_by_author.query(
            author_id, scan_index_forward=False, limit=limit, last_evaluated_key=start
        )
        rows = list(results)
        return Page(rows, encode_cursor(results.last_evaluated_key) if len(rows) == limit else None)
