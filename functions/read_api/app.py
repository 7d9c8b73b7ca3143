"""The read side of the API: profiles, follow lists, posts, comments, the feed, search, notifications."""

from typing import Annotated, Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel

from photofeed.api.http import caller_id, create_resolver
from photofeed.api.openapi import BEARER, Cursor, Limit, PostIdPath, UsernamePath, answers
from photofeed.models.engagement import CommentList
from photofeed.models.notifications import NotificationList
from photofeed.models.posts import Post, PostList, UserSummaryList
from photofeed.models.users import User
from photofeed.pagination import DEFAULT_LIMIT
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


class Health(BaseModel):
    status: str = "ok"


@app.get(
    "/health",
    operation_id="getHealth",
    summary="Is the API up",
    tags=["Meta"],
    responses=answers(200, "The API answers", public=True),
)
def handle_health() -> Health:
    return Health()


@app.get(
    "/me",
    operation_id="getMe",
    summary="Your profile",
    tags=["Users"],
    security=BEARER,
    responses=answers(200, "Your profile", 404),
)
@tracer.capture_method
def handle_get_me() -> User:
    return profile_service().me(caller_id(app))


@app.get(
    "/users/<username>",
    operation_id="getUser",
    summary="Someone's profile",
    description="With `followed_by_me` when it is someone else's.",
    tags=["Users"],
    security=BEARER,
    responses=answers(200, "The profile", 404, 422),
)
@tracer.capture_method
def handle_get_user(username: UsernamePath) -> User:
    return profile_service().by_username(caller_id(app), username.lower())


@app.get(
    "/users/<username>/followers",
    operation_id="listFollowers",
    summary="Who follows someone",
    description="Newest follow first.",
    tags=["Users"],
    security=BEARER,
    responses=answers(200, "A page of followers", 404, 422),
)
@tracer.capture_method
def handle_followers(username: UsernamePath, limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None) -> UserSummaryList:
    caller_id(app)
    page = follow_service().followers(username.lower(), limit, cursor)
    return UserSummaryList(items=page.items, next_cursor=page.next_cursor)


@app.get(
    "/users/<username>/following",
    operation_id="listFollowing",
    summary="Whom someone follows",
    description="Newest follow first.",
    tags=["Users"],
    security=BEARER,
    responses=answers(200, "A page of the accounts they follow", 404, 422),
)
@tracer.capture_method
def handle_following(username: UsernamePath, limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None) -> UserSummaryList:
    caller_id(app)
    page = follow_service().following(username.lower(), limit, cursor)
    return UserSummaryList(items=page.items, next_cursor=page.next_cursor)


@app.get(
    "/users/<username>/posts",
    operation_id="listUserPosts",
    summary="Someone's published posts",
    description="Newest first.",
    tags=["Posts"],
    security=BEARER,
    responses=answers(200, "A page of their posts", 404, 422),
)
@tracer.capture_method
def handle_user_posts(username: UsernamePath, limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None) -> PostList:
    page = post_service().by_author(caller_id(app), username.lower(), limit, cursor)
    return PostList(items=page.items, next_cursor=page.next_cursor)


@app.get(
    "/posts/<post_id>/comments",
    operation_id="listComments",
    summary="A post's comments",
    description="Oldest first.",
    tags=["Comments and likes"],
    security=BEARER,
    responses=answers(200, "A page of comments", 404, 422),
)
@tracer.capture_method
def handle_comments(post_id: PostIdPath, limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None) -> CommentList:
    page = engagement_service().comments(caller_id(app), post_id, limit, cursor)
    return CommentList(items=page.items, next_cursor=page.next_cursor)


@app.get(
    "/feed",
    operation_id="getFeed",
    summary="Your home feed",
    description=(
        "Your posts and those of everyone you follow, newest first. Following `next_cursor` walks the "
        "whole feed with no repeats and no gaps while new posts arrive."
    ),
    tags=["Feed"],
    security=BEARER,
    responses=answers(200, "A page of the feed", 422, body={content_types.APPLICATION_JSON: {"model": PostList}}),
)
@tracer.capture_method
def handle_feed(limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None) -> Response[str]:
    # The page arrives as JSON assembled from the post cache (each post serialised by the Post
    # model when it was cached): re-validating and re-encoding it would cost what the cache saves.
    body = feed_service().page(caller_id(app), limit, cursor)
    return Response(status_code=200, content_type=content_types.APPLICATION_JSON, body=body)


@app.get(
    "/search",
    operation_id="searchPosts",
    summary="Search published posts by title",
    description=(
        "Posts whose title holds every word of `q` (any case and accent; the last word also as a prefix "
        "of 2 or more letters), newest first."
    ),
    tags=["Search"],
    security=BEARER,
    responses=answers(200, "A page of matching posts", 422),
)
@tracer.capture_method
def handle_search(
    q: Annotated[str, Query(min_length=1, max_length=MAX_QUERY_CHARS, description="The words to find.")],
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> PostList:
    page = search_service().search(caller_id(app), q, limit, cursor)
    return PostList(items=page.items, next_cursor=page.next_cursor)


@app.get(
    "/notifications",
    operation_id="listNotifications",
    summary="Your notifications",
    description="Newest first.",
    tags=["Notifications"],
    security=BEARER,
    responses=answers(200, "A page of notifications", 422),
)
@tracer.capture_method
def handle_notifications(limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None) -> NotificationList:
    page = notification_service().page(caller_id(app), limit, cursor)
    return NotificationList(items=page.items, next_cursor=page.next_cursor)


@app.get(
    "/posts/<post_id>",
    operation_id="getPost",
    summary="A post",
    description="Published posts are anyone's to see; the author also sees theirs while pending or rejected.",
    tags=["Posts"],
    security=BEARER,
    responses=answers(200, "The post", 404, 422),
)
@tracer.capture_method
def handle_get_post(post_id: PostIdPath) -> Post:
    return post_service().get(caller_id(app), post_id)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
