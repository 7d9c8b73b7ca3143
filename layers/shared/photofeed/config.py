"""Typed settings, read from the environment the first time they are needed (never at import)."""

from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(case_sensitive=False, extra="ignore")

    aws_region: str = Field(default="us-east-1", validation_alias="AWS_REGION")
    # Set only off AWS (the local stack, tests): where the AWS APIs are served.
    aws_endpoint_url: str | None = Field(default=None, validation_alias="AWS_ENDPOINT_URL")

    users_table: str = "users"
    usernames_table: str = "usernames"
    idempotency_table: str = "idempotency"
    follows_table: str = "follows"
    posts_table: str = "posts"
    comments_table: str = "comments"
    likes_table: str = "likes"
    search_table: str = "search"
    notifications_table: str = "notifications"
    devices_table: str = "devices"

    uploads_bucket: str = "uploads"
    media_bucket: str = "media"
    fanout_queue_url: str = ""

    # Notifications: the state machine the stream relay starts, and the push applications
    # (arn:...:app/<platform>/<name>; a platform without credentials has no application).
    notify_state_machine_arn: str = ""
    push_application_arn_prefix: str = ""
    push_application_name: str = ""
    push_platforms: str = ""  # the platforms configured, e.g. "GCM,APNS,APNS_SANDBOX"
    notification_ttl_days: int = 90
    # Followers a new post notifies per Map item, and page descriptors one planning step returns.
    notify_page_size: int = 500
    notify_pages_per_plan: int = 40

    # Uploads: what POST /posts accepts and how long its presigned POST lives.
    max_upload_bytes: int = 20 * 1024 * 1024
    max_video_bytes: int = 100 * 1024 * 1024
    # Videos (photofeed/video.py): longer, larger, faster or more decoded pixels (width x height x
    # frames per second x seconds) than these are refused before conversion. Set on the video
    # worker from the template's parameters (MaxVideoSeconds, MaxVideoSide, MaxVideoFps,
    # MaxVideoWork): the work limit keeps a clip's conversion within the worker's timeout.
    max_video_seconds: float = 60.0
    max_video_side: int = 4096
    max_video_fps: float = 240.0
    max_video_work: float = 32e9
    upload_url_ttl_seconds: int = 300
    # Signed media URLs handed to clients: twice the post cache's lifetime, so a URL served from
    # the cache is always good for at least an hour.
    media_url_ttl_seconds: int = 7200
    # Media through CloudFront (template.yaml's MediaDistribution, on AWS when a key pair is
    # given): the distribution's domain, the id of the public key it checks signatures with, and
    # the Secrets Manager secret holding the private key (PEM). Without a domain, media URLs are
    # S3 presigned URLs (the local stack, and a stack deployed without a key pair).
    media_cdn_domain: str = ""
    media_signing_key_id: str = ""
    media_signing_key_secret_arn: str = ""
    # A CloudFront URL expires at the end of a step of this many seconds (after at least
    # media_url_ttl_seconds): every URL of an object signed within one step is the same, so
    # browsers and the post cache reuse it.
    media_url_expiry_step_seconds: int = 300
    # Images larger than this many pixels are rejected (decompression bombs).
    max_image_pixels: int = 50_000_000
    # A post still pending_upload or processing this long after its creation is rejected by the
    # stuck-post sweep (every 5 minutes, so within the contract's hour). The media queue's own
    # retries end within 30 minutes of an upload, and an upload must start within
    # upload_url_ttl_seconds.
    stuck_post_deadline_seconds: int = 50 * 60

    # Per-user write limits: action=requests/seconds (see photofeed/storage/rate_limits.py).
    write_rate_limits: str = "post=20/60,comment=30/60,like=120/60,follow=60/60,device=10/60"

    # The feed engine (see photofeed/storage/feed_store.py).
    feed_cap: int = 800
    timeline_cap: int = 200
    feed_ttl_seconds: int = 30 * 24 * 3600
    post_cache_ttl_seconds: int = 3600
    # Authors with more followers than this are not fanned out; readers merge their timelines.
    celebrity_threshold: int = 10_000
    # ... and they are fanned out again once below threshold * this (no flapping at the edge).
    celebrity_exit_ratio: float = 0.9
    fanout_chunk_size: int = 1000
    # How many of a followee's recent posts a follow adds to the follower's feed.
    follow_backfill_posts: int = 50
    # How many recent posts of each followee a feed rebuild reads from DynamoDB.
    rebuild_posts_per_author: int = 50

    user_pool_id: str = ""
    user_pool_client_id: str = ""

    redis_url: str = "redis://127.0.0.1:6379/0"
    # ElastiCache cluster mode: REDIS_URL is the configuration endpoint (any node locally) and the
    # client routes each key to its shard (photofeed/storage/redis_client.py).
    redis_cluster: bool = False

    # API Gateway allows 10 MB; nothing this API accepts comes near that.
    max_request_body_bytes: int = 65_536
    cors_allow_origin: str = "*"
    # How long an unfinished sign-up may hold a username before another sign-up may take it.
    username_claim_ttl_seconds: int = 300


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()


def reset_settings() -> None:
    """Forget the cached settings (tests and the local stack change the environment)."""
    get_settings.cache_clear()
