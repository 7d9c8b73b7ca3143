"""The local stack's fault injection (devstack/faults.py), on the fixture template: off unless
asked for; asked for, a killed invocation acknowledges nothing and its batch comes back, a batch
is delivered twice, and a failed message comes back sooner than its queue's visibility timeout."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from devstack.faults import FAULTS_VARIABLE, Faults, backoff
from devstack.files import write_json_atomically
from tests.devstack.test_local_stack import HERE, recorded
from tests.stack_runner import RunningStack, eventually, running_stack


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    records = tmp_path_factory.mktemp("records")
    faults_file = tmp_path_factory.mktemp("faults") / "faults.json"
    os.environ[FAULTS_VARIABLE] = str(faults_file)  # the stack's process inherits it when it starts
    try:
        with running_stack(
            tmp_path_factory.mktemp("faulty-stack"),
            template=HERE / "template.yaml",
            parameters={"RecordDir": str(records)},
        ) as running:
            running.records_dir = records  # type: ignore[attr-defined]
            running.faults_file = faults_file  # type: ignore[attr-defined]
            yield running
    finally:
        os.environ.pop(FAULTS_VARIABLE, None)


def deliveries(stack: RunningStack, marker: str) -> list[list[tuple[str, str]]]:
    """Each SQS invocation that carried a record whose body holds `marker`: its (message id, body)."""
    return [
        [(record["messageId"], record["body"]) for record in event["Records"]]
        for event in recorded(stack)
        if any(marker in record.get("body", "") for record in event.get("Records") or [])
        and event["Records"][0].get("eventSource") == "aws:sqs"
    ]


def set_faults(stack: RunningStack, **settings: object) -> None:
    write_json_atomically(stack.faults_file, settings)  # type: ignore[attr-defined]


def queue_is_empty(stack: RunningStack, queue: str) -> bool:
    attributes = stack.client("sqs").get_queue_attributes(
        QueueUrl=stack.resources[queue],
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return attributes["ApproximateNumberOfMessages"] == attributes["ApproximateNumberOfMessagesNotVisible"] == "0"


def test_without_a_fault_file_nothing_is_injected(tmp_path: Path) -> None:
    faults = Faults(tmp_path / "absent.json")

    assert not faults.take_kill("AnyFunction")
    assert not any(faults.duplicate_sqs() for _ in range(100))
    assert faults.retry_after(1, 360) is None


def test_kills_are_used_up_and_armed_again_by_a_new_file(tmp_path: Path) -> None:
    path = tmp_path / "faults.json"
    write_json_atomically(path, {"kill": {"Worker": 2}})
    faults = Faults(path)

    assert [faults.take_kill("Worker") for _ in range(3)] == [True, True, False]
    assert not faults.take_kill("Other")
    write_json_atomically(path, {"kill": {"Worker": 1}})
    assert [faults.take_kill("Worker") for _ in range(2)] == [True, False]


def test_a_malformed_fault_file_injects_nothing(tmp_path: Path) -> None:
    path = tmp_path / "faults.json"
    path.write_text('{"kill": ["Worker"]')

    assert not Faults(path).take_kill("Worker")


def test_retries_back_off_from_the_base_up_to_the_visibility_timeout() -> None:
    assert [backoff(1, receives, 360) for receives in range(1, 7)] == [1, 2, 4, 8, 16, 32]
    assert [backoff(0.5, receives, 3) for receives in range(1, 5)] == [1, 1, 2, 3]


def test_a_killed_invocation_acknowledges_nothing_and_its_messages_come_back_sooner(stack: RunningStack) -> None:
    # UploadQueue keeps its default visibility timeout (30 s): a message back in seconds came
    # back because of retry_after_seconds.
    set_faults(stack, kill={"RecorderFunction": 1}, retry_after_seconds=1)
    marker = f"killed-{uuid.uuid4().hex[:8]}"
    sent = time.monotonic()
    stack.client("sqs").send_message(QueueUrl=stack.resources["UploadQueue"], MessageBody=marker)

    seen = eventually(lambda: len(deliveries(stack, marker)) >= 2 and deliveries(stack, marker), timeout=15)

    assert time.monotonic() - sent < 15
    assert seen[0] == seen[1]  # the same message, handled, killed before its delete, delivered again
    eventually(lambda: queue_is_empty(stack, "UploadQueue"), timeout=10, what="the redelivered message deleted")
    assert "fault: λ RecorderFunction ← sqs:" in stack.log()
    time.sleep(2)
    assert len(deliveries(stack, marker)) == 2  # the kill was used up: the second delivery stood


def test_a_killed_batch_handler_gets_through_half_its_batch(stack: RunningStack) -> None:
    set_faults(stack, kill={"RecorderFunction": 1}, retry_after_seconds=1)
    marker = f"half-{uuid.uuid4().hex[:8]}"
    bodies = [f"{marker}-{index}" for index in range(4)]
    stack.client("sqs").send_message_batch(
        QueueUrl=stack.resources["WorkQueue"], Entries=[{"Id": str(i), "MessageBody": b} for i, b in enumerate(bodies)]
    )

    eventually(lambda: queue_is_empty(stack, "WorkQueue"), timeout=20, what="every message handled")
    seen = deliveries(stack, marker)

    first, later = seen[0], seen[1:]
    handled_later = sorted(body for delivery in later for _, body in delivery)
    assert len(first) < 4  # the killed invocation got through part of its batch only ...
    assert handled_later == bodies  # ... and acknowledged nothing: every message came back


def test_a_batch_may_be_delivered_twice(stack: RunningStack) -> None:
    set_faults(stack, duplicate_sqs=1.0)
    marker = f"twice-{uuid.uuid4().hex[:8]}"
    stack.client("sqs").send_message(QueueUrl=stack.resources["UploadQueue"], MessageBody=marker)

    seen = eventually(lambda: len(deliveries(stack, marker)) >= 2 and deliveries(stack, marker), timeout=10)
    set_faults(stack)
    eventually(lambda: queue_is_empty(stack, "UploadQueue"), timeout=10, what="the message deleted")

    assert seen[0] == seen[1]  # the same message id and body, twice
    time.sleep(1.5)
    assert len(deliveries(stack, marker)) == 2
