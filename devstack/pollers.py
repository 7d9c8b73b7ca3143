"""Event source mappings, run the way Lambda runs them, from the template's own settings.

moto's own SQS->Lambda mapping hands one record per call and ignores partial failures, so the
queues are polled here: `BatchSize` records per call (gathered for up to
`MaximumBatchingWindowInSeconds`), `ReportBatchItemFailures` honoured (only the failed records
stay on the queue), failed records come back after the queue's visibility timeout and move to
the dead-letter queue after its `maxReceiveCount` (moto applies the redrive policy on receive).
DynamoDB streams are read shard by shard with the same batching, retried on failure up to
`MaximumRetryAttempts`, then sent to the `DestinationConfig.OnFailure` queue and skipped.
`Schedule` and `ScheduleV2` events fire on time (devstack/schedules.py).

Faults asked for (devstack/faults.py) act here too: an SQS batch may be delivered twice, and a
failed message may come back sooner than its queue's visibility timeout.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from devstack.aws import AwsClients
from devstack.runtime import FunctionError, FunctionRuntime, LocalFunction
from devstack.schedules import ScheduleMapping, Scheduler, is_enabled
from devstack.template import Template, TemplateError

log = logging.getLogger("devstack.events")

_IDLE_WAIT_SECONDS = 1


def _queue_url(template: Template, arn: str) -> str:
    for logical_id, attributes in template.attributes.items():
        if attributes.get("Arn") == arn and "QueueUrl" in attributes:
            return str(template.refs[logical_id])
    raise TemplateError(f"no queue in the template has the ARN {arn}")


def _lambda_message_attributes(attributes: dict[str, Any]) -> dict[str, Any]:
    converted = {}
    for name, value in attributes.items():
        converted[name] = {
            "stringValue": value.get("StringValue"),
            "binaryValue": value.get("BinaryValue"),
            "stringListValues": [],
            "binaryListValues": [],
            "dataType": value.get("DataType"),
        }
    return converted


def _lambda_stream_record(record: dict[str, Any], stream_arn: str) -> dict[str, Any]:
    """A stream record as Lambda delivers it (boto3 parses the creation time into a datetime)."""
    dynamodb = dict(record["dynamodb"])
    created = dynamodb.get("ApproximateCreationDateTime")
    if isinstance(created, datetime):
        dynamodb["ApproximateCreationDateTime"] = int(created.timestamp())
    return {**record, "dynamodb": dynamodb, "eventSourceARN": stream_arn}


def matches(pattern: Any, value: Any) -> bool:
    """Lambda event filtering, the part templates use: nested keys, and lists of exact values."""
    if isinstance(pattern, dict):
        return isinstance(value, dict) and all(k in value and matches(sub, value[k]) for k, sub in pattern.items())
    if isinstance(pattern, list):
        return any(matches(option, value) for option in pattern)
    return bool(pattern == value)


@dataclass
class SqsMapping:
    function: LocalFunction
    queue_arn: str
    queue_url: str
    batch_size: int
    window_seconds: float
    report_failures: bool
    region: str
    visibility_timeout: int | None = None  # the queue's, read when first needed

    def record(self, message: dict[str, Any]) -> dict[str, Any]:
        return {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": message["Body"],
            "attributes": message.get("Attributes", {}),
            "messageAttributes": _lambda_message_attributes(message.get("MessageAttributes", {})),
            "md5OfBody": message.get("MD5OfBody"),
            "eventSource": "aws:sqs",
            "eventSourceARN": self.queue_arn,
            "awsRegion": self.region,
        }


class EventSources:
    """Starts one poller thread per mapping (more where `ScalingConfig` asks for it)."""

    def __init__(
        self,
        template: Template,
        runtime: FunctionRuntime,
        aws: AwsClients,
        skip_existing_stream_records: bool = False,
    ) -> None:
        self.template = template
        # After a restore, the stream holds the restore's own writes: start past them.
        self.skip_existing_stream_records = skip_existing_stream_records
        self.runtime = runtime
        self.aws = aws
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.sqs_mappings: list[SqsMapping] = []
        self.stream_mappings: list[tuple[LocalFunction, dict[str, Any]]] = []
        self.schedules: list[ScheduleMapping] = []
        self._collect()

    def _collect(self) -> None:
        for function in self.runtime.functions.values():
            for name, event in function.events.items():
                kind, props = event.get("Type"), event.get("Properties") or {}
                if props.get("Enabled") is False:
                    continue
                if kind == "SQS":
                    self.sqs_mappings.append(
                        SqsMapping(
                            function=function,
                            queue_arn=str(props["Queue"]),
                            queue_url=_queue_url(self.template, str(props["Queue"])),
                            batch_size=int(props.get("BatchSize", 10)),
                            window_seconds=float(props.get("MaximumBatchingWindowInSeconds", 0)),
                            report_failures="ReportBatchItemFailures" in (props.get("FunctionResponseTypes") or []),
                            region=self.template.region,
                        )
                    )
                elif kind == "DynamoDB":
                    self.stream_mappings.append((function, props))
                elif kind in ("Schedule", "ScheduleV2"):
                    if is_enabled(props):
                        self.schedules.append(
                            ScheduleMapping.from_event(
                                function, name, kind, props, self.template.stack_name, self.template.region
                            )
                        )
                elif kind not in ("Api", None):
                    raise TemplateError(f"{function.logical_id}.{name}: event type {kind} is not emulated")

    def start(self) -> None:
        for mapping in self.sqs_mappings:
            concurrency = 1
            for function_event in mapping.function.events.values():
                scaling = (function_event.get("Properties") or {}).get("ScalingConfig") or {}
                concurrency = max(concurrency, min(int(scaling.get("MaximumConcurrency", 1)), 8))
            for index in range(concurrency):
                self._spawn(f"sqs:{mapping.function.logical_id}:{index}", self._poll_queue, mapping)
        for function, props in self.stream_mappings:
            self._spawn(f"stream:{function.logical_id}", self._poll_stream, function, props)
        if self.schedules:
            self._spawn("schedules", Scheduler(self.runtime, self.schedules, self._stop).run)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=5)

    def _spawn(self, name: str, target: Any, *args: Any) -> None:
        def run() -> None:
            while not self._stop.is_set():
                try:
                    target(*args)
                except Exception:
                    if self._stop.is_set():
                        return
                    log.exception("poller %s failed; restarting", name)
                    self._stop.wait(1)

        thread = threading.Thread(target=run, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    # ------------------------------------------------------------------ SQS
    def _poll_queue(self, mapping: SqsMapping) -> None:
        sqs = self.aws("sqs")
        while not self._stop.is_set():
            messages: list[dict[str, Any]] = []
            deadline = time.monotonic() + mapping.window_seconds
            while len(messages) < mapping.batch_size and not self._stop.is_set():
                answer = sqs.receive_message(
                    QueueUrl=mapping.queue_url,
                    MaxNumberOfMessages=min(10, mapping.batch_size - len(messages)),
                    WaitTimeSeconds=0 if messages else _IDLE_WAIT_SECONDS,
                    AttributeNames=["All"],
                    MessageAttributeNames=["All"],
                )
                received = answer.get("Messages", [])
                messages.extend(received)
                if not received and (messages or time.monotonic() >= deadline):
                    break
                if messages and time.monotonic() >= deadline:
                    break
            if messages:
                self.deliver_sqs_batch(mapping, messages)

    def deliver_sqs_batch(self, mapping: SqsMapping, messages: list[dict[str, Any]]) -> None:
        """Invoke the function with one batch; delete what succeeded, leave the rest to retry."""
        succeeded = self._invoke_with_batch(mapping, messages)
        if self.runtime.faults.duplicate_sqs():
            log.warning("fault: a batch of %d for %s delivered twice", len(messages), mapping.function.logical_id)
            succeeded |= self._invoke_with_batch(mapping, messages)  # either delivery's success deletes it
        done = [message for message in messages if message["MessageId"] in succeeded]
        for start in range(0, len(done), 10):
            chunk = done[start : start + 10]
            self.aws("sqs").delete_message_batch(
                QueueUrl=mapping.queue_url,
                Entries=[
                    {"Id": str(index), "ReceiptHandle": message["ReceiptHandle"]} for index, message in enumerate(chunk)
                ],
            )
        if len(done) < len(messages):
            self._retry_sooner(mapping, [message for message in messages if message["MessageId"] not in succeeded])

    def _invoke_with_batch(self, mapping: SqsMapping, messages: list[dict[str, Any]]) -> set[str]:
        """The ids of the messages the invocation handled: none when it failed as a whole."""
        event = {"Records": [mapping.record(message) for message in messages]}
        try:
            result = self.runtime.invoke(mapping.function, event, f"sqs:{mapping.queue_arn.rsplit(':', 1)[-1]}")
        except FunctionError:
            return set()  # the whole batch comes back after the visibility timeout
        failed: set[str] = set()
        if mapping.report_failures and isinstance(result, dict):
            failures = result.get("batchItemFailures") or []
            failed = {str(item.get("itemIdentifier")) for item in failures}
            if any(identifier in ("", "None") for identifier in failed):
                return set()  # an empty or null identifier fails the whole batch, as on AWS
        return {message["MessageId"] for message in messages if message["MessageId"] not in failed}

    def _retry_sooner(self, mapping: SqsMapping, failed: list[dict[str, Any]]) -> None:
        """With the `retry_after_seconds` fault setting: failed messages come back sooner than
        their queue's visibility timeout (backing off with each receive)."""
        sqs = self.aws("sqs")
        if mapping.visibility_timeout is None:
            attributes = sqs.get_queue_attributes(QueueUrl=mapping.queue_url, AttributeNames=["VisibilityTimeout"])
            mapping.visibility_timeout = int(attributes["Attributes"]["VisibilityTimeout"])
        entries = []
        for index, message in enumerate(failed):
            receives = int((message.get("Attributes") or {}).get("ApproximateReceiveCount", 1))
            seconds = self.runtime.faults.retry_after(receives, mapping.visibility_timeout)
            if seconds is not None:
                entries.append(
                    {"Id": str(index), "ReceiptHandle": message["ReceiptHandle"], "VisibilityTimeout": seconds}
                )
        for start in range(0, len(entries), 10):
            sqs.change_message_visibility_batch(QueueUrl=mapping.queue_url, Entries=entries[start : start + 10])

    # ------------------------------------------------------------------ DynamoDB streams
    def _poll_stream(self, function: LocalFunction, props: dict[str, Any]) -> None:
        streams = self.aws("dynamodbstreams")
        stream_arn = str(props["Stream"])
        batch_size = int(props.get("BatchSize", 100))
        max_retries = int(props.get("MaximumRetryAttempts", -1))
        report_failures = "ReportBatchItemFailures" in (props.get("FunctionResponseTypes") or [])
        on_failure = ((props.get("DestinationConfig") or {}).get("OnFailure") or {}).get("Destination")
        position = "TRIM_HORIZON" if props.get("StartingPosition", "LATEST") == "TRIM_HORIZON" else "LATEST"
        patterns = [json.loads(f["Pattern"]) for f in ((props.get("FilterCriteria") or {}).get("Filters") or [])]
        if self.skip_existing_stream_records:
            position = "LATEST"
        iterators: dict[str, str] = {}
        while not self._stop.is_set():
            shards = streams.describe_stream(StreamArn=stream_arn)["StreamDescription"]["Shards"]
            for shard in shards:
                if shard["ShardId"] not in iterators:
                    iterators[shard["ShardId"]] = streams.get_shard_iterator(
                        StreamArn=stream_arn, ShardId=shard["ShardId"], ShardIteratorType=position
                    )["ShardIterator"]
            got_any = False
            for shard_id, iterator in list(iterators.items()):
                answer = streams.get_records(ShardIterator=iterator, Limit=batch_size)
                records = answer.get("Records", [])
                if patterns:  # filtered records are dropped, as the event source mapping does
                    records = [r for r in records if any(matches(p, _lambda_stream_record(r, "")) for p in patterns)]
                if records:
                    got_any = True
                    self._deliver_stream_batch(function, stream_arn, records, max_retries, report_failures, on_failure)
                iterators[shard_id] = answer.get("NextShardIterator") or iterator
            if not got_any:
                self._stop.wait(0.2)

    def _deliver_stream_batch(
        self,
        function: LocalFunction,
        stream_arn: str,
        records: list[dict[str, Any]],
        max_retries: int,
        report_failures: bool,
        on_failure: str | None,
    ) -> None:
        pending = [_lambda_stream_record(record, stream_arn) for record in records]
        attempts = 0
        while pending and not self._stop.is_set():
            try:
                result = self.runtime.invoke(function, {"Records": pending}, "dynamodb-stream")
            except FunctionError as error:
                failed_from = 0
                reason = error.error_type
            else:
                failures = (
                    (result or {}).get("batchItemFailures") if report_failures and isinstance(result, dict) else None
                )
                if not failures:
                    return
                first = min(str(item.get("itemIdentifier")) for item in failures)
                failed_from = next(
                    (index for index, record in enumerate(pending) if record["dynamodb"]["SequenceNumber"] == first),
                    0,
                )
                reason = "batchItemFailures"
            pending = pending[failed_from:]
            attempts += 1
            if max_retries >= 0 and attempts > max_retries:
                self._stream_failure(function, stream_arn, pending, reason, on_failure)
                return
            self._stop.wait(min(0.2 * 2**attempts, 5))

    def _stream_failure(
        self,
        function: LocalFunction,
        stream_arn: str,
        records: list[dict[str, Any]],
        reason: str,
        on_failure: str | None,
    ) -> None:
        log.error("λ %s: %d stream records failed (%s); skipped", function.logical_id, len(records), reason)
        if on_failure:
            self.aws("sqs").send_message(
                QueueUrl=_queue_url(self.template, on_failure),
                MessageBody=json.dumps(
                    {
                        "requestContext": {
                            "functionArn": function.arn,
                            "condition": "RetryAttemptsExhausted",
                        },
                        "DDBStreamBatchInfo": {
                            "streamArn": stream_arn,
                            "startSequenceNumber": records[0]["dynamodb"]["SequenceNumber"],
                            "endSequenceNumber": records[-1]["dynamodb"]["SequenceNumber"],
                            "batchSize": len(records),
                        },
                        "reason": reason,
                    }
                ),
            )
