"""Corrections to moto where it departs from AWS in ways the project depends on.

Applied by the local stack and by the tests (which use the same moto). Each is pinned to the
moto version in requirements/dev.txt and tested (tests/unit/test_moto_fixes.py).
"""

from __future__ import annotations

from typing import Any

_applied = False


def apply() -> None:
    global _applied
    if _applied:
        return
    _keep_stream_shards_across_failed_transactions()
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
