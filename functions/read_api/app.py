"""The read side of the API: profiles (and, as they arrive, feeds, posts and search)."""

from typing import Annotated, Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.event_handler.openapi.params import Path
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel

from photofeed.api.http import caller_id, create_resolver
from photofeed.models.users import User
from photofeed.wiring import profile_service

app = create_resolver()
logger = Logger()
tracer = Tracer()
metrics = Metrics()


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
def handle_get_user(username: Annotated[str, Path(min_length=1, max_length=64)]) -> User:
    return profile_service().by_username(caller_id(app), username.lower())


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
