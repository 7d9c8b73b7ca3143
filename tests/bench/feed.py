"""Feed figures, on a real Redis-protocol server started with the template's cache parameters and
moto's in-process mock for the AWS side (whose own speed is not what is measured)."""

from __future__ import annotations

import contextlib
import json
import statistics
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import botocore.client
import redis

from devstack.aws import cache_server_settings
from devstack.redis_server import RedisServer
from devstack.runtime import LambdaContext
from devstack.template import Template
from photofeed import wiring
from photofeed.services.posts import new_post_id
from photofeed.storage.feed_store import COMPLETE, FEED, score_of
from photofeed.storage.tables import FollowRow, PostRow, UserRow
from tests import images
from tests.conftest import REGION, TEMPLATE, LocalAws, api_event, local_aws_context
from tests.integration.drain import SqsDriver, StreamDriver
from tests.integration.feed_world import publish_row

CONTEXT = LambdaContext("bench", 1024, "arn:aws:lambda:us-east-1:123456789012:function:bench", 30)


@contextlib.contextmanager
def counting_aws_calls() -> Iterator[Counter[str]]:
    """Every AWS API call made meanwhile (boto3 and PynamoDB both go through botocore)."""
    calls: Counter[str] = Counter()
    real = botocore.client.BaseClient._make_api_call

    def counting(self: Any, operation: str, params: Any) -> Any:
        calls[self.meta.service_model.service_name] += 1
        return real(self, operation, params)

    botocore.client.BaseClient._make_api_call = counting  # type: ignore[method-assign]
    try:
        yield calls
    finally:
        botocore.client.BaseClient._make_api_call = real  # type: ignore[method-assign]


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


def bench_reads(local_aws: LocalAws, client: redis.Redis, reads: int = 2000) -> dict[str, Any]:
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
    for _ in range(200):
        handler(event, CONTEXT)  # warm up the interpreter's caches
    timings = []
    with counting_aws_calls() as calls:
        for _ in range(reads):
            started = time.perf_counter()
            response = handler(event, CONTEXT)
            timings.append((time.perf_counter() - started) * 1000)
    assert response["statusCode"] == 200
    timings.sort()
    return {
        "feed_read_p50_ms": round(statistics.median(timings), 3),
        "feed_read_p99_ms": round(timings[int(len(timings) * 0.99) - 1], 3),
        "feed_read_count": reads,
        "dynamodb_calls_per_warm_read": round(calls["dynamodb"] / reads, 3),
        "aws_calls_per_warm_read": round(sum(calls.values()) / reads, 3),
    }


def bench_fanout(client: redis.Redis, followers: int = 100_000) -> dict[str, Any]:
    store = wiring.feed_store()
    user_ids = [f"f{index:07d}" for index in range(followers)]
    with client.pipeline(transaction=False) as pipe:
        for user_id in user_ids:
            pipe.zadd(FEED + user_id, {COMPLETE: float("inf")})
        pipe.execute()
    post_id = new_post_id()
    started = time.perf_counter()
    delivered = store.deliver(post_id, score_of(post_id), user_ids)
    elapsed = time.perf_counter() - started
    assert delivered == followers
    return {"fanout_deliveries_per_s": int(followers / elapsed), "fanout_100k_seconds": round(elapsed, 3)}


def bench_time_to_feed(local_aws: LocalAws, client: redis.Redis, followers: int = 10_000) -> dict[str, Any]:
    author = "author-10k"
    make_user(author, followers)
    user_ids = [f"t{index:06d}" for index in range(followers)]
    follow_all(user_ids, author)
    with client.pipeline(transaction=False) as pipe:
        for user_id in user_ids:
            pipe.zadd(FEED + user_id, {COMPLETE: float("inf")})
        pipe.execute()
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
                pipe.zscore(FEED + user_id, post_id)
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


def bench_memory(client: redis.Redis, feeds: int = 200) -> dict[str, Any]:
    store = wiring.feed_store()
    cap = store.feed_cap
    post_ids = [new_post_id() for _ in range(cap)]
    for index in range(feeds):
        store.write_feed(f"m{index:05d}", [(post_id, score_of(post_id)) for post_id in post_ids])
    total = sum(int(client.memory_usage(FEED + f"m{index:05d}", samples=0) or 0) for index in range(feeds))
    encoding = client.object("encoding", FEED + "m00000")
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


def cache_server() -> RedisServer:
    """The pinned server (or DEVSTACK_REDIS_SERVER's), with the template's cache parameters, as
    the tests and the local stack run it."""
    return RedisServer(settings=cache_server_settings(Template.load(TEMPLATE, "bench", REGION))).start()


def run() -> dict[str, Any]:
    server = cache_server()
    try:
        client = redis.Redis.from_url(server.url)
        figures: dict[str, Any] = {}
        with local_aws_context(server.url) as local_aws:
            figures.update(bench_reads(local_aws, client))
        with local_aws_context(server.url) as local_aws:
            figures.update(bench_fanout(client))
        with local_aws_context(server.url) as local_aws:
            figures.update(bench_time_to_feed(local_aws, client))
        with local_aws_context(server.url) as local_aws:
            figures.update(bench_celebrity(local_aws, client))
        with local_aws_context(server.url) as local_aws:
            figures.update(bench_rebuild(local_aws, client))
        with local_aws_context(server.url) as local_aws:
            figures.update(bench_memory(client))
        with local_aws_context(server.url) as local_aws:
            figures.update(bench_cost_per_post(local_aws, client))
        with local_aws_context(server.url) as local_aws:
            figures.update(bench_cost_per_post(local_aws, client, items=10))
        return figures
    finally:
        server.stop()
