"""Notifications through the real state machine: moto executes statemachines/notify.asl.json,
its Lambda tasks run the project's notify handler, the stream relay starts the executions."""

from __future__ import annotations

import json
import time
import types
from collections.abc import Iterator
from typing import Any

import pytest
from moto.core import DEFAULT_ACCOUNT_ID
from moto.sns.models import sns_backends
from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl

from photofeed import wiring
from photofeed.services.notifications import NotificationEvent
from photofeed.storage.notifications import NotificationRepository
from tests.conftest import REGION, LocalAws, local_aws_context
from tests.integration.drain import StreamDriver
from tests.integration.feed_world import World
from tests.integration.helpers import route


class NotifyWorld(World):
    def __init__(self, local_aws: LocalAws, ctx: Any) -> None:
        super().__init__(local_aws, ctx)
        self.comment_streams = StreamDriver(local_aws, "CommentsTable", "StreamRelayFunction", ctx)
        self.like_streams = StreamDriver(local_aws, "LikesTable", "StreamRelayFunction", ctx)
        self.sfn = local_aws.aws("stepfunctions")
        self.machine = local_aws.template.refs["NotifyStateMachine"]

    def tell(self) -> list[dict[str, Any]]:
        """Relay every change (starting executions) and wait for every execution to end."""
        self.relay()
        self.comment_streams.drain()
        self.like_streams.drain()
        return self.executions()

    def executions(self, timeout: float = 30) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while True:
            runs = self.sfn.list_executions(stateMachineArn=self.machine)["executions"]
            if all(run["status"] != "RUNNING" for run in runs):
                return list(runs)
            assert time.monotonic() < deadline, "executions still running"
            time.sleep(0.05)

    def notifications(self, name: str, **query: str) -> dict[str, Any]:
        status, page = route(
            self.local_aws, self.ctx, "api_get_notifications.json", self.user(name), query=query or None
        )
        assert status == 200, page
        return page

    def register(self, name: str, platform: str, token: str) -> tuple[int, dict[str, Any]]:
        return route(
            self.local_aws,
            self.ctx,
            "api_register_device.json",
            self.user(name),
            body={"platform": platform, "token": token},
        )

    def comment(self, name: str, post_id: str, text: str) -> str:
        status, comment = route(
            self.local_aws,
            self.ctx,
            "api_create_comment.json",
            self.user(name),
            path=f"/posts/{post_id}/comments",
            path_parameters={"post_id": post_id},
            body={"text": text},
        )
        assert status == 201, comment
        return str(comment["id"])

    def like(self, name: str, post_id: str, comment_id: str | None = None) -> None:
        path = f"/posts/{post_id}" + (f"/comments/{comment_id}" if comment_id else "") + "/like"
        params = {"post_id": post_id, **({"comment_id": comment_id} if comment_id else {})}
        sample = "api_like_comment.json" if comment_id else "api_like_post.json"
        status, answer = route(self.local_aws, self.ctx, sample, self.user(name), path=path, path_parameters=params)
        assert status == 204, answer


def pushes() -> dict[str, list[dict[str, Any]]]:
    """What SNS was asked to deliver, per endpoint ARN."""
    backend = sns_backends[DEFAULT_ACCOUNT_ID][REGION]
    return {
        arn: [json.loads(message) for message in endpoint.messages.values()]
        for arn, endpoint in backend.platform_endpoints.items()
    }


def owner(endpoint: Any) -> str:
    """The user an endpoint is for (moto keeps the creation's CustomUserData apart from updates)."""
    return str(endpoint.attributes.get("CustomUserData", endpoint.custom_user_data))


def endpoint_of(world: NotifyWorld, name: str) -> str:
    backend = sns_backends[DEFAULT_ACCOUNT_ID][REGION]
    user_id = world.user(name)["id"]
    [arn] = [arn for arn, e in backend.platform_endpoints.items() if owner(e) == user_id]
    return arn


@pytest.fixture
def retry_sleeps() -> Iterator[list[float]]:
    """moto sleeps the Retry intervals for real; record them instead."""
    slept: list[float] = []
    real = retrier_decl.time
    retrier_decl.time = types.SimpleNamespace(sleep=slept.append)  # type: ignore[assignment]
    yield slept
    retrier_decl.time = real


@pytest.fixture
def world(redis_url: str, lambda_context: Any, retry_sleeps: list[float]) -> Iterator[NotifyWorld]:
    with local_aws_context(redis_url, run_state_machines=True) as local_aws:
        yield NotifyWorld(local_aws, lambda_context)


def test_each_kind_reaches_its_recipient_once_in_the_app_and_by_push(world: NotifyWorld) -> None:
    assert world.register("alice", "APNS", "a" * 64)[0] == 201
    assert world.register("bob", "GCM", "bob-fcm-token-0123456789")[0] == 201

    assert world.follow("bob", "alice") == 204
    post = world.publish("alice", "Harbour at dusk")
    comment = world.comment("bob", post, "Lovely light")
    world.comment("alice", post, "Thanks!")  # her own post: nobody to tell
    world.like("alice", post, comment)
    world.like("bob", post)
    world.like("alice", post)  # her own post again
    runs = world.tell()
    assert {run["status"] for run in runs} == {"SUCCEEDED"}

    alice = world.notifications("alice")["items"]
    bob = world.notifications("bob")["items"]
    assert [(n["type"], n["actor"]["username"]) for n in alice] == [
        ("post_like", world.user("bob")["username"]),
        ("comment", world.user("bob")["username"]),
        ("follow", world.user("bob")["username"]),
    ]
    assert [(n["type"], n["post_id"], n["comment_id"]) for n in bob] == [
        ("comment_like", post, comment),
        ("new_post", post, None),
    ]
    assert not any(n["read"] for n in alice + bob)

    sent = pushes()
    to_alice = [json.loads(m["APNS"]) for m in sent[endpoint_of(world, "alice")]]
    to_bob = [json.loads(m["GCM"])["fcmV1Message"]["message"] for m in sent[endpoint_of(world, "bob")]]
    assert sorted(m["aps"]["alert"]["title"] for m in to_alice) == ["New comment", "New follower", "New like"]
    assert sorted(m["notification"]["title"] for m in to_bob) == ["New like", "New post"]
    new_post = next(m for m in to_bob if m["notification"]["title"] == "New post")
    assert new_post["notification"]["body"].endswith("posted: Harbour at dusk")
    assert new_post["data"]["link"] == f"photofeed://posts/{post}"


def test_the_same_change_relayed_twice_is_told_once(world: NotifyWorld) -> None:
    world.register("alice", "GCM", "alice-fcm-token-0123456789")
    world.follow("bob", "alice")
    world.tell()
    event = NotificationEvent(
        "follow",
        world.user("bob")["id"],
        "2026-11-21T20:45:16.123Z",
        f"follow:{world.user('bob')['id']}:{world.user('alice')['id']}",
        recipient_id=world.user("alice")["id"],
    )
    assert wiring.stream_relay()._notifications.start(event) is False  # already told
    world.follow_streams = StreamDriver(world.local_aws, "FollowsTable", "StreamRelayFunction", world.ctx)
    world.tell()  # the whole stream again, from the start
    assert len(world.executions()) == 1
    assert [n["type"] for n in world.notifications("alice")["items"]] == ["follow"]
    assert len(pushes()[endpoint_of(world, "alice")]) == 1


def test_a_new_post_reaches_every_follower_page_by_page(world: NotifyWorld, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NOTIFY_PAGE_SIZE", "4")
    monkeypatch.setenv("NOTIFY_PAGES_PER_PLAN", "3")
    wiring.reset()
    fans = [f"fan{index}" for index in range(25)]
    for fan in fans:
        world.follow(fan, "star")
    world.register("fan3", "GCM", "fan3-fcm-token-0123456789")
    world.tell()
    post = world.publish("star", "Opening night")
    runs = sorted((run for run in world.tell() if run["name"].startswith("new_post-")), key=lambda run: run["name"])
    assert [run["status"] for run in runs] == ["SUCCEEDED"] * 3  # the first, and two continuations
    for fan in fans:
        assert [(n["type"], n["post_id"]) for n in world.notifications(fan)["items"]] == [("new_post", post)]
    assert {n["type"] for n in world.notifications("star", limit="50")["items"]} == {"follow"}  # not her own post
    entered = []
    for run in runs:
        history = world.sfn.get_execution_history(executionArn=run["executionArn"], maxResults=1000)["events"]
        entered += [e["stateEnteredEventDetails"]["name"] for e in history if e["type"] == "TaskStateEntered"]
    assert (entered.count("PlanPages"), entered.count("DeliverPage")) == (3, 7)  # 25 followers, 4 a page, 3 a plan
    assert len(pushes()[endpoint_of(world, "fan3")]) == 1


def test_a_task_that_fails_twice_is_retried_and_tells_once(
    world: NotifyWorld, monkeypatch: pytest.MonkeyPatch, retry_sleeps: list[float]
) -> None:
    real_add = NotificationRepository.add
    calls = []

    class TransientError(Exception):
        pass

    def flaky(self: NotificationRepository, rows: Any) -> None:
        calls.append(len(rows))
        if len(calls) <= 2:
            raise TransientError("DynamoDB was busy")
        real_add(self, rows)

    monkeypatch.setattr(NotificationRepository, "add", flaky)
    world.follow("bob", "alice")
    [run] = world.tell()
    assert run["status"] == "SUCCEEDED"
    assert len(calls) == 3
    assert len(retry_sleeps) == 2
    assert all(0 <= delay <= 4 for delay in retry_sleeps)
    assert [n["type"] for n in world.notifications("alice")["items"]] == ["follow"]


def test_a_task_that_always_fails_is_caught_into_the_dead_letter_queue(
    world: NotifyWorld, monkeypatch: pytest.MonkeyPatch, retry_sleeps: list[float]
) -> None:
    def broken(self: NotificationRepository, rows: Any) -> None:
        raise RuntimeError("the notifications table is gone")

    monkeypatch.setattr(NotificationRepository, "add", broken)
    world.follow("bob", "alice")
    [run] = world.tell()
    assert run["status"] == "FAILED"
    failed = world.sfn.describe_execution(executionArn=run["executionArn"])
    assert failed["error"] == "NotificationFailed"
    assert len(retry_sleeps) == 3  # MaxAttempts, then the Catch
    queue = world.local_aws.template.refs["NotifyDeadLetterQueue"]
    [message] = world.local_aws.aws("sqs").receive_message(QueueUrl=queue, MaxNumberOfMessages=10)["Messages"]
    body = json.loads(message["Body"])
    assert body["error"]["Error"] == "RuntimeError"
    event = body["event"] if isinstance(body["event"], dict) else json.loads(body["event"])
    assert (event["type"], event["recipient_id"]) == ("follow", world.user("alice")["id"])
    assert world.notifications("alice")["items"] == []


def devices_of(world: NotifyWorld, name: str) -> dict[str, Any]:
    return wiring.device_registry().endpoints([world.user(name)["id"]]).get(world.user(name)["id"], {})


def test_devices_register_idempotently_move_between_users_and_go_when_removed(world: NotifyWorld) -> None:
    status, first = world.register("alice", "GCM", "shared-phone-token-0123")
    assert status == 201
    assert first["platform"] == "GCM"
    assert world.register("alice", "GCM", "shared-phone-token-0123") == (201, first)  # the same device
    assert world.register("alice", "APNS_SANDBOX", "b" * 64)[0] == 201
    assert set(devices_of(world, "alice")) == {first["id"], world.register("alice", "APNS_SANDBOX", "b" * 64)[1]["id"]}

    # The phone changes hands: it leaves alice's devices, and one SNS endpoint serves the token.
    assert world.register("bob", "GCM", "shared-phone-token-0123") == (201, first)
    assert first["id"] not in devices_of(world, "alice")
    assert first["id"] in devices_of(world, "bob")
    backend = sns_backends[DEFAULT_ACCOUNT_ID][REGION]
    owners = [owner(e) for e in backend.platform_endpoints.values() if e.token == "shared-phone-token-0123"]
    assert owners == [world.user("bob")["id"]]

    def remove(name: str, device: str) -> int:
        return route(
            world.local_aws,
            world.ctx,
            "api_remove_device.json",
            world.user(name),
            path=f"/me/devices/{device}",
            path_parameters={"device_id": device},
        )[0]

    assert remove("alice", first["id"]) == 404  # not hers any more
    assert remove("bob", first["id"]) == 204
    assert remove("bob", first["id"]) == 404
    assert devices_of(world, "bob") == {}
    assert not [e for e in backend.platform_endpoints.values() if e.token == "shared-phone-token-0123"]


def test_device_registrations_are_rate_limited_per_user(world: NotifyWorld, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WRITE_RATE_LIMITS", "device=2/60")
    wiring.reset()
    statuses = [world.register("alice", "GCM", f"alice-phone-{n:04d}")[0] for n in range(3)]

    assert statuses == [201, 201, 429]
    assert len(devices_of(world, "alice")) == 2
    backend = sns_backends[DEFAULT_ACCOUNT_ID][REGION]
    assert not [e for e in backend.platform_endpoints.values() if e.token == "alice-phone-0002"]
    assert world.register("bob", "GCM", "bob-phone-0000")[0] == 201


@pytest.mark.parametrize(
    "body",
    [
        {"platform": "WNS", "token": "token-0123456789"},
        {"platform": "GCM", "token": "short"},
        {"platform": "GCM", "token": "x" * 4097},
        {"platform": "GCM", "token": "has spaces in it"},
        {"platform": "GCM"},
        {"platform": "GCM", "token": "token-0123456789", "user_id": "someone-else"},
    ],
)
def test_bad_device_registrations_are_refused(world: NotifyWorld, body: dict[str, Any]) -> None:
    status, answer = route(world.local_aws, world.ctx, "api_register_device.json", world.user("alice"), body=body)
    assert status == 422, answer
    assert devices_of(world, "alice") == {}


def test_a_device_sns_reports_disabled_is_cleaned_up(world: NotifyWorld) -> None:
    _, device = world.register("alice", "GCM", "stale-phone-token-0123")
    world.local_aws.aws("sns").set_endpoint_attributes(
        EndpointArn=endpoint_of(world, "alice"), Attributes={"Enabled": "false"}
    )
    world.follow("bob", "alice")
    [run] = world.tell()
    assert run["status"] == "SUCCEEDED"
    assert [n["type"] for n in world.notifications("alice")["items"]] == ["follow"]  # in the app still
    assert device["id"] not in devices_of(world, "alice")
    assert not sns_backends[DEFAULT_ACCOUNT_ID][REGION].platform_endpoints


def test_notifications_page_newest_first_and_are_marked_read(world: NotifyWorld) -> None:
    fans = [f"fan{index}" for index in range(7)]
    for fan in fans:
        world.follow(fan, "star")
    world.tell()
    seen: list[str] = []
    cursor = None
    while True:
        page = world.notifications("star", limit="3", **({"cursor": cursor} if cursor else {}))
        seen += [n["id"] for n in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(seen, reverse=True)
    assert len(seen) == 7

    def mark(name: str, body: Any) -> tuple[int, dict[str, Any]]:
        return route(world.local_aws, world.ctx, "api_mark_notifications_read.json", world.user(name), body=body)

    assert mark("star", {"ids": seen[:2]})[0] == 204
    assert [n["read"] for n in world.notifications("star")["items"]] == [True, True] + [False] * 5
    assert mark("fan0", {"ids": [seen[3]]})[0] == 404  # not theirs
    assert mark("star", {"ids": seen[:1], "all": True})[0] == 422
    assert mark("star", {})[0] == 422
    assert mark("star", {"ids": []})[0] == 422
    assert mark("star", {"all": True})[0] == 204
    assert all(n["read"] for n in world.notifications("star")["items"])

    world.follow("latecomer", "star")
    world.tell()
    assert [n["read"] for n in world.notifications("star")["items"]][:2] == [False, True]  # newer than the mark


def test_one_failing_push_neither_stops_the_others_nor_repeats_them(
    world: NotifyWorld, monkeypatch: pytest.MonkeyPatch, retry_sleeps: list[float]
) -> None:
    from photofeed.storage.push import PushGateway

    fans = [f"fan{index}" for index in range(4)]
    for index, fan in enumerate(fans):
        world.follow(fan, "star")
        world.register(fan, "GCM", f"fan-token-{index:04d}-abcdef")
    world.tell()
    broken = endpoint_of(world, "fan2")
    real_publish = PushGateway.publish

    def publish(self: PushGateway, endpoint_arn: str, *args: Any) -> bool:
        if endpoint_arn == broken:
            raise RuntimeError("SNS throttled this one")
        return real_publish(self, endpoint_arn, *args)

    monkeypatch.setattr(PushGateway, "publish", publish)
    world.publish("star", "Encore")
    assert {run["status"] for run in world.tell()} == {"SUCCEEDED"}
    assert retry_sleeps == []  # no task was retried, so nobody was pushed twice
    sent = pushes()
    assert [len(sent[endpoint_of(world, fan)]) for fan in fans] == [1, 1, 0, 1]


def test_registering_again_turns_a_disabled_endpoint_back_on(world: NotifyWorld) -> None:
    _, first = world.register("alice", "GCM", "flaky-phone-token-0123")
    sns = world.local_aws.aws("sns")
    arn = endpoint_of(world, "alice")
    sns.set_endpoint_attributes(EndpointArn=arn, Attributes={"Enabled": "false"})
    assert world.register("alice", "GCM", "flaky-phone-token-0123") == (201, first)
    assert sns.get_endpoint_attributes(EndpointArn=arn)["Attributes"]["Enabled"] == "true"


def test_nothing_is_said_of_a_comment_deleted_before_its_notification(world: NotifyWorld) -> None:
    post = world.publish("alice", "Quiet")
    comment = world.comment("bob", post, "oops")
    status, _ = route(
        world.local_aws,
        world.ctx,
        "api_delete_comment.json",
        world.user("bob"),
        path=f"/posts/{post}/comments/{comment}",
        path_parameters={"post_id": post, "comment_id": comment},
    )
    assert status == 204
    world.tell()
    assert world.notifications("alice")["items"] == []


def test_a_notification_delivered_after_mark_all_read_is_unread(world: NotifyWorld) -> None:
    world.follow("bob", "alice")
    world.tell()
    mark = route(
        world.local_aws, world.ctx, "api_mark_notifications_read.json", world.user("alice"), body={"all": True}
    )
    assert mark[0] == 204
    # An event from before the mark (say a page replayed from the dead-letter queue) arrives now.
    late = {
        "type": "follow",
        "actor_id": world.user("bob")["id"],
        "recipient_id": world.user("alice")["id"],
        "occurred_at": "2026-01-01T00:00:00.000Z",
        "key": "follow:replayed",
    }
    assert world.local_aws.handler("NotifyFunction")({"action": "deliver", "event": late}, world.ctx)["recipients"] == 1
    items = world.notifications("alice")["items"]
    assert [(n["created_at"][:4], n["read"]) for n in items] == [("2026", True), ("2026", False)]
    assert items[1]["created_at"] == "2026-01-01T00:00:00.000Z"


def test_forged_notification_cursors_are_validation_errors(world: NotifyWorld) -> None:
    import base64

    user = world.user("alice")
    for key in ({"recipient_id": {"S": user["id"]}}, {"recipient_id": {"S": user["id"]}, "id": {"N": "1"}}):
        cursor = base64.urlsafe_b64encode(json.dumps(key).encode()).decode()
        status, answer = route(world.local_aws, world.ctx, "api_get_notifications.json", user, query={"cursor": cursor})
        assert status == 422, answer
