"""Errors of the token plane.

::

    TokensError (BlacksoilError)
    ├── ModelNotFoundError          404  the request names a model the gateway does not serve
    ├── ContextLengthError          400  prompt + max_tokens do not fit the model's context
    ├── UnsupportedError            400  the model's engines cannot do this (e.g. embeddings)
    └── UpstreamError               5xx  an engine failed; the message carries the cause
        ├── UpstreamUnavailableError 503 connection refused / no healthy replica / circuit open
        ├── UpstreamBadResponseError 502 the engine answered 5xx or something that is not OpenAI's shape
        ├── UpstreamTimeoutError    504  no answer (or no next token) within the configured timeout
        └── UpstreamClientError     4xx  the engine rejected the request: its status and message pass through

Only :class:`UpstreamUnavailableError` (nothing was sent or generated) and a 5xx before the first
byte are retried on another replica; see ``pool.py``.
"""

from __future__ import annotations

from blacksoil.core.errors import BlacksoilError, InvalidRequestError, NotFoundError


class TokensError(BlacksoilError):
    """Root of the token plane's errors."""


class ModelNotFoundError(TokensError, NotFoundError):
    code = "model_not_found"

    def __init__(self, model: str, available: list[str]) -> None:
        names = ", ".join(available) or "(none configured)"
        super().__init__(f"The model '{model}' does not exist. Available models: {names}.", param="model")


class ContextLengthError(TokensError, InvalidRequestError):
    code = "context_length_exceeded"


class UnsupportedError(TokensError, InvalidRequestError):
    code = "unsupported"


class UpstreamError(TokensError):
    """An engine failed. ``retryable`` says whether another replica may be tried."""

    status = 502
    type = "upstream_error"
    retryable = False


class UpstreamUnavailableError(UpstreamError):
    status = 503
    type = "service_unavailable"
    code = "upstream_unavailable"
    retryable = True


class UpstreamBadResponseError(UpstreamError):
    status = 502
    code = "bad_gateway"

    def __init__(self, message: str, *, retryable: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable


class UpstreamTimeoutError(UpstreamError):
    status = 504
    type = "timeout_error"
    code = "upstream_timeout"


class UpstreamClientError(UpstreamError):
    """The engine said the request is wrong (4xx): pass its status and message to the caller."""

    type = "invalid_request_error"

    def __init__(self, status: int, message: str, code: str | None = None, param: str | None = None) -> None:
        super().__init__(message, code=code, param=param)
        self.status = status


class RouterError(TokensError):
    """Root of the model router's errors."""


class PredictorError(RouterError):
    """The quality predictor cannot be trained or loaded; the message says what to fix."""

    status = 500
    type = "server_error"
    code = "router_predictor"


class NoEligibleModelError(RouterError, InvalidRequestError):
    """No model in the catalog satisfies the request's hard constraints; the message lists why per model."""

    code = "no_eligible_model"
