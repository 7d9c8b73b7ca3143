"""Sign-up, login and token refresh (public routes)."""

from typing import Annotated, Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from photofeed.api.http import create_resolver
from photofeed.models.users import (
    LoginRequest,
    LoginTokens,
    RefreshRequest,
    SignupRequest,
    Tokens,
    UserEnvelope,
)
from photofeed.wiring import account_service

app = create_resolver()
logger = Logger()
tracer = Tracer()
metrics = Metrics()


@app.post("/auth/signup")
@tracer.capture_method
def handle_signup(body: Annotated[SignupRequest, Body()]) -> tuple[UserEnvelope, int]:
    user = account_service().sign_up(body)
    logger.info("user signed up", extra={"user_id": user.id})
    metrics.add_metric(name="SignUps", unit=MetricUnit.Count, value=1)
    return UserEnvelope(user=user), 201


@app.post("/auth/login")
@tracer.capture_method
def handle_login(body: Annotated[LoginRequest, Body()]) -> LoginTokens:
    return account_service().log_in(body)


@app.post("/auth/refresh")
@tracer.capture_method
def handle_refresh(body: Annotated[RefreshRequest, Body()]) -> Tokens:
    return account_service().refresh(body)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
