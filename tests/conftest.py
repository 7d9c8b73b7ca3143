"""Fixtures shared by every tier of tests."""

from __future__ import annotations

import base64
import copy
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis
from moto import mock_aws

from devstack import moto_fixes
from devstack.aws import AwsClients, Provisioner, cache_server_settings, install_lambda_hook
from devstack.custom_resources import create_custom_resources
from devstack.redis_cluster import ValkeyCluster
from devstack.redis_server import RedisServer
from devstack.runtime import FunctionRuntime, LambdaContext
from devstack.template import Template
from photofeed import wiring
from photofeed.storage.tables import bind_tables

ROOT = Path(__file__).resolve().parent.parent
EVENTS = ROOT / "events"
TEMPLATE = ROOT / "template.yaml"
REGION = "us-east-1"


def load_event(name: str) -> dict[str, Any]:
    return copy.deepcopy(json.loads((EVENTS / name).read_text()))


def api_event(
    name: str,
    *,
    body: Any = None,
    sub: str | None = None,
    path_parameters: dict[str, str] | None = None,
    path: str | None = None,
    raw_body: str | None = None,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A sample API event from `events/`, with only the parts a test needs changed. A body is
    delivered as API Gateway delivers it (see `set_body`)."""
    event = load_event(name)
    if sub is not None:
        event["requestContext"]["authorizer"]["claims"]["sub"] = sub
    if path_parameters is not None:
        event["pathParameters"] = path_parameters
    if path is not None:
        event["path"] = path
    for key, value in (headers or {}).items():
        event["headers"][key] = value
        event["multiValueHeaders"][key] = [value]
    if body is not None:
        set_body(event, json.dumps(body).encode())
    if raw_body is not None:
        set_body(event, raw_body.encode("utf-8", "surrogatepass"))
    return event


# The API's BinaryMediaTypes (template.yaml): bodies of these types arrive base64-encoded.
BINARY_MEDIA_TYPES = {"application/json"}


def set_body(event: dict[str, Any], data: bytes) -> None:
    """Put `data` in an API event as API Gateway does: base64 with `isBase64Encoded` when the
    request's Content-Type is one of the API's binary media types, else as text (where bytes
    that are not UTF-8 cannot survive)."""
    content_type = next((v for k, v in (event.get("headers") or {}).items() if k.lower() == "content-type"), "")
    if content_type.split(";")[0].strip().lower() in BINARY_MEDIA_TYPES:
        event["body"], event["isBase64Encoded"] = base64.b64encode(data).decode(), True
    else:
        event["body"], event["isBase64Encoded"] = data.decode("utf-8", errors="replace"), False


@pytest.fixture
def lambda_context() -> LambdaContext:
    return LambdaContext(
        function_name="test-function",
        memory_limit_in_mb=512,
        invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:test-function",
        timeout_seconds=10,
    )


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """A real Redis-protocol server: REDIS_TEST_URL if set, else one started for this session."""
    configured = os.environ.get("REDIS_TEST_URL")
    if configured:
        yield configured
        return
    # The parameter group of the single-node cache (the cluster's has cluster-enabled).
    settings = cache_server_settings(Template.load(TEMPLATE, "test", REGION, {"CacheClusterMode": "disabled"}))
    server = RedisServer(settings=settings).start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture(scope="session")
def redis_cluster_url() -> Iterator[str]:
    """A real Valkey cluster of three primaries (its first primary's URL, from which a cluster
    client finds the rest): REDIS_CLUSTER_TEST_URL if set, else one started for this session."""
    configured = os.environ.get("REDIS_CLUSTER_TEST_URL")
    if configured:
        yield configured
        return
    settings = cache_server_settings(Template.load(TEMPLATE, "test", REGION, {"CacheClusterMode": "enabled"}))
    cluster = ValkeyCluster(primaries=3, settings=settings).start()
    try:
        yield cluster.url
    finally:
        cluster.stop()


@dataclass
class LocalAws:
    template: Template
    aws: AwsClients
    runtime: FunctionRuntime

    def handler(self, logical_id: str) -> Any:
        return self.runtime.functions[logical_id].handler


@contextmanager
def local_aws_context(redis_url: str, run_state_machines: bool = False, cluster: bool = False) -> Iterator[LocalAws]:
    """Every resource of template.yaml on moto's in-process mock, with each function's
    environment from the template: tests cannot drift from what is deployed.

    With `run_state_machines`, moto executes the template's state machines (its ASL engine, in a
    thread per execution) and their Lambda tasks run the project's handlers in-process. With
    `cluster`, `redis_url` is a cluster's (`redis_cluster_url`) and the template runs in cluster
    mode: the functions get REDIS_CLUSTER=true and speak the cluster protocol."""
    saved_environment = dict(os.environ)
    os.environ.update(
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION=REGION,
        AWS_REGION=REGION,
    )
    os.environ.pop("AWS_ENDPOINT_URL", None)
    # Every test starts with an empty cache.
    if cluster:
        with redis.RedisCluster.from_url(redis_url) as client:
            client.flushall(target_nodes=redis.RedisCluster.PRIMARIES)
    else:
        redis.Redis.from_url(redis_url).flushall()
    host_port = redis_url.removeprefix("redis://").split("/")[0]
    host, port = host_port.rsplit(":", 1)
    moto_fixes.apply()
    config: Any = {"stepfunctions": {"execute_state_machine": run_state_machines}}
    from moto.awslambda.models import LambdaFunction

    real_invoke = LambdaFunction._invoke_lambda
    with mock_aws(config=config):
        # No web app here to take the API's allowed origin from (template.yaml's default): any.
        template = Template.load(
            TEMPLATE, "test", REGION, {"CorsAllowOrigin": "*", "CacheClusterMode": "enabled" if cluster else "disabled"}
        )
        aws = AwsClients(None, REGION)
        Provisioner(template, aws, host, int(port)).provision()
        runtime = FunctionRuntime(template, environments=1)  # tests call one invocation at a time
        runtime.load(
            {
                "AWS_REGION": REGION,
                "AWS_DEFAULT_REGION": REGION,
                "POWERTOOLS_TRACE_DISABLED": "true",
                "POWERTOOLS_METRICS_DISABLED": "true",
            }
        )
        if run_state_machines:
            install_lambda_hook(runtime.invoke_for_moto)
        create_custom_resources(template, runtime)
        wiring.reset()
        bind_tables()  # row models point at this template's tables (tests may use them directly)
        try:
            yield LocalAws(template, aws, runtime)
        finally:
            LambdaFunction._invoke_lambda = real_invoke  # type: ignore[method-assign]
            wiring.reset()
            os.environ.clear()
            os.environ.update(saved_environment)


@pytest.fixture
def local_aws(redis_url: str) -> Iterator[LocalAws]:
    with local_aws_context(redis_url) as running:
        yield running


@pytest.fixture
def local_aws_cluster(redis_cluster_url: str) -> Iterator[LocalAws]:
    """`local_aws` with the cache in cluster mode, on a real three-primary cluster."""
    with local_aws_context(redis_cluster_url, cluster=True) as running:
        yield running
