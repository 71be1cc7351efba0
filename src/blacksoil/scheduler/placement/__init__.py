"""Placement policies, chosen by name."""

from __future__ import annotations

import numpy as np

from blacksoil.core.errors import ConfigError
from blacksoil.scheduler.fragmentation import Workload
from blacksoil.scheduler.placement.base import Choice, PlacementPolicy
from blacksoil.scheduler.placement.best_fit import BestFit
from blacksoil.scheduler.placement.clustering import Clustering
from blacksoil.scheduler.placement.dot_product import DotProduct
from blacksoil.scheduler.placement.fgd import FGD, FineFGD
from blacksoil.scheduler.placement.packing import Packing
from blacksoil.scheduler.placement.random_fit import RandomFit

SIMPLE: dict[str, type[PlacementPolicy]] = {c.name: c for c in (RandomFit, BestFit, DotProduct, Packing, Clustering)}
NEEDS_WORKLOAD: dict[str, type[FGD]] = {c.name: c for c in (FGD, FineFGD)}
NAMES = (*SIMPLE, *NEEDS_WORKLOAD)


def make_policy(name: str, rng: np.random.Generator, workload: Workload | None = None) -> PlacementPolicy:
    if name in SIMPLE:
        return SIMPLE[name](rng)
    if name in NEEDS_WORKLOAD:
        if workload is None:
            raise ConfigError(f"placement policy '{name}' needs the target workload")
        return NEEDS_WORKLOAD[name](rng, workload)
    raise ConfigError(f"unknown placement policy '{name}'; valid: {', '.join(NAMES)}")


__all__ = ["NAMES", "Choice", "PlacementPolicy", "make_policy"]
