"""The write side of the API: profiles, follows, posts, comments, likes, devices, read marks."""

from typing import Annotated, Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body, Header
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from photofeed.api.http import caller_id, create_resolver, no_content
from photofeed.api.openapi import (
    BEARER,
    BODY_ERRORS,
    CommentIdPath,
    DeviceIdPath,
    PostIdPath,
    UsernamePath,
    answers,
    link,
)
from photofeed.models.engagement import Comment, CreateCommentRequest
from photofeed.models.notifications import Device, MarkIdsRead, MarkReadRequest, RegisterDeviceRequest
from photofeed.models.posts import IDEMPOTENCY_KEY_PATTERN, CreatedPost, CreatePostRequest
from photofeed.models.users import ProfilePatch, User
from photofeed.wiring import (
    device_registry,
    engagement_service,
    follow_service,
    idempotent_actions,
    notification_service,
    post_service,
    profile_service,
    rate_limiter,
)

app = create_resolver()
logger = Logger()
tracer = Tracer()
metrics = Metrics()

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        pattern=IDEMPOTENCY_KEY_PATTERN,
        description=(
            "Makes a retry safe: the same key from the same user within 24 h answers the same post "
            "(a different body with it is 422; after that post was deleted, 409)."
        ),
    ),
]

_POST_LINKS = {
    "GetPost": link("getPost", "The post, to follow its status", post_id="$response.body#/post/id"),
    "DeletePost": link("deletePost", "Delete the post", post_id="$response.body#/post/id"),
    "CommentOnPost": link("createComment", "Comment on the post", post_id="$response.body#/post/id"),
    "LikePost": link("likePost", "Like the post", post_id="$response.body#/post/id"),
    "UnlikePost": link("unlikePost", "Take the like back", post_id="$response.body#/post/id"),
    "ListComments": link("listComments", "The post's comments", post_id="$response.body#/post/id"),
}
_COMMENT_LINKS = {
    "DeleteComment": link(
        "deleteComment",
        "Delete the comment",
        post_id="$response.body#/post_id",
        comment_id="$response.body#/id",
    ),
    "LikeComment": link(
        "likeComment",
        "Like the comment",
        post_id="$response.body#/post_id",
        comment_id="$response.body#/id",
    ),
    "UnlikeComment": link(
        "unlikeComment",
        "Take the like back",
        post_id="$response.body#/post_id",
        comment_id="$response.body#/id",
    ),
}


@app.patch(
    "/me",
    operation_id="updateMe",
    summary="Change your display name or bio",
    tags=["Users"],
    security=BEARER,
    responses=answers(200, "Your profile, changed", *BODY_ERRORS, 404),
)
@tracer.capture_method
def handle_update_me(body: Annotated[ProfilePatch, Body()]) -> User:
    return profile_service().update_me(caller_id(app), body)


@app.put(
    "/users/<username>/follow",
    status_code=204,
    operation_id="follow",
    summary="Follow someone",
    description="Idempotent. Their posts join your feed (their recent ones too).",
    tags=["Users"],
    security=BEARER,
    responses=answers(204, "You follow them", 400, 404, 422),
)
@tracer.capture_method
def handle_follow(username: UsernamePath) -> Response[None]:
    rate_limiter().hit(caller_id(app), "follow")
    if follow_service().follow(caller_id(app), username.lower()):
        metrics.add_metric(name="Follows", unit=MetricUnit.Count, value=1)
    return no_content()


@app.delete(
    "/users/<username>/follow",
    status_code=204,
    operation_id="unfollow",
    summary="Stop following someone",
    description="Idempotent (unfollowing yourself, or someone you do not follow, has nothing to undo). "
    "Their posts leave your feed at once.",
    tags=["Users"],
    security=BEARER,
    responses=answers(204, "You do not follow them", 404, 422),
)
@tracer.capture_method
def handle_unfollow(username: UsernamePath) -> Response[None]:
    rate_limiter().hit(caller_id(app), "follow")
    follow_service().unfollow(caller_id(app), username.lower())
    return no_content()


@app.post(
    "/posts",
    status_code=201,
    operation_id="createPost",
    summary="Create a photo post",
    description=(
        "Answers the post (status `pending_upload`) and a presigned POST: send `multipart/form-data` to "
        "`upload.url` with every field of `upload.fields` and the file last, in a field named `file`. "
        "The post is published once its photo is processed, or rejected with a reason."
    ),
    tags=["Posts"],
    security=BEARER,
    responses=answers(201, "The post and where to upload its photo", *BODY_ERRORS, 409, links=_POST_LINKS),
)
@tracer.capture_method
def handle_create_post(
    body: Annotated[CreatePostRequest, Body()], idempotency_key: IdempotencyKey = None
) -> CreatedPost:
    rate_limiter().hit(caller_id(app), "post")
    created = post_service().create(caller_id(app), body, idempotency_key)
    metrics.add_metric(name="PostsCreated", unit=MetricUnit.Count, value=1)
    return created


@app.delete(
    "/posts/<post_id>",
    status_code=204,
    operation_id="deletePost",
    summary="Delete your post",
    description="It leaves every feed, profile, search and comment list from the moment this answers.",
    tags=["Posts"],
    security=BEARER,
    responses=answers(204, "The post is gone", 403, 404, 409, 422),
)
@tracer.capture_method
def handle_delete_post(post_id: PostIdPath) -> Response[None]:
    post_service().delete(caller_id(app), post_id)
    return no_content()


@app.post(
    "/posts/<post_id>/comments",
    status_code=201,
    operation_id="createComment",
    summary="Comment on a post",
    tags=["Comments and likes"],
    security=BEARER,
    responses=answers(201, "The comment", *BODY_ERRORS, 404, links=_COMMENT_LINKS),
)
@tracer.capture_method
def handle_create_comment(post_id: PostIdPath, body: Annotated[CreateCommentRequest, Body()]) -> Comment:
    rate_limiter().hit(caller_id(app), "comment")
    comment = engagement_service().comment(caller_id(app), post_id, body)
    metrics.add_metric(name="Comments", unit=MetricUnit.Count, value=1)
    return comment


@app.delete(
    "/posts/<post_id>/comments/<comment_id>",
    status_code=204,
    operation_id="deleteComment",
    summary="Delete a comment",
    description="Its author may, and so may the post's author.",
    tags=["Comments and likes"],
    security=BEARER,
    responses=answers(204, "The comment is gone", 403, 404, 422),
)
@tracer.capture_method
def handle_delete_comment(post_id: PostIdPath, comment_id: CommentIdPath) -> Response[None]:
    engagement_service().delete_comment(caller_id(app), post_id, comment_id)
    return no_content()


@app.put(
    "/posts/<post_id>/like",
    status_code=204,
    operation_id="likePost",
    summary="Like a post",
    description="Idempotent: a like repeated any number of times counts once.",
    tags=["Comments and likes"],
    security=BEARER,
    responses=answers(204, "You like the post", 404, 422),
)
@tracer.capture_method
def handle_like_post(post_id: PostIdPath) -> Response[None]:
    rate_limiter().hit(caller_id(app), "like")
    engagement_service().like_post(caller_id(app), post_id)
    return no_content()


@app.delete(
    "/posts/<post_id>/like",
    status_code=204,
    operation_id="unlikePost",
    summary="Take back a like of a post",
    description="Idempotent.",
    tags=["Comments and likes"],
    security=BEARER,
    responses=answers(204, "You do not like the post", 404, 422),
)
@tracer.capture_method
def handle_unlike_post(post_id: PostIdPath) -> Response[None]:
    rate_limiter().hit(caller_id(app), "like")
    engagement_service().unlike_post(caller_id(app), post_id)
    return no_content()


@app.put(
    "/posts/<post_id>/comments/<comment_id>/like",
    status_code=204,
    operation_id="likeComment",
    summary="Like a comment",
    description="Idempotent: a like repeated any number of times counts once.",
    tags=["Comments and likes"],
    security=BEARER,
    responses=answers(204, "You like the comment", 404, 422),
)
@tracer.capture_method
def handle_like_comment(post_id: PostIdPath, comment_id: CommentIdPath) -> Response[None]:
    rate_limiter().hit(caller_id(app), "like")
    engagement_service().like_comment(caller_id(app), post_id, comment_id)
    return no_content()


@app.delete(
    "/posts/<post_id>/comments/<comment_id>/like",
    status_code=204,
    operation_id="unlikeComment",
    summary="Take back a like of a comment",
    description="Idempotent.",
    tags=["Comments and likes"],
    security=BEARER,
    responses=answers(204, "You do not like the comment", 404, 422),
)
@tracer.capture_method
def handle_unlike_comment(post_id: PostIdPath, comment_id: CommentIdPath) -> Response[None]:
    rate_limiter().hit(caller_id(app), "like")
    engagement_service().unlike_comment(caller_id(app), post_id, comment_id)
    return no_content()


@app.post(
    "/me/devices",
    status_code=201,
    operation_id="registerDevice",
    summary="Register a phone for push notifications",
    description="Registering the same token again is the same device (and takes it over from its previous owner).",
    tags=["Notifications"],
    security=BEARER,
    responses=answers(
        201,
        "The device",
        *BODY_ERRORS,
        409,
        links={"RemoveDevice": link("removeDevice", "Unregister the device", device_id="$response.body#/id")},
    ),
)
@tracer.capture_method
def handle_register_device(body: Annotated[RegisterDeviceRequest, Body()]) -> Device:
    rate_limiter().hit(caller_id(app), "device")
    device = device_registry().register(caller_id(app), body.platform, body.token)
    return Device(id=device, platform=body.platform)


@app.delete(
    "/me/devices/<device_id>",
    status_code=204,
    operation_id="removeDevice",
    summary="Unregister a phone",
    tags=["Notifications"],
    security=BEARER,
    responses=answers(204, "The device receives nothing more", 404, 422),
)
@tracer.capture_method
def handle_remove_device(device_id: DeviceIdPath) -> Response[None]:
    device_registry().remove(caller_id(app), device_id)
    return no_content()


@app.post(
    "/notifications/read",
    status_code=204,
    operation_id="markNotificationsRead",
    summary="Mark notifications read",
    description='Either `{"ids": [...]}` (your own notifications) or `{"all": true}`.',
    tags=["Notifications"],
    security=BEARER,
    responses=answers(204, "They are read", *BODY_ERRORS, 404),
)
@tracer.capture_method
def handle_mark_read(body: Annotated[MarkReadRequest, Body()]) -> Response[None]:
    if isinstance(body, MarkIdsRead):
        notification_service().mark_read(caller_id(app), body.ids, everything=False)
    else:
        notification_service().mark_read(caller_id(app), None, everything=True)
    return no_content()


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    idempotent_actions().register_lambda_context(context)
    return app.resolve(event, context)
