"""Calling the functions in-process with the sample events, as API Gateway would."""

from __future__ import annotations

import json
from typing import Any

from tests.conftest import LocalAws, api_event


def call(local_aws: LocalAws, function: str, event: dict[str, Any], context: Any) -> tuple[int, dict[str, Any]]:
    response = local_aws.handler(function)(event, context)
    return response["statusCode"], json.loads(response["body"]) if response.get("body") else {}


def sign_up(local_aws: LocalAws, context: Any, username: str = "alice", password: str = "correct horse") -> dict:
    body = {"username": username, "email": f"{username}@example.com", "password": password}
    status, answer = call(local_aws, "AuthFunction", api_event("api_signup.json", body=body), context)
    assert status == 201, answer
    return dict(answer["user"])


def route(
    local_aws: LocalAws,
    context: Any,
    sample: str,
    caller: dict[str, Any],
    *,
    path: str | None = None,
    path_parameters: dict[str, str] | None = None,
    body: Any = None,
    query: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, Any]]:
    """Call the function that serves `sample`'s route, as `caller`."""
    event = api_event(sample, body=body, sub=caller["id"], path_parameters=path_parameters, path=path, headers=headers)
    event["queryStringParameters"] = query
    event["multiValueQueryStringParameters"] = {key: [value] for key, value in query.items()} if query else None
    if headers is None:
        event["headers"].pop("Idempotency-Key", None)
        event["multiValueHeaders"].pop("Idempotency-Key", None)
    function = "WriteApiFunction" if event["httpMethod"] in ("PUT", "POST", "PATCH", "DELETE") else "ReadApiFunction"
    return call(local_aws, function, event, context)
