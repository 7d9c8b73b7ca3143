"""Feed figures, on real Redis-protocol servers started with the template's cache parameters and
moto's in-process mock for the AWS side (whose own speed is not what is measured).

Both modes side by side in one run: one server (the single-node cache, `CacheClusterMode=disabled`)
and a cluster of three primaries (`enabled`: the functions get REDIS_CLUSTER=true and speak the
cluster protocol). The cluster's figures carry a `cluster_` prefix beside the single node's.
Besides them, on the same servers in the same run: `redis-benchmark`'s pipelined ZADD (the
server's own write rate, to compare fan-out with) and Stream-Framework's read of a Redis feed
(the baseline a page read is held to). The cluster's three primaries share this machine's cores
with the client and with each other (on ElastiCache each shard is a machine of its own), so its
tail latencies say as much about the machine as about the cluster.

BENCH_FEED_SCALE=0.1 (any fraction) shrinks every count (reads, followers, feeds) for a quick
look; the figures' names still say the full sizes.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import os
import pickle
import shutil
import statistics
import subprocess
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any, cast

import botocore.client
import redis
from redis.connection import AbstractConnection

from devstack.aws import cache_server_settings
from devstack.redis_cluster import ValkeyCluster
from devstack.redis_server import RedisServer
from devstack.runtime import LambdaContext
from devstack.template import Template
from photofeed import wiring
from photofeed.services.posts import new_post_id
from photofeed.storage.feed_store import (
    COMPLETE,
    feed_key,
    following_key,
    member_of,
    merge_key,
    score_of,
    unfollowed_key,
)
from photofeed.storage.tables import FollowRow, PostRow, UserRow
from tests import images
from tests.conftest import REGION, TEMPLATE, LocalAws, api_event, local_aws_context
from tests.integration.drain import SqsDriver, StreamDriver
from tests.integration.feed_world import publish_row

CONTEXT = LambdaContext("bench", 1024, "arn:aws:lambda:us-east-1:123456789012:function:bench", 30)
SCALE_VARIABLE = "BENCH_FEED_SCALE"
CLUSTER = "cluster_"  # the prefix of the cluster's figures
Cache = redis.Redis | redis.RedisCluster


def scaled(count: int, minimum: int = 1) -> int:
    """`count` times BENCH_FEED_SCALE (1 unless set), at least `minimum`."""
    return max(minimum, int(count * float(os.environ.get(SCALE_VARIABLE) or 1)))


def prefixed(prefix: str, figures: dict[str, Any]) -> dict[str, Any]:
    return {prefix + name: value for name, value in figures.items()}


def p50_p99(timings: Sequence[float]) -> tuple[float, float]:
    ordered = sorted(timings)
    return round(statistics.median(ordered), 3), round(ordered[max(0, int(len(ordered) * 0.99) - 1)], 3)


@contextlib.contextmanager
def counting_aws_calls() -> Iterator[Counter[str]]:
    """Every AWS API call made meanwhile (boto3 and PynamoDB both go through botocore)."""
    calls: Counter[str] = Counter()
    real = botocore.client.BaseClient._make_api_call  # type: ignore[attr-defined]

    def counting(self: Any, operation: str, params: Any) -> Any:
        calls[self.meta.service_model.service_name] += 1
        return real(self, operation, params)

    botocore.client.BaseClient._make_api_call = counting  # type: ignore[attr-defined]
    try:
        yield calls
    finally:
        botocore.client.BaseClient._make_api_call = real  # type: ignore[attr-defined]


@contextlib.contextmanager
def counting_redis_round_trips() -> Iterator[Counter[str]]:
    """Redis traffic meanwhile, on every connection of every client (one node's or a cluster's):
    `requests`, the writes to a connection (a command, or a pipeline's commands for one node), and
    `round_trips`, the times the client waited for answers before sending again (a pipeline to
    three nodes that writes to all of them before reading any is one round trip, three requests)."""
    counts: Counter[str] = Counter()
    waiting = [False]  # a request was sent since the last answer was read
    real_send, real_read = AbstractConnection.send_packed_command, AbstractConnection.read_response

    def send(self: Any, *args: Any, **kwargs: Any) -> Any:
        counts["requests"] += 1
        if not waiting[0]:
            counts["round_trips"] += 1
            waiting[0] = True
        return real_send(self, *args, **kwargs)

    def read(self: Any, *args: Any, **kwargs: Any) -> Any:
        waiting[0] = False
        return real_read(self, *args, **kwargs)

    AbstractConnection.send_packed_command = send  # type: ignore[method-assign]
    AbstractConnection.read_response = read  # type: ignore[method-assign]
    try:
        yield counts
    finally:
        AbstractConnection.send_packed_command = real_send  # type: ignore[method-assign]
        AbstractConnection.read_response = real_read  # type: ignore[method-assign]


def write_commands(client: redis.Redis) -> int:
    writes = ("zadd", "zrem", "zremrangebyrank", "hset", "expire", "sadd", "srem", "del", "set")
    stats = client.info("commandstats")
    return sum(int(stats.get(f"cmdstat_{name}", {}).get("calls", 0)) for name in writes)


def make_user(user_id: str, followers: int = 0) -> None:
    UserRow(
        id=user_id,
        username=user_id[:30],
        email="b@example.com",
        display_name=user_id[:20],
        created_at="2026-11-21T00:00:00.000Z",
        follower_count=followers,
    ).save()


def make_published(author_id: str) -> str:
    post_id = new_post_id()
    PostRow(
        id=post_id,
        author_id=author_id,
        title="A photo of the harbour at dusk",
        caption="Taken on the ferry",
        status="published",
        created_at="2026-11-21T00:00:00.000Z",
        content_type="image/jpeg",
        content_length=1,
        upload_key=f"uploads/{author_id}/{post_id}",
        published_author_id=author_id,
        width=1080,
        height=810,
        media={v: f"posts/{post_id}/{v}.jpg" for v in ("thumbnail", "medium", "large")},
    ).save()
    return post_id


def processing_post(author_id: str, title: str = "t") -> PostRow:
    """A post whose upload is being processed, one step before it is published."""
    row = PostRow(
        id=new_post_id(),
        author_id=author_id,
        title=title,
        status="processing",
        created_at="2026-11-21T00:00:00.000Z",
        content_type="image/jpeg",
        content_length=1,
        upload_key="k",
    )
    row.save()
    return row


def follow_all(follower_ids: list[str], followee_id: str) -> None:
    with FollowRow.batch_write() as batch:
        for index, follower_id in enumerate(follower_ids):
            batch.save(
                FollowRow(
                    follower_id=follower_id, followee_id=followee_id, followed_at=f"2026-11-21T00:00:00.{index:06d}Z"
                )
            )


def make_feeds(client: Cache, user_ids: Sequence[str], followee_id: str, chunk: int = 5_000) -> None:
    """Valid feeds of `user_ids` who follow `followee_id`, as a rebuild leaves them (the feed
    complete and empty, the following set, empty unfollowed and merge sets), written directly,
    pipelined (on a cluster, redis-py splits each pipeline by node)."""
    for start in range(0, len(user_ids), chunk):
        with client.pipeline(transaction=False) as pipe:
            for user_id in user_ids[start : start + chunk]:
                pipe.zadd(feed_key(user_id), {COMPLETE: float("inf")})
                pipe.sadd(following_key(user_id), COMPLETE, followee_id)
                pipe.sadd(unfollowed_key(user_id), COMPLETE)
                pipe.sadd(merge_key(user_id), COMPLETE)
            pipe.execute()
    store = wiring.feed_store()
    sample = user_ids[:: max(1, len(user_ids) // 20)]
    assert all(store.feed_exists(user_id) for user_id in sample), "the bench's feeds are not valid"


def bench_reads(
    local_aws: LocalAws, reads: int = 2000, warmup: int = 200, alongside: Callable[[], object] | None = None
) -> tuple[dict[str, Any], list[float]]:
    """A 20-post page of a reader who follows 50 authors (100 posts), warm, through the real read
    handler: its p50/p99 over `reads`, then the AWS calls and Redis round trips of 100 more.
    `alongside`, another read timed in turns with the handler's (one of each, in alternating
    order: the machine's noise falls on both alike); its timings are returned too."""
    reader = "reader-0001"
    make_user(reader)
    authors = [f"author-{index:03d}" for index in range(50)]
    for author in authors:
        make_user(author)
        make_published(author)
        make_published(author)
    with FollowRow.batch_write() as batch:
        for author in authors:
            batch.save(FollowRow(follower_id=reader, followee_id=author, followed_at="2026-11-21T00:00:00.000Z"))
    handler = local_aws.handler("ReadApiFunction")
    event = api_event("api_get_feed.json", sub=reader)
    event["queryStringParameters"] = {"limit": "20"}
    event["multiValueQueryStringParameters"] = {"limit": ["20"]}
    first = handler(event, CONTEXT)  # builds the feed and fills the post cache
    assert len(json.loads(first["body"])["items"]) == 20
    for _ in range(warmup):  # warm up the interpreter's caches
        handler(event, CONTEXT)
        if alongside is not None:
            alongside()
    timings: list[float] = []
    other: list[float] = []

    def timed(read: Callable[[], object], into: list[float]) -> object:
        started = time.perf_counter()
        answer = read()
        into.append((time.perf_counter() - started) * 1000)
        return answer

    with counting_aws_calls() as calls:
        for index in range(reads):
            if alongside is not None and index % 2:
                timed(alongside, other)
            response: Any = timed(lambda: handler(event, CONTEXT), timings)
            if alongside is not None and not index % 2:
                timed(alongside, other)
    assert response["statusCode"] == 200
    # The store's read alone (Redis and the page's entries, no handler around it): the part that
    # does what Stream-Framework's read does.
    store, service = wiring.feed_store(), wiring.feed_service()
    store_timings: list[float] = []
    for _ in range(reads):
        timed(lambda: store.read(reader, 20, None, fill=service._cache.fill), store_timings)
    counted = 100
    with counting_redis_round_trips() as traffic:
        for _ in range(counted):
            handler(event, CONTEXT)
    p50, p99 = p50_p99(timings)
    store_p50, store_p99 = p50_p99(store_timings)
    figures = {
        "feed_read_p50_ms": p50,
        "feed_read_p99_ms": p99,
        "feed_store_read_p50_ms": store_p50,
        "feed_store_read_p99_ms": store_p99,
        "feed_read_count": reads,
        "dynamodb_calls_per_warm_read": round(calls["dynamodb"] / reads, 3),
        "aws_calls_per_warm_read": round(sum(calls.values()) / reads, 3),
        "redis_round_trips_per_warm_read": round(traffic["round_trips"] / counted, 2),
        "redis_requests_per_warm_read": round(traffic["requests"] / counted, 2),
    }
    return figures, other


# ---------------------------------------------------------------------- Stream-Framework's read
# Stream-Framework 1.4.0 (the last release) does not run here: its Redis structures import
# `redis.client.BasePipeline`, which redis-py removed in 3.0 (the project has redis-py 8), so its
# read is reproduced below step by step from its source (feeds/base.py, feeds/redis.py,
# storage/base.py, storage/redis/timeline_storage.py, activity_storage.py, structures/sorted_set.py
# and hash.py, serializers/activity_serializer.py, activity.py), on the same client library and
# server as the handler. `RedisFeed(user_id)[:20]` does:
#  1. ZREVRANGEBYSCORE feed_<user> +inf -inf WITHSCORES LIMIT 0 20 (TimelineCache.get_results):
#     the activity ids, each made a DehydratedActivity (SimpleTimelineSerializer).
#  2. One pipeline of 20 HGET global:<md5(id) % 10> <id> (RedisActivityStorage's ActivityCache is
#     a ShardedHashCache over ten hashes: HGETs, not an HMGET), then ActivitySerializer.loads of
#     each ("actor,verb,object,target,epoch,pickled extra context") into an Activity.
#  3. The page in the timeline's order, each activity found by its serialization id (a property
#     computed from the activity's time, object id and verb id).
# Its connections decode responses (setup_redis's default). One difference, in its favour: it
# makes a StrictRedis object per structure per read (two a read), which costs ~50 µs each in
# redis-py 8 (a few in the redis-py 2 it was written for); here one client is made once.
# Checked against the package itself (2026-12-01): Stream-Framework 1.4.0 installed without its
# Celery dependency in a venv of its own with redis-py 2.10.6 and hiredis, `Feed(user)[:20]` on
# the same server, 2,000 reads after 200: p50 0.256 / p99 0.382 ms, where this gave 0.236 / 0.375
# ms alongside (0.317 / 0.463 ms without hiredis): this is the stricter baseline, by a little.
_EPOCH = datetime(1970, 1, 1)


class _SfAdd:
    """stream_framework.verbs.base.Add."""

    id = 4
    infinitive, past_tense = "add", "added"


_SF_VERBS: dict[int, type[_SfAdd]] = {_SfAdd.id: _SfAdd}  # get_verb_by_id's in-memory storage


class _SfActivity:
    """stream_framework.activity.Activity: what the read builds per entry."""

    def __init__(
        self, actor: int, verb: type[_SfAdd], object_id: int, target: int | None, when: datetime, extra: dict[str, Any]
    ) -> None:
        self.verb, self.time = verb, when
        self.actor_id, self.object_id, self.target_id = actor, object_id, target
        self.extra_context = extra or {}
        self.dehydrated = False

    @property
    def serialization_id(self) -> int:
        milliseconds = str(int((self.time - _EPOCH).total_seconds() * 1000))
        return int("%s%0.10d%0.3d" % (milliseconds, self.object_id, self.verb.id))  # noqa: UP031 - as Stream-Framework


class StreamFrameworkFeed:
    """A Stream-Framework RedisFeed (key `feed_<user>`, activities in the global activity storage)."""

    shards = 10  # ShardedHashCache.number_of_keys

    def __init__(self, url: str, user_id: str) -> None:
        self.client = redis.Redis.from_url(url, decode_responses=True)
        self.key = f"feed_{user_id}"

    @classmethod
    def _hash_of(cls, field: str) -> str:
        return f"global:{int(hashlib.md5(field.encode()).hexdigest(), 16) % cls.shards}"

    def insert(self, count: int) -> None:
        """`count` activities as Stream-Framework's own example stores them (an actor adds an
        object: no target, no extra context), in the activity storage and in the feed."""
        start = datetime(2026, 11, 21)
        activities = [
            _SfActivity(1 + index % 50, _SfAdd, 1 + index, None, start + timedelta(seconds=index), {})
            for index in range(count)
        ]
        with self.client.pipeline(transaction=False) as pipe:
            for activity in activities:
                epoch = "%.6f" % (activity.time - _EPOCH).total_seconds()  # noqa: UP031
                serialized = ",".join(map(str, [activity.actor_id, activity.verb.id, activity.object_id, 0, epoch, ""]))
                field = str(activity.serialization_id)
                pipe.hset(self._hash_of(field), field, serialized)
                pipe.zadd(self.key, {field: activity.serialization_id})
            pipe.execute()

    def page(self, start: int = 0, stop: int = 20) -> list[_SfActivity]:
        """`feed[start:stop]`, as get_activity_slice and hydrate_activities do it."""
        rows = cast(
            list[tuple[str, float]],
            self.client.zrevrangebyscore(self.key, "+inf", "-inf", start=start, num=stop - start, withscores=True),
        )
        score_key_pairs = [(score, data) for data, score in rows]  # get_slice_from_storage
        ids = list(list(zip(*score_key_pairs, strict=True))[1]) if score_key_pairs else []
        pipe = self.client.pipeline(transaction=False)
        for field in ids:
            pipe.hget(self._hash_of(field), field)
        found = {field: str(value) for field, value in zip(ids, pipe.execute(), strict=True) if value}
        activities = []
        for serialized in found.values():
            parts = serialized.split(",", 5)
            actor, verb, object_id, target = map(int, parts[:4])
            extra = pickle.loads(parts[5].encode("latin1")) if parts[5] else {}
            when = _EPOCH + timedelta(seconds=float(parts[4]))
            activities.append(_SfActivity(actor, _SF_VERBS[verb], object_id, target or None, when, extra))
        by_id = {activity.serialization_id: activity for activity in activities}
        return [by_id[int(field)] for field in ids]


def bench_fanout(client: Cache, followers: int = 100_000) -> dict[str, Any]:
    """One post delivered to `followers` valid feeds that follow its author, in one call of the
    store (one pipeline: a script call per node and per 1,000 feeds, each checking the feed is
    there and follows the author, adding, capping), from this one process."""
    store = wiring.feed_store()
    author = "fanout-author"
    user_ids = [f"f{index:07d}" for index in range(followers)]
    make_feeds(client, user_ids, author)
    post_id = new_post_id()
    started = time.perf_counter()
    delivered = store.deliver(post_id, score_of(post_id), user_ids, author)
    elapsed = time.perf_counter() - started
    assert delivered == followers, delivered
    return {"fanout_deliveries_per_s": int(followers / elapsed), "fanout_100k_seconds": round(elapsed, 3)}


# redis-benchmark's ZADD test, `ZADD myzset 0 element:__rand_int__` (a tagged key per node with
# --cluster): without -r that is one member whose score is set again, the cheapest ZADD there is.
# 50 connections (its default) with 16 commands a pipeline each (-P 16): the server's own top
# rate, which one process pipelining scripts cannot pass; each delivery is a ZADD that inserts
# plus EXISTS, SISMEMBER and ZCARD, in a script.
REDIS_BENCHMARK_ARGUMENTS = ("-t", "zadd", "-c", "50", "-P", "16", "-q", "--csv")


def redis_benchmark_zadd(host: str, port: int, cluster: bool = False, requests: int = 1_000_000) -> float | str:
    """ZADDs per second as redis-benchmark (redis-tools; `make bench` installs it) measures them
    against the server at host:port (a cluster's node with `cluster`); a sentence if it is missing."""
    binary = shutil.which("redis-benchmark")
    if binary is None:
        return "not measured: no redis-benchmark on PATH (make bench installs redis-tools)"
    command = [binary, "-h", host, "-p", str(port), "-n", str(requests), *REDIS_BENCHMARK_ARGUMENTS]
    if cluster:
        command.append("--cluster")
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    print(" ".join(command), "\n", done.stdout, done.stderr, flush=True)  # the bench log
    for row in csv.reader(io.StringIO(done.stdout)):
        if row and row[0].upper().startswith("ZADD"):
            return round(float(row[1]))
    raise RuntimeError(f"redis-benchmark gave no ZADD rate (exit status {done.returncode}): {done.stderr[-300:]}")


def ratio(numerator: Any, denominator: Any) -> float | str:
    if isinstance(numerator, int | float) and isinstance(denominator, int | float) and denominator:
        return round(numerator / denominator, 3)
    return "not measured"


def bench_time_to_feed(local_aws: LocalAws, client: redis.Redis, followers: int = 10_000) -> dict[str, Any]:
    author = "author-10k"
    make_user(author, followers)
    user_ids = [f"t{index:06d}" for index in range(followers)]
    follow_all(user_ids, author)
    make_feeds(client, user_ids, author)
    posts_stream = StreamDriver(local_aws, "PostsTable", "StreamRelayFunction", CONTEXT)
    posts_stream.drain()
    fanout = SqsDriver(local_aws, "FanoutQueue", "FanoutFunction", CONTEXT)
    while fanout.receive():
        fanout.drain()

    def publish_and_wait() -> float:
        row = processing_post(author)
        post_id = row.id
        started = time.perf_counter()
        assert publish_row(row, 1, 1, {"thumbnail": "a", "medium": "b", "large": "c"})
        posts_stream.drain()
        fanout.drain(rounds=100)
        elapsed = time.perf_counter() - started
        with client.pipeline(transaction=False) as pipe:
            for user_id in user_ids:
                pipe.zscore(feed_key(user_id), member_of(post_id))
            present = sum(score is not None for score in pipe.execute())
        assert present == followers, present
        return elapsed

    cold = publish_and_wait()  # the author's follower list is read from DynamoDB, then cached
    warm = publish_and_wait()  # an author who posts: the list is in Redis
    return {
        "time_to_feed_10k_s": round(warm, 3),
        # The first post of an author whose follower list is not cached reads it from (moto's)
        # DynamoDB: moto filters and sorts the whole table per query, where DynamoDB answers
        # ~1 MB pages of keys in tens of ms.
        "time_to_feed_10k_cold_s": round(cold, 3),
    }


def bench_celebrity(local_aws: LocalAws, client: redis.Redis) -> dict[str, Any]:
    star = "star-1m"
    make_user(star, followers=1_000_000)
    sample = [f"s{index:05d}" for index in range(1000)]
    for user_id in sample:
        make_user(user_id)
    follow_all(sample, star)
    wiring.feed_service().rebuild_celebrity_sets()
    fanout = wiring.fanout_service()
    fanout._check_threshold(star)  # 1,000,000 > threshold: the star is no longer fanned out
    for user_id in sample:  # their feeds exist (they have read them before)
        wiring.feed_service().page(user_id, 5, None)
    post_id = make_published(star)
    before = write_commands(client)
    fanout.handle({"type": "post_published", "post_id": post_id, "author_id": star})
    writes = write_commands(client) - before
    seen = sum(post_id in wiring.feed_service().page(user_id, 5, None) for user_id in sample)
    return {"celebrity_publish_redis_writes": writes, "celebrity_post_in_next_read_of_sample": f"{seen}/{len(sample)}"}


def bench_rebuild(local_aws: LocalAws, client: redis.Redis, followees: int = 500) -> dict[str, Any]:
    reader = "rebuild-reader"
    make_user(reader)
    authors = [f"rb-{index:04d}" for index in range(followees)]
    with FollowRow.batch_write() as batch:
        for author in authors:
            batch.save(FollowRow(follower_id=reader, followee_id=author, followed_at="2026-11-21T00:00:00.000Z"))
    for author in authors:
        make_user(author)
        make_published(author)
    service = wiring.feed_service()
    service.page(reader, 20, None)
    client.flushall()
    with counting_aws_calls() as calls:
        started = time.perf_counter()
        page = json.loads(service.page(reader, 20, None))
        elapsed = time.perf_counter() - started
    assert len(page["items"]) == 20
    return {
        "feed_rebuild_ms": round(elapsed * 1000, 1),
        "feed_rebuild_dynamodb_calls": calls["dynamodb"],
        "feed_rebuild_followees": followees,
    }


def bench_memory(client: Cache, feeds: int = 200) -> dict[str, Any]:
    """`feeds` full feeds (`FeedCap` entries each), as a rebuild writes them: MEMORY USAGE."""
    store = wiring.feed_store()
    cap = store.feed_cap
    post_ids = [new_post_id() for _ in range(cap)]
    for index in range(feeds):
        store.write_feed(f"m{index:05d}", [(post_id, score_of(post_id)) for post_id in post_ids])
    total = sum(int(client.memory_usage(feed_key(f"m{index:05d}"), samples=0) or 0) for index in range(feeds))
    encoding = client.object("encoding", feed_key("m00000"))
    return {
        "redis_bytes_per_feed_entry": round(total / (feeds * cap), 1),
        "redis_feed_encoding": encoding.decode() if isinstance(encoding, bytes) else encoding,
        "redis_bytes_per_full_feed": int(total / feeds),
    }


def bench_cost_per_post(
    local_aws: LocalAws, client: redis.Redis, followers: int = 10, items: int = 1
) -> dict[str, Any]:
    """Every AWS call and Lambda invocation from POST /posts to the post in its followers' feeds,
    for a post of `items` photos (the single-photo form for one); for several, also the time from
    the last upload to the post published (in-process: the worker's own time, no queue polling)
    and the size of the post's JSON in the post cache."""
    from tests.integration.helpers import route, sign_up

    name = f"costauthor{items}"
    author = sign_up(local_aws, CONTEXT, name)
    fans = [sign_up(local_aws, CONTEXT, f"costfan{items}x{index}") for index in range(followers)]
    for fan in fans:
        route(
            local_aws, CONTEXT, "api_follow.json", fan, path=f"/users/{name}/follow", path_parameters={"username": name}
        )
        wiring.feed_service().page(fan["id"], 5, None)
    media_queue = SqsDriver(local_aws, "MediaQueue", "ProcessMediaFunction", CONTEXT)
    posts_stream = StreamDriver(local_aws, "PostsTable", "StreamRelayFunction", CONTEXT)
    follows_stream = StreamDriver(local_aws, "FollowsTable", "StreamRelayFunction", CONTEXT)
    fanout = SqsDriver(local_aws, "FanoutQueue", "FanoutFunction", CONTEXT)
    media_queue.drain()
    posts_stream.drain()
    follows_stream.drain()
    fanout.drain()
    files = [images.scene_jpeg((1600, 1200), variant=index) for index in range(items)]
    if items == 1:
        body: dict[str, Any] = {"title": "Cost", "content_type": "image/jpeg", "content_length": len(files[0])}
    else:
        body = {
            "title": "Cost",
            "media": [
                {"content_type": "image/jpeg", "content_length": len(data), "alt_text": "A scene"} for data in files
            ],
        }
    invocations = Counter[str]()
    client_calls: Counter[str] = Counter()
    last_upload_to_published = 0.0
    with counting_aws_calls() as calls:
        status, created = route(local_aws, CONTEXT, "api_create_post.json", author, body=body)
        invocations["write_api"] += 1
        assert status == 201, created
        for index, (upload, data) in enumerate(zip(created["uploads"], files, strict=True)):
            before = Counter(calls)
            started = time.perf_counter()
            local_aws.aws("s3").put_object(
                Bucket=local_aws.template.refs["UploadsBucket"],
                Key=upload["fields"]["key"],
                Body=data,
                ContentType="image/jpeg",
            )
            client_calls += Counter(calls) - before  # the upload is the client's request, not the system's
            invocations["process_media"] += media_queue.drain()
            if index == items - 1:
                last_upload_to_published = time.perf_counter() - started
        invocations["stream_relay"] += 1
        posts_stream.drain()
        invocations["fanout"] += fanout.drain()
    system = calls - client_calls + Counter({k: v for k, v in client_calls.items() if k != "s3"})
    post_id = created["post"]["id"]
    assert all(post_id in wiring.feed_service().page(fan["id"], 5, None) for fan in fans)
    reader = local_aws.handler("ReadApiFunction")
    event = api_event("api_get_feed.json", sub=fans[0]["id"])
    reader(event, CONTEXT)  # the page's posts are cached
    with counting_aws_calls() as page_calls:
        page = reader(event, CONTEXT)  # a warm page, through the real read handler
    assert page["statusCode"] == 200, page
    assert post_id in page["body"]
    cached = len(client.hget(f"post:{post_id}", "m") or b"")
    if items > 1:
        return {
            f"per_post_{items}_items_dynamodb_calls": system["dynamodb"],
            f"per_post_{items}_items_s3_calls": system["s3"] + items,  # + the client's presigned uploads
            f"per_post_{items}_items_sqs_calls": system["sqs"],
            f"per_post_{items}_items_lambda_invocations": sum(invocations.values()),
            f"post_{items}_items_last_upload_to_published_ms": round(last_upload_to_published * 1000, 1),
            f"post_{items}_items_cached_json_bytes": cached,
        }
    return {
        "per_post_dynamodb_calls": system["dynamodb"],
        "per_post_s3_calls": system["s3"] + 1,  # + the client's presigned upload
        "per_post_sqs_calls": system["sqs"],
        "per_post_lambda_invocations": sum(invocations.values()),
        "per_post_followers": followers,
        "post_1_item_cached_json_bytes": cached,
        "per_feed_page_dynamodb_calls_warm": page_calls["dynamodb"],
        "per_feed_page_aws_calls_warm": sum(page_calls.values()),
    }


def cache_settings(cluster: bool = False) -> dict[str, str]:
    """The settings of the template's cache parameter group for that mode."""
    mode = "enabled" if cluster else "disabled"
    return cache_server_settings(Template.load(TEMPLATE, "bench", REGION, {"CacheClusterMode": mode}))


def cache_server() -> RedisServer:
    """The pinned server (or DEVSTACK_REDIS_SERVER's), with the template's cache parameters, as
    the tests and the local stack run it."""
    return RedisServer(settings=cache_settings()).start()


def cache_cluster() -> ValkeyCluster:
    """A cluster of three primaries of the pinned server, with the cluster's parameter group."""
    return ValkeyCluster(primaries=3, settings=cache_settings(cluster=True)).start()


def run() -> dict[str, Any]:
    server = cache_server()
    cluster = cache_cluster()
    try:
        client = redis.Redis.from_url(server.url)
        cluster_client = redis.RedisCluster.from_url(cluster.url)
        reads, warmup = scaled(2000, 100), scaled(200, 20)
        followers, feeds = scaled(100_000, 1000), scaled(200, 10)
        figures: dict[str, Any] = {}
        # Page reads. Stream-Framework's read, on the same server, is timed in turns with the
        # handler's on it (same count, same warm-up); the cluster's handler runs next.
        with local_aws_context(server.url) as local_aws:
            baseline = StreamFrameworkFeed(server.url, "reader-0001")
            baseline.insert(100)
            assert len(baseline.page()) == 20
            single, baseline_timings = bench_reads(local_aws, reads, warmup, alongside=baseline.page)
        with local_aws_context(cluster.url, cluster=True) as local_aws:
            clustered, _ = bench_reads(local_aws, reads, warmup)
        baseline_p50, baseline_p99 = p50_p99(baseline_timings)
        figures.update(single)
        figures.update(prefixed(CLUSTER, clustered))
        figures.update(
            {
                "stream_framework_read_p50_ms": baseline_p50,
                "stream_framework_read_p99_ms": baseline_p99,
                "feed_read_p99_vs_stream_framework": ratio(single["feed_read_p99_ms"], baseline_p99),
                "cluster_feed_read_p99_vs_stream_framework": ratio(clustered["feed_read_p99_ms"], baseline_p99),
                "feed_store_read_p99_vs_stream_framework": ratio(single["feed_store_read_p99_ms"], baseline_p99),
                "cluster_feed_store_read_p99_vs_stream_framework": ratio(
                    clustered["feed_store_read_p99_ms"], baseline_p99
                ),
            }
        )
        # Fan-out, and the servers' own ZADD rate in the same run.
        with local_aws_context(server.url):
            figures.update(bench_fanout(client, followers))
        figures["redis_benchmark_zadd_per_s"] = redis_benchmark_zadd(server.host, server.port)
        figures["fanout_vs_redis_benchmark_zadd"] = ratio(
            figures["fanout_deliveries_per_s"], figures["redis_benchmark_zadd_per_s"]
        )
        with local_aws_context(cluster.url, cluster=True):
            figures.update(prefixed(CLUSTER, bench_fanout(cluster_client, followers)))
        entry = cluster.primary_nodes[0]
        figures["cluster_redis_benchmark_zadd_per_s"] = redis_benchmark_zadd(entry.host, entry.port, cluster=True)
        figures["cluster_fanout_vs_redis_benchmark_zadd"] = ratio(
            figures["cluster_fanout_deliveries_per_s"], figures["cluster_redis_benchmark_zadd_per_s"]
        )
        with local_aws_context(server.url) as local_aws:
            figures.update(bench_time_to_feed(local_aws, client))
        with local_aws_context(server.url) as local_aws:
            figures.update(bench_celebrity(local_aws, client))
        with local_aws_context(server.url) as local_aws:
            figures.update(bench_rebuild(local_aws, client))
        with local_aws_context(server.url):
            figures.update(bench_memory(client, feeds))
        with local_aws_context(cluster.url, cluster=True):
            figures.update(prefixed(CLUSTER, bench_memory(cluster_client, feeds)))
        with local_aws_context(server.url) as local_aws:
            figures.update(bench_cost_per_post(local_aws, client))
        with local_aws_context(server.url) as local_aws:
            figures.update(bench_cost_per_post(local_aws, client, items=10))
        return figures
    finally:
        server.stop()
        cluster.stop()
