from __future__ import annotations

from dataclasses import dataclass

import pytest

from blacksoil.core.errors import ConfigError
from blacksoil.tokens.breaker import BreakerState, CircuitBreaker
from blacksoil.tokens.policies import POLICIES, make_policy


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_breaker_opens_after_threshold_and_recovers_through_half_open() -> None:
    clock = Clock()
    breaker = CircuitBreaker(failure_threshold=3, cooldown_s=10, clock=clock)
    for _ in range(2):
        assert breaker.allows()
        breaker.record_failure()
    assert breaker.state is BreakerState.CLOSED
    breaker.record_failure()
    assert breaker.state is BreakerState.OPEN
    assert not breaker.allows()
    clock.now = 10.5
    assert breaker.allows()  # the one trial
    assert breaker.state is BreakerState.HALF_OPEN
    assert not breaker.allows()  # only one trial at a time
    breaker.record_failure()
    assert breaker.state is BreakerState.OPEN
    clock.now = 21
    assert breaker.allows()
    breaker.record_success()
    assert breaker.state is BreakerState.CLOSED
    assert breaker.allows()


def test_success_resets_the_failure_count() -> None:
    breaker = CircuitBreaker(failure_threshold=2, cooldown_s=1, clock=Clock())
    breaker.record_failure()
    breaker.record_success()
    breaker.record_failure()
    assert breaker.state is BreakerState.CLOSED


@dataclass
class FakeReplica:
    name: str
    in_flight: int


def test_least_loaded_prefers_idle_and_rotates_ties() -> None:
    policy = make_policy("least_loaded")
    busy, idle = FakeReplica("busy", 3), FakeReplica("idle", 0)
    assert policy.order([busy, idle], None)[0] is idle
    a, b = FakeReplica("a", 0), FakeReplica("b", 0)
    firsts = {policy.order([a, b], None)[0].name for _ in range(4)}
    assert firsts == {"a", "b"}


def test_round_robin_rotates() -> None:
    policy = make_policy("round_robin")
    replicas = [FakeReplica(n, 0) for n in "abc"]
    assert [policy.order(replicas, None)[0].name for _ in range(3)] == ["b", "c", "a"]


def test_unknown_policy_lists_valid_names() -> None:
    with pytest.raises(ConfigError) as info:
        make_policy("fastest")
    for name in POLICIES:
        assert name in info.value.message
