"""Cached AWS client factories. Tests and the local stack reset them with `reset_clients()`."""

from functools import cache, lru_cache
from typing import Any

import boto3
from botocore.config import Config

from photofeed.config import get_settings

_CONFIG = Config(retries={"mode": "standard", "max_attempts": 4}, connect_timeout=2, read_timeout=10)


@lru_cache(maxsize=1)
def _session() -> boto3.session.Session:
    # Building a session loads botocore's endpoint data; one per process is enough.
    return boto3.session.Session()


@cache
def client(service: str) -> Any:
    settings = get_settings()
    return _session().client(
        service,  # type: ignore[call-overload]
        region_name=settings.aws_region,
        endpoint_url=settings.aws_endpoint_url,
        config=_CONFIG,
    )


def reset_clients() -> None:
    client.cache_clear()
    _session.cache_clear()
