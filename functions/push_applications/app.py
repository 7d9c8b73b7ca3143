"""A CloudFormation custom resource: the SNS platform applications for push (GCM, APNS,
APNS_SANDBOX), which CloudFormation has no resource type for.

Properties: `Name` (one name for every platform's application) and `Applications`, a list of
{`Platform`, `Enabled` ("true"/"false"), `Attributes` (credentials from the template's NoEcho
parameters)}. Create and Update make each enabled application exist with those attributes and
delete the disabled ones; Delete removes them all. The answer goes to CloudFormation's presigned
`ResponseURL`, failures included, so a stack never waits an hour on a crashed handler.
"""

import json
import urllib.request
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import ClientError

from photofeed.storage.clients import client

logger = Logger()


def application_arn(name: str, platform: str) -> str:
    sts_arn = client("sts").get_caller_identity()["Arn"]
    partition, account = sts_arn.split(":")[1], sts_arn.split(":")[4]
    region = client("sns").meta.region_name
    return f"arn:{partition}:sns:{region}:{account}:app/{platform}/{name}"


def ensure(name: str, applications: list[dict[str, Any]]) -> dict[str, str]:
    sns = client("sns")
    enabled = []
    for application in applications:
        platform = str(application["Platform"])
        arn = application_arn(name, platform)
        if str(application.get("Enabled", "true")).lower() != "true":
            sns.delete_platform_application(PlatformApplicationArn=arn)  # idempotent
            continue
        attributes = {key: str(value) for key, value in (application.get("Attributes") or {}).items() if value}
        try:
            sns.get_platform_application_attributes(PlatformApplicationArn=arn)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "NotFound":
                raise
            arn = sns.create_platform_application(Name=name, Platform=platform, Attributes=attributes)[
                "PlatformApplicationArn"
            ]
        else:
            sns.set_platform_application_attributes(PlatformApplicationArn=arn, Attributes=attributes)
        enabled.append(platform)
        logger.info("push application ready", extra={"platform": platform, "arn": arn})
    return {"Platforms": ",".join(enabled)}


def remove(name: str, applications: list[dict[str, Any]]) -> None:
    for application in applications:
        client("sns").delete_platform_application(PlatformApplicationArn=application_arn(name, application["Platform"]))


def respond(event: dict[str, Any], status: str, physical_id: str, data: dict[str, str], reason: str = "") -> None:
    body = json.dumps(
        {
            "Status": status,
            "Reason": reason or "see the function's logs",
            "PhysicalResourceId": physical_id,
            "StackId": event["StackId"],
            "RequestId": event["RequestId"],
            "LogicalResourceId": event["LogicalResourceId"],
            "NoEcho": True,
            "Data": data,
        }
    ).encode()
    request = urllib.request.Request(  # noqa: S310 - CloudFormation's presigned https URL
        event["ResponseURL"], data=body, method="PUT", headers={"Content-Type": ""}
    )
    with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310
        answer.read()


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> None:
    properties = event.get("ResourceProperties") or {}
    name = str(properties.get("Name", ""))
    # A new name is a new resource: CloudFormation then deletes the old one with its old properties.
    delete = event["RequestType"] == "Delete"
    physical_id = str(event.get("PhysicalResourceId")) if delete else f"push-applications-{name}"
    try:
        data: dict[str, str] = {}
        applications = list(properties.get("Applications") or [])
        if event["RequestType"] in ("Create", "Update"):
            data = ensure(name, applications)
        elif delete:
            remove(name, applications)
    except Exception as error:
        logger.exception("push applications failed")
        respond(event, "FAILED", physical_id, {}, f"{type(error).__name__}: {error}")
        return
    respond(event, "SUCCESS", physical_id, data)
