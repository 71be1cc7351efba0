"""The pool over its tiers: longest-prefix lookup, promotion, write-through and demotion."""

from __future__ import annotations

from pathlib import Path

import pytest

from blacksoil.core.errors import ConfigError
from blacksoil.core.home import Home
from blacksoil.kvpool import KVPool, KVPoolConfig, build_pool
from blacksoil.kvpool.config import DiskTierConfig, MemoryTierConfig, RedisTierConfig
from blacksoil.kvpool.policies import LRU
from blacksoil.kvpool.tiers import DiskTier, MemoryTier, RedisTier
from tests.kvpool.test_tiers import KB, block, key


def memory_and_disk(tmp_path: Path, memory_blocks: int = 4) -> tuple[KVPool, MemoryTier, DiskTier]:
    memory = MemoryTier("memory", memory_blocks * KB, LRU())
    disk = DiskTier("disk", tmp_path, 1 << 24, LRU())
    return KVPool([memory, disk]), memory, disk


def test_lookup_finds_the_longest_prefix_across_tiers(tmp_path: Path) -> None:
    pool, memory, disk = memory_and_disk(tmp_path)
    keys = [key(i) for i in range(6)]
    memory.put(keys[0], block(0))
    disk.put(keys[1], block(1))
    memory.put(keys[2], block(2))
    disk.put(keys[4], block(4))  # after the gap at 3: does not count
    match = pool.lookup(keys)
    assert match.blocks == 3
    assert match.tiers == ("memory", "disk", "memory")
    assert pool.lookup([key(9), *keys]).blocks == 0
    assert pool.lookup([]).blocks == 0


def test_put_writes_through_to_shared_tiers_and_get_promotes(tmp_path: Path) -> None:
    pool, memory, disk = memory_and_disk(tmp_path)
    pool.put(key(1), block(1))
    assert memory.contains([key(1)]) == [True] and disk.contains([key(1)]) == [True]
    memory.delete(key(1))
    assert pool.get(key(1)) == block(1)  # from disk …
    assert memory.contains([key(1)]) == [True]  # … and promoted
    assert pool.get(key(2)) is None


def test_memory_pressure_demotes_to_the_next_tier(tmp_path: Path) -> None:
    memory = MemoryTier("memory", 2 * KB, LRU())
    spill = MemoryTier("spill", 8 * KB, LRU())  # not shared: reached only by demotion
    pool = KVPool([memory, spill])
    for i in range(4):
        pool.put(key(i), block(i))
    assert memory.contains([key(i) for i in range(4)]) == [False, False, True, True]
    assert spill.contains([key(i) for i in range(4)]) == [True, True, False, False]
    assert pool.lookup([key(i) for i in range(4)]).tiers == ("spill", "spill", "memory", "memory")


def test_a_second_pool_sees_what_the_first_wrote_through_shared_tiers(tmp_path: Path, redis_url: str) -> None:
    def replica() -> KVPool:
        return KVPool([MemoryTier("memory", 1 << 20, LRU()), RedisTier("redis", redis_url, 0)])

    first, second = replica(), replica()
    keys = [key(i) for i in range(3)]
    for i, k in enumerate(keys):
        first.put(k, block(i))
    assert second.lookup(keys).tiers == ("redis", "redis", "redis")
    assert second.get(keys[2]) == block(2)
    assert second.lookup(keys).tiers == ("redis", "redis", "memory")


def test_build_pool_from_config(tmp_path: Path, redis_url: str) -> None:
    config = KVPoolConfig(
        eviction="cost_aware",
        tiers=[MemoryTierConfig(capacity_mb=1), DiskTierConfig(), RedisTierConfig(url=redis_url)],
    )
    pool = build_pool(config, Home(tmp_path))
    assert [t.name for t in pool.tiers] == ["memory", "disk", "redis"]
    assert pool.tiers[0].capacity_bytes == 1 << 20
    assert Path(pool.tiers[1].root) == tmp_path / "kvpool" / "blocks"  # type: ignore[attr-defined]
    pool.put(key(1), block(1))
    assert [d["puts"] for d in pool.describe()] == [1, 1, 1]
    pool.close()


def test_bad_pool_config_says_what_is_wrong(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"kvpool\.eviction"):
        build_pool(KVPoolConfig(eviction="fifo"), Home(tmp_path))
    with pytest.raises(ValueError, match="unique"):
        KVPoolConfig(tiers=[MemoryTierConfig(), MemoryTierConfig()])
