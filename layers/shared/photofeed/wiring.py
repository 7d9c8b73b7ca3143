"""Cached factories for the use cases. Tests and the local stack call `reset()` to rebuild them."""

from datetime import timedelta
from functools import lru_cache

from photofeed.config import get_settings, reset_settings
from photofeed.services.accounts import AccountService
from photofeed.services.engagement import EngagementService
from photofeed.services.fanout import FanoutService
from photofeed.services.feed import FeedService, PostCache
from photofeed.services.follows import FollowService
from photofeed.services.media import MediaProcessor
from photofeed.services.notifications import NotificationService, NotificationStarter
from photofeed.services.posts import PostPresenter, PostService
from photofeed.services.profiles import ProfileService
from photofeed.services.search import SearchIndexer, SearchService
from photofeed.services.stream_relay import StreamRelay
from photofeed.services.stuck_posts import StuckPosts
from photofeed.storage import tables
from photofeed.storage.clients import reset_clients
from photofeed.storage.engagement import EngagementRepository
from photofeed.storage.feed_store import FeedStore
from photofeed.storage.follows import FollowRepository
from photofeed.storage.idempotency import IdempotentActions
from photofeed.storage.identity import IdentityProvider
from photofeed.storage.media import MediaCdn, MediaStore, signing_key_from_secret
from photofeed.storage.notifications import NotificationRepository
from photofeed.storage.posts import PostRepository
from photofeed.storage.push import DeviceRegistry, PushGateway
from photofeed.storage.queues import WorkQueue
from photofeed.storage.rate_limits import RateLimiter, parse_limits
from photofeed.storage.redis_client import connect, connect_timeline_reader
from photofeed.storage.search_index import SearchIndex
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
def engagement_repository() -> EngagementRepository:
    return EngagementRepository()


@lru_cache(maxsize=1)
def engagement_service() -> EngagementService:
    return EngagementService(engagement_repository(), post_repository(), user_repository(), feed_store())


@lru_cache(maxsize=1)
def media_cdn() -> MediaCdn | None:
    """The media distribution's URL signer on AWS; None where media are served by S3 (the local stack)."""
    settings = get_settings()
    if not settings.media_cdn_domain:
        return None
    secret_arn = settings.media_signing_key_secret_arn
    return MediaCdn(
        settings.media_cdn_domain,
        settings.media_signing_key_id,
        lambda: signing_key_from_secret(secret_arn),
        expiry_step=settings.media_url_expiry_step_seconds,
    )


@lru_cache(maxsize=1)
def media_store() -> MediaStore:
    return MediaStore(cdn=media_cdn())


@lru_cache(maxsize=1)
def account_service() -> AccountService:
    return AccountService(user_repository(), IdentityProvider())


@lru_cache(maxsize=1)
def profile_service() -> ProfileService:
    return ProfileService(user_repository(), follow_repository())


@lru_cache(maxsize=1)
def follow_service() -> FollowService:
    return FollowService(user_repository(), follow_repository(), feed_store())


@lru_cache(maxsize=1)
def idempotent_actions() -> IdempotentActions:
    return IdempotentActions()


@lru_cache(maxsize=1)
def post_service() -> PostService:
    return PostService(
        post_repository(),
        user_repository(),
        media_store(),
        idempotent_actions(),
        engagement=engagement_repository(),
        feeds=feed_store(),
    )


@lru_cache(maxsize=1)
def media_processor() -> MediaProcessor:
    return MediaProcessor(post_repository(), media_store())


@lru_cache(maxsize=1)
def stuck_posts() -> StuckPosts:
    return StuckPosts(post_repository(), media_store(), timedelta(seconds=get_settings().stuck_post_deadline_seconds))


@lru_cache(maxsize=1)
def stream_relay() -> StreamRelay:
    return StreamRelay(fanout_queue(), NotificationStarter(get_settings().notify_state_machine_arn))


@lru_cache(maxsize=1)
def push_gateway() -> PushGateway:
    settings = get_settings()
    platforms = {name.strip() for name in settings.push_platforms.split(",") if name.strip()}
    return PushGateway(settings.push_application_arn_prefix, settings.push_application_name, platforms)


@lru_cache(maxsize=1)
def device_registry() -> DeviceRegistry:
    return DeviceRegistry(push_gateway())


@lru_cache(maxsize=1)
def notification_service() -> NotificationService:
    return NotificationService(
        NotificationRepository(),
        device_registry(),
        push_gateway(),
        user_repository(),
        follow_repository(),
        post_repository(),
        engagement_repository(),
        get_settings(),
    )


@lru_cache(maxsize=1)
def search_index() -> SearchIndex:
    return SearchIndex()


@lru_cache(maxsize=1)
def search_indexer() -> SearchIndexer:
    return SearchIndexer(search_index())


@lru_cache(maxsize=1)
def search_service() -> SearchService:
    return SearchService(search_index(), post_repository(), post_presenter(), engagement_repository())


@lru_cache(maxsize=1)
def fanout_queue() -> WorkQueue:
    return WorkQueue(get_settings().fanout_queue_url)


@lru_cache(maxsize=1)
def rate_limiter() -> RateLimiter:
    return RateLimiter(lambda: feed_store().redis, parse_limits(get_settings().write_rate_limits))


@lru_cache(maxsize=1)
def feed_store() -> FeedStore:
    settings = get_settings()
    return FeedStore(
        connect,  # on first use
        feed_cap=settings.feed_cap,
        timeline_cap=settings.timeline_cap,
        ttl_seconds=settings.feed_ttl_seconds,
        post_ttl_seconds=settings.post_cache_ttl_seconds,
        timeline_reader=connect_timeline_reader if settings.redis_cluster else None,
    )


@lru_cache(maxsize=1)
def post_presenter() -> PostPresenter:
    return PostPresenter(user_repository(), media_store(), get_settings())


@lru_cache(maxsize=1)
def feed_service() -> FeedService:
    return FeedService(
        feed_store(),
        post_repository(),
        user_repository(),
        follow_repository(),
        post_presenter(),
        engagement_repository(),
    )


@lru_cache(maxsize=1)
def fanout_service() -> FanoutService:
    return FanoutService(
        feed_store(),
        post_repository(),
        user_repository(),
        follow_repository(),
        PostCache(feed_store(), post_repository(), post_presenter()),
        feed_service(),
        fanout_queue(),
        engagement=engagement_repository(),
        media=media_store(),
    )


_FACTORIES = (
    user_repository,
    follow_repository,
    post_repository,
    media_cdn,
    media_store,
    engagement_repository,
    engagement_service,
    idempotent_actions,
    account_service,
    profile_service,
    follow_service,
    post_service,
    media_processor,
    stuck_posts,
    stream_relay,
    push_gateway,
    device_registry,
    notification_service,
    search_index,
    search_indexer,
    search_service,
    fanout_queue,
    feed_store,
    rate_limiter,
    post_presenter,
    feed_service,
    fanout_service,
)


def reset() -> None:
    """Forget settings, clients and services, so the next call reads the environment afresh."""
    reset_settings()
    reset_clients()
    tables._bound_to = None
    for factory in _FACTORIES:
        factory.cache_clear()
