"""The HTTP edge shared by every API function: one resolver, one error model, one way to read a body.

Every failure leaves as the contract's `{"error": {"code", "message"}}` with its status code;
no stack trace ever reaches a client. What the contract says of requests is enforced here, before
Powertools' validation sees them:

- A request body is read as JSON text only: its media type is matched case-insensitively
  (`Application/JSON; charset=UTF-8` is JSON; anything else is 415), its bytes must be UTF-8
  (RFC 8259 §8.1), and it must parse as JSON without NaN/Infinity, integers too long for Python
  to convert, nesting deeper than `MAX_JSON_DEPTH` or lone UTF-16 surrogates (RFC 8259 §8.2).
  Any of those is 400 `bad_request`, never a 500.
- Path parameters reach the handlers percent-decoded. API Gateway's REST proxy event keeps
  `path` percent-encoded, and Powertools takes route parameters from `path`, so `/users/bob%5Fsmith`
  would name `bob%5Fsmith`. The path is normalised as RFC 3986 §6.2.2.2 says (percent-encoded
  unreserved characters decoded) before routing, and each parameter is decoded after matching.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any
from urllib.parse import unquote

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.middlewares import NextMiddleware
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)

from photofeed.config import get_settings
from photofeed.errors import (
    BadRequest,
    DomainError,
    PayloadTooLarge,
    RateLimited,
    Unauthorized,
    UnsupportedMediaType,
)

logger = Logger(child=True)

_CORS_HEADERS = "Authorization,Content-Type,Idempotency-Key"
_CORS_METHODS = "GET,POST,PUT,PATCH,DELETE,OPTIONS"

# No request body of this API nests deeper than 3; 32 leaves room and keeps parsing bounded.
MAX_JSON_DEPTH = 32
_MAX_INT_DIGITS = 4300  # sys.get_int_max_str_digits()'s default
_UNRESERVED_ESCAPE = re.compile(r"%(4[1-9A-F]|5[0-9A]|6[1-9A-F]|7[0-9A]|3[0-9]|2D|2E|5F|7E)", re.IGNORECASE)


def error_response(status_code: int, code: str, message: str, headers: dict[str, str] | None = None) -> Response:
    return Response(
        status_code=status_code,
        content_type=content_types.APPLICATION_JSON,
        body=json.dumps({"error": {"code": code, "message": message}}),
        headers=headers,
    )


def normalise_path(path: str) -> str:
    """`path` with percent-encoded unreserved characters (letters, digits, `-._~`) decoded: the
    same resource however a client encoded it (RFC 3986 §6.2.2.2). Reserved characters such as an
    encoded `/` stay encoded, so they never split a segment."""
    return _UNRESERVED_ESCAPE.sub(lambda match: chr(int(match.group(1), 16)), path)


def media_type(header: str | None) -> tuple[str, dict[str, str]]:
    """The media type of a Content-Type header, lower-cased, and its parameters (names lower-cased,
    quotes removed), e.g. `Application/JSON; Charset="UTF-8"` -> ("application/json", {"charset": "UTF-8"})."""
    main, _, rest = (header or "").partition(";")
    parameters = {}
    for part in rest.split(";"):
        name, separator, value = part.partition("=")
        if separator:
            parameters[name.strip().lower()] = value.strip().strip('"')
    return main.strip().lower(), parameters


def parse_json_body(data: bytes) -> Any:
    """The JSON value of a request body, or BadRequest saying why it is not JSON text."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise BadRequest(f"the body is not UTF-8 text (byte {error.start} is not valid UTF-8)") from error
    try:
        value = json.loads(text, parse_constant=_refuse_constant, parse_int=_parse_int)
    except json.JSONDecodeError as error:
        raise BadRequest(f"the body is not valid JSON: {error.msg} at character {error.pos}") from error
    except ValueError as error:  # a number Python will not convert, or NaN/Infinity
        raise BadRequest(f"the body is not valid JSON: {error}") from error
    except RecursionError as error:
        raise BadRequest(f"the body nests deeper than {MAX_JSON_DEPTH} levels") from error
    _check_json_value(value)
    return value


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _parse_int(digits: str) -> int:
    if len(digits) > _MAX_INT_DIGITS:  # Python refuses to convert longer ones (CVE-2020-10735)
        raise ValueError(f"a number has {len(digits)} digits; at most {_MAX_INT_DIGITS} are read")
    return int(digits)


def _check_json_value(value: Any) -> None:
    """Walk the parsed value without recursion: bounded depth, and strings that are Unicode text."""
    pending: list[tuple[Any, int]] = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, str):
            _check_text(item)
        elif isinstance(item, dict | list):
            if depth > MAX_JSON_DEPTH:
                raise BadRequest(f"the body nests deeper than {MAX_JSON_DEPTH} levels")
            if isinstance(item, dict):
                for key, child in item.items():
                    _check_text(key)
                    pending.append((child, depth + 1))
            else:
                pending.extend((child, depth + 1) for child in item)


def _check_text(text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        raise BadRequest("the body holds a lone UTF-16 surrogate (\\ud800-\\udfff), which is not text") from error


def _request_bytes(app: APIGatewayRestResolver) -> bytes:
    event = app.current_event
    body = event.body or ""
    if event.is_base64_encoded:
        try:
            return base64.b64decode(body, validate=True)
        except binascii.Error as error:
            raise BadRequest("the body is not valid base64") from error
    return body.encode("utf-8", "surrogatepass")


def _read_body(app: APIGatewayRestResolver) -> None:
    """Check and parse the body of a route that takes one, ahead of Powertools' validation: at
    most the size limit, JSON by its media type, JSON text by its bytes. The parsed value is
    handed to the validation (as the event's `json_body`), so it is never parsed twice."""
    event = app.current_event
    if not event.body:
        return  # Powertools answers 422: the body is required
    data = _request_bytes(app)
    limit = get_settings().max_request_body_bytes
    if len(data) > limit:
        raise PayloadTooLarge(f"request body is larger than {limit} bytes")
    headers = event.raw_event.get("headers") or {}
    header_name = next((name for name in headers if name.lower() == "content-type"), None)
    found, parameters = media_type(headers.get(header_name) if header_name else None)
    if found and found != content_types.APPLICATION_JSON:
        raise UnsupportedMediaType(f"send the body as application/json, not {found}")
    charset = parameters.get("charset", "utf-8").lower()
    if charset not in ("utf-8", "utf8"):
        raise UnsupportedMediaType(f"send the body as UTF-8, not {charset}")
    value = parse_json_body(data)
    if header_name:
        headers[header_name] = content_types.APPLICATION_JSON  # what Powertools' own check expects
    event.__dict__["json_body"] = value  # the cached property Powertools reads


def _checks_before_validation(app: APIGatewayRestResolver) -> None:
    """Run `_read_body` ahead of Powertools' request validation, which is always first in the
    middleware stack (so a `use()` middleware would see the body only after it was parsed)."""
    validation = app._request_validation_middleware  # pinned Powertools: see requirements

    def check_then_validate(app: APIGatewayRestResolver, next_middleware: NextMiddleware) -> Response:
        route = app.context.get("_route")
        if route is not None and route.dependant.body_params:
            _read_body(app)
        return validation(app, next_middleware)

    app._request_validation_middleware = check_then_validate  # type: ignore[assignment]


def _with_cors(response: Response) -> Response:
    """`response` with the API's CORS headers: without them a browser hides the answer, errors included,
    from the web app (a refused login would read as a network failure)."""
    response.headers.setdefault("Access-Control-Allow-Origin", get_settings().cors_allow_origin)
    response.headers.setdefault("Access-Control-Allow-Headers", _CORS_HEADERS)
    response.headers.setdefault("Access-Control-Allow-Methods", _CORS_METHODS)
    return response


def _cors(app: APIGatewayRestResolver, next_middleware: NextMiddleware) -> Response:
    return _with_cors(next_middleware(app))


def _describe_validation(errors: list[dict[str, Any]]) -> str:
    parts = []
    for error in errors[:5]:
        where = ".".join(str(part) for part in error.get("loc", ()) if part != "body") or "body"
        parts.append(f"{where}: {error.get('msg', 'invalid')}")
    return "; ".join(parts)


class PhotoFeedResolver(APIGatewayRestResolver):
    """Powertools' REST resolver, routing on the normalised path and handing handlers decoded
    path parameters (see the module's docstring)."""

    def _remove_prefix(self, path: str) -> str:
        return normalise_path(super()._remove_prefix(path))

    def _convert_matches_into_route_keys(self, match: re.Match[str]) -> dict[str, str]:
        return {name: unquote(value) for name, value in match.groupdict().items()}


def create_resolver() -> PhotoFeedResolver:
    """An API Gateway (REST) resolver with request validation and the contract's error model."""
    app = PhotoFeedResolver(enable_validation=True)

    @app.exception_handler(DomainError)
    def handle_domain_error(error: DomainError) -> Response:
        headers = {"Retry-After": str(error.retry_after_seconds)} if isinstance(error, RateLimited) else None
        if error.status_code >= 500:
            logger.exception("request failed", extra={"code": error.code})
        return _with_cors(error_response(error.status_code, error.code, error.message, headers))

    @app.exception_handler(RequestValidationError)
    def handle_validation_error(error: RequestValidationError) -> Response:
        errors = list(error.errors())
        if any(item.get("type") == "json_invalid" for item in errors):
            return _with_cors(error_response(400, "bad_request", "request body is not valid JSON"))
        return _with_cors(error_response(422, "validation_error", _describe_validation(errors)))

    @app.exception_handler(RequestUnsupportedContentType)
    def handle_unsupported_content_type(_: RequestUnsupportedContentType) -> Response:
        return _with_cors(error_response(415, "unsupported_media_type", "send the body as application/json"))

    @app.not_found
    def handle_not_found(_: NotFoundError) -> Response:
        return _with_cors(error_response(404, "not_found", "no such route"))

    @app.exception_handler(Exception)
    def handle_unexpected(_: Exception) -> Response:
        logger.exception("unhandled error")
        return _with_cors(error_response(500, "internal", "internal error"))

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
