"""The model router: ``model: "auto"`` picks a model per request by predicted quality and cost.

* :mod:`catalog` — what the router knows of each model (price, context, capabilities, locality).
* :mod:`request` — what it reads from a request (strategy, prompt, needs, limits).
* :mod:`predictor` — per-model probability of a good answer, learned from labelled prompts.
* :mod:`strategies` — how the eligible models are ranked (balanced, cost, performance, quality).
* :mod:`evaluation` — RouteLLM's metrics (APGR, CPT) on held-out labelled prompts.
"""

from blacksoil.tokens.router.catalog import CatalogEntry, ModelStatus, StaticStatus, build_catalog
from blacksoil.tokens.router.dataset import LabelledPrompt
from blacksoil.tokens.router.predictor import QualityPredictor
from blacksoil.tokens.router.request import RoutingInput, RoutingOptions, is_auto
from blacksoil.tokens.router.router import Route, Router
from blacksoil.tokens.router.strategies import Candidate

__all__ = [
    "Candidate",
    "CatalogEntry",
    "LabelledPrompt",
    "ModelStatus",
    "QualityPredictor",
    "Route",
    "Router",
    "RoutingInput",
    "RoutingOptions",
    "StaticStatus",
    "build_catalog",
    "is_auto",
]
