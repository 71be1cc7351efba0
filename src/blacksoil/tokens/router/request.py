"""What the router reads from a generation request: the strategy, the prompt, its needs and limits."""

from __future__ import annotations

import math
from dataclasses import dataclass

from pydantic import Field

from blacksoil.core.config import StrictModel
from blacksoil.core.errors import InvalidRequestError
from blacksoil.core.http import parse
from blacksoil.tokens.config import RouterConfig
from blacksoil.tokens.types import ChatCompletionRequest, GenerationRequest

AUTO = "auto"
_PREDICT_CHARS = 4000
"""The predictor reads at most this much of the prompt's end: enough to tell the task, bounded in time."""


class RoutingOptions(StrictModel):
    """The optional ``routing`` object of a request body (removed before the body goes upstream)."""

    min_quality: float | None = Field(None, ge=0, le=1, description="Cheapest model predicted at least this good.")
    sensitive: bool = Field(False, description="Serve only on models in tokens.router.sensitive_localities.")
    max_cost_usd: float | None = Field(None, gt=0, description="Skip models whose estimated cost is higher.")


@dataclass(frozen=True, slots=True)
class RoutingInput:
    strategy: str
    """'balanced', 'cost', 'performance' or 'quality'; for a request that names its model, that name."""
    min_quality: float | None
    text: str
    """The part of the prompt the quality predictor reads."""
    prompt_tokens: int
    """An estimate, from the prompt's length in characters."""
    output_tokens: int
    max_output_tokens: int | None
    capabilities: frozenset[str]
    sensitive: bool
    tenant: str | None
    max_cost_usd: float | None

    @classmethod
    def from_request(cls, request: GenerationRequest, config: RouterConfig) -> RoutingInput:
        model = request.params.model
        strategy, min_quality = parse_model(model, config.default_strategy) if is_auto(model) else (model, None)
        raw = request.body.pop("routing", None)
        if raw is not None and not isinstance(raw, dict):
            raise InvalidRequestError("'routing' must be an object", param="routing")
        options = parse(RoutingOptions, raw or {}) if raw else RoutingOptions()
        if options.min_quality is not None and min_quality is None:
            strategy, min_quality = "quality", options.min_quality
        params = request.params
        if isinstance(params, ChatCompletionRequest):
            texts = [m.text() for m in params.messages]
            users = [m.text() for m in params.messages if m.role == "user"]
            text = users[-1] if users else texts[-1]
            overhead = 4 * len(texts)
        else:
            texts = [params.prompt_text]
            text, overhead = texts[0], 0
        needs = set()
        if isinstance(params, ChatCompletionRequest) and params.tools:
            needs.add("tools")
        response_format = request.body.get("response_format")
        if isinstance(response_format, dict) and response_format.get("type") in ("json_object", "json_schema"):
            needs.add("json_mode")
        limit = params.token_limit
        return cls(
            strategy=strategy,
            min_quality=min_quality,
            text=text[-_PREDICT_CHARS:],
            prompt_tokens=overhead + math.ceil(sum(len(t) for t in texts) / config.chars_per_token),
            output_tokens=limit or config.default_output_tokens,
            max_output_tokens=limit,
            capabilities=frozenset(needs),
            sensitive=options.sensitive or bool(request.meta.get("sensitive")),
            tenant=request.meta.get("tenant"),
            max_cost_usd=options.max_cost_usd,
        )


def is_auto(model: str) -> bool:
    return model == AUTO or model.startswith(AUTO + ":")


def parse_model(model: str, default: str) -> tuple[str, float | None]:
    """``auto`` → the default strategy; ``auto:cost``; ``auto:quality=0.8`` → ('quality', 0.8)."""
    if model == AUTO:
        return default, None
    name, _, arg = model.partition(":")[2].partition("=")
    if name in ("balanced", "cost", "performance") and not arg:
        return name, None
    if name == "quality":
        try:
            threshold = float(arg)
        except ValueError:
            threshold = -1.0
        if 0.0 <= threshold <= 1.0:
            return "quality", threshold
        raise InvalidRequestError(
            f"'{model}': the quality threshold must be a number between 0 and 1, as in 'auto:quality=0.8'",
            param="model",
        )
    raise InvalidRequestError(
        f"'{model}' is not a routing strategy; use 'auto', 'auto:balanced', 'auto:cost', 'auto:performance' "
        "or 'auto:quality=<0..1>'",
        param="model",
    )
