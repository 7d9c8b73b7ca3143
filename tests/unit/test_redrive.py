"""tools/redrive.py: what each dead-letter queue of the template is, and each way of replaying it."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from devstack.template import load_yaml
from tools import redrive
from tools.redrive import (
    DRAINED,
    SQS_SOURCE,
    STATE_MACHINE,
    STREAM,
    RecordsGone,
    RedriveError,
    Stack,
    StreamBatch,
    dead_letter_queue,
    execution_name,
    lambda_stream_event,
    parse_failure_record,
    read_batch,
)

REGION = "us-east-1"
DLQ_URL = "https://sqs.us-east-1.amazonaws.com/123456789012/photofeed-FanoutDeadLetterQueue"
SOURCE_URL = "https://sqs.us-east-1.amazonaws.com/123456789012/photofeed-FanoutQueue"
DLQ_ARN = "arn:aws:sqs:us-east-1:123456789012:photofeed-FanoutDeadLetterQueue"
SOURCE_ARN = "arn:aws:sqs:us-east-1:123456789012:photofeed-FanoutQueue"


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_yaml(redrive.TEMPLATE)


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        yield


def stack_of(physical: dict[str, str], **clients: Any) -> Stack:
    return Stack("test", physical, lambda service: clients[service.replace("-", "_")])


# ---------------------------------------------------------------------- the template's queues
def test_each_dead_letter_queue_of_the_template_has_its_kind(template: dict[str, Any]) -> None:
    fanout = dead_letter_queue(template, "FanoutDeadLetterQueue")
    assert (fanout.kind, fanout.source) == (SQS_SOURCE, "FanoutQueue")

    for name in ("MediaDeadLetterQueue", "VideoDeadLetterQueue"):
        drained = dead_letter_queue(template, name)
        assert drained.kind == DRAINED
        assert drained.consumers == ("StuckPostsFunction",)

    relay = dead_letter_queue(template, "StreamRelayDeadLetterQueue")
    assert relay.kind == STREAM
    assert {(m.function, m.table) for m in relay.mappings} == {
        ("StreamRelayFunction", table) for table in ("PostsTable", "FollowsTable", "CommentsTable", "LikesTable")
    }
    comments = next(m for m in relay.mappings if m.table == "CommentsTable")
    assert comments.filters == ({"eventName": ["INSERT"]},)
    assert dead_letter_queue(template, "IndexSearchDeadLetterQueue").kind == STREAM

    notify = dead_letter_queue(template, "NotifyDeadLetterQueue")
    assert (notify.kind, notify.state_machine, notify.page_function) == (
        STATE_MACHINE,
        "NotifyStateMachine",
        "NotifyFunction",
    )


def test_a_queue_that_is_no_dead_letter_queue_is_refused_with_the_ones_that_are(template: dict[str, Any]) -> None:
    with pytest.raises(RedriveError, match="FanoutDeadLetterQueue") as refused:
        dead_letter_queue(template, "FanoutQueue")
    assert "NotifyDeadLetterQueue" in str(refused.value)


def test_the_media_dead_letters_are_refused_saying_why(template: dict[str, Any]) -> None:
    queue = dead_letter_queue(template, "MediaDeadLetterQueue")

    with pytest.raises(RedriveError, match="rejects the post") as refused:
        redrive.redrive(stack_of({}), queue)

    assert "post again" in str(refused.value)
    assert redrive.main(["MediaDeadLetterQueue", "--local"]) == 1  # refused before reaching any stack


# ---------------------------------------------------------------------- a queue's dead letters
def test_on_aws_a_message_move_task_moves_the_dead_letters_back(template: dict[str, Any]) -> None:
    sqs = boto3.client("sqs", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")
    stubber = Stubber(sqs)
    stubber.add_response("get_queue_attributes", {"Attributes": {"ApproximateNumberOfMessages": "3"}})
    stubber.add_response(
        "get_queue_attributes",
        {"Attributes": {"QueueArn": DLQ_ARN}},
        {"QueueUrl": DLQ_URL, "AttributeNames": ["QueueArn"]},
    )
    stubber.add_response(
        "get_queue_attributes",
        {"Attributes": {"QueueArn": SOURCE_ARN}},
        {"QueueUrl": SOURCE_URL, "AttributeNames": ["QueueArn"]},
    )
    stubber.add_response(
        "start_message_move_task", {"TaskHandle": "task-1"}, {"SourceArn": DLQ_ARN, "DestinationArn": SOURCE_ARN}
    )
    running = {"TaskHandle": "task-1", "Status": "RUNNING", "SourceArn": DLQ_ARN, "ApproximateNumberOfMessagesMoved": 1}
    stubber.add_response("list_message_move_tasks", {"Results": [running]}, {"SourceArn": DLQ_ARN, "MaxResults": 10})
    # SQS gives a task's handle only while it runs: the newest task (listed first) is this one.
    completed = {"Status": "COMPLETED", "SourceArn": DLQ_ARN, "ApproximateNumberOfMessagesMoved": 3}
    stubber.add_response("list_message_move_tasks", {"Results": [completed]}, {"SourceArn": DLQ_ARN, "MaxResults": 10})
    stack = stack_of({"FanoutDeadLetterQueue": DLQ_URL, "FanoutQueue": SOURCE_URL}, sqs=sqs)

    with stubber:
        report = redrive.redrive(stack, dead_letter_queue(template, "FanoutDeadLetterQueue"), sleep=lambda _: None)
        stubber.assert_no_pending_responses()

    assert report.ok
    assert report.redriven == 3
    assert any("COMPLETED: 3 of" in line for line in report.lines)


def test_a_move_task_that_fails_leaves_the_redrive_failed(template: dict[str, Any]) -> None:
    sqs = boto3.client("sqs", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")
    stubber = Stubber(sqs)
    stubber.add_response("get_queue_attributes", {"Attributes": {"ApproximateNumberOfMessages": "2"}})
    stubber.add_response("get_queue_attributes", {"Attributes": {"QueueArn": DLQ_ARN}})
    stubber.add_response("get_queue_attributes", {"Attributes": {"QueueArn": SOURCE_ARN}})
    stubber.add_response("start_message_move_task", {"TaskHandle": "task-2"})
    failed = {
        "TaskHandle": "task-2",
        "Status": "FAILED",
        "FailureReason": "AccessDenied",
        "ApproximateNumberOfMessagesMoved": 0,
    }
    stubber.add_response("list_message_move_tasks", {"Results": [failed]})
    stubber.add_response("get_queue_attributes", {"Attributes": {"ApproximateNumberOfMessages": "2"}})
    stack = stack_of({"FanoutDeadLetterQueue": DLQ_URL, "FanoutQueue": SOURCE_URL}, sqs=sqs)

    with stubber:
        report = redrive.redrive(stack, dead_letter_queue(template, "FanoutDeadLetterQueue"), sleep=lambda _: None)

    assert not report.ok
    assert report.left == ["message-move task FAILED: AccessDenied"] * 2


def _queues(sqs: Any) -> tuple[str, str]:
    dlq = sqs.create_queue(QueueName="fanout-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    source = sqs.create_queue(
        QueueName="fanout",
        Attributes={"RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 5})},
    )["QueueUrl"]
    return dlq, source


def _drain(sqs: Any, url: str) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    while batch := sqs.receive_message(
        QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=60, MessageAttributeNames=["All"]
    ).get("Messages"):
        messages.extend(batch)
    return messages


def test_without_the_move_api_every_dead_letter_is_copied_back_once_with_its_body(
    aws: None, template: dict[str, Any]
) -> None:
    # moto has no message-move API: the tool falls back to receive, send, delete.
    sqs = boto3.client("sqs", region_name=REGION)
    dlq, source = _queues(sqs)
    bodies = [json.dumps({"type": "deliver", "post_id": f"p{n}", "score": n, "user_ids": ["u1"]}) for n in range(23)]
    for body in bodies:
        sqs.send_message(
            QueueUrl=dlq,
            MessageBody=body,
            MessageAttributes={"origin": {"DataType": "String", "StringValue": "relay"}},
        )
    stack = stack_of({"FanoutDeadLetterQueue": dlq, "FanoutQueue": source}, sqs=sqs)

    report = redrive.redrive(stack, dead_letter_queue(template, "FanoutDeadLetterQueue"))

    assert report.ok
    assert report.redriven == 23
    moved = _drain(sqs, source)
    assert sorted(m["Body"] for m in moved) == sorted(bodies)
    assert {m["MessageAttributes"]["origin"]["StringValue"] for m in moved} == {"relay"}
    assert _drain(sqs, dlq) == []


def test_redriving_an_empty_dead_letter_queue_does_nothing(aws: None, template: dict[str, Any]) -> None:
    sqs = boto3.client("sqs", region_name=REGION)
    dlq, source = _queues(sqs)
    stack = stack_of({"FanoutDeadLetterQueue": dlq, "FanoutQueue": source}, sqs=sqs)

    report = redrive.redrive(stack, dead_letter_queue(template, "FanoutDeadLetterQueue"), copy=True)

    assert report.ok
    assert report.redriven == 0
    assert report.lines == ["FanoutDeadLetterQueue is empty: nothing to move"]
    assert _drain(sqs, source) == []


def test_a_dry_run_moves_nothing(aws: None, template: dict[str, Any]) -> None:
    sqs = boto3.client("sqs", region_name=REGION)
    dlq, source = _queues(sqs)
    sqs.send_message(QueueUrl=dlq, MessageBody="{}")
    stack = stack_of({"FanoutDeadLetterQueue": dlq, "FanoutQueue": source}, sqs=sqs)

    report = redrive.redrive(stack, dead_letter_queue(template, "FanoutDeadLetterQueue"), dry_run=True, local=True)

    assert report.lines == [
        "1 messages in FanoutDeadLetterQueue: would be copied (receive, send, delete) back to FanoutQueue "
        "(dry run: nothing done)"
    ]
    assert _drain(sqs, source) == []
    assert len(_drain(sqs, dlq)) == 1


# ---------------------------------------------------------------------- stream failures
FAILURE_RECORD = {
    "requestContext": {
        "requestId": "316aa6d0-8154-xmpl-9af7-85d5f4a6bc81",
        "functionArn": "arn:aws:lambda:us-east-1:123456789012:function:photofeed-StreamRelayFunction-AbC",
        "condition": "RetryAttemptsExhausted",
        "approximateInvokeCount": 1,
    },
    "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
    "version": "1.0",
    "timestamp": "2026-12-01T09:38:06.021Z",
    "DDBStreamBatchInfo": {
        "shardId": "shardId-00000001573689847184-864758bb",
        "startSequenceNumber": "800000000003126276362",
        "endSequenceNumber": "800000000003126276364",
        "approximateArrivalOfFirstRecord": "2026-12-01T09:30:41Z",
        "approximateArrivalOfLastRecord": "2026-12-01T09:30:41Z",
        "batchSize": 3,
        "streamArn": (
            "arn:aws:dynamodb:us-east-1:123456789012:table/photofeed-FollowsTable/stream/2026-11-30T08:00:00.000"
        ),
    },
}


def test_an_on_failure_record_names_the_batch_and_its_function() -> None:
    batch = parse_failure_record(json.dumps(FAILURE_RECORD))

    assert batch == StreamBatch(
        function_arn="arn:aws:lambda:us-east-1:123456789012:function:photofeed-StreamRelayFunction-AbC",
        stream_arn=FAILURE_RECORD["DDBStreamBatchInfo"]["streamArn"],  # type: ignore[index]
        shard_id="shardId-00000001573689847184-864758bb",
        start="800000000003126276362",
        end="800000000003126276364",
        size=3,
        condition="RetryAttemptsExhausted",
    )
    assert batch.table_name == "photofeed-FollowsTable"


@pytest.mark.parametrize("body", ["not json", "{}", json.dumps({"DDBStreamBatchInfo": {"streamArn": "x"}})])
def test_anything_else_is_no_failure_record(body: str) -> None:
    with pytest.raises(ValueError, match="on-failure record"):
        parse_failure_record(body)


def _follows_with_stream(dynamodb: Any, count: int) -> tuple[str, list[str]]:
    """A table with a stream and `count` follows written to it: (stream ARN, sequence numbers)."""
    table = dynamodb.create_table(
        TableName="follows",
        KeySchema=[{"AttributeName": "follower_id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "follower_id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )["TableDescription"]
    for n in range(count):
        dynamodb.put_item(
            TableName="follows", Item={"follower_id": {"S": f"u{n}"}, "followee_id": {"S": "star"}, "b": {"B": b"\x01"}}
        )
    streams = boto3.client("dynamodbstreams", region_name=REGION)
    stream_arn = table["LatestStreamArn"]
    shard = streams.describe_stream(StreamArn=stream_arn)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = streams.get_shard_iterator(StreamArn=stream_arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")
    records = streams.get_records(ShardIterator=iterator["ShardIterator"])["Records"]
    return stream_arn, [r["dynamodb"]["SequenceNumber"] for r in records]


def test_a_failed_batch_is_read_back_from_its_stream(aws: None) -> None:
    stream_arn, numbers = _follows_with_stream(boto3.client("dynamodb", region_name=REGION), 4)
    # Without shardId (as the local stack writes its records): the shard that holds the start.
    batch = StreamBatch(
        "arn:aws:lambda:us-east-1:123456789012:function:relay", stream_arn, None, numbers[1], numbers[2], 2
    )

    records = read_batch(boto3.client("dynamodbstreams", region_name=REGION), batch)

    assert [r["dynamodb"]["SequenceNumber"] for r in records] == numbers[1:3]
    assert [r["dynamodb"]["NewImage"]["follower_id"]["S"] for r in records] == ["u1", "u2"]
    event = lambda_stream_event(records, stream_arn)
    json.dumps(event)  # what Lambda would send: JSON throughout
    first = event["Records"][0]
    assert first["eventSourceARN"] == stream_arn
    assert first["eventName"] == "INSERT"
    assert isinstance(first["dynamodb"]["ApproximateCreationDateTime"], int)
    assert first["dynamodb"]["NewImage"]["b"] == {"B": "AQ=="}


def test_a_batch_that_has_left_the_stream_is_said_to_be_gone() -> None:
    streams = boto3.client("dynamodbstreams", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")
    stubber = Stubber(streams)
    stubber.add_client_error("get_shard_iterator", "TrimmedDataAccessException", "beyond the trim horizon")
    batch = parse_failure_record(json.dumps(FAILURE_RECORD))

    with stubber, pytest.raises(RecordsGone, match="TrimmedDataAccessException"):
        read_batch(streams, batch)


class FakeLambda:
    """lambda.invoke that records its calls and answers as told."""

    def __init__(self, answer: Any, function_error: str | None = None) -> None:
        self.answer = answer
        self.function_error = function_error
        self.calls: list[tuple[str, Any]] = []

    def invoke(self, FunctionName: str, InvocationType: str, Payload: bytes) -> dict[str, Any]:
        assert InvocationType == "RequestResponse"
        self.calls.append((FunctionName, json.loads(Payload)))
        answer: dict[str, Any] = {"StatusCode": 200, "Payload": io.BytesIO(json.dumps(self.answer).encode())}
        if self.function_error:
            answer["FunctionError"] = self.function_error
        return answer


def _relay_failure(stream_arn: str, start: str, end: str, function: str = "relay") -> str:
    record = json.loads(json.dumps(FAILURE_RECORD))
    record["requestContext"]["functionArn"] = f"arn:aws:lambda:us-east-1:123456789012:function:{function}"
    record["DDBStreamBatchInfo"].update(streamArn=stream_arn, startSequenceNumber=start, endSequenceNumber=end)
    del record["DDBStreamBatchInfo"]["shardId"]
    return json.dumps(record)


@pytest.mark.parametrize(
    ("answer", "function_error", "done"),
    [
        ({"batchItemFailures": []}, None, True),
        ({"batchItemFailures": [{"itemIdentifier": "x"}]}, None, False),
        ({"errorType": "ConnectionError", "errorMessage": "cache down"}, "Unhandled", False),
    ],
    ids=["succeeded", "batch-item-failures", "function-error"],
)
def test_a_failed_batch_is_replayed_to_its_function_and_done_only_if_it_all_succeeds(
    aws: None, template: dict[str, Any], answer: Any, function_error: str | None, done: bool
) -> None:
    stream_arn, numbers = _follows_with_stream(boto3.client("dynamodb", region_name=REGION), 3)
    relay = FakeLambda(answer, function_error)
    stack = stack_of(
        {"StreamRelayFunction": "relay", "FollowsTable": "follows"},
        dynamodbstreams=boto3.client("dynamodbstreams", region_name=REGION),
        **{"lambda": relay},
    )
    queue = dead_letter_queue(template, "StreamRelayDeadLetterQueue")

    ok, said = redrive.replay_stream_batch(stack, queue, _relay_failure(stream_arn, numbers[0], numbers[2]))

    assert ok is done, said
    [(function, event)] = relay.calls
    assert function == "arn:aws:lambda:us-east-1:123456789012:function:relay"
    assert [r["dynamodb"]["SequenceNumber"] for r in event["Records"]] == numbers


def test_the_mappings_filter_applies_to_a_replayed_batch(aws: None, template: dict[str, Any]) -> None:
    # The comments mapping lets INSERTs through only: the same records, seen as comments, are
    # filtered as Lambda filters them (all three are INSERTs, so a MODIFY filter drops them all).
    stream_arn, numbers = _follows_with_stream(boto3.client("dynamodb", region_name=REGION), 3)
    relay = FakeLambda({"batchItemFailures": []})
    stack = stack_of(
        {"StreamRelayFunction": "relay", "CommentsTable": "follows"},
        dynamodbstreams=boto3.client("dynamodbstreams", region_name=REGION),
        **{"lambda": relay},
    )
    queue = dead_letter_queue(template, "StreamRelayDeadLetterQueue")
    mapping = next(m for m in queue.mappings if m.table == "CommentsTable")
    only_modify = redrive.DeadLetterQueue(
        queue.logical_id,
        STREAM,
        mappings=(redrive.StreamMapping(mapping.function, mapping.table, ({"eventName": ["MODIFY"]},)),),
    )

    assert redrive.replay_stream_batch(stack, queue, _relay_failure(stream_arn, numbers[0], numbers[2]))[0]
    assert len(relay.calls[0][1]["Records"]) == 3
    ok, said = redrive.replay_stream_batch(stack, only_modify, _relay_failure(stream_arn, numbers[0], numbers[2]))
    assert ok
    assert "none passes the mapping's filter" in said
    assert len(relay.calls) == 1


# ---------------------------------------------------------------------- notification failures
class FakeStepFunctions:
    def __init__(self) -> None:
        self.started: list[dict[str, Any]] = []

    def start_execution(self, stateMachineArn: str, name: str, input: str) -> dict[str, Any]:
        self.started.append({"arn": stateMachineArn, "name": name, "input": json.loads(input)})
        return {"executionArn": f"{stateMachineArn.replace(':stateMachine:', ':execution:')}:{name}"}


def test_a_failed_page_is_delivered_alone_and_a_failed_execution_started_again(template: dict[str, Any]) -> None:
    notify, machine = FakeLambda({"recipients": 3, "pushed": 1}), FakeStepFunctions()
    machine_arn = "arn:aws:states:us-east-1:123456789012:stateMachine:photofeed-notify"
    stack = stack_of(
        {"NotifyStateMachine": machine_arn, "NotifyFunction": "photofeed-NotifyFunction-x"},
        stepfunctions=machine,
        **{"lambda": notify},
    )
    queue = dead_letter_queue(template, "NotifyDeadLetterQueue")
    event = {
        "type": "new_post",
        "actor_id": "a1",
        "occurred_at": "2026-12-01T09:00:00.000Z",
        "key": "post:p1",
        "post_id": "p1",
    }
    error = {"Error": "States.TaskFailed", "Cause": "..."}

    page = {"MessageId": "m1", "Body": json.dumps({"event": event, "page": {"after": "c2"}, "error": error})}
    assert redrive.replay_notification(stack, queue, page)[0]
    assert notify.calls == [
        ("photofeed-NotifyFunction-x", {"action": "deliver_page", "event": event, "page": {"after": "c2"}})
    ]
    assert machine.started == []

    failed = {
        "MessageId": "m2",
        "Body": json.dumps({"event": event, "execution": "arn:...:new_post-1", "error": error}),
    }
    ok, _, arn = redrive.replay_notification(stack, queue, failed)
    assert ok
    assert machine.started == [{"arn": machine_arn, "name": execution_name("m2"), "input": event}]
    assert arn is not None
    assert arn.endswith(execution_name("m2"))


def test_an_execution_name_is_the_same_for_the_same_dead_letter_and_valid() -> None:
    name = execution_name("0d2c0c4e-5a8e-4bb4-9a54-2c5e1b0e6c3f")
    assert name == execution_name("0d2c0c4e-5a8e-4bb4-9a54-2c5e1b0e6c3f")
    assert name != execution_name("another message")
    assert name.startswith("redrive-")
    assert len(name) <= 80
