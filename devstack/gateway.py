"""A local API Gateway (REST) for the routes `template.yaml` declares.

Each HTTP request becomes the proxy event API Gateway would send, for the function and route
the template names. What API Gateway does before a function runs is done here too, from the
template's own settings: the Cognito authorizer (the bearer token checked against the local
pool's signing keys; its claims passed in `requestContext.authorizer.claims`), CORS preflight,
stage throttling, the 10 MB payload limit, and the GatewayResponses bodies.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import re
import threading
import time
import uuid
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import requests
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from devstack.runtime import FunctionError, FunctionRuntime, LocalFunction
from devstack.template import ACCOUNT_ID, Template, TemplateError
from photofeed.api.http import normalise_path

log = logging.getLogger("devstack.api")

API_GATEWAY_MAX_PAYLOAD = 10 * 1024 * 1024
_DEFAULT_RESPONSES = {
    "UNAUTHORIZED": (401, '{"message":"Unauthorized"}'),
    "MISSING_AUTHENTICATION_TOKEN": (403, '{"message":"Missing Authentication Token"}'),
    "ACCESS_DENIED": (403, '{"message":"Forbidden"}'),
    "THROTTLED": (429, '{"message":"Too Many Requests"}'),
    "REQUEST_TOO_LARGE": (413, '{"message":"Request Too Large"}'),
    "DEFAULT_5XX": (502, '{"message":"Internal server error"}'),
}


@dataclass(frozen=True)
class Route:
    method: str
    resource: str
    pattern: re.Pattern[str]
    function: LocalFunction
    authorizer: str | None

    @property
    def specificity(self) -> tuple[int, int]:
        # API Gateway prefers literal segments over {params}, and {params} over {proxy+}.
        return (self.resource.count("+}"), self.resource.count("{"))


def _path_pattern(resource: str) -> re.Pattern[str]:
    regex = ""
    for part in re.split(r"(\{[^}]+\})", resource):
        if part.startswith("{") and part.endswith("+}"):
            regex += f"(?P<{part[1:-2]}>.+)"
        elif part.startswith("{"):
            regex += f"(?P<{part[1:-1]}>[^/]+)"
        else:
            regex += re.escape(part)
    return re.compile(f"^{regex}/?$")


class CognitoVerifier:
    """Checks an id token as the API Gateway Cognito authorizer does: signature by the pool's
    key, issuer, audience (one of the pool's app clients), `token_use: id`, and expiry."""

    def __init__(self, endpoint_url: str, region: str, pool_id: str, client_ids: set[str]) -> None:
        self.issuer = f"https://cognito-idp.{region}.amazonaws.com/{pool_id}"
        self.client_ids = client_ids
        self._jwks_url = f"{endpoint_url}/{pool_id}/.well-known/jwks.json"
        self._keys: KeySet | None = None

    def _key_set(self) -> KeySet:
        if self._keys is None:
            answer = requests.get(self._jwks_url, timeout=5)
            answer.raise_for_status()
            self._keys = KeySet.import_key_set(answer.json())
        return self._keys

    def claims(self, header_value: str) -> dict[str, Any] | None:
        token = header_value.strip()
        if token.lower().startswith("bearer "):
            token = token[7:].strip()
        if not token:
            return None
        try:
            decoded = jwt.decode(token, self._key_set(), algorithms=["RS256"])
        except (JoseError, ValueError, TypeError):
            return None
        claims = dict(decoded.claims)
        if claims.get("iss") != self.issuer or claims.get("token_use") != "id":
            return None
        if claims.get("aud") not in self.client_ids:
            return None
        if not isinstance(claims.get("exp"), int | float) or claims["exp"] <= time.time():
            return None
        return claims


class TokenBucket:
    def __init__(self, rate: float, burst: int) -> None:
        self.rate, self.capacity = rate, float(burst)
        self.tokens, self.updated = float(burst), time.monotonic()
        self._lock = threading.Lock()

    def take(self) -> bool:
        with self._lock:
            now = time.monotonic()
            self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
            self.updated = now
            if self.tokens >= 1:
                self.tokens -= 1
                return True
            return False


class ApiGateway:
    def __init__(self, template: Template, runtime: FunctionRuntime, endpoint_url: str) -> None:
        self.template = template
        self.runtime = runtime
        self.endpoint_url = endpoint_url
        apis = template.of_type("AWS::Serverless::Api")
        if len(apis) > 1:
            raise TemplateError("the local gateway serves one AWS::Serverless::Api")
        self.api_id = next(iter(apis), "ServerlessRestApi")
        self.api = template.resolve((next(iter(apis.values()), {}) or {}).get("Properties") or {})
        self.stage = str(self.api.get("StageName", "local"))
        self.routes = self._routes()
        self.verifiers = self._verifiers()
        self.cors = self.api.get("Cors")
        self.bucket = self._throttle()
        # SAM writes `/` in BinaryMediaTypes as `~1` (a JSON pointer escape).
        self.binary_media_types = {
            str(kind).replace("~1", "/").lower() for kind in self.api.get("BinaryMediaTypes") or []
        }

    # ------------------------------------------------------------------ set-up from the template
    def _routes(self) -> list[Route]:
        auth = self.api.get("Auth") or {}
        default = auth.get("DefaultAuthorizer")
        routes = []
        for function in self.runtime.functions.values():
            for event in function.events.values():
                if event.get("Type") != "Api":
                    continue
                props = event.get("Properties") or {}
                authorizer = (props.get("Auth") or {}).get("Authorizer", default)
                resource = str(props["Path"])
                routes.append(
                    Route(
                        method=str(props["Method"]).upper(),
                        resource=resource,
                        pattern=_path_pattern(resource),
                        function=function,
                        authorizer=None if authorizer in (None, "NONE") else str(authorizer),
                    )
                )
        return sorted(routes, key=lambda route: route.specificity)

    def _verifiers(self) -> dict[str, CognitoVerifier]:
        verifiers = {}
        authorizers = (self.api.get("Auth") or {}).get("Authorizers") or {}
        pools = self.template.of_type("AWS::Cognito::UserPool")
        clients = self.template.of_type("AWS::Cognito::UserPoolClient")
        for name, spec in authorizers.items():
            if "UserPoolArn" not in spec:
                raise TemplateError(f"authorizer {name}: only Cognito user pool authorizers are emulated")
            arns = spec["UserPoolArn"] if isinstance(spec["UserPoolArn"], list) else [spec["UserPoolArn"]]
            pool_id = str(arns[0]).rsplit("/", 1)[-1]
            client_ids = {
                self.template.refs[logical_id]
                for logical_id, client in clients.items()
                if self.template.resolve((client.get("Properties") or {}).get("UserPoolId")) == pool_id
            }
            if not any(self.template.refs.get(key) == pool_id for key in pools):
                raise TemplateError(f"authorizer {name}: user pool {pool_id} is not in the template")
            verifiers[name] = CognitoVerifier(self.endpoint_url, self.template.region, pool_id, client_ids)
        return verifiers

    def _throttle(self) -> TokenBucket | None:
        for setting in self.api.get("MethodSettings") or []:
            if setting.get("ResourcePath") == "/*" and "ThrottlingRateLimit" in setting:
                return TokenBucket(float(setting["ThrottlingRateLimit"]), int(setting["ThrottlingBurstLimit"]))
        return None

    # ------------------------------------------------------------------ answering
    def gateway_response(self, kind: str) -> tuple[int, dict[str, str], bytes]:
        configured = (self.api.get("GatewayResponses") or {}).get(kind)
        if configured is None and kind not in ("UNAUTHORIZED", "MISSING_AUTHENTICATION_TOKEN"):
            configured = (self.api.get("GatewayResponses") or {}).get(
                "DEFAULT_5XX" if kind == "DEFAULT_5XX" else "DEFAULT_4XX"
            )
        status, body = _DEFAULT_RESPONSES[kind]
        headers = {"Content-Type": "application/json"}
        if configured:
            status = int(configured.get("StatusCode", status))
            body = (configured.get("ResponseTemplates") or {}).get("application/json", body)
            for key, value in ((configured.get("ResponseParameters") or {}).get("Headers") or {}).items():
                headers[key] = str(value).strip("'")
        return status, headers, body.encode()

    def preflight(self) -> tuple[int, dict[str, str], bytes]:
        cors = self.cors if isinstance(self.cors, dict) else {"AllowOrigin": self.cors}
        headers = {}
        for key, header in (
            ("AllowOrigin", "Access-Control-Allow-Origin"),
            ("AllowHeaders", "Access-Control-Allow-Headers"),
            ("AllowMethods", "Access-Control-Allow-Methods"),
            ("MaxAge", "Access-Control-Max-Age"),
        ):
            if cors.get(key):
                headers[header] = str(cors[key]).strip("'")
        return 200, headers, b""

    def match(self, method: str, path: str) -> tuple[Route | None, dict[str, str], bool]:
        """The route for a request, its path parameters (percent-decoded, as API Gateway hands
        them over), and whether the path exists at all. Percent-encoded unreserved characters name
        the same resource as the characters themselves (RFC 3986 §6.2.2.2)."""
        path = normalise_path(path)
        path_known = False
        for route in self.routes:
            found = route.pattern.match(path)
            if found:
                path_known = True
                if route.method in (method, "ANY"):
                    return route, {key: unquote(value) for key, value in found.groupdict().items()}, True
        return None, {}, path_known

    def handle(
        self, method: str, raw_path: str, headers: list[tuple[str, str]], body: bytes, source_ip: str
    ) -> tuple[int, dict[str, str] | list[tuple[str, str]], bytes, str]:
        parts = urlsplit(raw_path)
        path = parts.path
        if len(body) > API_GATEWAY_MAX_PAYLOAD:
            return (*self.gateway_response("REQUEST_TOO_LARGE"), "-")
        route, path_parameters, path_known = self.match(method, path)
        if method == "OPTIONS" and path_known and self.cors and route is None:
            return (*self.preflight(), "-")
        if route is None:
            return (*self.gateway_response("MISSING_AUTHENTICATION_TOKEN"), "-")
        if self.bucket is not None and not self.bucket.take():
            return (*self.gateway_response("THROTTLED"), "-")
        claims = None
        if route.authorizer is not None:
            verifier = self.verifiers.get(route.authorizer)
            if verifier is None:
                raise TemplateError(f"authorizer {route.authorizer} is not declared on the API")
            header = next((value for key, value in headers if key.lower() == "authorization"), "")
            claims = verifier.claims(header)
            if claims is None:
                return (*self.gateway_response("UNAUTHORIZED"), route.function.logical_id)
        event = self.event(route, method, path, parts.query, headers, body, path_parameters, claims, source_ip)
        try:
            result = self.runtime.invoke(route.function, event, f"{method} {path}")
        except FunctionError:
            return (*self.gateway_response("DEFAULT_5XX"), route.function.logical_id)
        return (*self._proxy_response(result), route.function.logical_id)

    def event(
        self,
        route: Route,
        method: str,
        path: str,
        query: str,
        headers: list[tuple[str, str]],
        body: bytes,
        path_parameters: dict[str, str],
        claims: dict[str, Any] | None,
        source_ip: str,
    ) -> dict[str, Any]:
        single: dict[str, str] = {}
        multi: dict[str, list[str]] = {}
        for key, value in headers:
            single[key] = value
            multi.setdefault(key, []).append(value)
        query_multi = parse_qs(query, keep_blank_values=True) if query else {}
        content_type = next((value for key, value in headers if key.lower() == "content-type"), None)
        if self.is_binary(content_type):
            text, is_base64 = base64.b64encode(body).decode(), True
        else:
            # A text body reaches the function as a string; bytes that are not UTF-8 cannot.
            text, is_base64 = body.decode("utf-8", errors="replace"), False
        now = time.time()
        return {
            "resource": route.resource,
            "path": path,
            "httpMethod": method,
            "headers": single or None,
            "multiValueHeaders": multi or None,
            "queryStringParameters": {key: values[-1] for key, values in query_multi.items()} or None,
            "multiValueQueryStringParameters": query_multi or None,
            "pathParameters": path_parameters or None,
            "stageVariables": None,
            "requestContext": {
                "resourceId": "local",
                "resourcePath": route.resource,
                "httpMethod": method,
                "extendedRequestId": uuid.uuid4().hex,
                "requestTime": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
                "path": f"/{self.stage}{path}",
                "accountId": ACCOUNT_ID,
                "protocol": "HTTP/1.1",
                "stage": self.stage,
                "domainPrefix": "localhost",
                "requestTimeEpoch": int(now * 1000),
                "requestId": str(uuid.uuid4()),
                "identity": {"sourceIp": source_ip, "userAgent": single.get("User-Agent", "")},
                "domainName": "localhost",
                "apiId": "local",
                "authorizer": {"claims": {key: str(value) for key, value in claims.items()}} if claims else None,
            },
            "body": text if body else None,
            "isBase64Encoded": is_base64,
        }

    def is_binary(self, content_type: str | None) -> bool:
        """Whether API Gateway hands a body of this type over base64-encoded, as the bytes sent:
        its media type (case-insensitive, parameters aside) is one of the API's BinaryMediaTypes."""
        kind = (content_type or "").split(";")[0].strip().lower()
        if not kind:
            return False
        family = kind.split("/")[0] + "/*"
        return bool({kind, family, "*/*"} & self.binary_media_types)

    def _proxy_response(self, result: Any) -> tuple[int, list[tuple[str, str]], bytes]:
        if not isinstance(result, dict) or "statusCode" not in result:
            log.error("function answered %r, not a proxy response", type(result).__name__)
            status, headers, body = self.gateway_response("DEFAULT_5XX")
            return status, list(headers.items()), body
        pairs = [(key, str(value)) for key, value in (result.get("headers") or {}).items()]
        seen = {key.lower() for key, _ in pairs}
        for key, values in (result.get("multiValueHeaders") or {}).items():
            if key.lower() not in seen:
                pairs.extend((key, str(value)) for value in values)
        raw = result.get("body") or ""
        body = base64.b64decode(raw) if result.get("isBase64Encoded") else str(raw).encode()
        return int(result["statusCode"]), pairs, body


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _GatewayServer

    def _serve(self) -> None:
        started = time.perf_counter()
        length = int(self.headers.get("Content-Length") or 0)
        if length > API_GATEWAY_MAX_PAYLOAD:
            status, too_large_headers, too_large_body = self.server.gateway.gateway_response("REQUEST_TOO_LARGE")
            self.close_connection = True
            self._write(status, too_large_headers, too_large_body)
            return
        body = self.rfile.read(length) if length else b""
        try:
            status, headers, payload, target = self.server.gateway.handle(
                self.command, self.path, list(self.headers.items()), body, self.client_address[0]
            )
        except Exception:
            log.exception("gateway failure on %s %s", self.command, self.path)
            status, headers, payload = self.server.gateway.gateway_response("DEFAULT_5XX")
            target = "-"
        self._write(status, headers, payload)
        log.info(
            "%s %s → %d %.1f ms (%s)",
            self.command,
            self.path,
            status,
            (time.perf_counter() - started) * 1000,
            target,
        )

    def _write(self, status: int, headers: dict[str, str] | list[tuple[str, str]], body: bytes) -> None:
        self.send_response(status, HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "")
        items = headers.items() if isinstance(headers, dict) else headers
        for key, value in items:
            if key.lower() not in ("content-length", "connection", "transfer-encoding"):
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def __getattr__(self, name: str) -> Any:
        # http.server answers a method it has no `do_<METHOD>` for with its own 501 HTML page; API
        # Gateway treats any method (TRACE, CONNECT, made-up verbs) as one more route to look up.
        if name.startswith("do_"):
            return self._serve
        raise AttributeError(name)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """http.server's own refusals (a malformed request line, a URI or header too long, a bad
        HTTP version) as JSON in the contract's error shape, not its HTML page."""
        self.close_connection = True
        if self.request_version not in ("HTTP/1.0", "HTTP/1.1"):
            self.request_version = "HTTP/1.1"  # http.server falls back to HTTP/0.9: no status line at all
        phrase = HTTPStatus(code).phrase if code in HTTPStatus._value2member_map_ else "error"
        codes = {400: "bad_request", 404: "not_found", 413: "payload_too_large"}
        body = json.dumps({"error": {"code": codes.get(code, "bad_request"), "message": message or phrase}})
        with contextlib.suppress(OSError):  # the client may be gone
            self._write(code, {"Content-Type": "application/json", "Connection": "close"}, body.encode())
        what = f"{self.command or '-'} {getattr(self, 'path', '-')}"
        log.info("%s → %d (refused by the HTTP server: %s)", what, code, message or phrase)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # one line per request is logged by _serve


class _GatewayServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], gateway: ApiGateway) -> None:
        super().__init__(address, _RequestHandler)
        self.gateway = gateway


def serve(gateway: ApiGateway, host: str, port: int) -> _GatewayServer:
    server = _GatewayServer((host, port), gateway)
    threading.Thread(target=server.serve_forever, name="api-gateway", daemon=True).start()
    return server
