"""The local stack itself, on a template it has never seen (tests/devstack/template.yaml).

Each test checks one promise of `make local`: routes come from the template, the authorizer
stops unauthenticated requests before any handler runs, SQS mappings honour partial batch
failures with retries and dead-lettering, S3 uploads reach their function, DynamoDB streams
and Step Functions executions run the project's handlers in-process.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus

import pytest
import redis
import requests

from tests.stack_runner import RunningStack, eventually, running_stack

HERE = Path(__file__).resolve().parent
pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    records = tmp_path_factory.mktemp("records")
    with running_stack(
        tmp_path_factory.mktemp("fixture-stack"),
        template=HERE / "template.yaml",
        parameters={"RecordDir": str(records)},
    ) as running:
        running.records_dir = records  # type: ignore[attr-defined]
        yield running


def recorded(stack: RunningStack) -> list[dict[str, Any]]:
    """The events recorded so far: whole lines only (the recorder may be writing the next one)."""
    path = stack.records_dir / "recorder.jsonl"  # type: ignore[attr-defined]
    if not path.exists():
        return []
    whole = path.read_bytes().rpartition(b"\n")[0]
    return [json.loads(line) for line in whole.splitlines() if line.strip()]


def sqs_bodies(stack: RunningStack, queue_logical_id: str) -> list[str]:
    arn_suffix = stack.resources[queue_logical_id].rsplit("/", 1)[-1]
    return [
        record["body"]
        for event in recorded(stack)
        for record in event.get("Records", [])
        if record.get("eventSource") == "aws:sqs" and record["eventSourceARN"].endswith(arn_suffix)
    ]


def id_token(stack: RunningStack, username: str = "tester") -> str:
    cognito = stack.client("cognito-idp")
    pool, client = stack.resources["Pool"], stack.resources["PoolClient"]
    cognito.sign_up(ClientId=client, Username=username, Password="password1")
    cognito.admin_confirm_sign_up(UserPoolId=pool, Username=username)
    answer = cognito.initiate_auth(
        ClientId=client, AuthFlow="USER_PASSWORD_AUTH", AuthParameters={"USERNAME": username, "PASSWORD": "password1"}
    )
    return str(answer["AuthenticationResult"]["IdToken"])


def test_routes_are_read_from_the_template(stack: RunningStack) -> None:
    assert sorted(stack.routes) == [
        "GET /private -> RecorderFunction",
        "GET /public -> RecorderFunction",
        "POST /items/latest -> RecorderFunction",
        "POST /items/{itemId} -> RecorderFunction",
    ]


def test_literal_paths_win_over_path_parameters(stack: RunningStack) -> None:
    token = id_token(stack, "router")
    headers = {"Authorization": f"Bearer {token}"}

    latest = requests.post(f"{stack.api_url}/items/latest", headers=headers, timeout=10).json()
    other = requests.post(f"{stack.api_url}/items/42", headers=headers, timeout=10).json()

    assert latest["resource"] == "/items/latest"
    assert latest["path_parameters"] is None
    assert other["resource"] == "/items/{itemId}"
    assert other["path_parameters"] == {"itemId": "42"}


def test_an_unauthenticated_request_never_reaches_the_handler(stack: RunningStack) -> None:
    before = len(recorded(stack))

    missing = requests.get(f"{stack.api_url}/private", timeout=10)
    forged = requests.get(f"{stack.api_url}/private", headers={"Authorization": "Bearer a.b.c"}, timeout=10)

    for answer in (missing, forged):
        assert answer.status_code == 401
        assert answer.json() == {"error": {"code": "unauthorized", "message": "from the template"}}
    assert len(recorded(stack)) == before


def test_an_authenticated_request_carries_the_claims(stack: RunningStack) -> None:
    token = id_token(stack, "claimant")

    answer = requests.get(f"{stack.api_url}/private", headers={"Authorization": f"Bearer {token}"}, timeout=10)
    event = recorded(stack)[-1]

    assert answer.status_code == 200
    claims = event["requestContext"]["authorizer"]["claims"]
    assert claims["cognito:username"] == "claimant"
    assert answer.json()["sub"] == claims["sub"]
    assert all(isinstance(value, str) for value in claims.values())  # as API Gateway passes them
    assert event["resource"] == "/private"
    assert event["requestContext"]["stage"] == "test"


def test_public_routes_need_no_token_and_unknown_routes_are_refused(stack: RunningStack) -> None:
    assert requests.get(f"{stack.api_url}/public", timeout=10).status_code == 200
    unknown = requests.get(f"{stack.api_url}/nowhere", timeout=10)
    wrong_method = requests.delete(f"{stack.api_url}/public", timeout=10)

    assert unknown.status_code == 403
    assert unknown.json() == {"message": "Missing Authentication Token"}
    assert wrong_method.status_code == 403


def test_cors_preflight_answers_from_the_template(stack: RunningStack) -> None:
    answer = requests.options(f"{stack.api_url}/private", timeout=10)

    assert answer.status_code == 200
    assert answer.headers["Access-Control-Allow-Origin"] == "https://photos.example"
    assert answer.headers["Access-Control-Allow-Methods"] == "GET,POST"


def test_a_failing_sqs_record_retries_then_dead_letters_while_its_batch_mates_succeed(stack: RunningStack) -> None:
    sqs = stack.client("sqs")
    queue = stack.resources["WorkQueue"]
    bodies = ["good-1", "good-2", "poison-1", "good-3", "good-4"]
    sqs.send_message_batch(QueueUrl=queue, Entries=[{"Id": str(i), "MessageBody": b} for i, b in enumerate(bodies)])

    dead = eventually(
        lambda: sqs.receive_message(QueueUrl=stack.resources["WorkDeadLetterQueue"], WaitTimeSeconds=1).get("Messages"),
        timeout=30,
        what="the poison message in the dead-letter queue",
    )
    seen = sqs_bodies(stack, "WorkQueue")

    assert [message["Body"] for message in dead] == ["poison-1"]
    assert sorted(body for body in seen if body.startswith("good")) == ["good-1", "good-2", "good-3", "good-4"]
    assert seen.count("poison-1") == 3  # maxReceiveCount deliveries, then the DLQ
    batch_sizes = [
        len(event["Records"])
        for event in recorded(stack)
        if any(record.get("body") == "good-1" for record in event.get("Records", []))
    ]
    assert batch_sizes
    assert batch_sizes[0] > 1
    time.sleep(2)  # longer than the visibility timeout: the good ones must not come back
    assert sorted(body for body in sqs_bodies(stack, "WorkQueue") if body.startswith("good")) == [
        "good-1",
        "good-2",
        "good-3",
        "good-4",
    ]


def test_an_s3_upload_reaches_its_function(stack: RunningStack) -> None:
    s3 = stack.client("s3")
    bucket = stack.resources["UploadsBucket"]
    s3.put_object(Bucket=bucket, Key="incoming/photo.jpg", Body=b"\xff\xd8\xff")
    s3.put_object(Bucket=bucket, Key="elsewhere/ignored.txt", Body=b"x")  # outside the prefix filter

    def upload_events() -> list[dict[str, Any]]:
        return [record for body in sqs_bodies(stack, "UploadQueue") for record in json.loads(body).get("Records", [])]

    events = eventually(upload_events, what="the S3 event at the function")
    time.sleep(1)
    # Keys in S3 events are URL-encoded (on AWS too): consumers decode them with unquote_plus.
    keys = [unquote_plus(record["s3"]["object"]["key"]) for record in upload_events()]
    assert keys == ["incoming/photo.jpg"]
    assert events[0]["eventName"].startswith("ObjectCreated:")


def test_a_dynamodb_stream_reaches_its_function(stack: RunningStack) -> None:
    table = stack.resources["ThingsTable"]
    stack.client("dynamodb").put_item(TableName=table, Item={"id": {"S": "thing-1"}, "name": {"S": "lamp"}})

    def stream_records() -> list[dict[str, Any]]:
        return [
            record
            for event in recorded(stack)
            for record in event.get("Records", [])
            if record.get("eventSource") == "aws:dynamodb"
        ]

    records = eventually(stream_records, what="the stream record at the function")
    assert records[0]["eventName"] == "INSERT"
    assert records[0]["dynamodb"]["NewImage"] == {"id": {"S": "thing-1"}, "name": {"S": "lamp"}}


def test_step_functions_run_lambda_tasks_in_process_with_retries(stack: RunningStack) -> None:
    sfn = stack.client("stepfunctions")
    # Executions are always named (moto names unnamed ones "None", so a second one would clash).
    execution = sfn.start_execution(
        stateMachineArn=stack.resources["Workflow"], name="retried", input=json.dumps({"key": "k1"})
    )

    def finished() -> dict[str, Any] | None:
        described = sfn.describe_execution(executionArn=execution["executionArn"])
        return described if described["status"] != "RUNNING" else None

    described = eventually(finished, timeout=30, what="the execution to finish")
    assert described["status"] == "SUCCEEDED", described
    assert json.loads(described["output"]) == {"key": "k1", "attempts": 3}


def test_step_functions_catch_a_task_that_always_fails(stack: RunningStack) -> None:
    sfn = stack.client("stepfunctions")
    execution = sfn.start_execution(
        stateMachineArn=stack.resources["Workflow"], name="caught", input=json.dumps({"key": "k2", "always_fail": True})
    )

    def finished() -> dict[str, Any] | None:
        described = sfn.describe_execution(executionArn=execution["executionArn"])
        return described if described["status"] != "RUNNING" else None

    described = eventually(finished, timeout=30, what="the execution to finish")
    assert described["status"] == "FAILED"
    assert described["error"] == "GaveUp"
    attempts = int((stack.records_dir / "flaky-k2.count").read_text())  # type: ignore[attr-defined]
    assert attempts == 4  # the first call and three retries


def test_the_redis_server_answers(stack: RunningStack) -> None:
    client = redis.Redis.from_url(stack.redis_url)
    client.set("probe", "1")

    assert client.get("probe") == b"1"
