"""The model router: for one request, the models to try, best first, and why the others were left out.

Hard constraints come first and are never traded away: data locality (sensitive requests and
per-tenant rules), the prompt fitting the context window, required capabilities, health and the
request's budget. Only then does the strategy rank what remains by predicted quality and cost.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NoReturn

from blacksoil.tokens.config import RouterConfig
from blacksoil.tokens.errors import NoEligibleModelError, PredictorError, UpstreamUnavailableError
from blacksoil.tokens.router.catalog import CatalogEntry, ModelStatus
from blacksoil.tokens.router.predictor import QualityPredictor
from blacksoil.tokens.router.request import RoutingInput
from blacksoil.tokens.router.strategies import Candidate, MinQuality, Strategy, make_strategies

_UNAVAILABLE = "unavailable: no healthy replica is taking traffic"
log = logging.getLogger("blacksoil.router")


@dataclass(frozen=True, slots=True)
class Route:
    strategy: str
    candidates: list[Candidate]
    """The eligible models in the order to try them."""
    excluded: dict[str, str] = field(default_factory=dict)
    """Model → the constraint that ruled it out."""
    seconds: float = 0.0


class Router:
    def __init__(
        self,
        config: RouterConfig,
        catalog: Sequence[CatalogEntry],
        predictor: QualityPredictor | None = None,
        predictor_path: Path | None = None,
    ) -> None:
        self.config = config
        self.catalog = list(catalog)
        self.entries = {e.name: e for e in self.catalog}
        self.predictor = predictor
        self.predictor_path = predictor_path
        """Where a retrained predictor appears; :meth:`refresh` picks it up."""
        self._loaded_version: int | None = None
        self.strategies = make_strategies(config.tolerance)

    def refresh(self, *, strict: bool = False) -> bool:
        """Load the predictor at ``predictor_path`` if the file changed since the last load.

        Training writes the file atomically, so a running gateway picks up a retrained predictor
        without a restart (its health loop calls this). A file that does not load is logged and
        the current predictor stays; with ``strict``, a missing or broken file raises instead.
        """
        if self.predictor_path is None:
            return False
        try:
            version: int | None = self.predictor_path.stat().st_mtime_ns
        except OSError:
            version = None
        if (version is None and not strict) or (version is not None and version == self._loaded_version):
            return False
        self._loaded_version = version
        try:
            self.predictor = QualityPredictor.load(self.predictor_path)
        except PredictorError as exc:
            if strict:
                raise
            log.warning("keeping the current router predictor: %s", exc.message)
            return False
        return True

    def route(self, needs: RoutingInput, status: Callable[[str], ModelStatus]) -> Route:
        started = time.perf_counter()
        eligible: list[CatalogEntry] = []
        excluded: dict[str, str] = {}
        for entry in self.catalog:
            if not entry.routable:
                continue
            reason = self._rule_out(entry, needs, status(entry.name))
            if reason is None:
                eligible.append(entry)
            else:
                excluded[entry.name] = reason
        if not eligible:
            self._refuse(excluded)
        quality = self.predict(needs.text, eligible)
        candidates = [
            Candidate(e, quality[e.name], e.cost(needs.prompt_tokens, needs.output_tokens), status(e.name).latency_s)
            for e in eligible
        ]
        ordered = self._strategy(needs).order(candidates)
        return Route(needs.strategy, ordered, excluded, time.perf_counter() - started)

    def predict(self, text: str, entries: Sequence[CatalogEntry]) -> dict[str, float]:
        """Predicted quality per model; the configured prior where the predictor has no data."""
        known: Mapping[str, float] = {}
        predictor = self.predictor  # one read: refresh() may swap it from another thread
        if predictor is not None and len(entries) > 1:
            known = predictor.predict(text)
        return {e.name: known.get(e.quality_name, e.quality_prior) for e in entries}

    def admit(self, model: str, needs: RoutingInput) -> None:
        """Apply the data-locality rules to a request that names its model (400 if they forbid it)."""
        entry = self.entries.get(model)
        reason = self._locality(entry, needs) if entry is not None else None
        if reason is not None:
            raise NoEligibleModelError(f"'{model}' may not serve this request: it {reason}", param="model")

    def _strategy(self, needs: RoutingInput) -> Strategy:
        if needs.strategy == "quality":
            return MinQuality(needs.min_quality if needs.min_quality is not None else 0.0)
        return self.strategies[needs.strategy]

    def _rule_out(self, entry: CatalogEntry, needs: RoutingInput, status: ModelStatus) -> str | None:
        """The first hard constraint ``entry`` fails for this request, or None."""
        locality = self._locality(entry, needs)
        if locality is not None:
            return locality
        missing = needs.capabilities - entry.capabilities
        if missing:
            return f"lacks {', '.join(sorted(missing))}"
        window = entry.context_window
        if window is not None and needs.prompt_tokens + (needs.max_output_tokens or 0) > window:
            return f"about {needs.prompt_tokens} prompt tokens + max_tokens do not fit its {window}-token context"
        if needs.max_cost_usd is not None:
            cost = entry.cost(needs.prompt_tokens, needs.output_tokens)
            if cost > needs.max_cost_usd:
                return f"estimated ${cost:.6f} exceeds routing.max_cost_usd ${needs.max_cost_usd:g}"
        if not status.available:
            return _UNAVAILABLE
        return None

    def _locality(self, entry: CatalogEntry, needs: RoutingInput) -> str | None:
        if needs.sensitive and entry.locality not in self.config.sensitive_localities:
            allowed = ", ".join(self.config.sensitive_localities) or "(none)"
            return f"runs '{entry.locality}'; sensitive requests stay in: {allowed}"
        allowed_for_tenant = self.config.tenant_localities.get(needs.tenant or "")
        if allowed_for_tenant is not None and entry.locality not in allowed_for_tenant:
            return f"runs '{entry.locality}'; tenant '{needs.tenant}' is limited to: {', '.join(allowed_for_tenant)}"
        return None

    def _refuse(self, excluded: Mapping[str, str]) -> NoReturn:
        if not excluded:
            raise NoEligibleModelError("no model takes part in routing (set 'routable: true' on some model)")
        why = "; ".join(f"{name}: {reason}" for name, reason in excluded.items())
        if _UNAVAILABLE in excluded.values():  # a model that meets every constraint is only down
            raise UpstreamUnavailableError(f"no model can take the request now: {why}")
        raise NoEligibleModelError(f"no model satisfies this request's constraints: {why}", param="model")
