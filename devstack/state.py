"""Keep the local stack's data between runs.

moto keeps everything in memory, and its backends do not pickle (locks, keys), so the data
plane is saved instead, on a clean stop, and put back before the stack serves again:
DynamoDB items, every S3 object version (oldest first), Cognito users with their `sub` and
password, and the messages waiting in each queue. Redis keeps its own RDB file. Pool and client
ids are derived from their names (moto's HASH id strategy), so tokens stay valid across runs.
The snapshot is local development data: it holds passwords in clear, readable by its owner only.
It is replaced atomically (`devstack.files`): a stop that is interrupted, or a reader at any
moment, finds the previous snapshot or the new one, whole.
"""

from __future__ import annotations

import base64
import json
import logging
import os
from pathlib import Path
from typing import Any

from devstack.aws import AwsClients
from devstack.files import write_json_atomically
from devstack.template import ACCOUNT_ID, Template

log = logging.getLogger("devstack.state")

STATE_FILE = "state.json"


def snapshot(directory: Path, template: Template, aws: AwsClients) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    os.chmod(directory, 0o700)
    document: dict[str, Any] = {"tables": {}, "buckets": {}, "users": {}, "queues": {}}
    for logical_id in template.of_type("AWS::DynamoDB::Table"):
        items: list[dict[str, Any]] = []
        for page in aws("dynamodb").get_paginator("scan").paginate(TableName=template.refs[logical_id]):
            items.extend(page["Items"])
        document["tables"][logical_id] = items
    for logical_id in template.of_type("AWS::S3::Bucket"):
        document["buckets"][logical_id] = _bucket_objects(aws, template.refs[logical_id])
    for logical_id in template.of_type("AWS::Cognito::UserPool"):
        document["users"][logical_id] = _pool_users(template.refs[logical_id], template.region)
    for logical_id in template.of_type("AWS::SQS::Queue"):
        document["queues"][logical_id] = _queue_messages(template.attributes[logical_id]["QueueName"], template.region)
    write_json_atomically(directory / STATE_FILE, document, mode=0o600, indent=None)
    log.info(
        "state saved: %d items, %d objects, %d users, %d messages",
        sum(len(items) for items in document["tables"].values()),
        sum(len(objects) for objects in document["buckets"].values()),
        sum(len(users) for users in document["users"].values()),
        sum(len(messages) for messages in document["queues"].values()),
    )


def restore(directory: Path, template: Template, aws: AwsClients) -> None:
    path = directory / STATE_FILE
    if not path.exists():
        return
    try:
        document = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise RuntimeError(
            f"the saved local state {path} is not a whole snapshot ({error}): move it away to start "
            "without it, or `make local RESET=1` to start empty"
        ) from error
    for logical_id, items in document.get("tables", {}).items():
        if logical_id not in template.refs:
            continue
        for start in range(0, len(items), 25):
            requests = [{"PutRequest": {"Item": item}} for item in items[start : start + 25]]
            pending: dict[str, Any] = {template.refs[logical_id]: requests}
            while pending:
                pending = aws("dynamodb").batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}
    for logical_id, objects in document.get("buckets", {}).items():
        for entry in objects:
            extra = {"ContentType": entry["content_type"]} if entry.get("content_type") else {}
            aws("s3").put_object(
                Bucket=template.refs[logical_id],
                Key=entry["key"],
                Body=base64.b64decode(entry["body"]),
                **extra,
            )
    for logical_id, users in document.get("users", {}).items():
        if logical_id in template.refs:
            _restore_users(template.refs[logical_id], template.region, users)
    for logical_id, messages in document.get("queues", {}).items():
        if logical_id not in template.refs:
            continue
        for message in messages:
            aws("sqs").send_message(
                QueueUrl=template.refs[logical_id],
                MessageBody=message["body"],
                **({"MessageAttributes": message["attributes"]} if message.get("attributes") else {}),
            )
    log.info("state restored from %s", directory)


def _bucket_objects(aws: AwsClients, bucket: str) -> list[dict[str, Any]]:
    versions: list[dict[str, Any]] = []
    for page in aws("s3").get_paginator("list_object_versions").paginate(Bucket=bucket):
        versions.extend(page.get("Versions", []))
    versions.sort(key=lambda version: version["LastModified"])
    saved = []
    for version in versions:
        answer = aws("s3").get_object(Bucket=bucket, Key=version["Key"], VersionId=version["VersionId"])
        saved.append(
            {
                "key": version["Key"],
                "content_type": answer.get("ContentType"),
                "body": base64.b64encode(answer["Body"].read()).decode(),
            }
        )
    return saved


def _pool(pool_id: str, region: str) -> Any:
    from moto.cognitoidp.models import cognitoidp_backends

    return cognitoidp_backends[ACCOUNT_ID][region].user_pools[pool_id]


def _pool_users(pool_id: str, region: str) -> list[dict[str, Any]]:
    return [
        {
            "username": user.username,
            "sub": user.id,
            "password": user.password,
            "status": user.status,
            "enabled": user.enabled,
            "attributes": user.attributes,
        }
        for user in _pool(pool_id, region).users.values()
    ]


def _restore_users(pool_id: str, region: str, users: list[dict[str, Any]]) -> None:
    from moto.cognitoidp.models import CognitoIdpUser

    pool = _pool(pool_id, region)
    for saved in users:
        user = CognitoIdpUser(pool_id, saved["username"], saved["password"], saved["status"], saved["attributes"])
        user.id = saved["sub"]
        user.enabled = saved["enabled"]
        user.update_attributes([{"Name": "sub", "Value": saved["sub"]}])
        pool.users[saved["username"]] = user


def _queue_messages(name: str, region: str) -> list[dict[str, Any]]:
    from moto.sqs.models import sqs_backends

    queue = sqs_backends[ACCOUNT_ID][region].queues.get(name)
    if queue is None:
        return []
    return [{"body": message.body, "attributes": message.message_attributes or {}} for message in list(queue._messages)]
