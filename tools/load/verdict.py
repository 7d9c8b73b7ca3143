"""After the load: wait for the system to settle, then check what held, against DynamoDB (the
source of truth) read straight from the local AWS endpoint, and print it."""

from __future__ import annotations

import math
import operator
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devstack.template import load_yaml
from tools.load.traffic import NO_ANSWER, Sample

IN_FLIGHT = ("pending_upload", "processing")
EXPECTED_4XX = {404, 409, 429}  # a post deleted meanwhile, a replayed key, a user's write limit


@dataclass
class Check:
    name: str
    passed: bool
    detail: str


# ---------------------------------------------------------------------- reading the truth
def scan(dynamodb: Any, table: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"TableName": table}
    while True:
        page = dynamodb.scan(**kwargs)
        items += [{key: _plain(value) for key, value in item.items()} for item in page["Items"]]
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _plain(value: dict[str, Any]) -> Any:
    (kind, inner), *_ = value.items()
    if kind == "N":
        return int(inner) if inner.lstrip("-").isdigit() else float(inner)
    return inner


def queue_depth(sqs: Any, url: str) -> int:
    attributes = sqs.get_queue_attributes(
        QueueUrl=url,
        AttributeNames=[
            "ApproximateNumberOfMessages",
            "ApproximateNumberOfMessagesNotVisible",
            "ApproximateNumberOfMessagesDelayed",
        ],
    )["Attributes"]
    return sum(int(value) for value in attributes.values())


def settle(
    sqs: Any, dynamodb: Any, work_queues: dict[str, str], posts_table: str, timeout: float, quiet: float = 3.0
) -> tuple[bool, float]:
    """Wait until every work queue is empty and no post is in flight, `quiet` seconds running
    (the streams' pollers relay within that); (settled, seconds waited)."""
    started = time.monotonic()
    quiet_since: float | None = None
    while time.monotonic() - started < timeout:
        busy = any(queue_depth(sqs, url) for url in work_queues.values()) or any(
            post.get("status") in IN_FLIGHT for post in scan(dynamodb, posts_table)
        )
        now = time.monotonic()
        if busy:
            quiet_since = None
        elif quiet_since is None:
            quiet_since = now
        elif now - quiet_since >= quiet:
            return True, now - started
        time.sleep(0.5)
    return False, time.monotonic() - started


# ---------------------------------------------------------------------- figures
def percentile(sorted_values: list[float], fraction: float) -> float:
    """Nearest rank."""
    if not sorted_values:
        return math.nan
    return sorted_values[min(len(sorted_values) - 1, max(0, math.ceil(fraction * len(sorted_values)) - 1))]


def route_table(samples: Iterable[Sample], seconds: float) -> tuple[str, list[dict[str, Any]]]:
    by_route: dict[str, list[Sample]] = defaultdict(list)
    for sample in samples:
        by_route[sample.route].append(sample)
    rows: list[dict[str, Any]] = []
    for route, taken in sorted(by_route.items(), key=lambda item: -len(item[1])):
        latencies = sorted(sample.latency_ms for sample in taken)
        rows.append(
            {
                "route": route,
                "requests": len(taken),
                "errors": sum(1 for sample in taken if is_error(sample)),
                "4xx": sum(1 for sample in taken if sample.status in EXPECTED_4XX),
                "p50_ms": percentile(latencies, 0.50),
                "p99_ms": percentile(latencies, 0.99),
            }
        )
    total = sum(row["requests"] for row in rows)
    lines = [f"{'route':<34} {'requests':>9} {'errors':>7} {'4xx ok':>7} {'p50 ms':>8} {'p99 ms':>8}"]
    lines += [
        f"{row['route']:<34} {row['requests']:>9} {row['errors']:>7} {row['4xx']:>7} "
        f"{row['p50_ms']:>8.1f} {row['p99_ms']:>8.1f}"
        for row in rows
    ]
    all_latencies = sorted(sample.latency_ms for samples_ in by_route.values() for sample in samples_)
    lines.append(
        f"{'all':<34} {total:>9} {sum(r['errors'] for r in rows):>7} {sum(r['4xx'] for r in rows):>7} "
        f"{percentile(all_latencies, 0.5):>8.1f} {percentile(all_latencies, 0.99):>8.1f}"
        f"   ({total / seconds:.0f} requests/s)"
    )
    return "\n".join(lines), rows


def is_error(sample: Sample) -> bool:
    """A 5xx, no answer, or a 4xx a correct client never gets (400, 401, 403, 413, 415, 422)."""
    return (
        sample.status == NO_ANSWER
        or sample.status >= 500
        or (400 <= sample.status < 500 and sample.status not in EXPECTED_4XX)
    )


def is_5xx(sample: Sample) -> bool:
    return sample.status == NO_ANSWER or sample.status >= 500


# ---------------------------------------------------------------------- checks
def check_statuses(samples: list[Sample], down: tuple[float, float] | None) -> list[Check]:
    def inside(sample: Sample) -> bool:
        return down is not None and sample.started <= down[1] and sample.ended >= down[0]

    during = [sample for sample in samples if inside(sample)]
    feed_during = sorted(sample.latency_ms for sample in during if sample.route == "GET /feed")
    failed = [sample for sample in samples if is_5xx(sample)]
    outside = [sample for sample in failed if not inside(sample)]
    on_feed = [sample for sample in failed if inside(sample) and sample.route == "GET /feed"]
    inside_by_route = Counter(sample.route for sample in failed if inside(sample))
    odd_4xx = Counter(
        (sample.route, sample.status)
        for sample in samples
        if 400 <= sample.status < 500 and sample.status not in EXPECTED_4XX
    )
    return [
        Check(
            "no 5xx outside the Redis-down window",
            not outside,
            f"{len(outside)} outside: {dict(Counter((s.route, s.status) for s in outside))}"
            if outside
            else f"0 outside; inside the window: {dict(inside_by_route) or 'none'}",
        ),
        Check(
            "no 5xx on GET /feed while Redis was down (answered from DynamoDB)",
            not on_feed and bool(feed_during),
            f"{len(on_feed)} of {len(feed_during)} feed requests in the window (of {len(during)} requests); "
            f"feed p50 {percentile(feed_during, 0.5):.1f} ms, p99 {percentile(feed_during, 0.99):.1f} ms"
            if down is not None
            else "Redis was never taken down",
        ),
        Check(
            "no 4xx a correct client never gets",
            not odd_4xx,
            f"{dict(odd_4xx)}; first: {[s.note for s in samples if s.note and 400 <= s.status < 500][:3]}"
            if odd_4xx
            else "none",
        ),
    ]


def check_posts(posts: list[dict[str, Any]]) -> Check:
    statuses = Counter(post["status"] for post in posts)
    stuck = [post["id"] for post in posts if post["status"] in IN_FLIGHT]
    return Check(
        "every post published, rejected or deleted (none stuck)",
        not stuck,
        f"{dict(statuses)}" + (f"; stuck: {stuck[:5]}" if stuck else ""),
    )


def expected_feeds(
    users: Iterable[str], follows: list[dict[str, Any]], posts: list[dict[str, Any]]
) -> dict[str, list[str]]:
    """The truth: each user's own published posts and those of everyone they follow, newest first."""
    following: dict[str, set[str]] = defaultdict(set)
    for row in follows:
        following[row["follower_id"]].add(row["followee_id"])
    published: dict[str, list[str]] = defaultdict(list)
    for post in posts:
        if post["status"] == "published":
            published[post["author_id"]].append(post["id"])
    return {
        user: sorted((pid for author in following[user] | {user} for pid in published[author]), reverse=True)
        for user in users
    }


def check_feeds(expected: dict[str, list[str]], actual: dict[str, list[str] | None], names: dict[str, str]) -> Check:
    wrong = []
    for user, truth in expected.items():
        seen = actual.get(user)
        if seen != truth:
            if seen is None:
                wrong.append(f"{names[user]}: a page failed")
                continue
            missing, extra = set(truth) - set(seen), set(seen) - set(truth)
            order = "" if missing or extra else "; same posts, another order or repeated"
            wrong.append(f"{names[user]}: {len(missing)} missing, {len(extra)} extra{order}")
    entries = sum(len(truth) for truth in expected.values())
    return Check(
        "every user's feed (all pages) equals what DynamoDB says",
        not wrong,
        f"{len(expected)} feeds, {entries} entries" + (f"; wrong: {wrong[:5]}" if wrong else ""),
    )


def check_counters(
    users: list[dict[str, Any]],
    follows: list[dict[str, Any]],
    posts: list[dict[str, Any]],
    likes: list[dict[str, Any]],
    comments: list[dict[str, Any]],
) -> Check:
    followers = Counter(row["followee_id"] for row in follows)
    following = Counter(row["follower_id"] for row in follows)
    published = Counter(post["author_id"] for post in posts if post["status"] == "published")
    likes_of = Counter(row["target"] for row in likes)
    comments_of = Counter(row["post_id"] for row in comments)
    wrong = []
    checked = 0
    for user in users:
        for field_name, truth in (
            ("follower_count", followers[user["id"]]),
            ("following_count", following[user["id"]]),
            ("post_count", published[user["id"]]),
        ):
            checked += 1
            if int(user.get(field_name, 0)) != truth:
                wrong.append(f"user {user.get('username')} {field_name} {user.get(field_name, 0)} != {truth}")
    for post in posts:
        if post["status"] != "published":
            continue
        for field_name, truth in (
            ("like_count", likes_of[f"p#{post['id']}"]),
            ("comment_count", comments_of[post["id"]]),
        ):
            checked += 1
            if int(post.get(field_name, 0)) != truth:
                wrong.append(f"post {post['id']} {field_name} {post.get(field_name, 0)} != {truth}")
    for comment in comments:
        checked += 1
        truth = likes_of[f"c#{comment['id']}"]
        if int(comment.get("like_count", 0)) != truth:
            wrong.append(f"comment {comment['id']} like_count {comment.get('like_count', 0)} != {truth}")
    return Check(
        "every counter exact (users' follows and posts, posts' likes and comments, comments' likes)",
        not wrong,
        f"{checked} counters" + (f"; wrong ({len(wrong)}): {wrong[:5]}" if wrong else ""),
    )


# ---------------------------------------------------------------------- alarms
_COMPARE: dict[str, Callable[[float, float], bool]] = {
    "GreaterThanOrEqualToThreshold": operator.ge,
    "GreaterThanThreshold": operator.gt,
    "LessThanThreshold": operator.lt,
    "LessThanOrEqualToThreshold": operator.le,
}


@dataclass
class DeadLetterAlarm:
    name: str
    queue: str  # the dead-letter queue's logical id
    statistic: str
    period: int
    threshold: float
    comparison: str

    @property
    def condition(self) -> str:
        symbol = {"GreaterThanOrEqualToThreshold": ">=", "GreaterThanThreshold": ">"}.get(
            self.comparison, self.comparison
        )
        return (
            f"{self.statistic}(ApproximateNumberOfMessagesVisible of {self.queue}) over {self.period} s "
            f"{symbol} {self.threshold:g}"
        )

    def state(self, samples: list[tuple[float, int]], at: float) -> str:
        """ALARM or OK, evaluated over the last period before `at` (one evaluation period)."""
        window = [value for when, value in samples if at - self.period <= when <= at]
        if not window:
            return "OK (no data: notBreaching)"
        value = max(window) if self.statistic == "Maximum" else sum(window) / len(window)
        return "ALARM" if _COMPARE[self.comparison](value, self.threshold) else "OK"

    def ever(self, samples: list[tuple[float, int]]) -> bool:
        return any(_COMPARE[self.comparison](value, self.threshold) for _, value in samples)


def dead_letter_alarms(template_path: Path) -> list[DeadLetterAlarm]:
    """The template's alarms on a queue's ApproximateNumberOfMessagesVisible."""
    resources = load_yaml(template_path)["Resources"]
    alarms = []
    for name, resource in resources.items():
        properties = resource.get("Properties") or {}
        if (
            resource["Type"] != "AWS::CloudWatch::Alarm"
            or properties.get("MetricName") != "ApproximateNumberOfMessagesVisible"
        ):
            continue
        dimension = next(d["Value"] for d in properties["Dimensions"] if d["Name"] == "QueueName")
        alarms.append(
            DeadLetterAlarm(
                name=name,
                queue=dimension["Fn::GetAtt"][0],
                statistic=properties["Statistic"],
                period=int(properties["Period"]) * int(properties.get("EvaluationPeriods", 1)),
                threshold=float(properties["Threshold"]),
                comparison=properties["ComparisonOperator"],
            )
        )
    return alarms
