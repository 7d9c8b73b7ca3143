"""Use cases of the profile routes."""

from photofeed.models.users import ProfilePatch, User
from photofeed.storage.follows import FollowRepository
from photofeed.storage.users import UserRepository


class ProfileService:
    def __init__(self, users: UserRepository, follows: FollowRepository) -> None:
        self._users = users
        self._follows = follows

    def me(self, caller_id: str) -> User:
        return self._users.get(caller_id)

    def update_me(self, caller_id: str, patch: ProfilePatch) -> User:
        return self._users.update_profile(caller_id, patch.display_name, patch.bio)

    def by_username(self, caller_id: str, username: str) -> User:
        user = self._users.by_username(username)
        if user.id == caller_id:
            return user
        return user.model_copy(update={"followed_by_me": self._follows.is_following(caller_id, user.id)})
