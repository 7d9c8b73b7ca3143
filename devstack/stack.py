"""The whole stack on one machine: Redis, moto, the template's resources, the functions, their
event sources and the API, started in that order and stopped in the reverse one.

Redis is what the template's cache is: one server, or, when its CacheClusterMode parameter is
"enabled", a real Valkey cluster of NumNodeGroups primaries with ReplicasPerNodeGroup replicas
each (`devstack/redis_cluster.py`), every node with the settings of the template's cache
parameter group. The cache's endpoints (primary, reader, configuration) all point at the single
server or at the cluster's first primary, from which a cluster client finds the other nodes."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devstack import state
from devstack.aws import AwsClients, MotoServer, Provisioner, cache_server_settings, install_lambda_hook
from devstack.custom_resources import create_custom_resources
from devstack.files import write_json_atomically
from devstack.gateway import ApiGateway, serve
from devstack.pollers import EventSources
from devstack.redis_cluster import ValkeyCluster
from devstack.redis_server import RedisServer
from devstack.runtime import FunctionRuntime
from devstack.template import Template, samconfig_parameters, samconfig_stack_name
from devstack.web import WebServer, web_server

log = logging.getLogger("devstack")


@dataclass
class StackConfig:
    template_path: Path = Path("template.yaml")
    host: str = "127.0.0.1"
    port: int = 3000
    aws_port: int = 4566
    redis_port: int = 0  # in cluster mode, the first node's (the others follow); 0: free ports
    region: str = "us-east-1"
    state_dir: Path = Path(".devstack")
    keep_state: bool = True
    stack_name: str | None = None
    parameter_overrides: dict[str, str] = field(default_factory=dict)
    redis_server: str | None = None  # None: DEVSTACK_REDIS_SERVER if set, else the pinned Valkey
    web_dir: Path | None = None  # the built web app (web/dist) to serve; None: no web app
    web_port: int = 5173

    @property
    def endpoints_file(self) -> Path:
        return self.state_dir / "endpoints.json"


class LocalStack:
    def __init__(self, config: StackConfig) -> None:
        self.config = config
        self.redis: RedisServer | None = None  # the single server, or the cluster's first primary
        self.cluster: ValkeyCluster | None = None
        self.moto: MotoServer | None = None
        self.aws: AwsClients | None = None
        self.template: Template | None = None
        self.runtime: FunctionRuntime | None = None
        self.events: EventSources | None = None
        self._api_server: Any = None
        self._web: WebServer | None = None

    def start(self) -> dict[str, Any]:
        config = self.config
        snapshot_dir = config.state_dir / "snapshot"
        config.state_dir.mkdir(parents=True, exist_ok=True)
        config.endpoints_file.unlink(missing_ok=True)  # a previous run's: it no longer answers

        stack_name = config.stack_name or samconfig_stack_name(config.template_path.parent / "samconfig.toml")
        overrides = dict(config.parameter_overrides)
        if config.web_dir is not None:
            self._web = web_server(config.web_dir, config.host, config.web_port)
            # As on AWS, the API and the upload bucket allow the app's origin (unless told otherwise).
            given = samconfig_parameters(config.template_path.parent / "samconfig.toml")
            if "CorsAllowOrigin" not in given and "CorsAllowOrigin" not in overrides:
                overrides["CorsAllowOrigin"] = self._web.url
        self.template = Template.load(config.template_path, stack_name, config.region, overrides)
        self.redis = self._start_redis(self.template)
        self.moto = MotoServer(config.host, config.aws_port)
        self.moto.start()
        self.aws = AwsClients(self.moto.url, config.region)
        Provisioner(self.template, self.aws, config.host, self.redis.port).provision()

        self.runtime = FunctionRuntime(self.template)
        install_lambda_hook(self.runtime.invoke_for_moto)
        self.runtime.load(
            {
                "AWS_ENDPOINT_URL": self.moto.url,
                "AWS_REGION": config.region,
                "AWS_DEFAULT_REGION": config.region,
                "AWS_ACCESS_KEY_ID": "local",
                "AWS_SECRET_ACCESS_KEY": "local",
                "POWERTOOLS_TRACE_DISABLED": "true",
                "POWERTOOLS_METRICS_DISABLED": "true",
            }
        )
        create_custom_resources(self.template, self.runtime)
        restored = False
        if config.keep_state and snapshot_dir.exists():
            state.restore(snapshot_dir, self.template, self.aws)
            restored = True

        self.events = EventSources(self.template, self.runtime, self.aws, skip_existing_stream_records=restored)
        self.events.start()
        gateway = ApiGateway(self.template, self.runtime, self.moto.url)
        self._api_server = serve(gateway, config.host, config.port)
        endpoints = self.describe(gateway)
        if self._web is not None:
            self._web.config = {
                "api_url": endpoints["api_url"],
                "region": config.region,
                "user_pool_id": next(iter(_refs_of(self.template, "AWS::Cognito::UserPool")), None),
                "user_pool_client_id": next(iter(_refs_of(self.template, "AWS::Cognito::UserPoolClient")), None),
            }
            self._web.start()
            endpoints["web_url"] = self._web.url
        # Written whole or not at all: whoever waits for the stack polls this file.
        write_json_atomically(config.endpoints_file, endpoints)
        return endpoints

    def _start_redis(self, template: Template) -> RedisServer:
        config = self.config
        settings = cache_server_settings(template)
        shape = cache_cluster_shape(template)
        if shape is None:
            return RedisServer(
                host=config.host,
                port=config.redis_port,
                data_dir=config.state_dir / "redis" if config.keep_state else None,
                settings=settings,
                binary=config.redis_server,
            ).start()
        primaries, replicas = shape
        self.cluster = ValkeyCluster(
            primaries=primaries,
            replicas_per_primary=replicas,
            host=config.host,
            base_port=config.redis_port,
            data_dir=config.state_dir / "redis-cluster" if config.keep_state else None,
            settings=settings,
            binary=config.redis_server,
        ).start()
        return self.cluster.primary_nodes[0].server

    def describe(self, gateway: ApiGateway) -> dict[str, Any]:
        assert self.template is not None
        assert self.moto is not None
        assert self.redis is not None
        t = self.template
        port = self._api_server.server_address[1]
        return {
            "api_url": f"http://{self.config.host}:{port}",
            "aws_endpoint_url": self.moto.url,
            "redis_url": self.redis.url,
            "redis_server": str(self.redis.binary_path),
            "redis_cluster": self.cluster is not None,
            "redis_nodes": (
                self.cluster.describe() if self.cluster is not None else [{"url": self.redis.url, "role": "primary"}]
            ),
            "region": t.region,
            "stack_name": t.stack_name,
            "routes": [f"{route.method} {route.resource} -> {route.function.logical_id}" for route in gateway.routes],
            "resources": {
                logical_id: t.refs.get(logical_id)
                for logical_id, resource in t.resources.items()
                if resource["Type"]
                in (
                    "AWS::DynamoDB::Table",
                    "AWS::S3::Bucket",
                    "AWS::SQS::Queue",
                    "AWS::SNS::Topic",
                    "AWS::Cognito::UserPool",
                    "AWS::Cognito::UserPoolClient",
                    "AWS::Serverless::StateMachine",
                    "AWS::Serverless::Function",  # their names, for lambda invoke (tools/redrive.py)
                )
            },
        }

    def stop(self) -> None:
        self.config.endpoints_file.unlink(missing_ok=True)
        if self._web:
            self._web.stop()
        if self.events:
            self.events.stop()
        if self._api_server:
            self._api_server.shutdown()
            self._api_server.server_close()
        if self.config.keep_state and self.template and self.aws:
            try:
                state.snapshot(self.config.state_dir / "snapshot", self.template, self.aws)
            except Exception:
                log.exception("could not save the local state")
        if self.moto:
            self.moto.stop()
        if self.cluster:
            self.cluster.stop()
        elif self.redis:
            self.redis.stop()
        os.environ.pop("MOTO_PORT", None)


def cache_cluster_shape(template: Template) -> tuple[int, int] | None:
    """(primaries, replicas of each) when the template's cache runs in cluster mode, else None."""
    parameters = template.parameters
    if str(parameters.get("CacheClusterMode", "disabled")) != "enabled":
        return None
    return int(parameters.get("NumNodeGroups", 1)), int(parameters.get("ReplicasPerNodeGroup", 0))


def _refs_of(template: Template, kind: str) -> list[str]:
    return [str(template.refs.get(logical_id)) for logical_id in template.of_type(kind)]
