"""Comments and likes in DynamoDB, each written with its counter in one conditional transaction.

A like is one item per (thing, user); putting it requires its absence and removing it its
presence, in the same transaction as the counter, so a thousand repeated or concurrent likes
count once and an unlike of nothing changes nothing. A comment or a like needs a published post.
"""

from __future__ import annotations

from typing import Any

from pynamodb.connection import Connection
from pynamodb.exceptions import DoesNotExist, TransactWriteError
from pynamodb.transactions import TransactWrite

from photofeed.clock import now_iso
from photofeed.errors import NotFound
from photofeed.pagination import Page, decode_cursor, encode_cursor
from photofeed.storage.posts import PUBLISHED
from photofeed.storage.tables import CommentRow, LikeRow, PostRow, bind_tables
from photofeed.storage.transactions import reasons, transact


def post_target(post_id: str) -> str:
    return f"p#{post_id}"


def comment_target(comment_id: str) -> str:
    return f"c#{comment_id}"


class EngagementRepository:
    def __init__(self) -> None:
        bind_tables()
        meta: Any = CommentRow.Meta
        self._connection = Connection(region=meta.region, host=meta.host)

    # ------------------------------------------------------------------ comments
    def add_comment(self, comment: CommentRow) -> None:
        def write(tx: TransactWrite) -> None:
            tx.save(comment, condition=CommentRow.id.does_not_exist())
            tx.update(
                PostRow(id=comment.post_id),
                actions=[PostRow.comment_count.add(1)],
                condition=PostRow.status == PUBLISHED,
            )

        try:
            transact(self._connection, write)
        except TransactWriteError as error:
            if "ConditionalCheckFailed" in reasons(error):
                raise NotFound("post not found") from error
            raise

    def comment(self, post_id: str, comment_id: str) -> CommentRow:
        try:
            return CommentRow.get(post_id, comment_id, consistent_read=True)
        except DoesNotExist as error:
            raise NotFound("comment not found") from error

    def delete_comment(self, comment: CommentRow) -> bool:
        """Remove a comment and count it out, then its likes; False if it was already gone.

        No like can land after the transaction (a like needs the comment), so the likes read
        afterwards are all there are.
        """

        def write(tx: TransactWrite) -> None:
            tx.delete(CommentRow(post_id=comment.post_id, id=comment.id), condition=CommentRow.id.exists())
            tx.update(
                PostRow(id=comment.post_id), actions=[PostRow.comment_count.add(-1)], condition=PostRow.id.exists()
            )

        try:
            transact(self._connection, write)
        except TransactWriteError as error:
            if "ConditionalCheckFailed" in reasons(error):
                return False
            raise
        self._delete_likes(comment_target(comment.id))
        return True

    def comments_page(self, post_id: str, limit: int, cursor: str | None) -> Page[CommentRow]:
        """A post's comments, oldest first."""
        start = decode_cursor(cursor, {"post_id": {"S": post_id}}, ("post_id", "id"))
        results = CommentRow.query(post_id, scan_index_forward=True, limit=limit, last_evaluated_key=start)
        rows = list(results)
        return Page(rows, encode_cursor(results.last_evaluated_key) if len(rows) == limit else None)

    def delete_post_engagement(self, post_id: str) -> int:
        """A deleted post's comments go with it, and every like of the post and of its comments.

        Safe to repeat (each delete is of what is there now); returns how many comments went.
        """
        # Strongly consistent reads: a comment or like committed just before the deletion counts.
        rows = list(CommentRow.query(post_id, attributes_to_get=["post_id", "id"], consistent_read=True))
        with CommentRow.batch_write() as batch:
            for row in rows:
                batch.delete(row)
        for target in [post_target(post_id)] + [comment_target(row.id) for row in rows]:
            self._delete_likes(target)
        return len(rows)

    def _delete_likes(self, target: str) -> None:
        with LikeRow.batch_write() as batch:
            for like in LikeRow.query(target, attributes_to_get=["target", "user_id"], consistent_read=True):
                batch.delete(like)

    # ------------------------------------------------------------------ likes
    def like_post(self, post_id: str, user_id: str) -> bool:
        return self._like(
            post_target(post_id), user_id, PostRow(id=post_id), PostRow.like_count, PostRow.status == PUBLISHED, None
        )

    def unlike_post(self, post_id: str, user_id: str) -> bool:
        return self._unlike(post_target(post_id), user_id, PostRow(id=post_id), PostRow.like_count, PostRow.id.exists())

    def like_comment(self, post_id: str, comment_id: str, user_id: str) -> bool:
        return self._like(
            comment_target(comment_id),
            user_id,
            CommentRow(post_id=post_id, id=comment_id),
            CommentRow.like_count,
            CommentRow.id.exists(),
            post_id,
        )

    def unlike_comment(self, post_id: str, comment_id: str, user_id: str) -> bool:
        return self._unlike(
            comment_target(comment_id),
            user_id,
            CommentRow(post_id=post_id, id=comment_id),
            CommentRow.like_count,
            CommentRow.id.exists(),
        )

    def _like(
        self, target: str, user_id: str, counted: Any, counter: Any, exists: Any, visible_post: str | None
    ) -> bool:
        def write(tx: TransactWrite) -> None:
            tx.save(
                LikeRow(target=target, user_id=user_id, liked_at=now_iso(), post_id=visible_post),
                condition=LikeRow.target.does_not_exist(),
            )
            tx.update(counted, actions=[counter.add(1)], condition=exists)
            if visible_post is not None:
                tx.condition_check(PostRow, visible_post, condition=PostRow.status == PUBLISHED)

        try:
            transact(self._connection, write)
        except TransactWriteError as error:
            if "ConditionalCheckFailed" not in reasons(error):
                raise
            # Which condition failed is read from the table, not from the reasons' positions
            # (moto misplaces them once a transaction has a condition check).
            if self._has_like(target, user_id):
                return False  # already liked: counted once
            raise NotFound("not found") from error
        return True

    @staticmethod
    def _has_like(target: str, user_id: str) -> bool:
        try:
            LikeRow.get(target, user_id, consistent_read=True, attributes_to_get=["target"])
        except DoesNotExist:
            return False
        return True

    def _unlike(self, target: str, user_id: str, counted: Any, counter: Any, exists: Any) -> bool:
        def write(tx: TransactWrite) -> None:
            tx.delete(LikeRow(target=target, user_id=user_id), condition=LikeRow.target.exists())
            tx.update(counted, actions=[counter.add(-1)], condition=exists)

        try:
            transact(self._connection, write)
        except TransactWriteError as error:
            if "ConditionalCheckFailed" in reasons(error):
                return False  # nothing to unlike: nothing changes
            raise
        return True

    def liked(self, user_id: str, targets: list[str]) -> set[str]:
        """Which of `targets` the user likes: one batch read for a whole list."""
        unique = list(dict.fromkeys(targets))
        if not unique:
            return set()
        return {
            row.target
            for row in LikeRow.batch_get([(target, user_id) for target in unique], attributes_to_get=["target"])
        }

    def liked_posts(self, user_id: str, post_ids: list[str]) -> set[str]:
        """Which of `post_ids` the user likes (one batch read)."""
        return {target[2:] for target in self.liked(user_id, [post_target(post_id) for post_id in post_ids])}

    def liked_post_ids(self, user_id: str) -> list[str]:
        """Every post the user likes (rebuilds the reader's cached likes)."""
        return [row.target[2:] for row in LikeRow.by_user.query(user_id) if row.target.startswith("p#")]
