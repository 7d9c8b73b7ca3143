"""Request models and the contract's formats."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from photofeed.clock import iso
from photofeed.models.users import LoginRequest, ProfilePatch, SignupRequest, User


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
