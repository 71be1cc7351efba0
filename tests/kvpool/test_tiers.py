"""Each tier on its own: capacity, eviction, corruption, and sharing between processes."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
import redis

from blacksoil.kvpool import frame
from blacksoil.kvpool.errors import TierUnavailableError
from blacksoil.kvpool.policies import LRU
from blacksoil.kvpool.tiers import DiskTier, MemoryTier, RedisTier, Tier

KB = 1024


def key(i: int) -> bytes:
    return i.to_bytes(16, "big")


def block(i: int, size: int = KB) -> bytes:
    return bytes([i % 251]) * size


# -- memory ----------------------------------------------------------------------------------------


def test_memory_tier_stays_within_its_budget_and_hands_back_what_it_evicts() -> None:
    tier = MemoryTier("memory", 3 * KB, LRU())
    for i in range(3):
        assert tier.put(key(i), block(i)) == []
    assert tier.get(key(0)) == block(0)  # 0 is now the most recent
    evicted = tier.put(key(3), block(3))
    assert evicted == [(key(1), block(1))]
    assert tier.used_bytes == 3 * KB and tier.blocks == 3
    assert tier.contains([key(0), key(1), key(2), key(3)]) == [True, False, True, True]
    assert tier.put(key(9), block(9, 4 * KB)) == [] and not tier.contains([key(9)])[0]  # larger than the tier
    s = tier.stats
    assert (s.lookups, s.hits, s.puts, s.evictions) == (1, 1, 4, 1)


# -- disk ------------------------------------------------------------------------------------------


def test_disk_tier_round_trips_and_evicts_files(tmp_path: Path) -> None:
    frame_kb = KB + frame.HEADER_BYTES
    tier = DiskTier("disk", tmp_path, 2 * frame_kb, LRU())
    tier.put(key(1), block(1))
    tier.put(key(2), block(2))
    assert tier.get(key(1)) == block(1)
    tier.put(key(3), block(3))  # evicts 2, the least recently used
    assert sorted(p.name[:-4] for p in tmp_path.glob("*/*.blk")) == sorted([key(1).hex(), key(3).hex()])
    assert tier.used_bytes == 2 * frame_kb and tier.stats.evictions == 1


@pytest.mark.parametrize(
    "damage",
    [lambda d: d[:-10], lambda d: d[:-1] + bytes([d[-1] ^ 1]), lambda d: b""],
    ids=["truncated", "bit-flip", "empty"],
)
def test_a_damaged_block_file_is_a_miss_and_is_removed(tmp_path: Path, damage: Callable[[bytes], bytes]) -> None:
    tier = DiskTier("disk", tmp_path, 1 << 20, LRU())
    tier.put(key(1), block(1))
    path = next(tmp_path.glob("*/*.blk"))
    path.write_bytes(damage(path.read_bytes()))
    assert tier.get(key(1)) is None
    assert not path.exists()
    assert tier.stats.corrupt == 1 and tier.used_bytes == 0


def test_disk_tier_finds_existing_blocks_at_start_and_keeps_its_budget(tmp_path: Path) -> None:
    first = DiskTier("disk", tmp_path, 1 << 20, LRU())
    for i in range(4):
        first.put(key(i), block(i))
    frame_kb = KB + frame.HEADER_BYTES
    second = DiskTier("disk", tmp_path, 3 * frame_kb, LRU())  # smaller: the oldest file goes
    assert second.blocks == 3
    assert second.contains([key(0), key(1), key(2), key(3)]) == [False, True, True, True]


_OTHER_PROCESS = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from blacksoil.kvpool.policies import LRU
    from blacksoil.kvpool.tiers import DiskTier, RedisTier
    root, url = Path(sys.argv[1]), sys.argv[2]
    tiers = [DiskTier("disk", root, 1 << 20, LRU())] + ([RedisTier("redis", url, 0)] if url else [])
    for tier in tiers:
        for i in range(5):
            tier.put(i.to_bytes(16, "big"), bytes([i]) * 1024)
    """
)


def _write_from_another_process(root: Path, url: str = "") -> None:
    subprocess.run([sys.executable, "-c", _OTHER_PROCESS, str(root), url], check=True, timeout=60)


def test_blocks_written_by_another_process_are_hits_on_disk(tmp_path: Path) -> None:
    tier = DiskTier("disk", tmp_path, 1 << 20, LRU())  # started before the other process wrote
    _write_from_another_process(tmp_path)
    assert tier.contains([key(i) for i in range(6)]) == [True] * 5 + [False]
    assert tier.get(key(3)) == bytes([3]) * KB
    assert tier.blocks == 1  # joined this process's index when it was read


# -- redis -----------------------------------------------------------------------------------------


def test_redis_tier_round_trips_and_asks_for_a_whole_prompt_in_one_call(redis_url: str) -> None:
    tier = RedisTier("redis", redis_url, 0)
    for i in range(3):
        tier.put(key(i), block(i))
    assert tier.get(key(2)) == block(2)
    assert tier.get(key(7)) is None
    assert tier.contains([key(0), key(7), key(1)]) == [True, False, True]
    assert tier.blocks == 3
    tier.close()


def test_a_corrupt_redis_value_is_a_miss_and_is_deleted(redis_url: str) -> None:
    tier = RedisTier("redis", redis_url, 0, prefix="t:")
    tier.put(key(1), block(1))
    raw = redis.Redis.from_url(redis_url)
    name = b"t:" + key(1).hex().encode()
    raw.set(name, raw.get(name)[:-3])  # type: ignore[index]
    assert tier.get(key(1)) is None
    assert raw.exists(name) == 0 and tier.stats.corrupt == 1
    raw.close()


def test_blocks_written_by_another_process_are_hits_in_redis(redis_url: str, tmp_path: Path) -> None:
    tier = RedisTier("redis", redis_url, 0)
    _write_from_another_process(tmp_path, redis_url)
    assert tier.contains([key(i) for i in range(6)]) == [True] * 5 + [False]
    assert tier.get(key(4)) == bytes([4]) * KB


def test_an_unreachable_redis_is_a_503_that_names_the_tier() -> None:
    tier = RedisTier("remote", "redis://127.0.0.1:9/0", 0)
    with pytest.raises(TierUnavailableError, match="remote") as info:
        tier.get(key(1))
    assert info.value.status == 503


# -- every tier ------------------------------------------------------------------------------------


@pytest.fixture(params=["memory", "disk", "redis"])
def any_tier(request: pytest.FixtureRequest, tmp_path: Path) -> Tier:
    if request.param == "memory":
        return MemoryTier("memory", 1 << 24, LRU())
    if request.param == "disk":
        return DiskTier("disk", tmp_path, 1 << 24, LRU())
    return RedisTier("redis", request.getfixturevalue("redis_url"), 0)


def test_concurrent_readers_and_writers_see_whole_blocks(any_tier: Tier) -> None:
    errors: list[str] = []

    def work(offset: int) -> None:
        for i in range(40):
            k = key(offset + i % 10)
            any_tier.put(k, block(offset + i % 10, 8 * KB))
            got = any_tier.get(k)
            if got is not None and got != block(offset + i % 10, 8 * KB):
                errors.append(f"{k.hex()}: wrong bytes")

    threads = [threading.Thread(target=work, args=(n % 2 * 5,)) for n in range(4)]  # overlapping keys
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert all(any_tier.get(key(i)) == block(i, 8 * KB) for i in range(15))
