"""Notification figures: one post told to 10,000 followers through the real state machine
(moto's ASL engine), the notify function's tasks in-process, SNS and DynamoDB on moto."""

from __future__ import annotations

import time
from typing import Any

from moto.core import DEFAULT_ACCOUNT_ID
from moto.sns.models import sns_backends

from photofeed import wiring
from photofeed.storage.notifications import user_key
from photofeed.storage.push import device_id
from photofeed.storage.tables import DeviceClaimRow, DeviceSetRow, NotificationRow
from tests.bench.feed import CONTEXT, cache_server, counting_aws_calls, follow_all, make_user, processing_post
from tests.conftest import REGION, LocalAws
from tests.integration.drain import StreamDriver
from tests.integration.feed_world import publish_row


def give_devices(local_aws: LocalAws, user_ids: list[str]) -> None:
    """One GCM phone each, registered as POST /me/devices would leave it."""
    sns = local_aws.aws("sns")
    application = wiring.push_gateway().application("GCM")
    with DeviceSetRow.batch_write() as sets, DeviceClaimRow.batch_write() as claims:
        for user_id in user_ids:
            token = f"bench-token-{user_id}"
            arn = sns.create_platform_endpoint(PlatformApplicationArn=application, Token=token, CustomUserData=user_id)[
                "EndpointArn"
            ]
            device = device_id("GCM", token)
            sets.save(DeviceSetRow(pk=user_key(user_id), devices={device: {"platform": "GCM", "endpoint_arn": arn}}))
            claims.save(DeviceClaimRow(pk=f"d#{device}", owner_id=user_id, platform="GCM", endpoint_arn=arn))


def bench_notify_followers(local_aws: LocalAws, followers: int = 10_000, with_devices: int = 2_000) -> dict[str, Any]:
    author = "notify-author"
    make_user(author, followers)
    user_ids = [f"n{index:06d}" for index in range(followers)]
    follow_all(user_ids, author)
    give_devices(local_aws, user_ids[:with_devices])
    relay = StreamDriver(local_aws, "PostsTable", "StreamRelayFunction", CONTEXT)
    relay.drain()  # the follows' stream: nothing to tell (those users do not exist)
    sfn = local_aws.aws("stepfunctions")
    machine = local_aws.template.refs["NotifyStateMachine"]
    before = {run["executionArn"] for run in sfn.list_executions(stateMachineArn=machine)["executions"]}

    row = processing_post(author, "Opening night")
    post_id = row.id
    with counting_aws_calls() as calls:
        started = time.perf_counter()
        assert publish_row(row, 1, 1, {"thumbnail": "a", "medium": "b", "large": "c"})
        relay.drain()
        while True:
            runs = [
                r for r in sfn.list_executions(stateMachineArn=machine)["executions"] if r["executionArn"] not in before
            ]
            if runs and all(run["status"] != "RUNNING" for run in runs):
                break
            time.sleep(0.02)
        elapsed = time.perf_counter() - started
    [run] = runs
    assert run["status"] == "SUCCEEDED", sfn.describe_execution(executionArn=run["executionArn"])
    history = sfn.get_execution_history(executionArn=run["executionArn"], maxResults=1000)["events"]
    told = sum(1 for _ in NotificationRow.scan(NotificationRow.post_id == post_id))
    assert told == followers, told
    published = sum(len(e.messages) for e in sns_backends[DEFAULT_ACCOUNT_ID][REGION].platform_endpoints.values())
    return {
        "notify_10k_followers_s": round(elapsed, 2),
        "notify_followers": followers,
        "notify_executions": len(runs),
        "notify_lambda_invocations": sum(
            1
            for event in history
            if event["type"] == "TaskScheduled" and event["taskScheduledEventDetails"]["resourceType"] == "lambda"
        ),
        "notify_sns_publishes": published,
        "notify_devices": with_devices,
        "notify_dynamodb_calls": calls["dynamodb"],
    }


def run() -> dict[str, Any]:
    from tests.conftest import local_aws_context

    server = cache_server()
    try:
        with local_aws_context(server.url, run_state_machines=True) as local_aws:
            return bench_notify_followers(local_aws)
    finally:
        server.stop()
