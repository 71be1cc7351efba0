"""Eviction policies decide which block goes first."""

from __future__ import annotations

import pytest

from blacksoil.core.errors import ConfigError
from blacksoil.kvpool.policies import CostAware, make_policy
from blacksoil.kvpool.policies.lru import LRU


def test_lru_evicts_the_least_recently_used() -> None:
    p = LRU()
    for k in (b"a", b"b", b"c"):
        p.admit(k, 1, 1.0)
    p.touch(b"a")
    assert [p.victim(), p.victim(), p.victim()] == [b"b", b"c", b"a"]
    with pytest.raises(KeyError):
        p.victim()


def test_cost_aware_keeps_the_frequently_read_and_the_costly() -> None:
    p = CostAware()
    p.admit(b"hot", 1, 1.0)
    p.admit(b"cold", 1, 1.0)
    p.admit(b"costly", 1, 5.0)
    for _ in range(3):
        p.touch(b"hot")
    assert p.victim() == b"cold"
    assert p.victim() == b"hot"  # 4 reads x cost 1 < 1 read x cost 5
    assert p.victim() == b"costly"


def test_cost_aware_ages_out_blocks_that_were_popular_long_ago() -> None:
    p = CostAware()
    p.admit(b"old", 1, 1.0)
    for _ in range(5):
        p.touch(b"old")  # priority 6
    evicted = []
    for i in range(20):  # a stream of new blocks, each read twice: the clock rises past 6
        key = f"new{i}".encode()
        p.admit(key, 1, 1.0)
        p.touch(key)
        evicted.append(p.victim())
    assert b"old" in evicted


def test_forgotten_blocks_are_never_chosen() -> None:
    for policy in (LRU(), CostAware()):
        policy.admit(b"a", 1, 1.0)
        policy.admit(b"b", 1, 1.0)
        policy.forget(b"a")
        assert len(policy) == 1
        assert policy.victim() == b"b"


def test_unknown_policy_names_the_valid_ones() -> None:
    with pytest.raises(ConfigError, match="cost_aware, lru"):
        make_policy("fifo")
