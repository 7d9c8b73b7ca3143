"""Per-user write limits: 429 with Retry-After past the limit, others unaffected, and a new window."""

from __future__ import annotations

import time
from typing import Any

import pytest

from photofeed import wiring
from photofeed.storage.rate_limits import Limit, parse_limits
from tests.conftest import LocalAws, api_event
from tests.integration.feed_world import World


def test_limits_parse_from_the_template_format() -> None:
    assert parse_limits("post=20/60, like=120/60") == {"post": Limit(20, 60), "like": Limit(120, 60)}
    assert parse_limits("") == {}


@pytest.mark.parametrize("text", ["post=20", "post=20/0", "post=-1/60", "post=x/60", "=20/60", "post:20/60"])
def test_a_malformed_limit_is_a_clear_error_not_no_limit(text: str) -> None:
    with pytest.raises(ValueError, match="is not action=requests/seconds"):
        parse_limits(text)


def test_a_burst_gets_429_with_retry_after_and_does_not_touch_others(
    local_aws: LocalAws, lambda_context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WRITE_RATE_LIMITS", "like=3/2")
    wiring.reset()
    world = World(local_aws, lambda_context)
    post = world.publish("alice")
    bob, carol = world.user("bob"), world.user("carol")
    handler = local_aws.handler("WriteApiFunction")

    def like(user: dict[str, Any]) -> dict[str, Any]:
        event = api_event(
            "api_like_post.json", sub=user["id"], path=f"/posts/{post}/like", path_parameters={"post_id": post}
        )
        return dict(handler(event, lambda_context))

    time.sleep(2 - time.time() % 2 + 0.05)  # start at the beginning of a window
    answers = [like(bob) for _ in range(5)]
    statuses = [answer["statusCode"] for answer in answers]

    assert statuses == [204, 204, 204, 429, 429]
    limited = next(answer for answer in answers if answer["statusCode"] == 429)
    headers = {key.lower(): value for key, value in (limited.get("headers") or {}).items()}
    headers |= {key.lower(): values[0] for key, values in (limited.get("multiValueHeaders") or {}).items()}
    assert 1 <= int(headers["retry-after"]) <= 3
    assert '"rate_limited"' in limited["body"]
    assert like(carol)["statusCode"] == 204  # carol has her own counter
    time.sleep(int(headers["retry-after"]))
    assert like(bob)["statusCode"] == 204  # a new window
