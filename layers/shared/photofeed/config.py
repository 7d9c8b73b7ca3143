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

    user_pool_id: str = ""
    user_pool_client_id: str = ""

    redis_url: str = "redis://127.0.0.1:6379/0"

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
