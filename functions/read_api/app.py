"""The read side of the API: profiles, follow lists, posts, comments, the feed, search, notifications."""

from typing import Annotated, Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel

from photofeed.api.http import caller_id, create_resolver
from photofeed.models.engagement import CommentList
from photofeed.models.notifications import NotificationList
from photofeed.models.posts import Post, PostList, UserSummaryList
from photofeed.models.users import User
from photofeed.pagination import DEFAULT_LIMIT, MAX_CURSOR_LENGTH, MAX_LIMIT
from photofeed.services.search import MAX_QUERY_CHARS
from photofeed.wiring import (
    engagement_service,
    feed_service,
    follow_service,
    notification_service,
    post_service,
    profile_service,
    search_service,
)

app = create_resolver()
logger = Logger()
tracer = Tracer()
metrics = Metrics()

UsernamePath = Annotated[str, Path(min_length=1, max_length=64)]
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT)]
Cursor = Annotated[str | None, Query(max_length=MAX_CURSOR_LENGTH)]


class Health(BaseModel):
    status: str = "ok"


@app.get("/health")
def handle_health() -> Health:
    return Health()


@app.get("/me")
@tracer.capture_method
def handle_get_me() -> User:
    return profile_service().me(caller_id(app))


@app.get("/users/<username>")
@tracer.capture_method
def handle_get_user(username: UsernamePath) -> User:
    return profile_service().by_username(caller_id(app), username.lower())


@app.get("/users/<username>/followers")
@tracer.capture_method
def handle_followers(username: UsernamePath, limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None) -> UserSummaryList:
    caller_id(app)
    page = follow_service().followers(username.lower(), limit, cursor)
    return UserSummaryList(items=page.items, next_cursor=page.next_cursor)


@app.get("/users/<username>/following")
@tracer.capture_method
def handle_following(username: UsernamePath, limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None) -> UserSummaryList:
    caller_id(app)
    page = follow_service().following(username.lower(), limit, cursor)
    return UserSummaryList(items=page.items, next_cursor=page.next_cursor)


@app.get("/users/<username>/posts")
@tracer.capture_method
def handle_user_posts(username: UsernamePath, limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None) -> PostList:
    page = post_service().by_author(caller_id(app), username.lower(), limit, cursor)
    return PostList(items=page.items, next_cursor=page.next_cursor)


@app.get("/posts/<post_id>/comments")
@tracer.capture_method
def handle_comments(
    post_id: Annotated[str, Path(min_length=1, max_length=64)], limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None
) -> CommentList:
    page = engagement_service().comments(caller_id(app), post_id, limit, cursor)
    return CommentList(items=page.items, next_cursor=page.next_cursor)


@app.get(
    "/feed",
    responses={200: {"description": "A page of the home feed", "content": {"application/json": {"model": PostList}}}},
)
@tracer.capture_method
def handle_feed(limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None) -> Response[str]:
    # The page arrives as JSON assembled from the post cache (each post serialised by the Post
    # model when it was cached): re-validating and re-encoding it would cost what the cache saves.
    body = feed_service().page(caller_id(app), limit, cursor)
    return Response(status_code=200, content_type=content_types.APPLICATION_JSON, body=body)


@app.get("/search")
@tracer.capture_method
def handle_search(
    q: Annotated[str, Query(max_length=MAX_QUERY_CHARS)], limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None
) -> PostList:
    page = search_service().search(caller_id(app), q, limit, cursor)
    return PostList(items=page.items, next_cursor=page.next_cursor)


@app.get("/notifications")
@tracer.capture_method
def handle_notifications(limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None) -> NotificationList:
    page = notification_service().page(caller_id(app), limit, cursor)
    return NotificationList(items=page.items, next_cursor=page.next_cursor)


@app.get("/posts/<post_id>")
@tracer.capture_method
def handle_get_post(post_id: Annotated[str, Path(min_length=1, max_length=64)]) -> Post:
    return post_service().get(caller_id(app), post_id)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
