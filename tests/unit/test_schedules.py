"""The local stack's scheduled events (`Schedule`, `ScheduleV2`): expressions read as EventBridge
reads them, and a template's schedules fired on time with the event AWS sends, on a fake clock."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from devstack.pollers import EventSources
from devstack.runtime import FunctionRuntime, LocalFunction
from devstack.schedules import Scheduler, parse_expression
from devstack.template import Template, TemplateError

START = datetime(2026, 11, 21, 10, 7, 30, tzinfo=UTC)  # a Saturday


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC) if "+" not in text else datetime.fromisoformat(text)


def firings(expression: str, count: int, after: datetime = START, zone: str = "UTC") -> list[str]:
    schedule = parse_expression(expression, zone)
    moments, moment = [], after
    for _ in range(count):
        fire = schedule.next_after(moment)
        if fire is None:
            break
        moments.append(fire.strftime("%Y-%m-%d %H:%M %a"))
        moment = fire
    return moments


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("rate(1 minute)", ["2026-11-21 10:08 Sat", "2026-11-21 10:09 Sat"]),
        ("rate(5 minutes)", ["2026-11-21 10:12 Sat", "2026-11-21 10:17 Sat"]),
        ("rate(2 hours)", ["2026-11-21 12:07 Sat", "2026-11-21 14:07 Sat"]),
        ("cron(0/15 * * * ? *)", ["2026-11-21 10:15 Sat", "2026-11-21 10:30 Sat"]),
        ("cron(0 10 ? * MON-FRI *)", ["2026-11-23 10:00 Mon", "2026-11-24 10:00 Tue"]),
        ("cron(30 9,17 1 * ? *)", ["2026-12-01 09:30 Tue", "2026-12-01 17:30 Tue"]),
        ("cron(0 12 L * ? *)", ["2026-11-30 12:00 Mon", "2026-12-31 12:00 Thu"]),
        ("cron(0 8 LW * ? *)", ["2026-11-30 08:00 Mon", "2026-12-31 08:00 Thu"]),
        ("cron(0 8 1W * ? *)", ["2026-12-01 08:00 Tue", "2027-01-01 08:00 Fri"]),
        ("cron(0 9 ? * 6#3 *)", ["2026-12-18 09:00 Fri", "2027-01-15 09:00 Fri"]),
        ("cron(0 9 ? * 2L *)", ["2026-11-30 09:00 Mon", "2026-12-28 09:00 Mon"]),
        ("cron(0 0 1 JAN ? 2027-2028)", ["2027-01-01 00:00 Fri", "2028-01-01 00:00 Sat"]),
        ("at(2026-11-21T11:00:00)", ["2026-11-21 11:00 Sat"]),
    ],
)
def test_expressions_fire_when_eventbridge_would(expression: str, expected: list[str]) -> None:
    assert firings(expression, 2) == expected


def test_a_cron_in_a_time_zone_follows_its_clock_changes() -> None:
    paris = firings("cron(0 9 ? * MON *)", 1, after=at("2026-03-24T00:00:00"), zone="Europe/Paris")
    after_the_change = firings("cron(0 9 ? * MON *)", 1, after=at("2026-03-31T00:00:00"), zone="Europe/Paris")

    assert paris == ["2026-03-30 07:00 Mon"]  # 09:00 in Paris, summer time (UTC+2)
    assert firings("cron(0 9 ? * MON *)", 1, after=at("2026-03-17T00:00:00"), zone="Europe/Paris") == [
        "2026-03-23 08:00 Mon"  # winter time (UTC+1)
    ]
    assert after_the_change == ["2026-04-06 07:00 Mon"]


@pytest.mark.parametrize(
    "expression",
    [
        "rate(1 minutes)",
        "rate(5 minute)",
        "rate(0 minutes)",
        "rate(5 seconds)",
        "cron(0 10 * * * *)",  # both day fields given
        "cron(0 10 ? * ? *)",  # neither
        "cron(0 10 * * ?)",  # five fields
        "cron(60 * * * ? *)",
        "cron(0 10 32 * ? *)",
        "cron(0 10 ? * FUNDAY *)",
        "every 5 minutes",
    ],
)
def test_an_expression_eventbridge_refuses_stops_the_stack(expression: str) -> None:
    with pytest.raises(TemplateError):
        parse_expression(expression)


TEMPLATE = """
Resources:
  Worker:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: worker/
      Handler: app.handler
      EventInvokeConfig:
        MaximumRetryAttempts: 1
      Events:
        EveryMinute:
          Type: Schedule
          Properties:
            Schedule: rate(1 minute)
        Nightly:
          Type: ScheduleV2
          Properties:
            ScheduleExpression: cron(30 10 * * ? *)
            Input: '{"job": "nightly", "at": "<aws.scheduler.scheduled-time>", "try": "<aws.scheduler.attempt-number>"}'
        Paused:
          Type: Schedule
          Properties:
            Schedule: rate(1 minute)
            Enabled: false
        Off:
          Type: ScheduleV2
          Properties:
            ScheduleExpression: rate(1 minute)
            State: DISABLED
"""


@dataclass
class Recorder:
    """A handler that records its events, failing the first `failures` calls."""

    clock: FakeClock
    failures: int = 0
    calls: list[tuple[datetime, Any]] = field(default_factory=list)

    def __call__(self, event: Any, context: Any) -> None:
        self.calls.append((self.clock(), event))
        if len(self.calls) <= self.failures:
            raise RuntimeError("the handler failed")


@dataclass
class FakeClock:
    now: datetime
    end: datetime

    def __call__(self) -> datetime:
        return self.now

    def wait(self, seconds: float) -> bool:
        """Time passes instead of being waited for; True (stop) once `end` is reached."""
        self.now += timedelta(seconds=seconds)
        return self.now >= self.end


def scheduled(tmp_path: Path, text: str, handler: Recorder) -> EventSources:
    path = tmp_path / "template.yaml"
    path.write_text(text)
    template = Template.load(path, "sched")
    runtime = FunctionRuntime(template)
    properties = template.function_properties("Worker")
    function = LocalFunction(
        logical_id="Worker",
        name="sched-Worker",
        code_dir=tmp_path,
        handler_path="app.handler",
        environment={},
        timeout_seconds=3,
        memory_mb=128,
        events=template.resolve(properties["Events"]),
        event_invoke_config=template.resolve(properties.get("EventInvokeConfig") or {}),
        handler=handler,
    )
    function.environments.put(handler)
    runtime.functions["Worker"] = function
    return EventSources(template, runtime, aws=None)  # type: ignore[arg-type]  # schedules need no AWS


def test_a_templates_schedules_fire_on_time_with_the_events_aws_sends(tmp_path: Path) -> None:
    clock = FakeClock(START, START + timedelta(minutes=25, seconds=30))
    recorder = Recorder(clock)
    sources = scheduled(tmp_path, TEMPLATE, recorder)

    assert sorted(mapping.name for mapping in sources.schedules) == ["sched-WorkerEveryMinute", "sched-WorkerNightly"]
    Scheduler(sources.runtime, sources.schedules, threading.Event(), now=clock, wait=clock.wait).run()

    every_minute = [(moment, event) for moment, event in recorder.calls if event.get("source") == "aws.events"]
    assert len(every_minute) == 25
    first_at, first = every_minute[0]
    assert first_at == START + timedelta(minutes=1)
    assert first["detail-type"] == "Scheduled Event"
    assert first["time"] == "2026-11-21T10:08:30Z"
    assert first["resources"] == ["arn:aws:events:us-east-1:123456789012:rule/sched-WorkerEveryMinute"]
    nightly = [event for _, event in recorder.calls if event.get("job") == "nightly"]
    assert nightly == [{"job": "nightly", "at": "2026-11-21T10:30:00Z", "try": "1"}]


def test_a_failed_scheduled_invocation_is_retried_as_lambda_retries_async_ones(tmp_path: Path) -> None:
    only_nightly = TEMPLATE.split("        Paused:")[0].replace(
        "        EveryMinute:\n          Type: Schedule\n          Properties:\n            Schedule: rate(1 minute)\n",
        "",
    )
    clock = FakeClock(START, START + timedelta(minutes=40))
    recorder = Recorder(clock, failures=5)
    sources = scheduled(tmp_path, only_nightly, recorder)

    Scheduler(sources.runtime, sources.schedules, threading.Event(), now=clock, wait=clock.wait).run()

    # MaximumRetryAttempts: 1 -> the first attempt and one retry, a minute later; then dropped.
    assert [(moment.strftime("%H:%M"), event["try"]) for moment, event in recorder.calls] == [
        ("10:30", "1"),
        ("10:31", "2"),
    ]
