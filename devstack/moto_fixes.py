"""Corrections to moto where it departs from AWS in ways the project depends on.

Applied by the local stack and by the tests (which use the same moto). Each is pinned to the
moto version in requirements/dev.txt and tested (tests/unit/test_moto_fixes.py).
"""

from __future__ import annotations

import threading
from typing import Any

_applied = False


def apply() -> None:
    global _applied
    if _applied:
        return
    _keep_stream_shards_across_failed_transactions()
    _query_reads_one_partition()
    _applied = True


def _keep_stream_shards_across_failed_transactions() -> None:
    """moto undoes a failed TransactWriteItems by putting back deep copies of the tables, stream
    shard included; every stream iterator already handed out keeps reading the orphaned shard and
    never sees another record (on AWS a failed transaction writes nothing and streams go on).
    Keep each table's shard object, with the records it had before the transaction."""
    from moto.dynamodb.models import DynamoDBBackend

    original = DynamoDBBackend.transact_write_items

    def transact_write_items(self: Any, *args: Any, **kwargs: Any) -> Any:
        shards = {name: table.stream_shard for name, table in self.tables.items() if table.stream_shard}
        try:
            return original(self, *args, **kwargs)
        finally:
            for name, shard in shards.items():
                table = self.tables.get(name)
                if table is not None and table.stream_shard is not shard and table.stream_shard is not None:
                    shard.items = table.stream_shard.items
                    shard.table = table
                    table.stream_shard = shard

    DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]


def _query_reads_one_partition() -> None:
    """moto answers a query on a table's key by sorting every item of the table and filtering
    them (O(n log n) per query: a 2-million-item search index takes seconds); DynamoDB reads the
    one partition. Give a base-table query only its partition's items; moto's own sorting, paging,
    conditions and filters then run on those as before. Index queries are left as they are."""
    from moto.dynamodb.models.table import Table

    original_query = Table.query
    original_all_items = Table.all_items
    partition = threading.local()

    def all_items(self: Any) -> Any:
        wanted = getattr(partition, "key", None)
        if wanted is None or wanted[0] is not self:
            return original_all_items(self)
        if wanted[1] not in self.items:  # a defaultdict: do not create the partition
            return []
        bucket = self.items[wanted[1]]
        if not self.range_key_attr:
            return [bucket]
        # In key order already (plain values compare in C), so moto's own sort has nothing to do.
        return sorted(bucket.values(), key=lambda item: item.range_key.cast_value)

    def query(self: Any, hash_key: Any, *args: Any, **kwargs: Any) -> Any:
        index_name = kwargs["index_name"] if "index_name" in kwargs else (args[6] if len(args) > 6 else None)
        if index_name or hash_key is None:
            return original_query(self, hash_key, *args, **kwargs)
        partition.key = (self, hash_key)
        try:
            return original_query(self, hash_key, *args, **kwargs)
        finally:
            partition.key = None

    Table.all_items = all_items  # type: ignore[method-assign]
    Table.query = query  # type: ignore[method-assign]
