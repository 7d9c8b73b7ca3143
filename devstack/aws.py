"""The AWS side of the local stack: moto's server, and every resource the template declares.

moto stands in for DynamoDB, S3, SQS, SNS, Cognito, Lambda and Step Functions. Two things it
does differently from AWS are corrected here:
- DynamoDB conditional writes and transactions are check-then-write in moto, with no lock, so
  two racing requests could both pass a condition. Requests to DynamoDB are serialised, which
  gives them AWS's atomicity (and keeps race tests honest).
- Its Lambda backend runs code in containers; `invoke_hook` runs the project's handlers
  in-process instead (used by Step Functions Lambda tasks and by `lambda invoke`).
"""

from __future__ import annotations

import io
import json
import logging
import os
import threading
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import boto3
import requests
from botocore.config import Config
from werkzeug.serving import BaseWSGIServer, make_server

from devstack import moto_fixes
from devstack.custom_resources import is_custom
from devstack.template import ACCOUNT_ID, Template, TemplateError

log = logging.getLogger("devstack.aws")

EMULATED_ELSEWHERE = {
    # type -> how the local stack stands in for it
    "AWS::ElastiCache::ServerlessCache": "the local Redis-protocol server",
    "AWS::ElastiCache::ReplicationGroup": "the local Redis-protocol server",
    "AWS::ElastiCache::ParameterGroup": "the local Redis server's settings",
    "AWS::Serverless::Api": "the local API gateway",
    "AWS::Serverless::Function": "in-process handlers",
    "AWS::CloudFront::Distribution": "the local web server",
}
NOT_NEEDED_LOCALLY = {
    "AWS::Logs::LogGroup",
    "AWS::EC2::SecurityGroup",
    "AWS::ElastiCache::SubnetGroup",
    "AWS::SQS::QueuePolicy",
    "AWS::SNS::TopicPolicy",
    "AWS::S3::BucketPolicy",
    "AWS::Serverless::LayerVersion",
    "AWS::IAM::Role",
    "AWS::IAM::Policy",
    "AWS::Lambda::Permission",
    "AWS::CloudWatch::Alarm",
    "AWS::CloudWatch::Dashboard",
    "AWS::SNS::Subscription",
    "AWS::CloudFront::OriginAccessControl",
    "AWS::CloudFront::CachePolicy",
    "AWS::CloudFront::ResponseHeadersPolicy",
}


class MotoServer:
    """moto's server on a local port, in this process, with DynamoDB requests serialised."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

        moto_fixes.apply()

        self._app = DomainDispatcherApplication(create_backend_app)
        self._dynamodb_lock = threading.Lock()
        self._server: BaseWSGIServer = make_server(host, port, self._wsgi, threaded=True)
        self.host = host
        self.port = self._server.server_port
        self._thread = threading.Thread(target=self._server.serve_forever, name="moto", daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def _wsgi(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        if target.startswith("DynamoDB"):
            with self._dynamodb_lock:
                return list(self._app(environ, start_response))
        return self._app(environ, start_response)

    def start(self) -> None:
        # Step Functions SDK integrations call back into moto on MOTO_PORT.
        os.environ["MOTO_PORT"] = str(self.port)
        self._thread.start()
        answer = requests.post(
            f"{self.url}/moto-api/config",
            json={"stepfunctions": {"execute_state_machine": True}},
            timeout=5,
        )
        answer.raise_for_status()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def install_lambda_hook(invoke: Callable[[str, Any], tuple[Any, str | None]]) -> None:
    """Make moto's Lambda run handlers in-process: `invoke(function_name, event)` returns
    `(result, error_type)`; an error type makes the invocation a function error, as on AWS."""
    from moto.awslambda.models import LambdaFunction

    def run_in_process(self: Any, event: Any = None) -> tuple[str, bool, str]:
        payload = json.loads(event) if isinstance(event, str | bytes) and event else (event or {})
        result, error_type = invoke(self.function_name, payload)
        if error_type:
            return json.dumps({"errorType": error_type, "errorMessage": str(result)}), True, ""
        return json.dumps(result), False, ""

    LambdaFunction._invoke_lambda = run_in_process  # type: ignore[method-assign]


@dataclass
class AwsClients:
    """boto3 clients for the local endpoint (or, with no endpoint, for moto's in-process mock)."""

    endpoint_url: str | None
    region: str
    _cache: dict[str, Any] = field(default_factory=dict)
    _session: boto3.session.Session = field(default_factory=boto3.session.Session)

    def __call__(self, service: str) -> Any:
        if service not in self._cache:
            self._cache[service] = self._session.client(
                service,  # type: ignore[call-overload]
                endpoint_url=self.endpoint_url,
                region_name=self.region,
                aws_access_key_id="local",
                aws_secret_access_key="local",
                config=Config(retries={"mode": "standard", "max_attempts": 3}),
            )
        return self._cache[service]


def cache_server_settings(template: Template) -> dict[str, str]:
    """The settings of the template's cache parameter groups, for the local Redis server."""
    settings: dict[str, str] = {}
    for resource in template.of_type("AWS::ElastiCache::ParameterGroup").values():
        properties = template.resolve((resource.get("Properties") or {}).get("Properties") or {})
        settings.update({str(key): str(value) for key, value in properties.items()})
    return settings


class Provisioner:
    """Creates the template's resources on moto and records their physical ids on the template."""

    def __init__(self, template: Template, aws: AwsClients, redis_host: str, redis_port: int) -> None:
        self.template = template
        self.aws = aws
        self.redis_host = redis_host
        self.redis_port = redis_port

    def provision(self) -> None:
        t = self.template
        for logical_id in t.document["Resources"]:
            t.refs.setdefault(logical_id, t.physical_name(logical_id))  # placeholders, replaced below
        self._precompute()
        for logical_id, resource in t.of_type("AWS::DynamoDB::Table").items():
            self._table(logical_id, resource.get("Properties") or {})
        queues = t.of_type("AWS::SQS::Queue")
        for logical_id in sorted(queues, key=lambda key: "RedrivePolicy" in (queues[key].get("Properties") or {})):
            self._queue(logical_id, queues[logical_id].get("Properties") or {})
        for logical_id, resource in t.of_type("AWS::SNS::Topic").items():
            self._topic(logical_id, resource.get("Properties") or {})
        for logical_id, resource in t.of_type("AWS::S3::Bucket").items():
            self._bucket(logical_id, resource.get("Properties") or {})
        for logical_id, resource in t.of_type("AWS::Cognito::UserPool").items():
            self._user_pool(logical_id, resource.get("Properties") or {})
        for logical_id, resource in t.of_type("AWS::Cognito::UserPoolClient").items():
            self._user_pool_client(logical_id, resource.get("Properties") or {})
        self._lambda_functions()
        for logical_id, resource in t.of_type("AWS::Serverless::StateMachine").items():
            self._state_machine(logical_id, resource.get("Properties") or {})
        self._check_coverage()

    # ------------------------------------------------------------------ names known in advance
    def _precompute(self) -> None:
        """Names and ARNs that do not depend on creation, so resources can refer to each other."""
        t, region = self.template, self.template.region
        for logical_id, resource in t.resources.items():
            props = resource.get("Properties") or {}
            kind = resource.get("Type")
            attrs = t.attributes.setdefault(logical_id, {})
            if kind == "AWS::SQS::Queue":
                name = t.physical_name(logical_id, props.get("QueueName"))
                if props.get("FifoQueue") and not name.endswith(".fifo"):
                    name += ".fifo"
                attrs.update(Arn=f"arn:aws:sqs:{region}:{ACCOUNT_ID}:{name}", QueueName=name)
                base = self.aws.endpoint_url or f"https://sqs.{region}.amazonaws.com"
                t.refs[logical_id] = f"{base}/{ACCOUNT_ID}/{name}"
                attrs["QueueUrl"] = t.refs[logical_id]
            elif kind == "AWS::SNS::Topic":
                name = t.physical_name(logical_id, props.get("TopicName"))
                t.refs[logical_id] = f"arn:aws:sns:{region}:{ACCOUNT_ID}:{name}"
                attrs.update(TopicArn=t.refs[logical_id], TopicName=name)
            elif kind == "AWS::DynamoDB::Table":
                name = t.physical_name(logical_id, props.get("TableName"))
                t.refs[logical_id] = name
                attrs["Arn"] = f"arn:aws:dynamodb:{region}:{ACCOUNT_ID}:table/{name}"
            elif kind == "AWS::Serverless::Function":
                name = t.physical_name(logical_id, props.get("FunctionName"))
                t.refs[logical_id] = name
                attrs["Arn"] = f"arn:aws:lambda:{region}:{ACCOUNT_ID}:function:{name}"
            elif kind == "AWS::Serverless::StateMachine":
                name = t.physical_name(logical_id, props.get("Name"))
                t.refs[logical_id] = f"arn:aws:states:{region}:{ACCOUNT_ID}:stateMachine:{name}"
                attrs.update(Name=name, Arn=t.refs[logical_id])
            elif kind == "AWS::ElastiCache::ServerlessCache":
                attrs.update({"Endpoint.Address": self.redis_host, "Endpoint.Port": str(self.redis_port)})
            elif kind == "AWS::ElastiCache::ReplicationGroup":
                for endpoint in ("PrimaryEndPoint", "ReaderEndPoint", "ConfigurationEndPoint"):
                    attrs.update({f"{endpoint}.Address": self.redis_host, f"{endpoint}.Port": str(self.redis_port)})
            elif kind == "AWS::Serverless::Api":
                t.refs[logical_id] = "local"
                attrs["RootResourceId"] = "root"
            elif kind == "AWS::CloudFront::Distribution":
                # The local web server stands in for it. A stack that serves the app gives its URL as
                # CorsAllowOrigin, so the template's default (this domain) is only read without one:
                # then a name nothing serves (.localhost), as there is no app to allow.
                t.refs[logical_id] = f"local-{logical_id}"
                attrs.update(Id=t.refs[logical_id], DomainName=f"{t.physical_name(logical_id).lower()}.localhost")
        for logical_id, resource in t.of_type("AWS::S3::Bucket").items():
            name = t.physical_name(logical_id, (resource.get("Properties") or {}).get("BucketName")).lower()
            t.refs[logical_id] = name
            t.attributes[logical_id].update(
                Arn=f"arn:aws:s3:::{name}",
                DomainName=f"{name}.s3.amazonaws.com",
                RegionalDomainName=f"{name}.s3.{region}.amazonaws.com",
            )

    # ------------------------------------------------------------------ per type
    def _table(self, logical_id: str, props: dict[str, Any]) -> None:
        p = self.template.resolve(props)
        name = self.template.refs[logical_id]
        args: dict[str, Any] = {
            "TableName": name,
            "KeySchema": p["KeySchema"],
            "AttributeDefinitions": p["AttributeDefinitions"],
            "BillingMode": p.get("BillingMode", "PROVISIONED"),
        }
        if args["BillingMode"] == "PROVISIONED":
            args["ProvisionedThroughput"] = p.get(
                "ProvisionedThroughput", {"ReadCapacityUnits": 5, "WriteCapacityUnits": 5}
            )
        for key in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
            if p.get(key):
                args[key] = [
                    {k: v for k, v in index.items() if k != "ContributorInsightsSpecification"} for index in p[key]
                ]
        if p.get("StreamSpecification"):
            args["StreamSpecification"] = {
                "StreamEnabled": True,
                "StreamViewType": p["StreamSpecification"]["StreamViewType"],
            }
        if p.get("DeletionProtectionEnabled") is not None:
            args["DeletionProtectionEnabled"] = bool(p["DeletionProtectionEnabled"])
        dynamodb = self.aws("dynamodb")
        description = dynamodb.create_table(**args)["TableDescription"]
        if description.get("LatestStreamArn"):
            self.template.attributes[logical_id]["StreamArn"] = description["LatestStreamArn"]
        ttl = p.get("TimeToLiveSpecification")
        if ttl and ttl.get("Enabled"):
            dynamodb.update_time_to_live(
                TableName=name,
                TimeToLiveSpecification={"AttributeName": ttl["AttributeName"], "Enabled": True},
            )
        log.info("table %s", name)

    def _queue(self, logical_id: str, props: dict[str, Any]) -> None:
        p = self.template.resolve(props)
        name = self.template.attributes[logical_id]["QueueName"]
        attributes = {}
        for key in (
            "VisibilityTimeout",
            "MessageRetentionPeriod",
            "DelaySeconds",
            "MaximumMessageSize",
            "ReceiveMessageWaitTimeSeconds",
            "FifoQueue",
            "ContentBasedDeduplication",
            "SqsManagedSseEnabled",
        ):
            if key in p:
                attributes[key] = str(p[key]).lower() if isinstance(p[key], bool) else str(p[key])
        if "RedrivePolicy" in p:
            attributes["RedrivePolicy"] = json.dumps(p["RedrivePolicy"])
        self.aws("sqs").create_queue(QueueName=name, Attributes=attributes)
        log.info("queue %s", name)

    def _topic(self, logical_id: str, props: dict[str, Any]) -> None:
        p = self.template.resolve(props)
        name = self.template.attributes[logical_id]["TopicName"]
        attributes = {"FifoTopic": "true"} if p.get("FifoTopic") else {}
        self.aws("sns").create_topic(Name=name, Attributes=attributes)
        for subscription in p.get("Subscription", []):
            self.aws("sns").subscribe(
                TopicArn=self.template.refs[logical_id],
                Protocol=subscription["Protocol"],
                Endpoint=subscription["Endpoint"],
            )

    def _bucket(self, logical_id: str, props: dict[str, Any]) -> None:
        p = self.template.resolve(props)
        name = self.template.refs[logical_id]
        s3 = self.aws("s3")
        s3.create_bucket(Bucket=name)
        if (p.get("VersioningConfiguration") or {}).get("Status"):
            s3.put_bucket_versioning(
                Bucket=name, VersioningConfiguration={"Status": p["VersioningConfiguration"]["Status"]}
            )
        if p.get("PublicAccessBlockConfiguration"):
            s3.put_public_access_block(Bucket=name, PublicAccessBlockConfiguration=p["PublicAccessBlockConfiguration"])
        if p.get("BucketEncryption"):
            s3.put_bucket_encryption(
                Bucket=name,
                ServerSideEncryptionConfiguration={
                    "Rules": [
                        {
                            "ApplyServerSideEncryptionByDefault": rule["ServerSideEncryptionByDefault"],
                            **({"BucketKeyEnabled": rule["BucketKeyEnabled"]} if "BucketKeyEnabled" in rule else {}),
                        }
                        for rule in p["BucketEncryption"]["ServerSideEncryptionConfiguration"]
                    ]
                },
            )
        if p.get("CorsConfiguration"):
            cors_rules = []
            for rule in p["CorsConfiguration"]["CorsRules"]:
                cors_rule = {k: v for k, v in rule.items() if k != "MaxAge"}
                if "MaxAge" in rule:
                    cors_rule["MaxAgeSeconds"] = int(rule["MaxAge"])
                cors_rules.append(cors_rule)
            s3.put_bucket_cors(Bucket=name, CORSConfiguration={"CORSRules": cors_rules})
        notifications = p.get("NotificationConfiguration") or {}
        if notifications.get("LambdaConfigurations"):
            raise TemplateError(f"{logical_id}: S3 -> Lambda notifications are not emulated; route them through SQS")
        config: dict[str, Any] = {}
        for source, target, arn_key in (
            ("QueueConfigurations", "QueueConfigurations", "QueueArn"),
            ("TopicConfigurations", "TopicConfigurations", "TopicArn"),
        ):
            entries: list[dict[str, Any]] = []
            for entry in notifications.get(source, []):
                converted: dict[str, Any] = {
                    arn_key: entry["Queue" if arn_key == "QueueArn" else "Topic"],
                    "Events": [entry["Event"]],
                }
                key_rules = ((entry.get("Filter") or {}).get("S3Key") or {}).get("Rules")
                if key_rules:
                    converted["Filter"] = {"Key": {"FilterRules": key_rules}}
                entries.append(converted)
            if entries:
                config[target] = entries
        if config:
            s3.put_bucket_notification_configuration(Bucket=name, NotificationConfiguration=config)
        log.info("bucket %s", name)

    def _user_pool(self, logical_id: str, props: dict[str, Any]) -> None:
        p = self.template.resolve(props)
        args: dict[str, Any] = {"PoolName": p.get("UserPoolName") or self.template.physical_name(logical_id)}
        for key in (
            "Policies",
            "UsernameConfiguration",
            "Schema",
            "AutoVerifiedAttributes",
            "UsernameAttributes",
            "AliasAttributes",
            "MfaConfiguration",
            "AccountRecoverySetting",
            "DeletionProtection",
        ):
            if key in p:
                args[key] = p[key]
        pool = self.aws("cognito-idp").create_user_pool(**args)["UserPool"]
        self.template.refs[logical_id] = pool["Id"]
        self.template.attributes[logical_id].update(
            Arn=pool["Arn"],
            UserPoolId=pool["Id"],
            ProviderName=f"cognito-idp.{self.template.region}.amazonaws.com/{pool['Id']}",
            ProviderURL=f"https://cognito-idp.{self.template.region}.amazonaws.com/{pool['Id']}",
        )
        log.info("user pool %s", pool["Id"])

    def _user_pool_client(self, logical_id: str, props: dict[str, Any]) -> None:
        p = self.template.resolve(props)
        args: dict[str, Any] = {"UserPoolId": p["UserPoolId"], "ClientName": p.get("ClientName", logical_id)}
        for key in (
            "ExplicitAuthFlows",
            "GenerateSecret",
            "PreventUserExistenceErrors",
            "EnableTokenRevocation",
            "IdTokenValidity",
            "AccessTokenValidity",
            "RefreshTokenValidity",
            "TokenValidityUnits",
        ):
            if key in p:
                args[key] = p[key]
        client = self.aws("cognito-idp").create_user_pool_client(**args)["UserPoolClient"]
        self.template.refs[logical_id] = client["ClientId"]
        self.template.attributes[logical_id]["ClientId"] = client["ClientId"]

    def _lambda_functions(self) -> None:
        """Register every function with moto's Lambda, so Step Functions tasks can invoke them."""
        functions = self.template.of_type("AWS::Serverless::Function")
        if not functions:
            return
        role = self.aws("iam").create_role(
            RoleName=f"{self.template.stack_name}-local-functions",
            AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}),
        )["Role"]["Arn"]
        archive = io.BytesIO()
        with zipfile.ZipFile(archive, "w") as handle:
            handle.writestr("README", "The local stack runs this function in-process.")
        for logical_id in functions:
            props = self.template.function_properties(logical_id)
            self.aws("lambda").create_function(
                FunctionName=self.template.refs[logical_id],
                Runtime=props.get("Runtime", "python3.11"),
                Role=role,
                Handler=props.get("Handler", "app.lambda_handler"),
                Code={"ZipFile": archive.getvalue()},
                Timeout=int(self.template.resolve(props.get("Timeout", 3))),
            )

    def _state_machine(self, logical_id: str, props: dict[str, Any]) -> None:
        t = self.template
        if "DefinitionUri" in props:
            text = (t.root / str(t.resolve(props["DefinitionUri"]))).read_text()
        elif "Definition" in props:
            text = json.dumps(t.resolve(props["Definition"]))
        else:
            raise TemplateError(f"{logical_id}: a state machine needs Definition or DefinitionUri")
        for key, value in (t.resolve(props.get("DefinitionSubstitutions") or {})).items():
            text = text.replace("${" + key + "}", str(value))
        definition = json.loads(text)  # fails loudly on a substitution left unresolved in JSON
        role = self.aws("iam").create_role(
            RoleName=f"{t.stack_name}-{logical_id}-role",
            AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}),
        )["Role"]["Arn"]
        self.aws("stepfunctions").create_state_machine(
            name=t.attributes[logical_id]["Name"],
            definition=json.dumps(definition),
            roleArn=role,
            type=props.get("Type", "STANDARD"),
        )
        log.info("state machine %s", t.attributes[logical_id]["Name"])

    def _check_coverage(self) -> None:
        handled = {
            "AWS::DynamoDB::Table",
            "AWS::SQS::Queue",
            "AWS::SNS::Topic",
            "AWS::S3::Bucket",
            "AWS::Cognito::UserPool",
            "AWS::Cognito::UserPoolClient",
            "AWS::Serverless::StateMachine",
            *EMULATED_ELSEWHERE,
            *NOT_NEEDED_LOCALLY,
        }
        unknown = sorted(
            f"{key} ({value['Type']})"
            for key, value in self.template.resources.items()
            if value["Type"] not in handled and not is_custom(value["Type"])  # custom: after the functions load
        )
        if unknown:
            raise TemplateError("the local stack does not emulate: " + ", ".join(unknown))
