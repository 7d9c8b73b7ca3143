"""Cached factories for the use cases. Tests and the local stack call `reset()` to rebuild them."""

from functools import lru_cache

from photofeed.config import reset_settings
from photofeed.services.accounts import AccountService
from photofeed.services.profiles import ProfileService
from photofeed.storage import tables
from photofeed.storage.clients import reset_clients
from photofeed.storage.identity import IdentityProvider
from photofeed.storage.users import UserRepository


@lru_cache(maxsize=1)
def user_repository() -> UserRepository:
    return UserRepository()


@lru_cache(maxsize=1)
def account_service() -> AccountService:
    return AccountService(user_repository(), IdentityProvider())


@lru_cache(maxsize=1)
def profile_service() -> ProfileService:
    return ProfileService(user_repository())


def reset() -> None:
    """Forget settings, clients and services, so the next call reads the environment afresh."""
    reset_settings()
    reset_clients()
    tables._bound_to = None
    for factory in (user_repository, account_service, profile_service):
        factory.cache_clear()
