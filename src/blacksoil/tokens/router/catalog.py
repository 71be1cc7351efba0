"""The model catalog: what the router knows of each model it may choose.

Static facts come from config (price, context window, capabilities, locality); live facts
(healthy or not, recent latency) come from the gateway's pools at routing time, through
:class:`ModelStatus`, so the router holds no reference to the pools themselves.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from blacksoil.tokens.config import ModelConfig, TokensConfig


class ModelStatus(Protocol):
    """Live facts about one model, read at routing time."""

    @property
    def available(self) -> bool:
        """Some replica is healthy and its breaker lets traffic through."""
        ...

    @property
    def latency_s(self) -> float | None:
        """Recent time to first token (or to the answer, unstreamed), averaged; None before any request."""
        ...


@dataclass(frozen=True, slots=True)
class StaticStatus:
    """A fixed :class:`ModelStatus`: for routing offline (``router explain``, benchmarks), where no
    pool is running; by default every model counts as healthy."""

    available: bool = True
    latency_s: float | None = None


@dataclass(frozen=True, slots=True)
class CatalogEntry:
    name: str
    input_price: float
    """USD per million prompt tokens."""
    output_price: float
    """USD per million completion tokens."""
    context_window: int | None
    capabilities: frozenset[str]
    locality: str
    quality_name: str
    """The name under which the quality predictor knows this model."""
    quality_prior: float
    routable: bool = True

    def cost(self, prompt_tokens: int, output_tokens: int) -> float:
        """Estimated USD for one request."""
        return (prompt_tokens * self.input_price + output_tokens * self.output_price) / 1e6

    @classmethod
    def from_config(cls, model: ModelConfig) -> CatalogEntry:
        engines = {r.engine for r in model.replicas}
        windows = [r.n_ctx for r in model.replicas if r.engine == "embedded"]
        window = model.context_window or (min(windows) if engines == {"embedded"} else None)
        locality = model.locality or ("on-prem" if engines == {"embedded"} else "external")
        return cls(
            name=model.name,
            input_price=model.price.input,
            output_price=model.price.output,
            context_window=window,
            capabilities=frozenset(model.capabilities),
            locality=locality,
            quality_name=model.quality_name or model.name,
            quality_prior=model.quality,
            routable=model.routable,
        )


def build_catalog(config: TokensConfig) -> list[CatalogEntry]:
    """Every configured model, in config order; ``auto`` only chooses among the routable ones."""
    return [CatalogEntry.from_config(m) for m in config.models]
