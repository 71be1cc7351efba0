"""The one interface every inference engine implements.

Who calls what, and when (all from the event loop of the gateway's process):

* ``start()`` once, before the first request; ``close()`` once, at shutdown.
* ``check_health()`` from the pool's health loop every ``health_interval_s``; it raises an
  :class:`~blacksoil.tokens.errors.UpstreamError` when the replica should get no traffic.
* ``generate()`` for a non-streaming request: returns the whole OpenAI response object.
* ``open_stream()`` for a streaming request: returns once the engine has *accepted* the request
  (for an upstream: its response headers are in and say 200), so that a failure to start can still
  be retried on another replica; the returned iterator then yields batches of OpenAI chunk
  objects: each batch holds what arrived together, and is yielded at once (never held back to
  fill it). Closing the iterator early (the client went away) must cancel the generation inside
  the engine.
* ``embed()`` for ``/v1/embeddings``; engines that cannot embed raise ``UnsupportedError``.

Engines always include a final usage chunk in streams (``choices == []``); the gateway forwards it
only when the client asked for it with ``stream_options.include_usage``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from typing import Any

from blacksoil.tokens.types import Batch, Completion, EmbeddingRequest, GenerationRequest


class Engine(ABC):
    #: the replica's name, used in metrics and error messages
    name: str

    async def start(self) -> None:  # noqa: B027 - optional hook
        """Prepare the engine (load weights, open connection pools)."""

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release everything the engine holds."""

    @abstractmethod
    async def check_health(self) -> None:
        """Raise an UpstreamError if the engine cannot serve."""

    @abstractmethod
    async def generate(self, request: GenerationRequest) -> Completion:
        """Run a request to the end and return the whole response object."""

    @abstractmethod
    async def open_stream(self, request: GenerationRequest) -> AsyncIterator[Batch]:
        """Start a streamed generation; return its chunks once the engine has accepted it."""

    @abstractmethod
    async def embed(self, request: EmbeddingRequest) -> dict[str, Any]:
        """Return an OpenAI ``list`` of embeddings (floats; the gateway encodes base64)."""

    def queue_depth(self) -> int:
        """Requests accepted but not yet producing tokens (for metrics); 0 if unknown."""
        return 0
