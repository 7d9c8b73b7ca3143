"""Route matching and throttling of the local API gateway, without a server."""

from __future__ import annotations

import time

from devstack.gateway import TokenBucket, _path_pattern


def test_path_templates_capture_parameters() -> None:
    single = _path_pattern("/users/{username}/follow")
    greedy = _path_pattern("/files/{proxy+}")

    assert single.match("/users/alice/follow").groupdict() == {"username": "alice"}
    assert single.match("/users/alice/bob/follow") is None
    assert greedy.match("/files/a/b/c.jpg").groupdict() == {"proxy": "a/b/c.jpg"}
    assert _path_pattern("/me").match("/me/") is not None


def test_the_token_bucket_allows_a_burst_then_the_rate() -> None:
    bucket = TokenBucket(rate=50, burst=3)

    assert [bucket.take() for _ in range(4)] == [True, True, True, False]
    time.sleep(0.05)  # 50/s refills at least one token
    assert bucket.take() is True


def test_bodies_of_the_apis_binary_media_types_are_handed_over_as_bytes() -> None:
    from types import SimpleNamespace

    from devstack.gateway import ApiGateway
    from devstack.template import load_yaml
    from tests.conftest import BINARY_MEDIA_TYPES, TEMPLATE

    declared = load_yaml(TEMPLATE)["Resources"]["PhotoFeedApi"]["Properties"]["BinaryMediaTypes"]
    gateway: object = SimpleNamespace(binary_media_types={kind.replace("~1", "/") for kind in declared})

    assert {kind.replace("~1", "/") for kind in declared} == BINARY_MEDIA_TYPES  # what the test events use
    assert ApiGateway.is_binary(gateway, "application/json")  # type: ignore[arg-type]
    assert ApiGateway.is_binary(gateway, "Application/JSON; charset=UTF-8")  # type: ignore[arg-type]
    assert not ApiGateway.is_binary(gateway, "text/plain")  # type: ignore[arg-type]
    assert not ApiGateway.is_binary(gateway, None)  # type: ignore[arg-type]
    everything: object = SimpleNamespace(binary_media_types={"*/*"})
    assert ApiGateway.is_binary(everything, "text/plain")  # type: ignore[arg-type]
