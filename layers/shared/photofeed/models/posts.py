"""Posts: the request body of POST /posts and the answers of the post routes."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, Field

from photofeed.models.users import RequestModel, UserSummary

PostStatus = Literal["pending_upload", "processing", "published", "rejected"]


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank")
    return value


class CreatePostRequest(RequestModel):
    title: Annotated[str, Field(min_length=1, max_length=120), AfterValidator(_not_blank)]
    caption: str = Field(default="", max_length=2200)
    # Checked by the service, not here: an unaccepted type is 415 and too large is 413.
    content_type: str = Field(min_length=1, max_length=100)
    content_length: int = Field(ge=1)


class MediaUrls(BaseModel):
    thumbnail: str
    medium: str
    large: str
    original: str


class Post(BaseModel):
    id: str
    author: UserSummary
    title: str
    caption: str
    status: PostStatus
    created_at: str
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
