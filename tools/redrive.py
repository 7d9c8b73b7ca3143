"""Replay a dead-letter queue once the cause of its failures is fixed (`make redrive QUEUE=...`).

    python -m tools.redrive FanoutDeadLetterQueue --local            # the stack `make local` runs
    python -m tools.redrive FanoutDeadLetterQueue                    # AWS: samconfig.toml's [prod] stack
    python -m tools.redrive NotifyDeadLetterQueue --stack-name photofeed-prod --region us-east-1
    python -m tools.redrive StreamRelayDeadLetterQueue --local --dry-run   # say what would be done

QUEUE is the dead-letter queue's logical id in template.yaml; the template says what kind of
dead letters it holds, so what a replay is. Every consumer is idempotent (each checks the truth
in DynamoDB, writes exact members, or is named after its event), so a message replayed twice, or
replayed after it had half succeeded, does nothing twice.

- A queue's dead-letter queue (FanoutDeadLetterQueue): the messages go back to the source queue
  (FanoutQueue), whose consumer runs them again. On AWS this is SQS's message-move task
  (StartMessageMoveTask, polled with ListMessageMoveTasks until it ends). Where that API does not
  exist (moto, hence the local stack; `--local` never asks) or with `--copy`, each message is
  received, sent to the source with its body and attributes, then deleted: sent before deleted,
  so a crash in between repeats a message rather than losing it.
- MediaDeadLetterQueue and VideoDeadLetterQueue are refused. StuckPostsFunction reads them and
  rejects the post of each dead-lettered upload at once, with a reason; the original stays in the
  versioned uploads bucket. The media and video workers ignore an upload whose post is no longer
  in flight, so a message moved back would change nothing: the author posts again. Their alarms
  say that uploads were given up on; the logs of the workers say why.
- A stream mapping's on-failure destination (StreamRelayDeadLetterQueue,
  IndexSearchDeadLetterQueue) holds Lambda's record of a failed batch, not the batch:
  `{"requestContext": {"functionArn", "condition", ...}, "responseContext": {...}, "version",
  "timestamp", "DDBStreamBatchInfo": {"shardId", "startSequenceNumber", "endSequenceNumber",
  "batchSize", "streamArn", ...}}`. The batch is read back from the table's stream (the records
  from start to end, filtered by the mapping's FilterCriteria as Lambda filters them), handed to
  the function named in the record as Lambda would hand it, and the message is deleted only if
  the invocation succeeded with no batch item failures. A stream keeps records for 24 hours: a
  batch that has left it cannot be replayed, which is said, and the message stays (it names the
  table and the sequence numbers, for a repair by hand).
- The notification state machine's dead letters (NotifyDeadLetterQueue), written by its
  RecordFailure (`{"event", "execution", "error"}`) and RecordPageFailure (`{"event", "page",
  "error"}`) states. A failed execution is started again with its input, named `redrive-<hash of
  the message id>` (so running the tool twice starts it once). A failed page of a new post's
  followers is delivered again by invoking the notify function's `deliver_page` action for that
  page alone: a new execution would deliver every page again, and pushes are not deduplicated
  (in-app notifications are: their ids derive from the event and the recipient). The tool waits
  for the executions it started (`--wait`); one that fails again is back in the queue, by the
  state machine's own Catch.

Exit status 0 when every message was redriven (or there were none), 1 otherwise.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from devstack.template import load_yaml
from tools.deploy_web import samconfig_target

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "template.yaml"
LOCAL_ENDPOINTS = ROOT / ".devstack" / "endpoints.json"

SQS_SOURCE, DRAINED, STREAM, STATE_MACHINE = "sqs-source", "drained", "stream", "state-machine"
# The notify function's action for one page of followers (statemachines/notify.asl.json DeliverPage).
PAGE_ACTION = "deliver_page"
# How long a received message stays hidden while it is replayed: longer than any replay takes, so a
# run never sees a message twice; messages left are made visible again at the end.
HIDE_SECONDS = 300
MOVE_TASK_DONE = ("COMPLETED", "FAILED", "CANCELLED")
# What an endpoint without the message-move API answers (moto raises NotImplementedError in-process).
NO_MOVE_API = {"InvalidAction", "UnknownOperation", "UnknownOperationException", "NotImplemented"}


class RedriveError(Exception):
    """Something the operator has to know or fix before a redrive can run; said in one line."""


# ---------------------------------------------------------------------- what a queue is
@dataclass(frozen=True)
class StreamMapping:
    """One DynamoDB-stream event of a function whose on-failure destination is the queue."""

    function: str  # logical ids
    table: str
    filters: tuple[Any, ...] = ()  # FilterCriteria patterns, parsed


@dataclass(frozen=True)
class DeadLetterQueue:
    """A dead-letter queue of the template and what a replay of it is.

    kind: SQS_SOURCE (messages go back to `source`), DRAINED (read by `consumers`: refused),
    STREAM (on-failure records of `mappings`) or STATE_MACHINE (the failures `state_machine`
    caught; pages are replayed with `page_function`)."""

    logical_id: str
    kind: str
    source: str | None = None
    consumers: tuple[str, ...] = ()
    mappings: tuple[StreamMapping, ...] = ()
    state_machine: str | None = None
    page_function: str | None = None


def _arn_target(value: Any, attribute: str = "Arn") -> str | None:
    """The logical id in `!GetAtt X.<attribute>` (either form), else None."""
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        target = value["Fn::GetAtt"]
        parts = target.split(".", 1) if isinstance(target, str) else list(target)
        if len(parts) == 2 and parts[1] == attribute:
            return str(parts[0])
    return None


def _ref_target(value: Any) -> str | None:
    return str(value["Ref"]) if isinstance(value, dict) and isinstance(value.get("Ref"), str) else None


def _functions(resources: dict[str, Any]) -> Iterator[tuple[str, str, str, dict[str, Any]]]:
    """(function id, event name, event type, event properties) of every function event."""
    for logical_id, resource in resources.items():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        for name, event in ((resource.get("Properties") or {}).get("Events") or {}).items():
            yield logical_id, name, str(event.get("Type")), event.get("Properties") or {}


def dead_letter_queue(template: dict[str, Any], logical_id: str) -> DeadLetterQueue:
    """What `logical_id` is as a dead-letter queue of `template` (the loaded template.yaml).
    Raises RedriveError if it is not a queue, or not one that anything dead-letters into."""
    found = _classify(template["Resources"], logical_id)
    if found is None:
        names = ", ".join(dead_letter_queues(template)) or "none"
        raise RedriveError(f"{logical_id} is not a dead-letter queue of the template; those are: {names}")
    return found


def _classify(resources: dict[str, Any], logical_id: str) -> DeadLetterQueue | None:
    if (resources.get(logical_id) or {}).get("Type") != "AWS::SQS::Queue":
        return None
    sources = [
        queue_id
        for queue_id, resource in resources.items()
        if resource.get("Type") == "AWS::SQS::Queue"
        and _arn_target(((resource.get("Properties") or {}).get("RedrivePolicy") or {}).get("deadLetterTargetArn"))
        == logical_id
    ]
    consumers = tuple(
        sorted(
            {
                fn
                for fn, _, kind, props in _functions(resources)
                if kind == "SQS" and _arn_target(props.get("Queue")) == logical_id
            }
        )
    )
    if sources:
        return DeadLetterQueue(logical_id, DRAINED if consumers else SQS_SOURCE, source=sources[0], consumers=consumers)
    mappings = []
    for function, _, kind, props in _functions(resources):
        destination = ((props.get("DestinationConfig") or {}).get("OnFailure") or {}).get("Destination")
        if kind == "DynamoDB" and _arn_target(destination) == logical_id:
            table = _arn_target(props.get("Stream"), "StreamArn")
            filters = tuple(
                json.loads(f["Pattern"]) for f in ((props.get("FilterCriteria") or {}).get("Filters") or [])
            )
            mappings.append(StreamMapping(function, table or "", filters))
    if mappings:
        return DeadLetterQueue(logical_id, STREAM, mappings=tuple(mappings))
    for machine_id, resource in resources.items():
        if resource.get("Type") != "AWS::Serverless::StateMachine":
            continue
        substitutions = (resource.get("Properties") or {}).get("DefinitionSubstitutions") or {}
        if any(_ref_target(value) == logical_id for value in substitutions.values()):
            functions = [
                target
                for value in substitutions.values()
                if (target := _arn_target(value))
                and resources.get(target, {}).get("Type") == "AWS::Serverless::Function"
            ]
            return DeadLetterQueue(
                logical_id, STATE_MACHINE, state_machine=machine_id, page_function=functions[0] if functions else None
            )
    return None


def dead_letter_queues(template: dict[str, Any]) -> list[str]:
    """Logical ids of every queue of the template that something dead-letters into."""
    resources = template["Resources"]
    return [logical_id for logical_id in resources if _classify(resources, logical_id) is not None]


# ---------------------------------------------------------------------- where the stack is
@dataclass
class Stack:
    """The deployed (or local) stack: logical id -> physical id, and clients for its endpoint."""

    name: str
    physical: dict[str, str]
    client: Callable[[str], Any]

    def ref(self, logical_id: str) -> str:
        if not self.physical.get(logical_id):
            raise RedriveError(f"stack {self.name} has no resource {logical_id}: is template.yaml deployed there?")
        return self.physical[logical_id]

    def logical_of(self, physical_id: str) -> str | None:
        return next((key for key, value in self.physical.items() if value == physical_id), None)


def local_stack(endpoints_file: Path) -> Stack:
    """The stack `make local` runs, from the endpoints file it writes when it serves.
    Raises RedriveError when the file is not there (the stack is not running)."""
    if not endpoints_file.is_file():
        raise RedriveError(f"{endpoints_file} is missing: start the local stack first (make local)")
    endpoints = json.loads(endpoints_file.read_text())
    session = boto3.session.Session()
    config = Config(retries={"mode": "standard", "max_attempts": 3}, read_timeout=300)

    def client(service: str) -> Any:
        return session.client(
            service,  # type: ignore[call-overload]
            endpoint_url=endpoints["aws_endpoint_url"],
            region_name=endpoints.get("region", "us-east-1"),
            aws_access_key_id="local",
            aws_secret_access_key="local",
            config=config,
        )

    physical = {key: str(value) for key, value in (endpoints.get("resources") or {}).items() if value}
    return Stack(str(endpoints.get("stack_name") or "local"), physical, _cached(client))


def aws_stack(stack_name: str, region: str | None) -> Stack:
    """A deployed stack: its resources' physical ids from CloudFormation (ListStackResources, as
    DescribeStackResources stops at 100). Raises ClientError if the stack does not exist."""
    session = boto3.session.Session(region_name=region)
    if not session.region_name:
        raise RedriveError("no region: give --region (or set AWS_REGION)")
    config = Config(retries={"mode": "standard", "max_attempts": 5}, read_timeout=900)
    physical = {}
    for page in session.client("cloudformation").get_paginator("list_stack_resources").paginate(StackName=stack_name):
        for item in page["StackResourceSummaries"]:
            if item.get("PhysicalResourceId"):
                physical[str(item["LogicalResourceId"])] = str(item["PhysicalResourceId"])
    return Stack(stack_name, physical, _cached(lambda service: session.client(service, config=config)))  # type: ignore[call-overload]


def _cached(make: Callable[[str], Any]) -> Callable[[str], Any]:
    clients: dict[str, Any] = {}

    def client(service: str) -> Any:
        if service not in clients:
            clients[service] = make(service)
        return clients[service]

    return client


# ---------------------------------------------------------------------- reporting
@dataclass
class Report:
    """What a redrive did: `redriven` messages done; `left`, one reason per message left."""

    queue: str
    redriven: int = 0
    left: list[str] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)

    def say(self, line: str) -> None:
        self.lines.append(line)

    @property
    def ok(self) -> bool:
        return not self.left


# ---------------------------------------------------------------------- receiving
def _receive_batches(sqs: Any, queue_url: str, hide_seconds: int = HIDE_SECONDS) -> Iterator[list[dict[str, Any]]]:
    """Batches of up to 10 messages, hidden for `hide_seconds`, until a long poll finds none
    (a short poll samples a few servers; a long poll asks them all)."""
    while True:
        answer = sqs.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=1,
            VisibilityTimeout=hide_seconds,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        messages = answer.get("Messages") or []
        if not messages:
            return
        yield messages


def _delete(sqs: Any, queue_url: str, messages: list[dict[str, Any]]) -> set[str]:
    """Delete `messages`; returns the ids of those SQS did not delete."""
    if not messages:
        return set()
    answer = sqs.delete_message_batch(
        QueueUrl=queue_url,
        Entries=[{"Id": str(index), "ReceiptHandle": m["ReceiptHandle"]} for index, m in enumerate(messages)],
    )
    return {messages[int(failed["Id"])]["MessageId"] for failed in answer.get("Failed") or []}


def _release(sqs: Any, queue_url: str, messages: list[dict[str, Any]]) -> None:
    """Make messages left in the queue visible again at once (for the next run or consumer)."""
    for start in range(0, len(messages), 10):
        chunk = messages[start : start + 10]
        sqs.change_message_visibility_batch(
            QueueUrl=queue_url,
            Entries=[
                {"Id": str(index), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 0}
                for index, m in enumerate(chunk)
            ],
        )


def _count(sqs: Any, queue_url: str) -> int:
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessages"])
    return int(attributes["Attributes"]["ApproximateNumberOfMessages"])


def _queue_arn(sqs: Any, queue_url: str) -> str:
    return str(sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"])


# ---------------------------------------------------------------------- a queue's dead letters
def move_back(
    sqs: Any, dlq_url: str, source_url: str, report: Report, sleep: Callable[[float], None] = time.sleep
) -> bool:
    """Move the dead letters back with SQS's message-move task and wait until it ends. Returns
    False, having moved nothing, when the endpoint has no such API (then copy them instead)."""
    dlq_arn, source_arn = _queue_arn(sqs, dlq_url), _queue_arn(sqs, source_url)
    try:
        handle = sqs.start_message_move_task(SourceArn=dlq_arn, DestinationArn=source_arn)["TaskHandle"]
    except NotImplementedError:
        return False
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in NO_MOVE_API:
            return False
        raise
    report.say(f"message-move task started ({handle})")
    while True:
        tasks = sqs.list_message_move_tasks(SourceArn=dlq_arn, MaxResults=10).get("Results") or []
        # The handle is listed only while the task runs; then ours is the newest, listed first.
        task = next((t for t in tasks if t.get("TaskHandle") == handle), tasks[0] if tasks else {})
        status = str(task.get("Status", "RUNNING"))
        if status in MOVE_TASK_DONE:
            break
        sleep(2)
    moved = int(task.get("ApproximateNumberOfMessagesMoved", 0))
    report.redriven += moved
    report.say(f"message-move task {status}: {moved} of {task.get('ApproximateNumberOfMessagesToMove', '?')} moved")
    if status != "COMPLETED":
        left = _count(sqs, dlq_url)
        reason = task.get("FailureReason") or status.lower()
        report.left.extend([f"message-move task {status}: {reason}"] * max(left, 1))
    return True


def copy_back(sqs: Any, dlq_url: str, source_url: str, report: Report) -> None:
    """Receive each dead letter, send it to the source queue (body, message attributes, and for a
    FIFO queue its group and deduplication ids), then delete it: at least once, never lost."""
    left: list[dict[str, Any]] = []
    for batch in _receive_batches(sqs, dlq_url):
        answer = sqs.send_message_batch(QueueUrl=source_url, Entries=[_resend_entry(i, m) for i, m in enumerate(batch)])
        failed = {int(entry["Id"]): entry.get("Message", entry.get("Code", "")) for entry in answer.get("Failed") or []}
        sent = [m for i, m in enumerate(batch) if i not in failed]
        not_deleted = _delete(sqs, dlq_url, sent)
        report.redriven += len(sent) - len(not_deleted)
        for index, reason in failed.items():
            report.left.append(f"{batch[index]['MessageId']}: not sent back: {reason}")
            left.append(batch[index])
        for message_id in not_deleted:  # sent already: the copy runs, this one repeats it later
            report.left.append(f"{message_id}: sent back but not deleted from the dead-letter queue")
    _release(sqs, dlq_url, left)


def _resend_entry(index: int, message: dict[str, Any]) -> dict[str, Any]:
    entry: dict[str, Any] = {"Id": str(index), "MessageBody": message["Body"]}
    attributes = {
        name: {key: value[key] for key in ("DataType", "StringValue", "BinaryValue") if key in value}
        for name, value in (message.get("MessageAttributes") or {}).items()
    }
    if attributes:
        entry["MessageAttributes"] = attributes
    system = message.get("Attributes") or {}
    if "MessageGroupId" in system:
        entry["MessageGroupId"] = system["MessageGroupId"]
        entry["MessageDeduplicationId"] = system.get("MessageDeduplicationId") or message["MessageId"]
    return entry


# ---------------------------------------------------------------------- stream failures
@dataclass(frozen=True)
class StreamBatch:
    """A failed stream batch, from Lambda's on-failure record."""

    function_arn: str
    stream_arn: str
    shard_id: str | None
    start: str  # sequence numbers, inclusive
    end: str
    size: int
    condition: str = ""

    @property
    def table_name(self) -> str:
        """arn:aws:dynamodb:region:account:table/NAME/stream/LABEL -> NAME"""
        return self.stream_arn.split(":table/", 1)[-1].split("/stream/", 1)[0]


class RecordsGone(Exception):
    """The batch's records have left the stream (kept 24 hours), or the stream is gone."""


def parse_failure_record(body: str) -> StreamBatch:
    """The batch an on-failure record describes. Raises ValueError for anything else."""
    try:
        record = json.loads(body)
        info = record["DDBStreamBatchInfo"]
        context = record.get("requestContext") or {}
        return StreamBatch(
            function_arn=str(context["functionArn"]),
            stream_arn=str(info["streamArn"]),
            shard_id=info.get("shardId"),
            start=str(info["startSequenceNumber"]),
            end=str(info["endSequenceNumber"]),
            size=int(info.get("batchSize") or 0),
            condition=str(context.get("condition") or ""),
        )
    except (ValueError, TypeError, KeyError) as error:
        raise ValueError(f"not a DynamoDB-stream on-failure record ({error})") from error


def read_batch(
    streams: Any, batch: StreamBatch, max_pages: int = 100, sleep: Callable[[float], None] = time.sleep
) -> list[dict[str, Any]]:
    """The batch's records, read back from its stream (start to end sequence number, inclusive),
    as `get_records` returns them. Raises RecordsGone when they have been trimmed or the stream no
    longer exists."""
    try:
        shard_id = batch.shard_id or _shard_of(streams, batch)
        iterator = streams.get_shard_iterator(
            StreamArn=batch.stream_arn,
            ShardId=shard_id,
            ShardIteratorType="AT_SEQUENCE_NUMBER",
            SequenceNumber=batch.start,
        )["ShardIterator"]
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code")
        if code in ("TrimmedDataAccessException", "ResourceNotFoundException", "ExpiredIteratorException"):
            raise RecordsGone(f"{code}: {error.response.get('Error', {}).get('Message', '')}") from error
        raise
    start, end = int(batch.start), int(batch.end)
    records: list[dict[str, Any]] = []
    for _ in range(max_pages):  # an open shard can answer empty pages before its records
        answer = streams.get_records(ShardIterator=iterator, Limit=1000)
        for record in answer.get("Records") or []:
            number = int(record["dynamodb"]["SequenceNumber"])
            if number > end:
                return records
            if number >= start:
                records.append(record)
        iterator = answer.get("NextShardIterator")
        if not iterator or (records and not answer.get("Records")):
            return records  # the shard's end, or its tip past the batch
        if not answer.get("Records"):
            sleep(0.2)  # a shard answers 5 reads a second
    return records


def _shard_of(streams: Any, batch: StreamBatch) -> str:
    """The shard holding the batch's first record (a record without shardId, as the local stack
    writes): the shard whose sequence number range covers it."""
    start = int(batch.start)
    shards = streams.describe_stream(StreamArn=batch.stream_arn)["StreamDescription"].get("Shards") or []
    for shard in reversed(shards):
        numbers = shard.get("SequenceNumberRange") or {}
        first, last = numbers.get("StartingSequenceNumber"), numbers.get("EndingSequenceNumber")
        if first is not None and int(first) <= start and (last is None or start <= int(last)):
            return str(shard["ShardId"])
    raise RecordsGone(f"no shard of {batch.stream_arn} holds sequence number {batch.start}")


def lambda_stream_event(records: list[dict[str, Any]], stream_arn: str) -> dict[str, Any]:
    """The event Lambda hands a function for these stream records (as boto3 returns them:
    creation times become epoch seconds, binary values base64, and each names its stream)."""
    return {"Records": [{**_jsonable(record), "eventSourceARN": stream_arn} for record in records]}


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set):
        return [_jsonable(item) for item in value]
    if isinstance(value, datetime):
        return int(value.timestamp())
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    return value


def matches(pattern: Any, value: Any) -> bool:
    """Lambda event filtering as the template uses it: nested keys and lists of exact values.
    Raises RedriveError for a content filter (prefix, exists, ...) it does not evaluate."""
    if isinstance(pattern, dict):
        return isinstance(value, dict) and all(
            key in value and matches(sub, value[key]) for key, sub in pattern.items()
        )
    if isinstance(pattern, list):
        if any(isinstance(option, dict) for option in pattern):
            raise RedriveError(f"the filter {pattern} uses an operator this tool does not evaluate")
        return value in pattern
    return bool(pattern == value)


def invoke(lambda_client: Any, function: str, payload: dict[str, Any]) -> tuple[Any, str | None]:
    """Invoke synchronously; (the function's answer, None) or (its error payload, FunctionError)."""
    answer = lambda_client.invoke(
        FunctionName=function, InvocationType="RequestResponse", Payload=json.dumps(payload).encode()
    )
    raw = answer["Payload"].read()
    result = json.loads(raw) if raw else None
    return result, answer.get("FunctionError")


def replay_stream_batch(stack: Stack, queue: DeadLetterQueue, body: str) -> tuple[bool, str]:
    """Replay one on-failure record: (done, what happened). Done only when the function took the
    whole batch with no error and no batch item failure."""
    try:
        batch = parse_failure_record(body)
    except ValueError as error:
        return False, str(error)
    try:
        records = read_batch(stack.client("dynamodbstreams"), batch)
    except RecordsGone as error:
        return False, (
            f"the batch of {batch.size} records of table {batch.table_name} ({batch.start}..{batch.end}) "
            f"has left the stream, which keeps records 24 hours ({error}): it cannot be replayed"
        )
    if not records:
        return False, f"no records {batch.start}..{batch.end} in {batch.stream_arn}: nothing to replay"
    event = lambda_stream_event(records, batch.stream_arn)
    filters = _filters_of(stack, queue, batch)
    if filters:
        event["Records"] = [r for r in event["Records"] if any(matches(p, r) for p in filters)]
    what = f"{len(event['Records'])} records of table {batch.table_name} ({batch.start}..{batch.end})"
    if not event["Records"]:
        return True, f"{what}: none passes the mapping's filter, nothing to run"
    function = batch.function_arn.rsplit(":function:", 1)[-1]
    result, function_error = invoke(stack.client("lambda"), batch.function_arn, event)
    if function_error:
        return False, f"{what} to {function}: {function_error} error: {json.dumps(result)[:300]}"
    failures = (result or {}).get("batchItemFailures") if isinstance(result, dict) else None
    if failures:
        return False, f"{what} to {function}: {len(failures)} records failed again, from {failures[0]}"
    return True, f"{what} replayed to {function}"


def _filters_of(stack: Stack, queue: DeadLetterQueue, batch: StreamBatch) -> tuple[Any, ...]:
    """The FilterCriteria patterns of the mapping the batch failed in (its function and table)."""
    function = stack.logical_of(batch.function_arn.rsplit(":function:", 1)[-1].split(":", 1)[0])
    table = stack.logical_of(batch.table_name)
    for mapping in queue.mappings:
        if mapping.function == function and mapping.table == table:
            return mapping.filters
    return ()


# ---------------------------------------------------------------------- state machine failures
def execution_name(message_id: str) -> str:
    """`redrive-` and a hash of the dead letter's id: the same message is started once."""
    return "redrive-" + hashlib.sha256(message_id.encode()).hexdigest()[:48]


def replay_notification(stack: Stack, queue: DeadLetterQueue, message: dict[str, Any]) -> tuple[bool, str, str | None]:
    """Replay one caught notification failure: (done, what happened, the execution ARN started).
    A page is delivered again through the notify function; an execution is started again."""
    try:
        body = json.loads(message["Body"])
        event = body["event"]
        if not isinstance(event, dict):
            raise TypeError("event is not an object")
    except (ValueError, TypeError, KeyError) as error:
        return False, f"not a notification dead letter ({error})", None
    told = f"{event.get('type')} {event.get('key', '')}".strip()
    if "page" in body:
        if not queue.page_function:
            return False, f"{told}: no function to deliver a page with", None
        function = stack.ref(queue.page_function)
        payload = {"action": PAGE_ACTION, "event": event, "page": body["page"]}
        result, function_error = invoke(stack.client("lambda"), function, payload)
        if function_error:
            return False, f"{told}, page {body['page']}: {function_error} error: {json.dumps(result)[:300]}", None
        return True, f"{told}, page after {(body['page'] or {}).get('after')}: {result}", None
    assert queue.state_machine is not None
    machine = stack.ref(queue.state_machine)
    name = execution_name(message["MessageId"])
    try:
        started = stack.client("stepfunctions").start_execution(
            stateMachineArn=machine, name=name, input=json.dumps(event, sort_keys=True)
        )
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "ExecutionAlreadyExists":
            return True, f"{told}: {name} was started by an earlier run", None
        raise
    return True, f"{told}: started {name}", str(started["executionArn"])


def wait_for_executions(
    stepfunctions: Any, arns: list[str], timeout: float, sleep: Callable[[float], None] = time.sleep
) -> dict[str, str]:
    """Each execution's status once it ends, or RUNNING if `timeout` seconds pass first."""
    statuses = dict.fromkeys(arns, "RUNNING")
    deadline = time.monotonic() + timeout
    while True:
        for arn in [a for a, status in statuses.items() if status == "RUNNING"]:
            statuses[arn] = str(stepfunctions.describe_execution(executionArn=arn)["status"])
        if all(status != "RUNNING" for status in statuses.values()) or time.monotonic() >= deadline:
            return statuses
        sleep(1)


# ---------------------------------------------------------------------- one redrive
def _each_message(
    stack: Stack,
    queue_url: str,
    report: Report,
    replay: Callable[[dict[str, Any]], tuple[bool, str]],
) -> None:
    """Replay each message on its own; delete the done ones, release the rest. A message sent
    after the run began is left for the next run: it may be a replay of this run failing again."""
    sqs = stack.client("sqs")
    began_ms = time.time() * 1000
    left = []
    for batch in _receive_batches(sqs, queue_url):
        done = []
        for message in batch:
            if int((message.get("Attributes") or {}).get("SentTimestamp", 0)) > began_ms:
                ok, said = False, "arrived during this redrive (a replay that failed again?): left for the next run"
            else:
                try:
                    ok, said = replay(message)
                except (ClientError, BotoCoreError, RedriveError) as error:
                    ok, said = False, f"{type(error).__name__}: {error}"
            if ok:
                report.say(f"{message['MessageId']}: {said}")
                done.append(message)
            else:
                report.left.append(f"{message['MessageId']}: {said}")
                left.append(message)
        not_deleted = _delete(sqs, queue_url, done)
        for message_id in not_deleted:
            report.left.append(f"{message_id}: replayed but not deleted from the dead-letter queue")
        report.redriven += len(done) - len(not_deleted)
    _release(sqs, queue_url, left)


def redrive(
    stack: Stack,
    queue: DeadLetterQueue,
    *,
    dry_run: bool = False,
    copy: bool = False,
    local: bool = False,
    wait_seconds: float = 60,
    sleep: Callable[[float], None] = time.sleep,
) -> Report:
    """Replay the dead letters of `queue` in `stack`; see the module's docstring for each kind.
    Raises RedriveError for a queue that is not redriven (MediaDeadLetterQueue, VideoDeadLetterQueue)."""
    report = Report(queue.logical_id)
    if queue.kind == DRAINED:
        raise RedriveError(not_redriven(queue))
    sqs = stack.client("sqs")
    dlq_url = stack.ref(queue.logical_id)
    waiting = _count(sqs, dlq_url)
    if dry_run:
        report.say(f"{waiting} messages in {queue.logical_id}: {_plan(queue, local or copy)} (dry run: nothing done)")
        return report
    if queue.kind == SQS_SOURCE:
        assert queue.source is not None
        source_url = stack.ref(queue.source)
        if waiting == 0:
            report.say(f"{queue.logical_id} is empty: nothing to move")
            return report
        if not (local or copy) and move_back(sqs, dlq_url, source_url, report, sleep):
            return report
        copy_back(sqs, dlq_url, source_url, report)
        report.say(f"{report.redriven} messages copied back to {queue.source}, {len(report.left)} left")
        return report
    if queue.kind == STREAM:
        _each_message(stack, dlq_url, report, lambda message: replay_stream_batch(stack, queue, message["Body"]))
        report.say(f"{report.redriven} failed batches replayed, {len(report.left)} left")
        return report
    started: list[str] = []

    def replay(message: dict[str, Any]) -> tuple[bool, str]:
        ok, said, arn = replay_notification(stack, queue, message)
        if arn:
            started.append(arn)
        return ok, said

    _each_message(stack, dlq_url, report, replay)
    if started:
        statuses = wait_for_executions(stack.client("stepfunctions"), started, wait_seconds, sleep)
        for arn, status in statuses.items():
            name = arn.rsplit(":", 1)[-1]
            if status == "RUNNING":
                report.say(f"{name} still running after {wait_seconds:.0f} s: see the state machine's executions")
            elif status != "SUCCEEDED":
                report.left.append(f"{name} {status}: its failure is back in {queue.logical_id}")
    report.say(f"{report.redriven} notifications replayed, {len(report.left)} left")
    return report


def not_redriven(queue: DeadLetterQueue) -> str:
    """Why a queue that its own consumer drains (MediaDeadLetterQueue, VideoDeadLetterQueue) is refused."""
    return (
        f"{queue.logical_id} is not redriven: {', '.join(queue.consumers)} reads it and rejects the post of "
        "each dead-lettered upload at once, with a reason (the original stays in the uploads bucket). "
        f"The worker of {queue.source} ignores uploads whose post is no longer in flight, so moving them back "
        "would change nothing: once the cause is fixed, the authors post again."
    )


def _plan(queue: DeadLetterQueue, copy: bool) -> str:
    if queue.kind == SQS_SOURCE:
        how = "copied (receive, send, delete)" if copy else "moved by a message-move task"
        return f"would be {how} back to {queue.source}"
    if queue.kind == STREAM:
        functions = sorted({m.function for m in queue.mappings})
        return f"each failed batch would be read back from its stream and handed to {' or '.join(functions)}"
    return f"each failure would be replayed: an execution of {queue.state_machine}, or a page by {queue.page_function}"


# ---------------------------------------------------------------------- the command
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.redrive",
        description=(
            "Replay a dead-letter queue of template.yaml once the cause of its failures is fixed. "
            "FanoutDeadLetterQueue: messages go back to FanoutQueue (SQS message-move task; copied on the "
            "local stack or with --copy). StreamRelayDeadLetterQueue, IndexSearchDeadLetterQueue: each failed "
            "batch is read back from its stream (24 hours) and handed to the function again. "
            "NotifyDeadLetterQueue: failed notifications are started again (a failed page is delivered alone). "
            "MediaDeadLetterQueue, VideoDeadLetterQueue are refused: their posts were rejected at once, with a "
            "reason, and the originals kept; the authors post again. Every consumer is idempotent."
        ),
        epilog="Exit status: 0 when every message was redriven, 1 otherwise.",
    )
    parser.add_argument("queue", metavar="QUEUE", help="the dead-letter queue's logical id, e.g. FanoutDeadLetterQueue")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--local", action="store_true", help="the local stack (make local): .devstack/endpoints.json")
    where.add_argument("--endpoints", type=Path, help="a local stack's endpoints file (implies --local)")
    where.add_argument("--stack-name", help="the AWS stack (default: samconfig.toml's [prod] stack)")
    parser.add_argument("--region", help="the AWS stack's region (default: samconfig.toml's, else boto3's)")
    parser.add_argument("--dry-run", action="store_true", help="say how many messages wait and what would be done")
    parser.add_argument("--copy", action="store_true", help="copy messages back instead of a message-move task")
    parser.add_argument("--wait", type=float, default=60, help="seconds to wait for restarted executions (60)")
    parser.add_argument("--template", type=Path, default=TEMPLATE, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    local = args.local or args.endpoints is not None
    try:
        queue = dead_letter_queue(load_yaml(args.template), args.queue)
        if queue.kind == DRAINED:
            raise RedriveError(not_redriven(queue))
        if local:
            stack = local_stack(args.endpoints or LOCAL_ENDPOINTS)
        else:
            configured_stack, configured_region = samconfig_target("prod")
            stack_name = args.stack_name or configured_stack
            if not stack_name:
                parser.error("give --stack-name (samconfig.toml's [prod] names no stack), or --local")
            stack = aws_stack(stack_name, args.region or configured_region)
        report = redrive(stack, queue, dry_run=args.dry_run, copy=args.copy, local=local, wait_seconds=args.wait)
    except (RedriveError, ClientError, BotoCoreError) as error:
        print(f"redrive: {error}", file=sys.stderr)
        return 1
    for line in report.lines:
        print(line)
    for reason in report.left:
        print(f"left: {reason}", file=sys.stderr)
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
