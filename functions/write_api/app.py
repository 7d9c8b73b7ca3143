"""The write side of the API: profiles, follows, posts, comments, likes, devices, read marks."""

from typing import Annotated, Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body, Path
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from photofeed.api.http import caller_id, create_resolver, no_content
from photofeed.models.engagement import Comment, CreateCommentRequest
from photofeed.models.notifications import Device, MarkReadRequest, RegisterDeviceRequest
from photofeed.models.posts import CreatedPost, CreatePostRequest
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

UsernamePath = Annotated[str, Path(min_length=1, max_length=64)]
PostIdPath = Annotated[str, Path(min_length=1, max_length=64)]


@app.patch("/me")
@tracer.capture_method
def handle_update_me(body: Annotated[ProfilePatch, Body()]) -> User:
    return profile_service().update_me(caller_id(app), body)


@app.put("/users/<username>/follow")
@tracer.capture_method
def handle_follow(username: UsernamePath) -> Response[None]:
    rate_limiter().hit(caller_id(app), "follow")
    if follow_service().follow(caller_id(app), username.lower()):
        metrics.add_metric(name="Follows", unit=MetricUnit.Count, value=1)
    return no_content()


@app.delete("/users/<username>/follow")
@tracer.capture_method
def handle_unfollow(username: UsernamePath) -> Response[None]:
    rate_limiter().hit(caller_id(app), "follow")
    follow_service().unfollow(caller_id(app), username.lower())
    return no_content()


@app.post("/posts")
@tracer.capture_method
def handle_create_post(body: Annotated[CreatePostRequest, Body()]) -> tuple[CreatedPost, int]:
    rate_limiter().hit(caller_id(app), "post")
    key = app.current_event.headers.get("Idempotency-Key")
    created = post_service().create(caller_id(app), body, key)
    metrics.add_metric(name="PostsCreated", unit=MetricUnit.Count, value=1)
    return created, 201


@app.delete("/posts/<post_id>")
@tracer.capture_method
def handle_delete_post(post_id: PostIdPath) -> Response[None]:
    post_service().delete(caller_id(app), post_id)
    return no_content()


CommentIdPath = Annotated[str, Path(min_length=1, max_length=64)]


@app.post("/posts/<post_id>/comments")
@tracer.capture_method
def handle_create_comment(post_id: PostIdPath, body: Annotated[CreateCommentRequest, Body()]) -> tuple[Comment, int]:
    rate_limiter().hit(caller_id(app), "comment")
    comment = engagement_service().comment(caller_id(app), post_id, body)
    metrics.add_metric(name="Comments", unit=MetricUnit.Count, value=1)
    return comment, 201


@app.delete("/posts/<post_id>/comments/<comment_id>")
@tracer.capture_method
def handle_delete_comment(post_id: PostIdPath, comment_id: CommentIdPath) -> Response[None]:
    engagement_service().delete_comment(caller_id(app), post_id, comment_id)
    return no_content()


@app.put("/posts/<post_id>/like")
@tracer.capture_method
def handle_like_post(post_id: PostIdPath) -> Response[None]:
    rate_limiter().hit(caller_id(app), "like")
    engagement_service().like_post(caller_id(app), post_id)
    return no_content()


@app.delete("/posts/<post_id>/like")
@tracer.capture_method
def handle_unlike_post(post_id: PostIdPath) -> Response[None]:
    rate_limiter().hit(caller_id(app), "like")
    engagement_service().unlike_post(caller_id(app), post_id)
    return no_content()


@app.put("/posts/<post_id>/comments/<comment_id>/like")
@tracer.capture_method
def handle_like_comment(post_id: PostIdPath, comment_id: CommentIdPath) -> Response[None]:
    rate_limiter().hit(caller_id(app), "like")
    engagement_service().like_comment(caller_id(app), post_id, comment_id)
    return no_content()


@app.delete("/posts/<post_id>/comments/<comment_id>/like")
@tracer.capture_method
def handle_unlike_comment(post_id: PostIdPath, comment_id: CommentIdPath) -> Response[None]:
    rate_limiter().hit(caller_id(app), "like")
    engagement_service().unlike_comment(caller_id(app), post_id, comment_id)
    return no_content()


DeviceIdPath = Annotated[str, Path(min_length=1, max_length=64)]


@app.post("/me/devices")
@tracer.capture_method
def handle_register_device(body: Annotated[RegisterDeviceRequest, Body()]) -> tuple[Device, int]:
    rate_limiter().hit(caller_id(app), "device")
    device = device_registry().register(caller_id(app), body.platform, body.token)
    return Device(id=device, platform=body.platform), 201


@app.delete("/me/devices/<device_id>")
@tracer.capture_method
def handle_remove_device(device_id: DeviceIdPath) -> Response[None]:
    device_registry().remove(caller_id(app), device_id)
    return no_content()


@app.post("/notifications/read")
@tracer.capture_method
def handle_mark_read(body: Annotated[MarkReadRequest, Body()]) -> Response[None]:
    notification_service().mark_read(caller_id(app), body.ids, body.all is True)
    return no_content()


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    idempotent_actions().register_lambda_context(context)
    return app.resolve(event, context)
