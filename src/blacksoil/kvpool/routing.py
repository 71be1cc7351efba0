"""Cache-aware replica choice: trade a replica's cached prefix against the work queued on it.

Pure functions with no state, shared by the trace simulator and (later) the gateway's balancer.
Both quantities are in prompt tokens: ``cached_tokens`` is how much of this prompt the replica
would restore instead of recomputing, ``queued_tokens`` is the prefill work already waiting on it
(queued time x prefill speed). With ``load_weight = 1`` the best score is the replica that gives
this request the earliest first token (wait + own prefill), restore time aside; a larger weight
spreads load at the cost of reuse, 0 follows the cache alone and lets hot prefixes pile up.
"""

from __future__ import annotations

from collections.abc import Sequence


def score(cached_tokens: float, queued_tokens: float, load_weight: float) -> float:
    """How attractive a replica is for a prompt: reuse gained minus the weighted queue ahead."""
    return cached_tokens - load_weight * queued_tokens


def choose(cached_tokens: Sequence[float], queued_tokens: Sequence[float], load_weight: float, start: int = 0) -> int:
    """The index of the replica with the highest :func:`score`.

    Ties go to the least loaded replica, then to the first one counting from ``start`` (a caller
    passes a rotating ``start`` so that idle, empty replicas are used in turn, not always the first).
    """
    n = len(queued_tokens)
    if n == 0 or len(cached_tokens) != n:
        raise ValueError("choose needs one cached and one queued figure per replica, and at least one replica")
    order = [(start + i) % n for i in range(n)]
    return max(order, key=lambda r: (score(cached_tokens[r], queued_tokens[r], load_weight), -queued_tokens[r]))
