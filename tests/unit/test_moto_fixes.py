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


class Poison:
    def __getattr__(self, name: str) -> None:
        raise AssertionError(f"read another partition's item ({name})")


def test_a_query_reads_only_its_partition_and_answers_as_before(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    moto_fixes.apply()
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        dynamodb.create_table(
            TableName="pairs",
            KeySchema=[{"AttributeName": "h", "KeyType": "HASH"}, {"AttributeName": "r", "KeyType": "RANGE"}],
            AttributeDefinitions=[
                {"AttributeName": "h", "AttributeType": "S"},
                {"AttributeName": "r", "AttributeType": "S"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        dynamodb.create_table(
            TableName="singles",
            KeySchema=[{"AttributeName": "h", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "h", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        for h in ("a", "b", "c"):
            dynamodb.put_item(TableName="singles", Item={"h": {"S": h}})
            for r in range(5):
                dynamodb.put_item(TableName="pairs", Item={"h": {"S": h}, "r": {"S": f"{r:02d}"}, "n": {"N": str(r)}})

        def query(least: int | None = None) -> list[str]:
            values = {":h": {"S": "b"}, ":r": {"S": "04"}, **({":n": {"N": str(least)}} if least is not None else {})}
            extra = {"FilterExpression": "n >= :n"} if least is not None else {}
            pages, start = [], None
            while True:
                answer = dynamodb.query(
                    TableName="pairs",
                    KeyConditionExpression="h = :h AND r < :r",
                    ExpressionAttributeValues=values,
                    ScanIndexForward=False,
                    Limit=2,
                    **({"ExclusiveStartKey": start} if start else {}),
                    **extra,
                )
                pages += [item["r"]["S"] for item in answer["Items"]]
                start = answer.get("LastEvaluatedKey")
                if not start:
                    return pages

        assert query() == ["03", "02", "01", "00"]
        assert query(least=2) == ["03", "02"]

        # Another partition that cannot be read at all: a query of "b" must not touch it.
        from moto.core import DEFAULT_ACCOUNT_ID
        from moto.dynamodb.models import dynamodb_backends
        from moto.dynamodb.models.dynamo_type import DynamoType

        table = dynamodb_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].tables["pairs"]
        saved = table.items[DynamoType({"S": "a"})]
        table.items[DynamoType({"S": "a"})] = {"poison": Poison()}
        assert query() == ["03", "02", "01", "00"]
        table.items[DynamoType({"S": "a"})] = saved
        single = dynamodb.query(
            TableName="singles", KeyConditionExpression="h = :h", ExpressionAttributeValues={":h": {"S": "c"}}
        )
        assert [item["h"]["S"] for item in single["Items"]] == ["c"]
        missing = dynamodb.query(
            TableName="pairs", KeyConditionExpression="h = :h", ExpressionAttributeValues={":h": {"S": "zz"}}
        )
        assert missing["Items"] == []
        assert dynamodb.scan(TableName="pairs")["Count"] == 15
