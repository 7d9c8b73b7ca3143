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
