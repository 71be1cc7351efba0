"""Settings of the token plane: models, their replicas, balancing, timeouts and breakers."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, HttpUrl, model_validator

from blacksoil.core.config import StrictModel

EMBEDDED_MODEL_NAME = "gemma-3-270m"


class EmbeddedReplicaConfig(StrictModel):
    """The in-process llama.cpp engine."""

    engine: Literal["embedded"] = "embedded"
    name: str | None = Field(None, description="Replica name in metrics; defaults to '<model>/<index>'.")
    model_path: str | None = Field(
        None, description="A GGUF file. Default: Gemma 3 270M, assembled from PyPI into <home>/models."
    )
    n_ctx: int = Field(8192, ge=256, le=131072, description="Context window in tokens.")
    n_threads: int | None = Field(
        None,
        ge=1,
        description="CPU threads; default: all cores. Decoding synchronises its threads at every token, "
        "so on a machine busy with other work, fewer threads than cores can be faster.",
    )
    default_max_tokens: int = Field(
        512, ge=1, description="Output limit for requests that set none (one long answer blocks the queue)."
    )
    n_batch: int = Field(512, ge=32, description="Prompt tokens evaluated per llama_decode call.")
    max_queue: int = Field(256, ge=1, description="Requests waiting beyond this are refused with 503.")
    embeddings: bool = Field(True, description="Serve /v1/embeddings (mean-pooled hidden states).")
    kv_pool: bool = Field(
        False,
        description="Restore prompt prefixes from the instance's KV pool ([kvpool]) and store the blocks it "
        "computes; prompts are then always prefilled in block-sized chunks.",
    )


class UpstreamReplicaConfig(StrictModel):
    """Any OpenAI-compatible server: vLLM, SGLang, llama.cpp server, Ollama, another gateway."""

    engine: Literal["upstream"] = "upstream"
    name: str | None = None
    base_url: HttpUrl = Field(description="The server's OpenAI base URL, e.g. http://127.0.0.1:8000/v1.")
    api_key: str | None = Field(None, description="Sent as 'Authorization: Bearer …'.")
    model: str | None = Field(None, description="The model name the upstream knows; default: the pool's name.")
    max_connections: int = Field(512, ge=1, description="Pooled keep-alive connections to this server.")
    health_path: str = Field("/models", description="GET path (under base_url) used as a health check.")


ReplicaConfig = Annotated[EmbeddedReplicaConfig | UpstreamReplicaConfig, Field(discriminator="engine")]


class PriceConfig(StrictModel):
    input: float = Field(0.0, ge=0, description="USD per million prompt tokens.")
    output: float = Field(0.0, ge=0, description="USD per million completion tokens.")


class ModelConfig(StrictModel):
    name: str = Field(min_length=1, description="The name clients send as 'model'.")
    replicas: list[ReplicaConfig] = Field(min_length=1)
    owned_by: str = "blacksoil"
    # -- what the model router knows of this model (see docs/router.md) --
    price: PriceConfig = Field(default_factory=PriceConfig)
    context_window: int | None = Field(
        None, ge=1, description="Prompt + output tokens. Default: the embedded replicas' n_ctx, else unlimited."
    )
    capabilities: list[str] = Field(
        default_factory=list, description="What it supports beyond plain text: 'tools', 'json_mode'."
    )
    locality: str | None = Field(
        None, description="Where it runs, matched by data-locality rules. Default: embedded 'on-prem', else 'external'."
    )
    quality_name: str | None = Field(
        None, description="The model's name in the router's labelled data, when it differs from 'name'."
    )
    quality: float = Field(
        0.5, ge=0, le=1, description="Expected share of prompts answered well, used where the predictor has no data."
    )
    routable: bool = Field(True, description="Whether 'auto' routing may choose this model.")


class TimeoutConfig(StrictModel):
    connect_s: float = Field(3.0, gt=0, description="Opening a connection to an upstream.")
    first_token_s: float = Field(120.0, gt=0, description="From sending the request to the first token.")
    idle_s: float = Field(60.0, gt=0, description="Longest gap between two streamed chunks.")
    total_s: float = Field(600.0, gt=0, description="A whole request, start to end.")
    health_s: float = Field(2.0, gt=0, description="One health check.")


class BreakerConfig(StrictModel):
    failure_threshold: int = Field(5, ge=1, description="Consecutive failures that open the breaker.")
    cooldown_s: float = Field(10.0, gt=0, description="How long an open breaker refuses traffic.")


class ToleranceConfig(StrictModel):
    """Per strategy, how much predicted quality it gives up, at most, to pick a cheaper model."""

    balanced: float = Field(0.06, ge=0, le=1, description="'auto' and 'auto:balanced'.")
    cost: float = Field(0.2, ge=0, le=1, description="'auto:cost'.")


class RouterConfig(StrictModel):
    """Routing for ``model: "auto"`` and its variants."""

    predictor: str | None = Field(
        None, description="A trained quality predictor (.npz). Default: <home>/router/predictor.npz if present."
    )
    tolerance: ToleranceConfig = Field(default_factory=ToleranceConfig)
    default_strategy: Literal["balanced", "cost", "performance"] = Field("balanced", description="What 'auto' means.")
    sensitive_localities: list[str] = Field(
        default_factory=lambda: ["on-prem"], description="Where a request marked sensitive may be served."
    )
    tenant_localities: dict[str, list[str]] = Field(
        default_factory=dict, description="Per tenant, the only localities its requests may be served in."
    )
    default_output_tokens: int = Field(
        256, ge=1, description="Output assumed for cost estimates when a request sets no max_tokens."
    )
    chars_per_token: float = Field(
        3.0, gt=0, description="Prompt size estimate for context checks (low: errs towards larger prompts)."
    )


class TokensConfig(StrictModel):
    models: list[ModelConfig] = Field(
        default_factory=lambda: [ModelConfig(name=EMBEDDED_MODEL_NAME, replicas=[EmbeddedReplicaConfig()])]
    )
    balancer: str = Field("least_loaded", description="Replica balancing policy (see tokens/policies).")
    health_interval_s: float = Field(5.0, gt=0, description="Seconds between health checks of each replica.")
    keepalive_s: float = Field(
        5.0, gt=0, description="While a stream waits for its first token, send an SSE comment this often."
    )
    timeouts: TimeoutConfig = Field(default_factory=TimeoutConfig)
    breaker: BreakerConfig = Field(default_factory=BreakerConfig)
    router: RouterConfig = Field(default_factory=RouterConfig)

    @model_validator(mode="after")
    def _unique_names(self) -> TokensConfig:
        names = [m.name for m in self.models]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"model names must be unique; repeated: {', '.join(dupes)}")
        reserved = [n for n in names if n == "auto" or n.startswith("auto:")]
        if reserved:
            raise ValueError(f"model names 'auto' and 'auto:…' are reserved for routing: {', '.join(reserved)}")
        return self
