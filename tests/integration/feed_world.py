"""A small social world for feed tests: users, posts and follows through the real handlers, the
asynchronous parts driven in-process (streams -> relay -> fan-out queue -> fan-out), and the feed
the truth in DynamoDB says each user should see, to compare against."""

from __future__ import annotations

import json
import random
import uuid
from typing import Any

import redis
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

from photofeed import wiring
from photofeed.services.posts import new_post_id
from photofeed.storage.tables import FollowRow, ItemRow, MediaKeys, PostRow
from tests.conftest import LocalAws
from tests.integration.drain import SqsDriver, StreamDriver
from tests.integration.helpers import route, sign_up


class World:
    def __init__(self, local_aws: LocalAws, ctx: Any) -> None:
        self.local_aws = local_aws
        self.ctx = ctx
        self.users: dict[str, dict[str, Any]] = {}
        self.post_streams = StreamDriver(local_aws, "PostsTable", "StreamRelayFunction", ctx)
        self.follow_streams = StreamDriver(local_aws, "FollowsTable", "StreamRelayFunction", ctx)
        self.fanout = SqsDriver(local_aws, "FanoutQueue", "FanoutFunction", ctx)

    # ------------------------------------------------------------------ acting
    def user(self, name: str) -> dict[str, Any]:
        if name not in self.users:
            self.users[name] = sign_up(self.local_aws, self.ctx, f"{name}_{uuid.uuid4().hex[:6]}")
        return self.users[name]

    def publish(self, name: str, title: str = "photo") -> str:
        """A post that went through the media pipeline (its variants stand in as keys)."""
        author = self.user(name)
        post_id = new_post_id()
        row = PostRow(
            id=post_id,
            author_id=author["id"],
            title=title,
            status="processing",
            created_at="t",
            content_type="image/jpeg",
            content_length=1,
            upload_key=f"uploads/{author['id']}/{post_id}",
        )
        row.save()
        media = {variant: f"posts/{post_id}/{variant}.jpg" for variant in ("thumbnail", "medium", "large")}
        assert publish_row(row, 640, 480, media)
        return post_id

    def delete(self, name: str, post_id: str) -> int:
        return route(
            self.local_aws,
            self.ctx,
            "api_delete_post.json",
            self.user(name),
            path=f"/posts/{post_id}",
            path_parameters={"post_id": post_id},
        )[0]

    def follow(self, who: str, whom: str, method: str = "PUT") -> int:
        username = self.user(whom)["username"]
        sample = "api_follow.json" if method == "PUT" else "api_unfollow.json"
        return route(
            self.local_aws,
            self.ctx,
            sample,
            self.user(who),
            path=f"/users/{username}/follow",
            path_parameters={"username": username},
        )[0]

    def unfollow(self, who: str, whom: str) -> int:
        return self.follow(who, whom, "DELETE")

    # ------------------------------------------------------------------ the asynchronous parts
    def relay(self) -> None:
        self.post_streams.drain()
        self.follow_streams.drain()

    def settle(self, shuffle: random.Random | None = None, duplicate: float = 0.0) -> None:
        """Relay every change and run every fan-out message (and the chunks they spawn) until
        quiet; with `shuffle`, messages run in a random order and some twice."""
        self.relay()
        for _ in range(50):
            messages = self.take_fanout_messages()
            if not messages:
                return
            if shuffle is not None:
                messages += [m for m in messages if shuffle.random() < duplicate]
                shuffle.shuffle(messages)
            for message in messages:
                self._run(message)
        raise AssertionError("fan-out did not settle")

    def take_fanout_messages(self) -> list[dict[str, Any]]:
        """Every message on the fan-out queue, taken off it."""
        messages = []
        while batch := self.fanout.receive():
            messages += batch
            for message in batch:
                self.local_aws.aws("sqs").delete_message(
                    QueueUrl=self.fanout.url, ReceiptHandle=message["ReceiptHandle"]
                )
        return messages

    def _run(self, message: dict[str, Any]) -> None:
        assert self.try_fanout(message), json.loads(message["Body"])

    def try_fanout(self, message: dict[str, Any]) -> bool:
        """Run one fan-out message through the worker, as SQS delivers it; False if the worker
        reports it failed (SQS would give it back for a retry)."""
        event = {
            "Records": [
                {
                    "messageId": message["MessageId"],
                    "receiptHandle": "r",
                    "body": message["Body"],
                    "attributes": {},
                    "messageAttributes": {},
                    "md5OfBody": "",
                    "eventSource": "aws:sqs",
                    "eventSourceARN": self.fanout.arn,
                    "awsRegion": "us-east-1",
                }
            ]
        }
        try:
            result = self.local_aws.handler("FanoutFunction")(event, self.ctx)
        except BatchProcessingError:  # every record of the batch failed: Lambda gives it all back
            return False
        return not result["batchItemFailures"]

    # ------------------------------------------------------------------ the cache itself
    @property
    def cache(self) -> Any:
        """The functions' own Redis client: `redis.Redis`, or `redis.RedisCluster` in cluster mode."""
        return wiring.feed_store().redis

    def flush_cache(self) -> None:
        """Everything the cache holds is lost (on every shard of a cluster)."""
        cache = self.cache
        if isinstance(cache, redis.RedisCluster):
            cache.flushall(target_nodes=redis.RedisCluster.PRIMARIES)
        else:
            cache.flushall()

    # ------------------------------------------------------------------ looking
    def feed(self, name: str, limit: int = 50) -> list[str]:
        """Every post id of the user's feed, walking the cursors."""
        ids: list[str] = []
        cursor = None
        for _ in range(100):
            query = {"limit": str(limit), **({"cursor": cursor} if cursor else {})}
            status, page = route(self.local_aws, self.ctx, "api_get_feed.json", self.user(name), query=query)
            assert status == 200, page
            ids += [item["id"] for item in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                return ids
        raise AssertionError("the feed never ended")

    def page(self, name: str, limit: int, cursor: str | None = None) -> dict[str, Any]:
        query = {"limit": str(limit), **({"cursor": cursor} if cursor else {})}
        status, page = route(self.local_aws, self.ctx, "api_get_feed.json", self.user(name), query=query)
        assert status == 200, page
        return page

    def expected_feed(self, name: str) -> list[str]:
        """The truth: published posts of the user and of everyone the user follows, newest first."""
        user_id = self.user(name)["id"]
        authors = {row.followee_id for row in FollowRow.query(user_id)} | {user_id}
        return sorted(
            (row.id for row in PostRow.scan() if row.status == "published" and row.author_id in authors),
            reverse=True,
        )


def publish_row(row: PostRow, width: int, height: int, media: dict[str, str]) -> bool:
    """Publish a stored post in flight as the media worker does, its one photo rendered as `media`."""
    done = ItemRow(
        content_type=row.content_type,
        content_length=row.content_length,
        upload_key=row.upload_key,
        width=width,
        height=height,
        blurhash="LEHV6nWB2yk8pyo0adR*.7kCMdnj",
        media=MediaKeys(**media),
    )
    return wiring.post_repository().publish(row, (0, done))
