"""Cached factories for the use cases. Tests and the local stack call `reset()` to rebuild them."""

from functools import lru_cache

from photofeed.config import get_settings, reset_settings
from photofeed.services.accounts import AccountService
from photofeed.services.follows import FollowService
from photofeed.services.media import MediaProcessor
from photofeed.services.post_events import PostEventRelay
from photofeed.services.posts import PostService
from photofeed.services.profiles import ProfileService
from photofeed.storage import tables
from photofeed.storage.clients import reset_clients
from photofeed.storage.follows import FollowRepository
from photofeed.storage.idempotency import IdempotentActions
from photofeed.storage.identity import IdentityProvider
from photofeed.storage.media import MediaStore
from photofeed.storage.posts import PostRepository
from photofeed.storage.queues import WorkQueue
from photofeed.storage.users import UserRepository


@lru_cache(maxsize=1)
def user_repository() -> UserRepository:
    return UserRepository()


@lru_cache(maxsize=1)
def follow_repository() -> FollowRepository:
    return FollowRepository()


@lru_cache(maxsize=1)
def post_repository() -> PostRepository:
    return PostRepository()


@lru_cache(maxsize=1)
def media_store() -> MediaStore:
    return MediaStore()


@lru_cache(maxsize=1)
def account_service() -> AccountService:
    return AccountService(user_repository(), IdentityProvider())


@lru_cache(maxsize=1)
def profile_service() -> ProfileService:
    return ProfileService(user_repository(), follow_repository())


@lru_cache(maxsize=1)
def follow_service() -> FollowService:
    return FollowService(user_repository(), follow_repository())


@lru_cache(maxsize=1)
def idempotent_actions() -> IdempotentActions:
    return IdempotentActions()


@lru_cache(maxsize=1)
def post_service() -> PostService:
    return PostService(post_repository(), user_repository(), media_store(), idempotent_actions())


@lru_cache(maxsize=1)
def media_processor() -> MediaProcessor:
    return MediaProcessor(post_repository(), media_store())


@lru_cache(maxsize=1)
def post_event_relay() -> PostEventRelay:
    return PostEventRelay(WorkQueue(get_settings().fanout_queue_url))


_FACTORIES = (
    user_repository,
    follow_repository,
    post_repository,
    media_store,
    idempotent_actions,
    account_service,
    profile_service,
    follow_service,
    post_service,
    media_processor,
    post_event_relay,
)


def reset() -> None:
    """Forget settings, clients and services, so the next call reads the environment afresh."""
    reset_settings()
    reset_clients()
    tables._bound_to = None
    for factory in _FACTORIES:
        factory.cache_clear()
