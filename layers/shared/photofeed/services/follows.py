"""Use cases of the follow routes."""

from __future__ import annotations

from photofeed.errors import BadRequest
from photofeed.models.users import UserSummary
from photofeed.pagination import Page
from photofeed.storage.follows import FollowRepository
from photofeed.storage.users import UserRepository


class FollowService:
    def __init__(self, users: UserRepository, follows: FollowRepository) -> None:
        self._users = users
        self._follows = follows

    def _target(self, caller_id: str, username: str) -> str:
        target = self._users.id_for_username(username)
        if target == caller_id:
            raise BadRequest("you cannot follow yourself")
        return target

    def follow(self, caller_id: str, username: str) -> bool:
        return self._follows.follow(caller_id, self._target(caller_id, username))

    def unfollow(self, caller_id: str, username: str) -> bool:
        return self._follows.unfollow(caller_id, self._target(caller_id, username))

    def followers(self, username: str, limit: int, cursor: str | None) -> Page[UserSummary]:
        page = self._follows.followers_page(self._users.id_for_username(username), limit, cursor)
        return self._summaries(page)

    def following(self, username: str, limit: int, cursor: str | None) -> Page[UserSummary]:
        page = self._follows.following_page(self._users.id_for_username(username), limit, cursor)
        return self._summaries(page)

    def _summaries(self, page: Page[str]) -> Page[UserSummary]:
        found = self._users.summaries(page.items)
        return Page([found[user_id] for user_id in page.items if user_id in found], page.next_cursor)
