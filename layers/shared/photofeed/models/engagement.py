"""Comments: the request body and the answers of the comment routes."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BaseModel, Field

from photofeed.models.posts import NOT_BLANK, _not_blank
from photofeed.models.users import RequestModel, Timestamp, UserSummary


class CreateCommentRequest(RequestModel):
    text: Annotated[str, Field(min_length=1, max_length=2200, json_schema_extra=NOT_BLANK), AfterValidator(_not_blank)]


class Comment(BaseModel):
    id: str
    post_id: str
    author: UserSummary
    text: str
    created_at: Timestamp
    like_count: int
    liked_by_me: bool


class CommentList(BaseModel):
    items: list[Comment]
    next_cursor: str | None
