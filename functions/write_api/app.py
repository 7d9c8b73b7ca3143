"""The write side of the API: profile changes (and, as they arrive, follows, posts, comments, likes)."""

from typing import Annotated, Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from photofeed.api.http import caller_id, create_resolver
from photofeed.models.users import ProfilePatch, User
from photofeed.wiring import profile_service

app = create_resolver()
logger = Logger()
tracer = Tracer()
metrics = Metrics()


@app.patch("/me")
@tracer.capture_method
def handle_update_me(body: Annotated[ProfilePatch, Body()]) -> User:
    return profile_service().update_me(caller_id(app), body)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
