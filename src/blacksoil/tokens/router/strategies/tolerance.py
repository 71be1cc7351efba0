"""``auto`` / ``auto:balanced`` and ``auto:cost``: the cheapest model within a tolerance of the best.

A strategy gives up at most ``tolerance`` of predicted quality (a probability, so 0.06 is six
points) against the best eligible model to pick a cheaper one. ``balanced`` and ``cost`` are the
same rule with different tolerances, set in ``tokens.router.tolerance``.
"""

from __future__ import annotations

from collections.abc import Sequence

from blacksoil.tokens.router.strategies.base import Candidate, Strategy, cheapest_at_or_above


class Tolerance(Strategy):
    def __init__(self, name: str, tolerance: float) -> None:
        self.name = name
        self.tolerance = tolerance

    def order(self, candidates: Sequence[Candidate]) -> list[Candidate]:
        if not candidates:
            return []
        best = max(c.quality for c in candidates)
        return cheapest_at_or_above(candidates, best - self.tolerance)
