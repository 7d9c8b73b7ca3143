"""Nothing is lost silently (DESIGN.md, "Operating it on AWS"): every queue that holds failed work
(a dead-letter queue, a stream mapping's on-failure destination, the state machine's catch
target) and every function has a CloudWatch alarm to the alarm topic, read from template.yaml.
A queue or a function added without one fails here."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devstack.template import load_yaml

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_yaml(ROOT / "template.yaml")


def of_type(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {name: value for name, value in template["Resources"].items() if value["Type"] == kind}


def walk(node: Any) -> Iterator[Any]:
    yield node
    if isinstance(node, dict):
        for value in node.values():
            yield from walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from walk(value)


def failure_queues(template: dict[str, Any]) -> set[str]:
    """Every queue that failed work lands in: redrive targets, on-failure destinations, and the
    queues a state machine is handed to send caught failures to."""
    queues = set(of_type(template, "AWS::SQS::Queue"))
    found: set[str] = set()
    for resource in template["Resources"].values():
        properties = resource.get("Properties") or {}
        for node in walk(properties):
            if not isinstance(node, dict):
                continue
            target = (node.get("RedrivePolicy") or {}).get("deadLetterTargetArn")
            on_failure = (node.get("OnFailure") or {}).get("Destination")
            for reference in (target, on_failure):
                if isinstance(reference, dict) and "Fn::GetAtt" in reference:
                    found.add(reference["Fn::GetAtt"][0])
        for value in (properties.get("DefinitionSubstitutions") or {}).values():
            if isinstance(value, dict) and value.get("Ref") in queues:
                found.add(value["Ref"])
    return found


def alarm_metrics(alarm: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(namespace, metric name, dimensions) of each metric an alarm watches."""
    properties = alarm["Properties"]
    if "MetricName" in properties:
        dimensions = {d["Name"]: d["Value"] for d in properties.get("Dimensions", [])}
        yield properties["Namespace"], properties["MetricName"], dimensions
    for query in properties.get("Metrics", []):
        metric = (query.get("MetricStat") or {}).get("Metric")
        if metric:
            dimensions = {d["Name"]: d["Value"] for d in metric.get("Dimensions", [])}
            yield metric["Namespace"], metric["MetricName"], dimensions


def subject_of(value: Any) -> str | None:
    """The resource a dimension's value names (`!Ref X` or `!GetAtt X.attribute`), if any."""
    if not isinstance(value, dict):
        return None
    if "Ref" in value:
        return str(value["Ref"])
    if "Fn::GetAtt" in value:
        return str(value["Fn::GetAtt"][0])
    return None


def missing_alarms(template: dict[str, Any]) -> list[str]:
    """What has no alarm to the alarm topic, as sentences; empty when everything has one."""
    alarms = of_type(template, "AWS::CloudWatch::Alarm")
    watched: set[tuple[str, str, str]] = set()
    for alarm in alarms.values():
        if {"Ref": "AlarmTopic"} not in alarm["Properties"].get("AlarmActions", []):
            continue
        for namespace, metric, dimensions in alarm_metrics(alarm):
            for value in dimensions.values():
                subject = subject_of(value)
                if subject:
                    watched.add((namespace, metric, subject))
    missing = [
        f"{queue} (failed work) has no alarm on ApproximateNumberOfMessagesVisible"
        for queue in sorted(failure_queues(template))
        if ("AWS/SQS", "ApproximateNumberOfMessagesVisible", queue) not in watched
    ]
    for function in sorted(of_type(template, "AWS::Serverless::Function")):
        missing += [
            f"{function} has no alarm on its {metric}"
            for metric in ("Errors", "Throttles")
            if ("AWS/Lambda", metric, function) not in watched
        ]
    for machine in sorted(of_type(template, "AWS::Serverless::StateMachine")):
        missing += [
            f"{machine} has no alarm on {metric}"
            for metric in ("ExecutionsFailed", "ExecutionsTimedOut")
            if ("AWS/States", metric, machine) not in watched
        ]
    for table in sorted(of_type(template, "AWS::DynamoDB::Table")):
        missing += [
            f"{table} has no alarm on {metric}"
            for metric in ("ReadThrottleEvents", "WriteThrottleEvents")
            if ("AWS/DynamoDB", metric, table) not in watched
        ]
    return missing


def test_every_failure_queue_function_state_machine_and_table_has_an_alarm_to_the_topic(
    template: dict[str, Any],
) -> None:
    queues = failure_queues(template)
    assert {"MediaDeadLetterQueue", "VideoDeadLetterQueue", "FanoutDeadLetterQueue"} <= queues
    assert {"StreamRelayDeadLetterQueue", "IndexSearchDeadLetterQueue", "NotifyDeadLetterQueue"} <= queues
    assert missing_alarms(template) == []


def test_a_dead_letter_queue_or_a_function_added_without_an_alarm_is_named(template: dict[str, Any]) -> None:
    changed = copy.deepcopy(template)
    resources = changed["Resources"]
    resources["ThumbnailDeadLetterQueue"] = {"Type": "AWS::SQS::Queue", "Properties": {}}
    resources["ThumbnailQueue"] = {
        "Type": "AWS::SQS::Queue",
        "Properties": {"RedrivePolicy": {"deadLetterTargetArn": {"Fn::GetAtt": ["ThumbnailDeadLetterQueue", "Arn"]}}},
    }
    resources["ThumbnailFunction"] = copy.deepcopy(resources["FanoutFunction"])
    del resources["SearchTableThrottlesAlarm"]
    resources["NotifyExecutionsFailedAlarm"]["Properties"]["AlarmActions"] = []  # tells no one

    assert missing_alarms(changed) == [
        "ThumbnailDeadLetterQueue (failed work) has no alarm on ApproximateNumberOfMessagesVisible",
        "ThumbnailFunction has no alarm on its Errors",
        "ThumbnailFunction has no alarm on its Throttles",
        "NotifyStateMachine has no alarm on ExecutionsFailed",
        "SearchTable has no alarm on ReadThrottleEvents",
        "SearchTable has no alarm on WriteThrottleEvents",
    ]


def test_alarms_notify_the_topic_when_they_fire_and_when_they_clear(template: dict[str, Any]) -> None:
    alarms = of_type(template, "AWS::CloudWatch::Alarm")
    assert len(alarms) >= 40
    for name, alarm in alarms.items():
        properties = alarm["Properties"]
        assert properties["AlarmActions"] == [{"Ref": "AlarmTopic"}], name
        assert properties["OKActions"] == [{"Ref": "AlarmTopic"}], name
        assert properties["TreatMissingData"] == "notBreaching", name  # quiet is healthy
        assert properties.get("AlarmDescription"), name  # the page says what broke
    topic = template["Resources"]["AlarmTopic"]["Properties"]
    assert topic["KmsMasterKeyId"] == "alias/aws/sns"
    subscription = template["Resources"]["AlarmEmailSubscription"]
    assert subscription["Condition"] == "HasAlarmEmail"
