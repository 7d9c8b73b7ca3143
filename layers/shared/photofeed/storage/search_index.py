"""The search index in DynamoDB: for each key of a title (a word, or a prefix of one), the
published posts whose title has it, newest first. Writes are batched; every write is idempotent
(the same post under the same key is the same item), so replayed stream records change nothing."""

from __future__ import annotations

from collections.abc import Iterable

from photofeed.storage.tables import SearchEntryRow, bind_tables


class SearchIndex:
    def __init__(self) -> None:
        bind_tables()

    def add(self, post_id: str, keys: Iterable[str], words: list[str]) -> None:
        with SearchEntryRow.batch_write() as batch:
            for key in keys:
                batch.save(SearchEntryRow(key=key, post_id=post_id, words=words))

    def remove(self, post_id: str, keys: Iterable[str]) -> None:
        with SearchEntryRow.batch_write() as batch:
            for key in keys:
                batch.delete(SearchEntryRow(key=key, post_id=post_id))

    def newest(self, key: str, before: str | None, limit: int) -> list[SearchEntryRow]:
        """Up to `limit` entries of one key, newest first, older than the post id `before`."""
        condition = SearchEntryRow.post_id < before if before else None
        return list(
            SearchEntryRow.query(
                key, range_key_condition=condition, scan_index_forward=False, limit=limit, page_size=limit
            )
        )
