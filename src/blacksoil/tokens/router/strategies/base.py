"""The strategy interface: order the eligible models for one request, best first.

By the time a strategy runs, every hard constraint (locality, context, capabilities, health,
budget) has been applied; a strategy only trades predicted quality against cost. The gateway
tries the models in the returned order, moving on when one fails before answering.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass

from blacksoil.tokens.router.catalog import CatalogEntry


@dataclass(frozen=True, slots=True)
class Candidate:
    entry: CatalogEntry
    quality: float
    """Predicted probability that this model answers the prompt well."""
    cost: float
    """Estimated USD for this request."""
    latency_s: float | None

    @property
    def name(self) -> str:
        return self.entry.name

    @property
    def speed_key(self) -> float:
        return self.latency_s if self.latency_s is not None else float("inf")


class Strategy(ABC):
    name: str

    @abstractmethod
    def order(self, candidates: Sequence[Candidate]) -> list[Candidate]:
        """The candidates in the order to try them."""


def cheapest_at_or_above(candidates: Sequence[Candidate], floor: float) -> list[Candidate]:
    """Models predicted at least ``floor`` by cost (then quality); the rest after them, best first."""

    def key(c: Candidate) -> tuple[int, float, float, float]:
        if c.quality >= floor - 1e-9:  # exactly at the floor is in, whatever the float rounding
            return (0, c.cost, -c.quality, c.speed_key)
        return (1, -c.quality, c.cost, c.speed_key)

    return sorted(candidates, key=key)
