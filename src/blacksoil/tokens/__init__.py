"""The token factory: an OpenAI-compatible gateway over embedded and upstream engines.

Use it as a library::

    gateway = build_gateway(TokensConfig(), Home.resolve(), new_registry())
    await gateway.start()
    result = await gateway.generate(GenerationRequest("chat", params, body))

or over HTTP through ``blacksoil.tokens.api`` (mounted by ``blacksoil.server``) and
``blacksoil.tokens.client``.
"""

from blacksoil.tokens.config import (
    EmbeddedReplicaConfig,
    ModelConfig,
    TokensConfig,
    UpstreamReplicaConfig,
)
from blacksoil.tokens.engine import Engine
from blacksoil.tokens.errors import (
    ContextLengthError,
    ModelNotFoundError,
    TokensError,
    UnsupportedError,
    UpstreamError,
)
from blacksoil.tokens.factory import build_gateway
from blacksoil.tokens.gateway import Gateway
from blacksoil.tokens.types import (
    ChatCompletionRequest,
    CompletionRequest,
    EmbeddingRequest,
    GenerationRequest,
    ModelCard,
)

__all__ = [
    "ChatCompletionRequest",
    "CompletionRequest",
    "ContextLengthError",
    "EmbeddedReplicaConfig",
    "EmbeddingRequest",
    "Engine",
    "Gateway",
    "GenerationRequest",
    "ModelCard",
    "ModelConfig",
    "ModelNotFoundError",
    "TokensConfig",
    "TokensError",
    "UnsupportedError",
    "UpstreamError",
    "UpstreamReplicaConfig",
    "build_gateway",
]
