"""Users: the domain model, the request bodies and the answers of the auth and profile routes."""

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

USERNAME_PATTERN = r"^[a-z0-9_]{3,30}$"
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")


def normalise_username(value: object) -> object:
    """Usernames are case-insensitive: `Alice` and `alice` are one name, stored lower-case."""
    return value.strip().lower() if isinstance(value, str) else value


def _check_email(value: str) -> str:
    if not _EMAIL.match(value):
        raise ValueError("not an email address")
    return value.lower()


Username = Annotated[
    str,
    BeforeValidator(normalise_username),
    Field(
        pattern=USERNAME_PATTERN,
        description="3 to 30 letters, digits or underscores; case-insensitive, stored lower-case.",
        # What a client may send (any case); the validator lower-cases it before the pattern above.
        json_schema_extra={"pattern": "^[A-Za-z0-9_]{3,30}$"},
    ),
]
Email = Annotated[
    str,
    Field(max_length=254, json_schema_extra={"format": "email", "pattern": _EMAIL.pattern}),
    AfterValidator(_check_email),
]


Timestamp = Annotated[
    str,
    Field(
        json_schema_extra={"format": "date-time"},
        description="ISO 8601 UTC, to the millisecond, e.g. `2026-11-21T20:45:16.123Z`.",
    ),
]


class RequestModel(BaseModel):
    """A request body: unknown fields are refused, so clients never set server-owned fields; JSON
    types are strict (`true` is not a number, `"1"` is not an integer)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False, strict=True)


class SignupRequest(RequestModel):
    username: Username
    email: Email
    password: str = Field(min_length=8, max_length=128)


class LoginRequest(RequestModel):
    username: Annotated[str, BeforeValidator(normalise_username), Field(min_length=1, max_length=30)]
    password: str = Field(min_length=1, max_length=128)


class RefreshRequest(RequestModel):
    refresh_token: str = Field(min_length=1, max_length=8192)


class ProfilePatch(RequestModel):
    display_name: str | None = Field(default=None, max_length=60)
    bio: str | None = Field(default=None, max_length=300)


class UserSummary(BaseModel):
    id: str
    username: str = Field(description="Lower-case, `^[a-z0-9_]{3,30}$`.")
    display_name: str


class User(UserSummary):
    bio: str
    created_at: Timestamp
    follower_count: int
    following_count: int
    post_count: int
    followed_by_me: bool | None = Field(
        default=None,
        exclude_if=lambda v: v is None,
        description="Whether the caller follows this user; only when the caller looks at someone else.",
    )


class UserEnvelope(BaseModel):
    user: User


class Tokens(BaseModel):
    id_token: str = Field(description="Send it as `Authorization: Bearer <id_token>`.")
    access_token: str
    expires_in: int = Field(description="Seconds until the tokens expire.")
    token_type: Literal["Bearer"] = "Bearer"


class LoginTokens(Tokens):
    refresh_token: str
