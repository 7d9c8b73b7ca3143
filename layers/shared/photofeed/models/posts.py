"""Posts: the request body of POST /posts and the answers of the post routes."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, Field

from photofeed.models.users import RequestModel, Timestamp, UserSummary

PostStatus = Literal["pending_upload", "processing", "published", "rejected"]
# The photo types POST /posts accepts (any other is 415), and the largest photo (more is 413).
PHOTO_CONTENT_TYPES = ("image/jpeg", "image/png", "image/webp")
MAX_PHOTO_BYTES = 20 * 1024 * 1024
# An Idempotency-Key: 1 to 255 visible ASCII characters.
IDEMPOTENCY_KEY_PATTERN = r"^[\x21-\x7e]{1,255}$"


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank")
    return value


# Documents `_not_blank`: at least one character that is not white space.
NOT_BLANK = {"pattern": r"\S"}


class CreatePostRequest(RequestModel):
    title: Annotated[str, Field(min_length=1, max_length=120, json_schema_extra=NOT_BLANK), AfterValidator(_not_blank)]
    caption: str = Field(default="", max_length=2200)
    # Checked by the service, not here: an unaccepted type is 415 and too large is 413.
    content_type: str = Field(
        min_length=1,
        max_length=100,
        description="The photo's media type; any other is 415.",
        json_schema_extra={"enum": list(PHOTO_CONTENT_TYPES)},
    )
    content_length: int = Field(
        ge=1,
        description="The photo's size in bytes; the upload must not exceed it. Larger than 20 MiB is 413.",
        json_schema_extra={"maximum": MAX_PHOTO_BYTES},
    )


class MediaUrls(BaseModel):
    """Signed, time-limited URLs. The variants are JPEGs made from the pixels only (no metadata)."""

    thumbnail: str = Field(description="150x150, centre crop.")
    medium: str = Field(description="640 px wide (never upscaled).")
    large: str = Field(description="1080 px wide (never upscaled).")
    original: str = Field(description="The file as uploaded.")


class Post(BaseModel):
    id: str
    author: UserSummary
    title: str
    caption: str
    status: PostStatus = Field(
        description="`pending_upload` -> `processing` -> `published`, or `rejected` (with `rejection_reason`)."
    )
    created_at: Timestamp
    media: MediaUrls | None
    width: int | None
    height: int | None
    like_count: int
    comment_count: int
    liked_by_me: bool
    rejection_reason: str | None = Field(default=None, exclude_if=lambda value: value is None)


class Upload(BaseModel):
    method: Literal["POST"] = "POST"
    url: str
    fields: dict[str, str]
    expires_in: int


class CreatedPost(BaseModel):
    post: Post
    upload: Upload


class PostList(BaseModel):
    items: list[Post]
    next_cursor: str | None


class UserSummaryList(BaseModel):
    items: list[UserSummary]
    next_cursor: str | None
