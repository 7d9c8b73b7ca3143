"""Request models and the contract's formats."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from photofeed.clock import iso
from photofeed.models.posts import MediaItem, MediaUrls, Post
from photofeed.models.users import LoginRequest, ProfilePatch, SignupRequest, User, UserSummary
from photofeed.services.feed import post_json, post_json_head

MEDIA_NAMES = ("thumbnail", "medium", "large", "original")


def test_usernames_are_normalised_to_lower_case() -> None:
    request = SignupRequest(username="  Alice_01 ", email="A@Example.com", password="long enough")

    assert request.username == "alice_01"
    assert request.email == "a@example.com"
    assert LoginRequest(username="ALICE_01", password="x").username == "alice_01"


@pytest.mark.parametrize("username", ["ab", "a" * 31, "with space", "dash-ed", "émile", ""])
def test_usernames_outside_the_pattern_are_refused(username: str) -> None:
    with pytest.raises(ValidationError):
        SignupRequest(username=username, email="a@example.com", password="long enough")


def test_unknown_fields_are_refused() -> None:
    with pytest.raises(ValidationError, match="Extra inputs"):
        ProfilePatch.model_validate({"bio": "ok", "follower_count": 1})


def test_followed_by_me_is_left_out_when_unknown() -> None:
    user = User(
        id="1",
        username="a",
        display_name="a",
        bio="",
        created_at="t",
        follower_count=0,
        following_count=0,
        post_count=0,
    )

    assert "followed_by_me" not in user.model_dump()
    assert user.model_copy(update={"followed_by_me": True}).model_dump()["followed_by_me"] is True


def test_times_are_iso_utc_with_milliseconds() -> None:
    moment = datetime(2026, 11, 21, 20, 45, 16, 123456, tzinfo=UTC)

    assert iso(moment) == "2026-11-21T20:45:16.123Z"


def _urls(host: str) -> MediaUrls:
    return MediaUrls(**{name: f"https://{host}/{name}.jpg?X-Amz-Signature=0f" for name in MEDIA_NAMES})


@pytest.mark.parametrize("items", [1, 3])
def test_a_cached_post_holds_its_first_items_urls_once_and_reads_back_exactly(items: int) -> None:
    urls = [_urls(f"item{n}.example") for n in range(items)]
    post = Post(
        id="01JABCDEFGHJKMNPQRSTVWXYZ0",
        author=UserSummary(id="a", username="bob", display_name="Bob"),
        title='Quotes: "media":{ and a NUL \x00',
        caption="}",
        status="published",
        created_at="2026-12-01T00:00:00.000Z",
        media=urls[0],
        width=4,
        height=3,
        media_items=[
            MediaItem(
                type="image",
                alt_text=f"alt {n}",
                width=4,
                height=3,
                blurhash="LEHV6nWB2yk8pyo0adR*.7kCMdnj",
                variants=u,
            )
            for n, u in enumerate(urls)
        ],
        like_count=5,
        comment_count=6,
        liked_by_me=True,
    )

    head = post_json_head(post)

    assert head.count("item0.example") == len(MEDIA_NAMES)  # once, as `media`
    assert json.loads(post_json(head, 5, 6, True)) == json.loads(post.model_dump_json())
