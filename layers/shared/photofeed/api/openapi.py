"""What the API documents about itself: the error body, the security scheme, the shared path and
query parameters, and the `answers()` each route decorator declares.

The OpenAPI document (`openapi.json`, `make openapi`) is generated from the route decorators and
the models; `tools/openapi.py` only merges the functions' parts, orders them, and drops what
Powertools adds by default that no route answers. Statuses that every route can give are added by
`answers()` so no route forgets them: 429 (API Gateway's stage throttling, and the per-user write
limits, with `Retry-After`), 500, and 401 on every route that needs a token.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from aws_lambda_powertools.event_handler.openapi.models import HTTPBearer
from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse, OpenAPIResponseHeader
from pydantic import BaseModel, Field

from photofeed.pagination import MAX_CURSOR_LENGTH, MAX_LIMIT

ErrorCode = Literal[
    "bad_request",
    "unauthorized",
    "forbidden",
    "not_found",
    "conflict",
    "payload_too_large",
    "unsupported_media_type",
    "validation_error",
    "rate_limited",
    "internal",
]


class ErrorDetail(BaseModel):
    code: ErrorCode = Field(description="Stable, machine-readable: what went wrong.")
    message: str = Field(description="For people: what to change. Never a stack trace.")


class ErrorBody(BaseModel):
    """The body of every answer that is not a success."""

    error: ErrorDetail


BEARER_SCHEME = "cognitoIdToken"
SECURITY_SCHEMES: dict[str, Any] = {
    BEARER_SCHEME: HTTPBearer(
        bearerFormat="JWT",
        description=(
            "The `id_token` that `POST /auth/login` (or `/auth/refresh`) answers: a Cognito id token, "
            "sent as `Authorization: Bearer <id_token>`. API Gateway's Cognito authorizer checks it."
        ),
    )
}
BEARER: list[dict[str, list[str]]] = [{BEARER_SCHEME: []}]

_ERRORS: dict[int, str] = {
    400: "The body is not JSON text (not UTF-8, not JSON, nested too deep), or the request is well-formed "
    "but not allowed (`bad_request`).",
    401: "No token, or a bad or expired one (`unauthorized`).",
    403: "Authenticated, but it is not yours (`forbidden`).",
    404: "No such thing, or not one the caller may see (`not_found`).",
    409: "It conflicts with what exists (`conflict`).",
    413: "The body, or the file announced, is too large (`payload_too_large`).",
    415: "The body is not `application/json` in UTF-8, or the file type is not accepted (`unsupported_media_type`).",
    422: "The body, a query or a path parameter fails the schema; unknown body fields too (`validation_error`).",
    429: "Too many requests, for this user or for the whole API (`rate_limited`); retry after `Retry-After` seconds.",
    500: "Something failed on our side (`internal`); nothing was half-done.",
}
_RETRY_AFTER: dict[str, OpenAPIResponseHeader] = {
    "Retry-After": {"description": "Seconds to wait before retrying.", "schema": {"type": "integer", "minimum": 0}}
}

# Status groups most routes share.
BODY_ERRORS = (400, 413, 415, 422)


def answers(
    status: int,
    description: str,
    *errors: int,
    public: bool = False,
    links: dict[str, Any] | None = None,
    body: dict[str, Any] | None = None,
) -> dict[int, OpenAPIResponse]:
    """The `responses=` of a route: its success (`status`, whose body is the handler's return
    annotation unless `body` gives the content, and none at all for 204), the `errors` it can give,
    and the ones every route can give. `links` (OpenAPI Link Objects) say which operations can
    follow this one with values from its answer."""
    success: OpenAPIResponse = {"description": description}
    if status == 204:
        success["content"] = {}
    elif body is not None:
        success["content"] = body
    if links:
        success["links"] = links
    responses: dict[int, OpenAPIResponse] = {status: success}
    for code in sorted({*errors, 429, 500, *(() if public else (401,))}):
        responses[code] = {
            "description": _ERRORS[code],
            "content": {"application/json": {"model": ErrorBody}},
        }
        if code == 429:
            responses[code]["headers"] = _RETRY_AFTER
    return responses


def link(operation_id: str, description: str, **parameters: str) -> dict[str, Any]:
    """An OpenAPI Link Object: `operation_id` can follow, with `parameters` taken from this answer
    (runtime expressions such as `$response.body#/id`)."""
    return {"operationId": operation_id, "parameters": parameters, "description": description}


# Path and query parameters shared by the API's routes.
UsernamePath = Annotated[
    str, Path(min_length=1, max_length=64, description="A username (case-insensitive), e.g. `alice`.")
]
PostIdPath = Annotated[str, Path(min_length=1, max_length=64, description="A post id (a ULID).")]
CommentIdPath = Annotated[str, Path(min_length=1, max_length=64, description="A comment id (a ULID).")]
DeviceIdPath = Annotated[str, Path(min_length=1, max_length=64, description="A device id from `POST /me/devices`.")]
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Items per page.")]
Cursor = Annotated[
    str | None,
    Query(
        max_length=MAX_CURSOR_LENGTH,
        pattern=r"^[A-Za-z0-9_-]*$",  # base64url without padding, as every cursor is given out
        description="`next_cursor` of the previous page; absent for the first page.",
    ),
]

TAGS: list[dict[str, str]] = [
    {"name": "Auth", "description": "Sign up, log in and refresh tokens (no token needed)."},
    {"name": "Users", "description": "Profiles, and who follows whom."},
    {"name": "Posts", "description": "Photo posts: create one, upload its photo (presigned POST), read, delete."},
    {"name": "Feed", "description": "The home feed: your posts and those of everyone you follow, newest first."},
    {"name": "Comments and likes", "description": "Comments on posts, and likes of posts and comments."},
    {"name": "Search", "description": "Published posts by the words of their title."},
    {"name": "Notifications", "description": "In-app notifications, read marks, and push devices."},
    {"name": "Meta", "description": "Health, and this document."},
]
