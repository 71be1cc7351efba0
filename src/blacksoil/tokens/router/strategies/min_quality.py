"""``auto:quality=0.8``: the cheapest model predicted to answer well with at least that probability.

If no model reaches the threshold, the best predicted model is chosen rather than refusing.
"""

from __future__ import annotations

from collections.abc import Sequence

from blacksoil.tokens.router.strategies.base import Candidate, Strategy, cheapest_at_or_above


class MinQuality(Strategy):
    name = "quality"

    def __init__(self, threshold: float) -> None:
        self.threshold = threshold

    def order(self, candidates: Sequence[Candidate]) -> list[Candidate]:
        return cheapest_at_or_above(candidates, self.threshold)
