"""The HTTP edge shared by every API function: one resolver factory, one error model.

Every failure leaves as the contract's `{"error": {"code", "message"}}` with its status code;
no stack trace ever reaches a client.
"""

import json
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.middlewares import NextMiddleware
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)

from photofeed.config import get_settings
from photofeed.errors import DomainError, PayloadTooLarge, RateLimited, Unauthorized, UnsupportedMediaType

logger = Logger(child=True)

_CORS_HEADERS = "Authorization,Content-Type,Idempotency-Key"
_CORS_METHODS = "GET,POST,PUT,PATCH,DELETE,OPTIONS"


def error_response(status_code: int, code: str, message: str, headers: dict[str, str] | None = None) -> Response:
    return Response(
        status_code=status_code,
        content_type=content_types.APPLICATION_JSON,
        body=json.dumps({"error": {"code": code, "message": message}}),
        headers=headers,
    )


def _describe_validation(errors: list[dict[str, Any]]) -> str:
    parts = []
    for error in errors[:5]:
        where = ".".join(str(part) for part in error.get("loc", ()) if part != "body") or "body"
        parts.append(f"{where}: {error.get('msg', 'invalid')}")
    return "; ".join(parts)


def _check_body(app: APIGatewayRestResolver) -> None:
    """Bodies are JSON (a missing Content-Type is read as JSON) and no larger than the limit."""
    body = app.current_event.body
    if not body:
        return
    limit = get_settings().max_request_body_bytes
    if len(body.encode()) > limit:
        raise PayloadTooLarge(f"request body is larger than {limit} bytes")
    content_type = (app.current_event.headers.get("content-type") or "").split(";")[0].strip().lower()
    if content_type and content_type != content_types.APPLICATION_JSON:
        raise UnsupportedMediaType(f"send the body as application/json, not {content_type}")


def _checks_before_validation(app: APIGatewayRestResolver) -> None:
    """Run `_check_body` ahead of Powertools' request validation, which is always first in the
    middleware stack (so a `use()` middleware would see the body only after it was parsed)."""
    validation = app._request_validation_middleware  # pinned Powertools: see requirements

    def check_then_validate(app: APIGatewayRestResolver, next_middleware: NextMiddleware) -> Response:
        _check_body(app)
        return validation(app, next_middleware)

    app._request_validation_middleware = check_then_validate  # type: ignore[assignment]


def _cors(app: APIGatewayRestResolver, next_middleware: NextMiddleware) -> Response:
    response = next_middleware(app)
    response.headers.setdefault("Access-Control-Allow-Origin", get_settings().cors_allow_origin)
    response.headers.setdefault("Access-Control-Allow-Headers", _CORS_HEADERS)
    response.headers.setdefault("Access-Control-Allow-Methods", _CORS_METHODS)
    return response


def create_resolver() -> APIGatewayRestResolver:
    """An API Gateway (REST) resolver with request validation and the contract's error model."""
    app = APIGatewayRestResolver(enable_validation=True)

    @app.exception_handler(DomainError)
    def handle_domain_error(error: DomainError) -> Response:
        headers = {"Retry-After": str(error.retry_after_seconds)} if isinstance(error, RateLimited) else None
        if error.status_code >= 500:
            logger.exception("request failed", extra={"code": error.code})
        return error_response(error.status_code, error.code, error.message, headers)

    @app.exception_handler(RequestValidationError)
    def handle_validation_error(error: RequestValidationError) -> Response:
        errors = list(error.errors())
        if any(item.get("type") == "json_invalid" for item in errors):
            return error_response(400, "bad_request", "request body is not valid JSON")
        return error_response(422, "validation_error", _describe_validation(errors))

    @app.exception_handler(RequestUnsupportedContentType)
    def handle_unsupported_content_type(_: RequestUnsupportedContentType) -> Response:
        return error_response(415, "unsupported_media_type", "send the body as application/json")

    @app.not_found
    def handle_not_found(_: NotFoundError) -> Response:
        return error_response(404, "not_found", "no such route")

    @app.exception_handler(Exception)
    def handle_unexpected(_: Exception) -> Response:
        logger.exception("unhandled error")
        return error_response(500, "internal", "internal error")

    app.use([_cors])
    _checks_before_validation(app)
    return app


def no_content() -> Response[None]:
    return Response(status_code=204, body=None)


def caller_id(app: APIGatewayRestResolver) -> str:
    """The authenticated caller: the `sub` claim the Cognito authorizer put on the request."""
    authorizer: Any = app.current_event.request_context.authorizer
    claims = (authorizer.claims if authorizer else None) or {}
    sub = claims.get("sub")
    if not sub:
        raise Unauthorized("missing or invalid token")
    return str(sub)
