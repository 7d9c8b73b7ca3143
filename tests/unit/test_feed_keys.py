"""The feed cache's key layout for a cluster (ElastiCache cluster mode): what one read or one
delivery needs together shares a hash slot, and a feed entry holds only what the score does not."""

from __future__ import annotations

import random

from redis.crc import key_slot
from ulid import ULID

from photofeed.storage.feed_store import (
    feed_key,
    following_key,
    likes_key,
    member_of,
    merge_key,
    post_id_of,
    score_of,
    unfollowed_key,
)


def _slot(key: str) -> int:
    return int(key_slot(key.encode()))


def test_a_readers_keys_and_rebuild_lock_share_one_slot() -> None:
    for user_id in ["01JDXK3M6Q8Z5V7W9Y1T2R4P6N", "alice", "a:b", str(ULID())]:
        keys = [feed_key(user_id), following_key(user_id), unfollowed_key(user_id), merge_key(user_id)]
        keys += [likes_key(user_id), f"lock:feed:{{{user_id}}}"]
        assert len({_slot(key) for key in keys}) == 1, user_id


def test_readers_spread_over_the_slots() -> None:
    rng = random.Random(11)  # fixed ids: the same answer every run
    readers = [str(ULID.from_bytes(rng.randbytes(16))) for _ in range(2000)]
    slots = [_slot(feed_key(reader)) for reader in readers]
    # 2,000 readers thrown at 16,384 slots uniformly fill about 1,882; three shards' ranges share them out evenly.
    assert len(set(slots)) > 1800
    thirds = [sum(1 for slot in slots if slot * 3 // 16384 == third) for third in range(3)]
    assert min(thirds) > 600


def test_a_feed_member_is_the_id_without_its_time_and_gives_the_id_back() -> None:
    rng = random.Random(7)
    edges = [0, 1, 2**48 - 1, 1_764_590_400_000]
    for milliseconds in edges + [rng.randrange(2**48) for _ in range(500)]:
        post_id = str(ULID.from_timestamp(milliseconds / 1000))
        score = score_of(post_id)
        member = member_of(post_id)
        assert len(member) == 16
        assert post_id_of(score, member) == post_id


def test_score_then_member_order_is_id_order() -> None:
    ids = [str(ULID.from_timestamp(ms / 1000)) for ms in [5, 5, 5, 6, 1_000, 1_000]]
    by_entry = sorted(ids, key=lambda post_id: (score_of(post_id), member_of(post_id)))
    assert by_entry == sorted(ids)
