"""moto's departures from AWS that the project corrects, tested against moto itself."""

from __future__ import annotations

import boto3
import pytest
from moto import mock_aws

from devstack import moto_fixes


def test_a_failed_transaction_does_not_blind_stream_readers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    moto_fixes.apply()
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        streams = boto3.client("dynamodbstreams", region_name="us-east-1")
        table = dynamodb.create_table(
            TableName="edges",
            KeySchema=[{"AttributeName": "a", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "a", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
            StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
        )["TableDescription"]
        arn = table["LatestStreamArn"]
        shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
        iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")[
            "ShardIterator"
        ]

        def put(key: str) -> None:
            dynamodb.transact_write_items(
                TransactItems=[
                    {
                        "Put": {
                            "TableName": "edges",
                            "Item": {"a": {"S": key}},
                            "ConditionExpression": "attribute_not_exists(a)",
                        }
                    }
                ]
            )

        put("first")
        answer = streams.get_records(ShardIterator=iterator)
        with pytest.raises(dynamodb.exceptions.TransactionCanceledException):
            put("first")  # the same edge again: the condition fails, nothing is written
        put("second")
        later = streams.get_records(ShardIterator=answer["NextShardIterator"])

        assert [r["dynamodb"]["Keys"]["a"]["S"] for r in answer["Records"]] == ["first"]
        assert [r["dynamodb"]["Keys"]["a"]["S"] for r in later["Records"]] == ["second"]
