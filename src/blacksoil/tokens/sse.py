"""Server-sent events for streamed completions, as an ASGI response.

* Chunks are written the moment they arrive (one ``send`` each; nothing is buffered).
* Until the first chunk arrives the response may still fail with a proper HTTP status
  (``SSEResponse.start``); if it takes longer than ``keepalive_s`` the 200 headers are committed and
  an SSE comment is sent every ``keepalive_s`` so proxies' idle timeouts do not cut a slow first token.
* An error after the headers went out is sent as a final ``data: {"error": …}`` event (the
  ``openai`` SDK raises it as an APIError), with no ``[DONE]``.
* A client disconnect cancels the response task, which closes the chunk iterator and so cancels
  the generation upstream or in the embedded engine.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable
from typing import Any

import orjson
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from blacksoil.core.errors import BlacksoilError
from blacksoil.core.http import ClientDisconnectedError, DisconnectWatch

_HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
]
_KEEPALIVE = b": keep-alive\n\n"
_DONE = b"data: [DONE]\n\n"


class SSEResponse(Response):
    def __init__(self, chunks: AsyncIterator[Any], first: asyncio.Future[Any], keepalive_s: float) -> None:
        self.chunks = chunks
        self.first = first
        """The read of the first chunk: finished, or still pending after ``keepalive_s``."""
        self.keepalive_s = keepalive_s
        self.status_code = 200
        self.background = None

    @classmethod
    async def start(cls, opening: Awaitable[AsyncIterator[Any]], keepalive_s: float) -> SSEResponse:
        """Open the stream and wait up to ``keepalive_s`` for its first chunk.

        A failure within that window raises here, before any byte is sent, so it becomes a proper
        HTTP error; a slower first chunk is left pending for the response to wait on.
        """
        chunks = await opening
        first = asyncio.ensure_future(anext(chunks))
        try:
            await asyncio.wait((first,), timeout=keepalive_s)
        except BaseException:  # cancelled: the client went away
            await _discard(first, chunks)
            raise
        if first.done():
            error = first.exception()
            if error is not None and not isinstance(error, StopAsyncIteration):
                raise error
        return cls(chunks, first, keepalive_s)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            async with DisconnectWatch(receive):
                await self._stream(send)
        except (ClientDisconnectedError, OSError):
            pass  # the client went away: closing the chunks below cancels the generation
        finally:
            await _discard(self.first, self.chunks)

    async def _stream(self, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": _HEADERS})
        try:
            while not self.first.done():
                await asyncio.wait((self.first,), timeout=self.keepalive_s)
                if not self.first.done():
                    await send({"type": "http.response.body", "body": _KEEPALIVE, "more_body": True})
            try:
                chunk = self.first.result()
            except StopAsyncIteration:
                chunk = None
            if chunk is not None:
                await send({"type": "http.response.body", "body": _event(chunk), "more_body": True})
                async for chunk in self.chunks:
                    await send({"type": "http.response.body", "body": _event(chunk), "more_body": True})
            tail = _DONE
        except BlacksoilError as exc:
            tail = b"data: " + orjson.dumps(exc.to_dict()) + b"\n\n"
        await send({"type": "http.response.body", "body": tail, "more_body": False})


def _event(chunk: Any) -> bytes:
    return b"data: " + orjson.dumps(chunk) + b"\n\n"


async def _discard(first: asyncio.Future[Any], chunks: AsyncIterator[Any]) -> None:
    """Stop reading: cancel the pending first read, then close the iterator (and the generation)."""
    first.cancel()
    await asyncio.gather(first, return_exceptions=True)
    aclose = getattr(chunks, "aclose", None)
    if aclose is not None:
        with contextlib.suppress(Exception):
            await aclose()
