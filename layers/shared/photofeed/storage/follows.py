"""FollowRepository: the follow graph as a DynamoDB adjacency list.

One item per edge `(follower_id, followee_id)`. Writing or removing an edge changes both users'
counters in the same transaction, conditioned on the edge's absence or presence, so a follow
repeated or raced any number of times counts once and an unfollow of nothing changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pynamodb.connection import Connection
from pynamodb.exceptions import DoesNotExist, TransactWriteError
from pynamodb.transactions import TransactWrite

from photofeed.clock import now_iso
from photofeed.errors import NotFound
from photofeed.pagination import Page, decode_cursor, encode_cursor
from photofeed.storage.tables import FollowRow, UserRow, bind_tables
from photofeed.storage.transactions import reasons, transact

# A page of either index ends on a key of the index and of the table: all three attributes.
EDGE_KEYS = ("follower_id", "followee_id", "followed_at")


class FollowRepository:
    def __init__(self) -> None:
        bind_tables()
        meta: Any = FollowRow.Meta
        self._connection = Connection(region=meta.region, host=meta.host)

    def follow(self, follower_id: str, followee_id: str) -> bool:
        """Add the edge and both counters; False if the edge was already there."""
        edge = FollowRow(follower_id=follower_id, followee_id=followee_id, followed_at=now_iso())

        def write(tx: TransactWrite) -> None:
            tx.save(edge, condition=FollowRow.follower_id.does_not_exist())
            tx.update(UserRow(id=follower_id), actions=[UserRow.following_count.add(1)], condition=UserRow.id.exists())
            tx.update(UserRow(id=followee_id), actions=[UserRow.follower_count.add(1)], condition=UserRow.id.exists())

        try:
            transact(self._connection, write)
        except TransactWriteError as error:
            found = reasons(error)
            if found[:1] == ["ConditionalCheckFailed"]:
                return False
            if "ConditionalCheckFailed" in found:
                raise NotFound("user not found") from error
            raise
        return True

    def unfollow(self, follower_id: str, followee_id: str) -> bool:
        """Remove the edge and both counters; False if there was no edge."""

        def write(tx: TransactWrite) -> None:
            tx.delete(
                FollowRow(follower_id=follower_id, followee_id=followee_id), condition=FollowRow.follower_id.exists()
            )
            tx.update(UserRow(id=follower_id), actions=[UserRow.following_count.add(-1)], condition=UserRow.id.exists())
            tx.update(UserRow(id=followee_id), actions=[UserRow.follower_count.add(-1)], condition=UserRow.id.exists())

        try:
            transact(self._connection, write)
        except TransactWriteError as error:
            if "ConditionalCheckFailed" in reasons(error):
                return False
            raise
        return True

    def is_following(self, follower_id: str, followee_id: str) -> bool:
        try:
            FollowRow.get(follower_id, followee_id, attributes_to_get=["follower_id"])
        except DoesNotExist:
            return False
        return True

    def following_of(self, follower_ids: list[str], followee_id: str) -> set[str]:
        """Which of `follower_ids` follow `followee_id` (one batch read, for lists)."""
        keys = [(follower_id, followee_id) for follower_id in set(follower_ids)]
        return {row.follower_id for row in FollowRow.batch_get(keys, attributes_to_get=["follower_id"])}

    def followers_page(self, user_id: str, limit: int, cursor: str | None) -> Page[str]:
        """Follower ids of a user, newest follow first."""
        start = decode_cursor(cursor, {"followee_id": {"S": user_id}}, EDGE_KEYS)
        results = FollowRow.followers_by_time.query(
            user_id, scan_index_forward=False, limit=limit, last_evaluated_key=start
        )
        ids = [row.follower_id for row in results]
        return Page(ids, encode_cursor(results.last_evaluated_key) if len(ids) == limit else None)

    def following_page(self, user_id: str, limit: int, cursor: str | None) -> Page[str]:
        """Ids of whom a user follows, newest follow first."""
        start = decode_cursor(cursor, {"follower_id": {"S": user_id}}, EDGE_KEYS)
        results = FollowRow.following_by_time.query(
            user_id, scan_index_forward=False, limit=limit, last_evaluated_key=start
        )
        ids = [row.followee_id for row in results]
        return Page(ids, encode_cursor(results.last_evaluated_key) if len(ids) == limit else None)

    def all_following_ids(self, user_id: str) -> list[str]:
        """Everyone a user follows (strongly consistent: the index is local to the user's items)."""
        ids: list[str] = []
        start: dict[str, Any] | None = None
        while True:
            results = FollowRow.query(
                user_id, consistent_read=True, last_evaluated_key=start, attributes_to_get=["followee_id"]
            )
            ids += [row.followee_id for row in results]
            start = results.last_evaluated_key
            if not start:
                return ids

    def iter_follower_ids(self, user_id: str, page_size: int = 5000) -> Iterator[list[str]]:
        """Every follower id of a user, in large pages: the fan-out's hot loop (keys only)."""
        start: dict[str, Any] | None = None
        while True:
            results = FollowRow.followers_by_time.query(
                user_id, limit=page_size, last_evaluated_key=start, page_size=page_size
            )
            ids = [row.follower_id for row in results]
            if ids:
                yield ids
            start = results.last_evaluated_key
            if not start:
                return
