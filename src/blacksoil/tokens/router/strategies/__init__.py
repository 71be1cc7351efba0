"""Routing strategies, chosen per request by the ``model`` field: ``auto[:strategy]``."""

from __future__ import annotations

from blacksoil.tokens.config import ToleranceConfig
from blacksoil.tokens.router.strategies.base import Candidate, Strategy
from blacksoil.tokens.router.strategies.min_quality import MinQuality
from blacksoil.tokens.router.strategies.performance import Performance
from blacksoil.tokens.router.strategies.tolerance import Tolerance


def make_strategies(tolerance: ToleranceConfig) -> dict[str, Strategy]:
    """The named strategies, with their tolerances from ``tokens.router.tolerance``."""
    return {
        "balanced": Tolerance("balanced", tolerance.balanced),
        "cost": Tolerance("cost", tolerance.cost),
        "performance": Performance(),
    }


__all__ = ["Candidate", "MinQuality", "Performance", "Strategy", "Tolerance", "make_strategies"]
