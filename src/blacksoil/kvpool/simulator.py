"""Replay a trace of prompts through the real KV pool and eviction policies, and measure reuse.

The trace format is Mooncake's (``{"timestamp": ms, "input_length": tokens, "output_length":
tokens, "hash_ids": [ints]}`` per line): one hash id per 512-token block of the prompt, the last
block possibly partial, and equal ids mean an equal whole prefix up to and including that block.
Nothing here imitates the pool: a replay builds a :class:`KVPool` over a :class:`MemoryTier` with
the named policy and calls ``lookup``, ``get`` and ``put`` as an engine would, with one byte
standing for one token (a block's payload is that many bytes; the key is the hash id as 8
big-endian bytes). So a capacity in bytes is a capacity in tokens, and what the pool evicts is
what its policy chose.

Reported hit rates are token-weighted (hit prompt tokens / prompt tokens) and request-weighted
(the mean over requests of each one's hit share). See :mod:`blacksoil.kvpool.routing_sim` for the
multi-replica time-to-first-token model built on the same pieces.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from blacksoil.kvpool.policies import make_policy
from blacksoil.kvpool.pool import KVPool
from blacksoil.kvpool.tiers import MemoryTier

BLOCK_TOKENS = 512
"""Tokens per hash id in the Mooncake traces."""
COSTS = ("tokens", "depth")
"""What a block's recompute cost is taken to be (see :class:`TraceCache`)."""


@dataclass(frozen=True, slots=True)
class TraceRequest:
    """One prompt of the trace; ``keys`` (derived) are its blocks' pool keys, first block first."""

    timestamp_ms: int
    input_length: int
    output_length: int
    hash_ids: tuple[int, ...]
    keys: tuple[bytes, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        blocks = -(-self.input_length // BLOCK_TOKENS)
        if self.input_length < 1 or len(self.hash_ids) != blocks:
            raise ValueError(
                f"{self.input_length} prompt tokens need {blocks} hash ids of {BLOCK_TOKENS} tokens; "
                f"got {len(self.hash_ids)}"
            )
        object.__setattr__(self, "keys", tuple(h.to_bytes(8, "big") for h in self.hash_ids))

    def block_size(self, index: int) -> int:
        """Tokens in block ``index``: a full block, or what is left of the prompt for the last one."""
        return min(BLOCK_TOKENS, self.input_length - index * BLOCK_TOKENS)

    def hit_tokens(self, blocks: int) -> int:
        """Prompt tokens covered by the first ``blocks`` blocks."""
        return min(blocks * BLOCK_TOKENS, self.input_length)


def load_trace(path: Path | str, limit: int | None = None) -> list[TraceRequest]:
    """The trace's requests in file order (the first ``limit`` of them); ValueError names a bad line."""
    requests: list[TraceRequest] = []
    with Path(path).open(encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if limit is not None and len(requests) >= limit:
                break
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                requests.append(
                    TraceRequest(
                        int(row["timestamp"]),
                        int(row["input_length"]),
                        int(row["output_length"]),
                        tuple(int(h) for h in row["hash_ids"]),
                    )
                )
            except (ValueError, KeyError, TypeError) as exc:
                raise ValueError(f"{path}, line {number}: {exc}") from None
    return requests


@dataclass(slots=True)
class HitRate:
    """Reuse over a replay: prompt tokens and how many of them a cache already held."""

    requests: int = 0
    input_tokens: int = 0
    hit_tokens: int = 0
    share_sum: float = 0.0
    """Sum over requests of hit tokens / prompt tokens (for the request-weighted rate)."""

    def add(self, request: TraceRequest, hit_tokens: int) -> None:
        self.requests += 1
        self.input_tokens += request.input_length
        self.hit_tokens += hit_tokens
        self.share_sum += hit_tokens / request.input_length

    @property
    def token_weighted(self) -> float:
        return self.hit_tokens / self.input_tokens if self.input_tokens else 0.0

    @property
    def request_weighted(self) -> float:
        return self.share_sum / self.requests if self.requests else 0.0

    def as_dict(self) -> dict[str, float]:
        return {
            "requests": self.requests,
            "input_tokens": self.input_tokens,
            "hit_tokens": self.hit_tokens,
            "token_weighted": round(self.token_weighted, 4),
            "request_weighted": round(self.request_weighted, 4),
        }


class TraceCache:
    """A KV pool fed with trace requests the way an engine replica would use it.

    ``cost`` is the recompute cost each stored block hands the policy: ``tokens`` (its own token
    count, as ``connectors/llama.py`` passes it: prefill time grows with tokens, attention's growth
    with depth left out) or ``depth`` (the prompt position where it ends; it makes a cost-aware
    policy keep children whose parents it evicted, so it is measured, not used).
    """

    def __init__(self, pool: KVPool, cost: str = "tokens") -> None:
        if cost not in COSTS:
            raise ValueError(f"unknown block cost '{cost}'; valid: {', '.join(COSTS)}")
        self.pool = pool
        self.by_depth = cost == "depth"
        self._payloads: dict[int, bytes] = {}  # one shared bytes object per block size

    @classmethod
    def in_memory(cls, capacity_tokens: int, policy: str, cost: str = "tokens") -> TraceCache:
        """One memory tier of ``capacity_tokens`` (bytes) evicting with the named policy."""
        return cls(KVPool([MemoryTier("memory", capacity_tokens, make_policy(policy))]), cost)

    def cached_blocks(self, request: TraceRequest) -> int:
        """How many leading blocks of the prompt the pool holds."""
        return self.pool.lookup(request.keys).blocks

    def serve(self, request: TraceRequest, cached_blocks: int) -> None:
        """Read the cached prefix (the policy sees the reads) and store the blocks just computed."""
        keys = request.keys
        for key in keys[:cached_blocks]:
            self.pool.get(key)
        for index in range(cached_blocks, len(keys)):
            size = request.block_size(index)
            cost = index * BLOCK_TOKENS + size if self.by_depth else size
            self.pool.put(keys[index], self._payload(size), cost=float(cost))

    def _payload(self, size: int) -> bytes:
        payload = self._payloads.get(size)
        if payload is None:
            payload = self._payloads[size] = bytes(size)
        return payload


def replay(trace: Iterable[TraceRequest], caches: Sequence[TraceCache]) -> HitRate:
    """Send request *i* to ``caches[i % len(caches)]`` (round-robin; one cache: a shared pool)."""
    rate = HitRate()
    for i, request in enumerate(trace):
        cache = caches[i % len(caches)]
        blocks = cache.cached_blocks(request)
        rate.add(request, request.hit_tokens(blocks))
        cache.serve(request, blocks)
    return rate


def hit_rate(trace: Iterable[TraceRequest], capacity_tokens: int, policy: str, cost: str = "tokens") -> HitRate:
    """Reuse with one pool of ``capacity_tokens`` evicting with ``policy``."""
    return replay(trace, [TraceCache.in_memory(capacity_tokens, policy, cost)])


def infinite_bound(trace: Iterable[TraceRequest]) -> HitRate:
    """Reuse with a cache that never evicts: a prompt hits up to its first block never seen before."""
    seen: set[int] = set()
    rate = HitRate()
    for request in trace:
        blocks = 0
        for h in request.hash_ids:
            if h not in seen:
                break
            blocks += 1
        rate.add(request, request.hit_tokens(blocks))
        seen.update(request.hash_ids)
    return rate


def local_vs_shared(
    trace: Sequence[TraceRequest], capacity_tokens: int, policy: str, replicas: int
) -> dict[str, HitRate]:
    """Equal total capacity: ``replicas`` local pools of a share each, or one pool all replicas use.

    Requests go round-robin to the replicas; with the shared pool where a request lands does not
    matter, so that is one pool seeing the whole trace.
    """
    local = [TraceCache.in_memory(capacity_tokens // replicas, policy) for _ in range(replicas)]
    return {"local": replay(trace, local), "shared": hit_rate(trace, capacity_tokens, policy)}
