"""The cache-aware balancing policy: follow the prefix, but not into a queue."""

from __future__ import annotations

from dataclasses import dataclass

from blacksoil.tokens.policies import make_policy
from blacksoil.tokens.policies.cache_aware import BLOCK_CHARS, CacheAware, text_blocks
from blacksoil.tokens.types import ChatCompletionRequest, GenerationRequest


@dataclass
class FakeReplica:
    name: str
    in_flight: int = 0


def chat(text: str) -> GenerationRequest:
    body = {"model": "m", "messages": [{"role": "user", "content": text}]}
    return GenerationRequest("chat", ChatCompletionRequest.model_validate(body), body)


SYSTEM = "You are a careful agent with these tools: " + "search(query), fetch(url), run(code). " * 200


def test_text_blocks_are_chained_over_the_whole_prefix() -> None:
    a = text_blocks("x" * BLOCK_CHARS * 3)
    assert len(a) == 3 and len(text_blocks("x" * (BLOCK_CHARS - 1))) == 0
    b = text_blocks("y" + "x" * (BLOCK_CHARS * 3 - 1))
    assert a[1] != b[1]  # same second block, different first: different key


def test_a_repeated_prefix_returns_to_the_replica_that_has_it() -> None:
    policy = CacheAware()
    replicas = [FakeReplica("a"), FakeReplica("b"), FakeReplica("c")]
    first = policy.order(replicas, chat(SYSTEM + "step 1"))[0]
    for step in range(2, 6):
        assert policy.order(replicas, chat(SYSTEM + f"step {step}"))[0] is first


def test_unrelated_prompts_spread_over_idle_replicas() -> None:
    policy = CacheAware()
    replicas = [FakeReplica("a"), FakeReplica("b"), FakeReplica("c")]
    chosen = {policy.order(replicas, chat(f"{i} " * 900))[0].name for i in range(3)}
    assert chosen == {"a", "b", "c"}


def test_a_busy_replica_loses_a_short_shared_prefix() -> None:
    policy = CacheAware()
    replicas = [FakeReplica("a"), FakeReplica("b")]
    short = "shared preamble " * 70  # about one block
    holder = policy.order(replicas, chat(short + "one"))[0]
    holder.in_flight = 20  # a long queue outweighs ~256 cached tokens
    other = policy.order(replicas, chat(short + "two"))[0]
    assert other is not holder


def test_it_is_a_registered_balancer_and_orders_everyone() -> None:
    policy = make_policy("cache_aware")
    assert isinstance(policy, CacheAware)
    replicas = [FakeReplica("a", 3), FakeReplica("b", 1), FakeReplica("c", 2)]
    ordered = policy.order(replicas, None)
    assert sorted(r.name for r in ordered) == ["a", "b", "c"]
    assert ordered[0].name == "b"  # nothing cached anywhere: the least loaded first
