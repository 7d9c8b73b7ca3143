"""Search figures: queries through the real read handler against an index of 100,000 titles.

The index is loaded straight into moto's tables (the same entries the indexer writes, from the
same `index_keys`), since writing two million items through moto's HTTP layer would measure moto;
the indexer itself is timed separately, through its real handler on a stream batch. Queries run
on moto with `devstack.moto_fixes` (a query reads its partition, as DynamoDB does).
"""

from __future__ import annotations

import contextlib
import json
import random
import statistics
import time
from collections.abc import Iterator
from typing import Any

import botocore.client
from moto.core import DEFAULT_ACCOUNT_ID
from moto.dynamodb.models import dynamodb_backends
from moto.dynamodb.models.dynamo_type import DynamoType, Item, LimitedSizeDict
from pynamodb.models import Model
from ulid import ULID

from photofeed.services.search import index_keys, words_of
from photofeed.storage.search_index import SearchIndex
from photofeed.storage.tables import PostRow, SearchEntryRow
from tests.bench.feed import CONTEXT, cache_server, counting_aws_calls, make_user
from tests.conftest import REGION, LocalAws, api_event
from tests.integration.drain import StreamDriver

SYLLABLES = "ba be bi bo bu ca ce ci co cu da de di do du fa fe fi fo ga ge gi la le li lo lu ma me mi mo na ne ni "
SYLLABLES += "no pa pe pi po ra re ri ro sa se si so ta te ti to va ve vi vo za ze zi zo"
COMMON = ["the", "at", "of", "sunset", "beach", "café", "city", "night", "morning", "mountain", "river", "old"]


def vocabulary(rng: random.Random, size: int = 5000) -> list[str]:
    syllables = SYLLABLES.split()
    words = list(COMMON)
    seen = set(words)
    while len(words) < size:
        word = "".join(rng.choice(syllables) for _ in range(rng.randint(2, 4)))
        if word not in seen:
            seen.add(word)
            words.append(word)
    return words


def titles(count: int, seed: int = 7) -> list[str]:
    """Titles of 2 to 7 words drawn by a Zipf law (word k is 1/k as frequent as the first)."""
    rng = random.Random(seed)
    words = vocabulary(rng)
    weights = [1 / rank for rank in range(1, len(words) + 1)]
    return [" ".join(rng.choices(words, weights, k=rng.randint(2, 7))).capitalize() for _ in range(count)]


def table_of(model: type[Model]) -> Any:
    return dynamodb_backends[DEFAULT_ACCOUNT_ID][REGION].tables[model.Meta.table_name]


def load_posts(rows: list[PostRow]) -> None:
    """Items straight into moto's table (serialised by PynamoDB, as its writes would send them)."""
    table = table_of(PostRow)
    for row in rows:
        attrs = row.serialize()
        table.items[DynamoType(attrs["id"])] = Item(DynamoType(attrs["id"]), None, attrs)


def load_entries(post_id: str, words: list[str]) -> int:
    """The index entries of one title, sharing their attribute values as moto would hold them."""
    table = table_of(SearchEntryRow)
    range_value = DynamoType({"S": post_id})
    words_value = DynamoType({"L": [{"S": word} for word in words]})
    keys = index_keys(words)
    for key in keys:
        hash_value = DynamoType({"S": key})
        item = Item.__new__(Item)
        item.hash_key, item.range_key = hash_value, range_value
        item.attrs = LimitedSizeDict()
        dict.update(item.attrs, {"key": hash_value, "post_id": range_value, "words": words_value})
        table.items[hash_value][range_value] = item
    return len(keys)


def post(post_id: str, author_id: str, title: str, status: str = "published") -> PostRow:
    return PostRow(
        id=post_id,
        author_id=author_id,
        title=title,
        status=status,
        created_at="2026-11-21T00:00:00.000Z",
        content_type="image/jpeg",
        content_length=1,
        upload_key=f"uploads/{author_id}/{post_id}",
        published_author_id=author_id if status == "published" else None,
        width=1080,
        height=810,
        media={v: f"posts/{post_id}/{v}.jpg" for v in ("thumbnail", "medium", "large")},
    )


class StoreTime:
    seconds = 0.0
    entries = 0


@contextlib.contextmanager
def timing_store() -> Iterator[StoreTime]:
    """Time spent in AWS calls (moto's, here) and index entries read, so the handler's own time
    can be told apart from the store's."""
    spent = StoreTime()
    real_call = botocore.client.BaseClient._make_api_call
    real_newest = SearchIndex.newest

    def timed(self: Any, operation: str, params: Any) -> Any:
        began = time.perf_counter()
        try:
            return real_call(self, operation, params)
        finally:
            spent.seconds += time.perf_counter() - began

    def counted(self: SearchIndex, key: str, before: str | None, limit: int) -> list[SearchEntryRow]:
        found = real_newest(self, key, before, limit)
        spent.entries += len(found)
        return found

    botocore.client.BaseClient._make_api_call = timed  # type: ignore[method-assign]
    SearchIndex.newest = counted  # type: ignore[method-assign]
    try:
        yield spent
    finally:
        botocore.client.BaseClient._make_api_call = real_call  # type: ignore[method-assign]
        SearchIndex.newest = real_newest  # type: ignore[method-assign]


def bench_indexing(local_aws: LocalAws, posts: int = 1000) -> dict[str, Any]:
    author = "search-author-2"
    make_user(author)
    stream = StreamDriver(local_aws, "PostsTable", "IndexSearchFunction", CONTEXT)
    for title in titles(posts, seed=11):
        post(str(ULID()), author, title).save()
    started = time.perf_counter()
    stream.drain()
    elapsed = time.perf_counter() - started
    return {"search_indexing_titles_per_s": round(posts / elapsed)}


def bench_queries(local_aws: LocalAws, count: int = 100_000, runs: int = 50) -> dict[str, Any]:
    author = "search-author-1"
    make_user(author)
    reader = "search-reader-1"
    make_user(reader)
    all_titles = titles(count)
    ids = sorted(str(ULID.from_timestamp(1_700_000_000 + index)) for index in range(count))
    started = time.perf_counter()
    load_posts([post(post_id, author, title) for post_id, title in zip(ids, all_titles, strict=True)])
    entries = sum(load_entries(post_id, words_of(title)) for post_id, title in zip(ids, all_titles, strict=True))
    loading = time.perf_counter() - started

    handler = local_aws.handler("ReadApiFunction")
    queries = {
        "common word": "the",
        "rare word": all_titles[-1].split()[-1],
        "two words": "sunset beach",
        "accents and case": "CAFE NiGHT",
        "prefix": "mou",
        "rare mix of common words": "the old morning ci",
    }
    figures: dict[str, Any] = {
        "search_titles_indexed": count,
        "search_index_entries": entries,
        "search_index_load_s": round(loading, 1),
    }
    every: list[float] = []
    own: list[float] = []
    with timing_store() as store, counting_aws_calls() as calls:
        for name, q in queries.items():
            event = api_event("api_search.json", sub=reader)
            event["queryStringParameters"] = {"q": q, "limit": "20"}
            event["multiValueQueryStringParameters"] = {"q": [q], "limit": ["20"]}
            handler(event, CONTEXT)  # warm
            timings = []
            store.entries = 0
            for _ in range(runs):
                store.seconds = 0.0
                began = time.perf_counter()
                response = handler(event, CONTEXT)
                total = time.perf_counter() - began
                timings.append(total * 1000)
                own.append((total - store.seconds) * 1000)
            assert response["statusCode"] == 200, response["body"]
            page = json.loads(response["body"])
            key = name.replace(" ", "_")
            figures[f"search_{key}_p50_ms"] = round(statistics.median(timings), 1)
            figures[f"search_{key}_hits"] = len(page["items"])
            figures[f"search_{key}_entries_read"] = store.entries // runs
            every += timings
    every.sort()
    own.sort()
    figures.update(
        {
            "search_query_p50_ms": round(statistics.median(every), 1),
            "search_query_p99_ms": round(every[int(len(every) * 0.99) - 1], 1),
            "search_query_own_p50_ms": round(statistics.median(own), 2),
            "search_query_own_p99_ms": round(own[int(len(own) * 0.99) - 1], 2),
            "search_dynamodb_calls_per_query": round(calls["dynamodb"] / (len(every) + len(queries)), 2),
        }
    )
    return figures


def run() -> dict[str, Any]:
    from tests.conftest import local_aws_context

    server = cache_server()
    try:
        figures: dict[str, Any] = {}
        with local_aws_context(server.url) as local_aws:
            figures.update(bench_indexing(local_aws))
        with local_aws_context(server.url) as local_aws:
            figures.update(bench_queries(local_aws))
        return figures
    finally:
        server.stop()
