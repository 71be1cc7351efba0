"""Send a request where its prompt's prefix is likely cached, unless that replica is too busy.

The gateway cannot see inside an engine's cache, so it keeps its own approximate record: per
replica, the chained hashes of the prompt-text blocks it recently sent there (an LRU of bounded
size, like SGLang's router keeps an approximate radix tree). A replica's cached prefix is the run
of the request's leading text blocks found in its record; the choice is
:func:`blacksoil.kvpool.routing.choose`: cached tokens minus ``load_weight`` x queued tokens, the
same score the trace simulator measures, with queued work estimated as requests in flight x the
mean prompt length seen.

With every replica behind one shared KV pool a prefix is cached everywhere and this reduces to
least-loaded; it pays where replicas keep their own caches (vLLM, SGLang, separate machines).
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Sequence

from blacksoil.kvpool.routing import choose
from blacksoil.tokens.policies.base import BalancingPolicy, ReplicaView
from blacksoil.tokens.types import ChatCompletionRequest, GenerationRequest

BLOCK_CHARS = 1024
"""Prompt text per block: about 256 tokens of English."""
CHARS_PER_TOKEN = 4.0
REMEMBERED_BLOCKS = 4096
"""Blocks remembered per replica: about a million tokens, a typical engine's prefix cache."""


class CacheAware(BalancingPolicy):
    name = "cache_aware"

    def __init__(self, load_weight: float = 1.0, remembered_blocks: int = REMEMBERED_BLOCKS) -> None:
        self.load_weight = load_weight
        self.remembered_blocks = remembered_blocks
        self._seen: dict[str, OrderedDict[bytes, None]] = {}
        self._turn = 0
        self._mean_prompt_tokens = 0.0

    def order(self, replicas: Sequence[ReplicaView], request: GenerationRequest | None) -> Sequence[ReplicaView]:
        if not replicas:
            return replicas
        text = _prompt(request) if request is not None else ""
        blocks = text_blocks(text)
        tokens = len(text) / CHARS_PER_TOKEN
        weight = 0.05 if self._mean_prompt_tokens else 1.0  # the first prompt seeds the average
        self._mean_prompt_tokens += weight * (tokens - self._mean_prompt_tokens)
        cached = [self._cached_blocks(r.name, blocks) * BLOCK_CHARS / CHARS_PER_TOKEN for r in replicas]
        queued = [r.in_flight * self._mean_prompt_tokens for r in replicas]
        self._turn += 1
        best = choose(cached, queued, self.load_weight, start=self._turn % len(replicas))
        self._remember(replicas[best].name, blocks)
        rest = sorted((r for i, r in enumerate(replicas) if i != best), key=lambda r: r.in_flight)
        return [replicas[best], *rest]

    def _cached_blocks(self, replica: str, blocks: list[bytes]) -> int:
        seen = self._seen.get(replica)
        if not seen:
            return 0
        n = 0
        for block in blocks:
            if block not in seen:
                break
            n += 1
        return n

    def _remember(self, replica: str, blocks: list[bytes]) -> None:
        seen = self._seen.setdefault(replica, OrderedDict())
        for block in blocks:
            seen[block] = None
            seen.move_to_end(block)
        while len(seen) > self.remembered_blocks:
            seen.popitem(last=False)


def text_blocks(text: str) -> list[bytes]:
    """Chained hashes of the whole ``BLOCK_CHARS`` blocks of ``text``: equal hashes, equal prefix."""
    keys = []
    parent = b""
    data = text.encode()
    for start in range(0, len(data) - BLOCK_CHARS + 1, BLOCK_CHARS):
        parent = hashlib.blake2b(data[start : start + BLOCK_CHARS], digest_size=16, key=parent).digest()
        keys.append(parent)
    return keys


def _prompt(request: GenerationRequest) -> str:
    params = request.params
    if isinstance(params, ChatCompletionRequest):
        return "\n".join(f"{m.role}:{m.text()}" for m in params.messages)
    return params.prompt_text
