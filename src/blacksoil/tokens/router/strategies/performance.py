"""``auto:performance``: the model predicted to answer best; cost and speed only break ties."""

from __future__ import annotations

from collections.abc import Sequence

from blacksoil.tokens.router.strategies.base import Candidate, Strategy


class Performance(Strategy):
    name = "performance"

    def order(self, candidates: Sequence[Candidate]) -> list[Candidate]:
        return sorted(candidates, key=lambda c: (-round(c.quality, 3), c.cost, c.speed_key))
