"""`make redrive` against the local stack: a poison message really dead-letters, the cause is
fixed, and the redrive (the CLI, as an operator runs it) delivers what had failed, once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import redis

from photofeed.storage.feed_store import feed_key, member_of
from tests import images
from tests.e2e.conftest import Account, Api
from tests.e2e.test_posts_and_follows_e2e import post_photo, settled
from tests.stack_runner import ROOT, RunningStack, eventually

pytestmark = pytest.mark.e2e

ACCOUNT_ID = "123456789012"  # moto's, as the local stack's ARNs have it


def run_redrive(stack: RunningStack, queue: str) -> subprocess.CompletedProcess[str]:
    environment = {key: value for key, value in os.environ.items() if not key.startswith(("AWS_", "MOTO_"))}
    return subprocess.run(
        [sys.executable, "-m", "tools.redrive", queue, "--endpoints", str(stack.state_dir / "endpoints.json")],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def feed_ids(api: Api, account: Account) -> list[str]:
    answer = api.call("GET", "/feed", token=account.id_token)
    assert answer.status_code == 200, answer.text
    return [item["id"] for item in answer.json()["items"]]


def told(api: Api, account: Account, kind: str) -> list[dict[str, Any]]:
    answer = api.call("GET", "/notifications?limit=50", token=account.id_token)
    assert answer.status_code == 200, answer.text
    return [item for item in answer.json()["items"] if item["type"] == kind]


def messages_in(stack: RunningStack, queue: str) -> int:
    attributes = stack.client("sqs").get_queue_attributes(
        QueueUrl=stack.resources[queue],
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])


def fanout_idle(stack: RunningStack) -> None:
    eventually(lambda: messages_in(stack, "FanoutQueue") == 0, timeout=30, what="the fan-out queue drained")


@contextmanager
def quick_retries(stack: RunningStack, queue: str, seconds: int = 1) -> Iterator[None]:
    """The queue's visibility timeout (180 s in the template) cut to `seconds` for a while, so a
    failing message reaches its maxReceiveCount (5) in seconds rather than 15 minutes."""
    sqs, url = stack.client("sqs"), stack.resources[queue]
    before = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["VisibilityTimeout"])["Attributes"]
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"VisibilityTimeout": str(seconds)})
    time.sleep(2)  # a receive takes the timeout when it starts: the pollers' long polls (1 s) under way end
    try:
        yield
    finally:
        sqs.set_queue_attributes(QueueUrl=url, Attributes={"VisibilityTimeout": before["VisibilityTimeout"]})


def test_a_poison_fanout_message_dead_letters_and_once_fixed_the_redrive_delivers_it_once(
    api: Api, stack: RunningStack
) -> None:
    author, follower = api.sign_up(), api.sign_up()
    assert api.call("PUT", f"/users/{author.username}/follow", token=follower.id_token).status_code == 204
    # The relay queues the follow's fan-out message before it starts the notification: once the
    # author is told, the message is on the queue, and the queue's draining means it was handled
    # (before the fault below, which it would otherwise meet).
    eventually(lambda: told(api, author, "follow"), what="the author told of the follow")
    fanout_idle(stack)
    assert feed_ids(api, follower) == []  # the follower's feed is built: from now on only fan-out fills it
    assert messages_in(stack, "FanoutDeadLetterQueue") == 0
    cache = redis.Redis.from_url(stack.redis_url)
    # The fault: the author's cached timeline holds a value of the wrong type (as a bad deploy or a
    # hand edit could leave it). Every fan-out of the author's posts fails on it (WRONGTYPE).
    cache.set(f"tl:{author.id}", "not a sorted set")

    with quick_retries(stack, "FanoutQueue"):
        post_id = post_photo(api, author, images.jpeg(), title="Redriven")
        assert settled(api, author, post_id)["status"] == "published"
        eventually(
            lambda: messages_in(stack, "FanoutDeadLetterQueue") == 1,
            timeout=60,
            what="the post's fan-out message dead-lettered",
        )

    cache.delete(f"tl:{author.id}")  # the cause fixed; the feed has not healed by itself
    assert feed_ids(api, follower) == []
    redriven = run_redrive(stack, "FanoutDeadLetterQueue")

    assert redriven.returncode == 0, redriven.stdout + redriven.stderr
    assert "1 messages copied back to FanoutQueue, 0 left" in redriven.stdout
    eventually(lambda: feed_ids(api, follower) == [post_id], what="the post in the follower's feed")
    eventually(lambda: told(api, follower, "new_post"), what="the follower told of the post")
    time.sleep(1.5)  # long enough for a duplicate to show
    assert feed_ids(api, follower) == [post_id]
    assert [item["post_id"] for item in told(api, follower, "new_post")] == [post_id]
    listed = api.call("GET", f"/users/{author.username}/posts", token=follower.id_token).json()
    assert [item["id"] for item in listed["items"]] == [post_id]
    assert api.call("GET", f"/posts/{post_id}", token=follower.id_token).json()["status"] == "published"
    assert messages_in(stack, "FanoutDeadLetterQueue") == 0


def _stream_record(stack: RunningStack, table: str, wanted: dict[str, str]) -> tuple[str, str, dict[str, Any]]:
    """(stream ARN, shard id, record) of the table's stream record whose new image has `wanted`."""
    stream_arn = stack.client("dynamodb").describe_table(TableName=stack.resources[table])["Table"]["LatestStreamArn"]
    streams = stack.client("dynamodbstreams")
    for shard in streams.describe_stream(StreamArn=stream_arn)["StreamDescription"]["Shards"]:
        iterator = streams.get_shard_iterator(
            StreamArn=stream_arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        while iterator:
            answer = streams.get_records(ShardIterator=iterator, Limit=1000)
            for record in answer["Records"]:
                image = record["dynamodb"].get("NewImage") or {}
                if all((image.get(key) or {}).get("S") == value for key, value in wanted.items()):
                    return stream_arn, shard["ShardId"], record
            iterator = answer.get("NextShardIterator") if answer["Records"] else None
    raise AssertionError(f"no record with {wanted} in the stream of {table}")


def on_failure_record(function_arn: str, stream_arn: str, shard_id: str, record: dict[str, Any]) -> dict[str, Any]:
    """What Lambda sends the on-failure destination for a one-record batch it gave up on."""
    sequence = record["dynamodb"]["SequenceNumber"]
    arrived = record["dynamodb"]["ApproximateCreationDateTime"].strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "requestContext": {
            "requestId": str(uuid.uuid4()),
            "functionArn": function_arn,
            "condition": "RetryAttemptsExhausted",
            "approximateInvokeCount": 4,
        },
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
        "version": "1.0",
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
        "DDBStreamBatchInfo": {
            "shardId": shard_id,
            "startSequenceNumber": sequence,
            "endSequenceNumber": sequence,
            "approximateArrivalOfFirstRecord": arrived,
            "approximateArrivalOfLastRecord": arrived,
            "batchSize": 1,
            "streamArn": stream_arn,
        },
    }


def test_a_stream_batch_the_relay_gave_up_on_is_replayed_from_the_stream_once(api: Api, stack: RunningStack) -> None:
    # The local stack retries a failed stream batch until it succeeds (MaximumRetryAttempts -1, as
    # on AWS, where the batch goes to the destination when it leaves the stream after 24 hours).
    # So the relay's failure is staged: its effect on the feed is taken away, and Lambda's
    # on-failure record for the follow's real stream position is put in the destination.
    author, follower = api.sign_up(), api.sign_up()
    post_id = post_photo(api, author, images.jpeg(), title="Before the follow")
    assert settled(api, author, post_id)["status"] == "published"
    assert feed_ids(api, follower) == []  # built before the follow: the follow's fan-out backfills it
    assert api.call("PUT", f"/users/{author.username}/follow", token=follower.id_token).status_code == 204
    eventually(lambda: feed_ids(api, follower) == [post_id], what="the follow's backfill")
    eventually(lambda: told(api, author, "follow"), what="the author told of the follow")
    fanout_idle(stack)
    redis.Redis.from_url(stack.redis_url).zrem(feed_key(follower.id), member_of(post_id))
    assert feed_ids(api, follower) == []
    stream_arn, shard_id, record = _stream_record(
        stack, "FollowsTable", {"follower_id": follower.id, "followee_id": author.id}
    )
    relay_arn = f"arn:aws:lambda:us-east-1:{ACCOUNT_ID}:function:{stack.resources['StreamRelayFunction']}"
    stack.client("sqs").send_message(
        QueueUrl=stack.resources["StreamRelayDeadLetterQueue"],
        MessageBody=json.dumps(on_failure_record(relay_arn, stream_arn, shard_id, record)),
    )

    redriven = run_redrive(stack, "StreamRelayDeadLetterQueue")

    assert redriven.returncode == 0, redriven.stdout + redriven.stderr
    assert "1 records of table" in redriven.stdout
    assert "1 failed batches replayed, 0 left" in redriven.stdout
    eventually(lambda: feed_ids(api, follower) == [post_id], what="the follow's backfill, replayed")
    time.sleep(1.5)  # long enough for a second notification to show
    assert [item["actor"]["id"] for item in told(api, author, "follow")] == [follower.id]
    assert messages_in(stack, "StreamRelayDeadLetterQueue") == 0
