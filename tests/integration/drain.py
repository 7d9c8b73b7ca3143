"""Drive the asynchronous functions in-process the way Lambda would, on moto's mock.

`SqsDriver` receives from a queue and hands batches to a handler, deleting only what succeeded
(partial batch failures), so a failed record comes back on the next round: a redelivery.
`StreamDriver` reads a table's stream from where it left off and retries a batch from the first
failed record, as a DynamoDB event source mapping does.
"""

from __future__ import annotations

import json
from typing import Any

from devstack.pollers import _lambda_stream_record
from tests.conftest import LocalAws


class SqsDriver:
    def __init__(self, local_aws: LocalAws, queue_logical_id: str, function: str, context: Any) -> None:
        self.aws = local_aws.aws
        self.url = local_aws.template.refs[queue_logical_id]
        self.arn = local_aws.template.attributes[queue_logical_id]["Arn"]
        self.handler = local_aws.handler(function)
        self.context = context

    def receive(self) -> list[dict[str, Any]]:
        answer = self.aws("sqs").receive_message(
            QueueUrl=self.url, MaxNumberOfMessages=10, VisibilityTimeout=0, AttributeNames=["All"]
        )
        return answer.get("Messages", [])

    def deliver(self, messages: list[dict[str, Any]]) -> set[str]:
        """One invocation; returns the ids of the records that failed (left on the queue)."""
        event = {
            "Records": [
                {
                    "messageId": m["MessageId"],
                    "receiptHandle": m["ReceiptHandle"],
                    "body": m["Body"],
                    "attributes": m.get("Attributes", {}),
                    "messageAttributes": {},
                    "md5OfBody": m["MD5OfBody"],
                    "eventSource": "aws:sqs",
                    "eventSourceARN": self.arn,
                    "awsRegion": "us-east-1",
                }
                for m in messages
            ]
        }
        result = self.handler(event, self.context)
        failed = {item["itemIdentifier"] for item in (result or {}).get("batchItemFailures", [])}
        for message in messages:
            if message["MessageId"] not in failed:
                self.aws("sqs").delete_message(QueueUrl=self.url, ReceiptHandle=message["ReceiptHandle"])
        return failed

    def drain(self, rounds: int = 10) -> int:
        """Deliver until the queue is empty; returns how many invocations it took."""
        for invocations in range(rounds):
            messages = self.receive()
            if not messages:
                return invocations
            self.deliver(messages)
        raise AssertionError(f"{self.url} still not empty after {rounds} rounds")

    def bodies(self) -> list[dict[str, Any]]:
        return [json.loads(message["Body"]) for message in self.receive()]


class StreamDriver:
    def __init__(self, local_aws: LocalAws, table_logical_id: str, function: str, context: Any) -> None:
        self.streams = local_aws.aws("dynamodbstreams")
        self.arn = local_aws.template.attributes[table_logical_id]["StreamArn"]
        self.handler = local_aws.handler(function)
        self.context = context
        shard = self.streams.describe_stream(StreamArn=self.arn)["StreamDescription"]["Shards"][0]
        self.iterator = self.streams.get_shard_iterator(
            StreamArn=self.arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        self.pending: list[dict[str, Any]] = []

    def _read(self) -> None:
        answer = self.streams.get_records(ShardIterator=self.iterator)
        self.iterator = answer["NextShardIterator"]
        self.pending += [_lambda_stream_record(record, self.arn) for record in answer["Records"]]

    def drain(self, attempts: int = 10) -> None:
        """Deliver every new record; a failed batch is retried from its first failed record."""
        self._read()
        for _ in range(attempts):
            if not self.pending:
                return
            result = self.handler({"Records": self.pending}, self.context)
            failures = (result or {}).get("batchItemFailures", [])
            if not failures:
                self.pending = []
                return
            first = min(item["itemIdentifier"] for item in failures)
            self.pending = [r for r in self.pending if int(r["dynamodb"]["SequenceNumber"]) >= int(first)]
        raise AssertionError("stream records kept failing")
