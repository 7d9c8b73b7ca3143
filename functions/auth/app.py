"""Sign-up, login and token refresh (public routes)."""

from typing import Annotated, Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from photofeed.api.http import create_resolver
from photofeed.api.openapi import BODY_ERRORS, answers, link
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


@app.post(
    "/auth/signup",
    status_code=201,
    operation_id="signUp",
    summary="Create an account",
    description="Usernames are case-insensitive and stored lower-case. Log in afterwards for tokens.",
    tags=["Auth"],
    responses=answers(
        201,
        "The new account",
        *BODY_ERRORS,
        409,
        public=True,
        links={
            "GetUser": link("getUser", "The new account's profile", username="$response.body#/user/username"),
            "Follow": link("follow", "Follow the new account", username="$response.body#/user/username"),
            "ListUserPosts": link("listUserPosts", "The new account's posts", username="$response.body#/user/username"),
        },
    ),
)
@tracer.capture_method
def handle_signup(body: Annotated[SignupRequest, Body()]) -> UserEnvelope:
    user = account_service().sign_up(body)
    logger.info("user signed up", extra={"user_id": user.id})
    metrics.add_metric(name="SignUps", unit=MetricUnit.Count, value=1)
    return UserEnvelope(user=user)


@app.post(
    "/auth/login",
    operation_id="logIn",
    summary="Log in",
    description="Send `id_token` as `Authorization: Bearer <id_token>`; refresh it before `expires_in` seconds.",
    tags=["Auth"],
    responses=answers(200, "Tokens for the account", *BODY_ERRORS, 401, public=True),
)
@tracer.capture_method
def handle_login(body: Annotated[LoginRequest, Body()]) -> LoginTokens:
    return account_service().log_in(body)


@app.post(
    "/auth/refresh",
    operation_id="refreshTokens",
    summary="Refresh the tokens",
    description="New id and access tokens for a refresh token from `POST /auth/login`.",
    tags=["Auth"],
    responses=answers(200, "New tokens (the refresh token stays the same)", *BODY_ERRORS, 401, public=True),
)
@tracer.capture_method
def handle_refresh(body: Annotated[RefreshRequest, Body()]) -> Tokens:
    return account_service().refresh(body)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
