"""UserRepository: users and username claims in DynamoDB."""

import time
from dataclasses import dataclass
from typing import Any

from pynamodb.connection import Connection
from pynamodb.exceptions import DoesNotExist, PutError, TransactWriteError, UpdateError
from pynamodb.expressions.update import Action
from pynamodb.transactions import TransactWrite

from photofeed.errors import Conflict, NotFound
from photofeed.models.users import User, UserSummary
from photofeed.storage.tables import UsernameRow, UserRow, bind_tables

PENDING = "pending"
ACTIVE = "active"


def _is_condition_failure(error: Exception) -> bool:
    cause = getattr(error, "cause_response_code", None)
    return cause in {"ConditionalCheckFailedException", "TransactionCanceledException"}


def _to_user(row: UserRow) -> User:
    return User(
        id=row.id,
        username=row.username,
        display_name=row.display_name,
        bio=row.bio,
        created_at=row.created_at,
        follower_count=int(row.follower_count),
        following_count=int(row.following_count),
        post_count=int(row.post_count),
    )


@dataclass(frozen=True)
class NewUser:
    id: str
    username: str
    email: str
    created_at: str


class UserRepository:
    def __init__(self) -> None:
        bind_tables()
        meta: Any = UserRow.Meta
        # One connection for transactions: building one creates a botocore session (slow).
        self._connection = Connection(region=meta.region, host=meta.host)

    def claim_username(self, username: str, claim_id: str, claim_ttl_seconds: int) -> None:
        """Reserve a username for one sign-up. Exactly one of many racing claims wins.

        A claim left `pending` longer than the TTL (its sign-up crashed) may be taken over.
        """
        now = int(time.time())
        row = UsernameRow(username=username, status=PENDING, claim_id=claim_id, claimed_at=now)
        try:
            row.save(
                condition=UsernameRow.username.does_not_exist()
                | ((UsernameRow.status == PENDING) & (UsernameRow.claimed_at < now - claim_ttl_seconds))
            )
        except PutError as error:
            if _is_condition_failure(error):
                raise Conflict(f"username '{username}' is taken") from error
            raise

    def release_username(self, username: str, claim_id: str) -> None:
        """Give back a claim this sign-up still holds as pending; someone else's claim is left alone."""
        try:
            UsernameRow(username=username).delete(
                condition=(UsernameRow.claim_id == claim_id) & (UsernameRow.status == PENDING)
            )
        except Exception as error:
            if not _is_condition_failure(error):
                raise

    def create(self, new: NewUser, claim_id: str) -> User:
        """Write the user and turn the username claim active, together or not at all."""
        row = UserRow(
            id=new.id,
            username=new.username,
            email=new.email,
            display_name=new.username,
            bio="",
            created_at=new.created_at,
        )
        claim = UsernameRow(username=new.username)
        try:
            with TransactWrite(connection=self._connection) as tx:
                tx.save(row, condition=UserRow.id.does_not_exist())
                tx.update(
                    claim,
                    actions=[UsernameRow.status.set(ACTIVE), UsernameRow.user_id.set(new.id)],
                    condition=(UsernameRow.claim_id == claim_id) & (UsernameRow.status == PENDING),
                )
        except TransactWriteError as error:
            if _is_condition_failure(error):
                raise Conflict(f"username '{new.username}' is taken") from error
            raise
        return _to_user(row)

    def get(self, user_id: str) -> User:
        try:
            return _to_user(UserRow.get(user_id, consistent_read=True))
        except DoesNotExist as error:
            raise NotFound("user not found") from error

    def id_for_username(self, username: str) -> str:
        try:
            claim = UsernameRow.get(username)
        except DoesNotExist as error:
            raise NotFound(f"no user '{username}'") from error
        if claim.status != ACTIVE or not claim.user_id:
            raise NotFound(f"no user '{username}'")
        return claim.user_id

    def update_profile(self, user_id: str, display_name: str | None, bio: str | None) -> User:
        actions: list[Action] = []
        if display_name is not None:
            actions.append(UserRow.display_name.set(display_name))
        if bio is not None:
            actions.append(UserRow.bio.set(bio))
        if not actions:
            return self.get(user_id)
        row = UserRow(id=user_id)
        try:
            row.update(actions=actions, condition=UserRow.id.exists())
        except UpdateError as error:
            if _is_condition_failure(error):
                raise NotFound("user not found") from error
            raise
        return _to_user(row)

    def summaries(self, user_ids: list[str]) -> dict[str, UserSummary]:
        """Id -> summary for many users in one batch read (unknown ids are left out)."""
        unique = list(dict.fromkeys(user_ids))
        if not unique:
            return {}
        rows = UserRow.batch_get(unique, attributes_to_get=["id", "username", "display_name"])
        return {row.id: UserSummary(id=row.id, username=row.username, display_name=row.display_name) for row in rows}

    def fanout_state(self, user_id: str) -> tuple[int, str | None]:
        """(follower_count, fanout_mode) of a user, read consistently."""
        row = UserRow.get(user_id, consistent_read=True, attributes_to_get=["follower_count", "fanout_mode"])
        return int(row.follower_count), row.fanout_mode

    def set_fanout_mode(self, user_id: str, mode: str | None, expected: str | None) -> bool:
        """Move a user's fan-out mode from `expected` to `mode`; False if it was not `expected`."""
        condition = UserRow.fanout_mode.does_not_exist() if expected is None else UserRow.fanout_mode == expected
        action = UserRow.fanout_mode.remove() if mode is None else UserRow.fanout_mode.set(mode)
        try:
            UserRow(id=user_id).update(actions=[action], condition=condition & UserRow.id.exists())
        except UpdateError as error:
            if _is_condition_failure(error):
                return False
            raise
        return True

    def authors_in_fanout_mode(self, mode: str) -> list[str]:
        return [row.id for row in UserRow.by_fanout_mode.query(mode)]

    def by_username(self, username: str) -> User:
        return self.get(self.id_for_username(username))
