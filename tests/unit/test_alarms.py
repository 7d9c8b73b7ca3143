"""Nothing is lost silently (DESIGN.md, "Operating it on AWS"): every queue that holds failed work
(a dead-letter queue, a stream mapping's on-failure destination, the state machine's catch
target), every function and every node of the feed cache, in whichever shape its parameters give
it, has a CloudWatch alarm to the alarm topic, read from template.yaml. A queue or a function
added without one, or a cache node no alarm watches, fails here."""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devstack.template import Template, load_yaml

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


# ------------------------------------------------------------------ the feed cache's nodes
CACHE_METRICS = ("DatabaseMemoryUsagePercentage", "Evictions", "EngineCPUUtilization")
INSIGHTS_QUERY = re.compile(
    r'SELECT\s+\w+\(\s*"?(?P<metric>\w+)"?\s*\)\s+FROM\s+(?:SCHEMA\(\s*)?"(?P<namespace>[^"]+)"(?P<rest>.*)',
    re.IGNORECASE | re.DOTALL,
)
WHERE = re.compile(r"\bWHERE\b(?P<where>.*?)(?:\bGROUP\s+BY\b|\bORDER\s+BY\b|\bLIMIT\b|$)", re.IGNORECASE | re.DOTALL)
NAMED_NODE = re.compile(r"^\s*\(?\s*CacheClusterId\s*=\s*'(?P<node>[^']+)'\s*\)?\s*$")


def stack(**overrides: str) -> Template:
    """The template with these parameter values, each resource's id its logical id."""
    template = Template.load(ROOT / "template.yaml", "alarms", overrides=overrides)
    for logical_id in template.document["Resources"]:
        template.refs[logical_id] = logical_id
    return template


def cache_node_ids(group: str, properties: dict[str, Any]) -> list[str]:
    """Every node's CacheClusterId, as ElastiCache names them: <group>-<node> (3 digits) without cluster
    mode, <group>-<shard>-<node> (4 and 3 digits) with it."""
    if properties.get("ClusterMode") == "enabled":
        shards, replicas = int(properties.get("NumNodeGroups", 1)), int(properties.get("ReplicasPerNodeGroup", 1))
        return [f"{group}-{shard:04d}-{node:03d}" for shard in range(1, shards + 1) for node in range(1, replicas + 2)]
    return [f"{group}-{node:03d}" for node in range(1, int(properties.get("NumCacheClusters", 1)) + 1)]


def query_nodes(query: str) -> tuple[str, str, set[str] | None] | None:
    """(namespace, metric, the nodes it names or None for every node) of a Metrics Insights query.
    A WHERE clause other than CacheClusterId = '...' terms joined by OR counts as naming no node."""
    match = INSIGHTS_QUERY.match(query.strip())
    if not match:
        return None
    where = WHERE.search(match["rest"])
    if where is None:
        return match["namespace"], match["metric"], None
    terms = [NAMED_NODE.match(term) for term in re.split(r"\bOR\b", where["where"], flags=re.IGNORECASE)]
    return match["namespace"], match["metric"], {term["node"] for term in terms if term} if all(terms) else set()


def cache_alarm_coverage(template: Template) -> dict[str, set[str] | None]:
    """For each ElastiCache metric, the nodes (CacheClusterId) that alarms to the topic watch, or None
    when one of them watches every node."""
    coverage: dict[str, set[str] | None] = {}

    def watch(metric: str, nodes: set[str] | None) -> None:
        known = coverage.setdefault(metric, set())
        coverage[metric] = None if known is None or nodes is None else known | nodes

    for alarm in template.of_type("AWS::CloudWatch::Alarm").values():
        properties = alarm["Properties"]
        if {"Ref": "AlarmTopic"} not in properties.get("AlarmActions", []):
            continue
        for namespace, metric, dimensions in alarm_metrics(alarm):
            if namespace == "AWS/ElastiCache" and "CacheClusterId" in dimensions:
                watch(metric, {str(template.resolve(dimensions["CacheClusterId"]))})
        for query in properties.get("Metrics", []):
            found = query_nodes(str(template.resolve(query["Expression"]))) if "Expression" in query else None
            if found and found[0] == "AWS/ElastiCache":
                watch(found[1], found[2])
    return coverage


def cache_nodes_without_alarms(template: Template) -> list[str]:
    """Each node of each replication group that lacks an alarm on one of CACHE_METRICS, as sentences."""
    coverage = cache_alarm_coverage(template)
    missing = []
    for group, resource in template.of_type("AWS::ElastiCache::ReplicationGroup").items():
        for node in cache_node_ids(template.refs[group], template.resolve(resource["Properties"])):
            for metric in CACHE_METRICS:
                watched = coverage.get(metric, set())
                if watched is not None and node not in watched:
                    missing.append(f"{group} node {node} has no alarm on {metric}")
    return missing


@pytest.mark.parametrize(
    "overrides",
    [
        {"CacheClusterMode": "disabled"},
        {"CacheClusterMode": "enabled", "NumNodeGroups": "1", "ReplicasPerNodeGroup": "1"},
        {"CacheClusterMode": "enabled", "NumNodeGroups": "3", "ReplicasPerNodeGroup": "0"},
        {"CacheClusterMode": "enabled", "NumNodeGroups": "500", "ReplicasPerNodeGroup": "5"},
    ],
    ids=["disabled", "one-shard", "three-shards-no-replica", "largest"],
)
def test_every_node_of_the_feed_cache_has_its_alarms_whatever_its_shape(overrides: dict[str, str]) -> None:
    template = stack(**overrides)

    assert cache_node_ids("FeedCache", template.resolve(template.resources["FeedCache"]["Properties"]))
    assert cache_nodes_without_alarms(template) == []


def per_node_alarms(template: Template, nodes: list[str]) -> None:
    """Replaces the cache's alarms with one per metric and node, named as `${FeedCache}-<node>`."""
    resources = template.document["Resources"]
    for name in [name for name in template.of_type("AWS::CloudWatch::Alarm") if name.startswith("Cache")]:
        del resources[name]
    for node in nodes:
        for metric in CACHE_METRICS:
            resources[f"Cache{metric}Node{node}Alarm"] = {
                "Type": "AWS::CloudWatch::Alarm",
                "Properties": {
                    "Namespace": "AWS/ElastiCache",
                    "MetricName": metric,
                    "Dimensions": [{"Name": "CacheClusterId", "Value": {"Fn::Sub": f"${{FeedCache}}-{node}"}}],
                    "AlarmActions": [{"Ref": "AlarmTopic"}],
                },
            }


def test_alarms_on_the_nodes_of_a_primary_and_a_replica_leave_a_cluster_uncovered() -> None:
    without_cluster_mode = stack(CacheClusterMode="disabled")
    per_node_alarms(without_cluster_mode, ["001", "002"])
    cluster = stack(CacheClusterMode="enabled", NumNodeGroups="2", ReplicasPerNodeGroup="1")
    per_node_alarms(cluster, ["001", "002"])

    assert cache_nodes_without_alarms(without_cluster_mode) == []
    assert cache_nodes_without_alarms(cluster) == [
        f"FeedCache node FeedCache-{node} has no alarm on {metric}"
        for node in ("0001-001", "0001-002", "0002-001", "0002-002")
        for metric in CACHE_METRICS
    ]


def test_a_query_that_names_nodes_covers_only_those() -> None:
    template = stack(CacheClusterMode="enabled", NumNodeGroups="2", ReplicasPerNodeGroup="0")
    one_node = " WHERE CacheClusterId = '${FeedCache}-0001-001'"
    for alarm in template.of_type("AWS::CloudWatch::Alarm").values():
        for query in alarm["Properties"].get("Metrics", []):
            if "AWS/ElastiCache" in str(query.get("Expression")):
                query["Expression"] = {"Fn::Sub": query["Expression"] + one_node}

    assert cache_nodes_without_alarms(template) == [
        f"FeedCache node FeedCache-0002-001 has no alarm on {metric}" for metric in CACHE_METRICS
    ]
