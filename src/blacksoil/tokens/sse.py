"""Server-sent events for streamed completions, as an ASGI response.

* Chunks are written the moment they arrive; those that arrived together go out in one write.
* ``SSEResponse.start`` opens the stream and waits up to ``keepalive_s`` for its first chunk: a
  failure in that window (including every failover attempt) is raised before any byte is sent, so
  it becomes a proper HTTP error. If opening or the first chunk takes longer, the 200 headers are
  committed and an SSE comment is sent every ``keepalive_s`` until the first chunk, so proxies'
  idle timeouts cut neither a slow upstream nor a long queue.
* An error after the headers went out is sent as a final ``data: {"error": …}`` event (the
  ``openai`` SDK raises it as an APIError), with no ``[DONE]``.
* A client disconnect cancels the response task, which closes the chunk iterator and so cancels
  the generation upstream or in the embedded engine.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import orjson
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from blacksoil.core.aio import aclose_quietly
from blacksoil.core.errors import BlacksoilError
from blacksoil.core.http import ClientDisconnectedError, DisconnectWatch

_HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
]
_KEEPALIVE = b": keep-alive\n\n"
_DONE = b"data: [DONE]\n\n"

Headers = Callable[[], list[tuple[bytes, bytes]]]
"""Extra response headers, read when they are sent (after the stream opened, or at the first keep-alive)."""
Opened = tuple[AsyncIterator[list[Any]], list[Any]]
"""The open iterator of chunk batches and its first batch (empty for an empty stream)."""


class SSEResponse(Response):
    def __init__(self, head: asyncio.Future[Opened], keepalive_s: float, headers: Headers) -> None:
        self.head = head
        """Opening the stream and reading its first chunk: finished, or still pending."""
        self.keepalive_s = keepalive_s
        self.status_code = 200
        self.background = None
        self.extra_headers = headers

    @classmethod
    async def start(
        cls, opening: Awaitable[AsyncIterator[list[Any]]], keepalive_s: float, headers: Headers
    ) -> SSEResponse:
        """Open the stream; raise here if it fails within ``keepalive_s``, else return the response."""
        head = asyncio.ensure_future(_open(opening))
        try:
            await asyncio.wait((head,), timeout=keepalive_s)
        except BaseException:  # cancelled: the client went away
            await _discard(head)
            raise
        if head.done():
            head.result()  # raises the failure as a proper HTTP error
        return cls(head, keepalive_s, headers)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            async with DisconnectWatch(receive):
                await self._stream(send)
        except (ClientDisconnectedError, OSError):
            pass  # the client went away: discarding below closes the chunks and the generation
        finally:
            await _discard(self.head)

    async def _stream(self, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": _HEADERS + self.extra_headers()})
        try:
            while not self.head.done():
                await asyncio.wait((self.head,), timeout=self.keepalive_s)
                if not self.head.done():
                    await send({"type": "http.response.body", "body": _KEEPALIVE, "more_body": True})
            batches, first = self.head.result()
            if first:
                await send({"type": "http.response.body", "body": _events(first), "more_body": True})
                async for batch in batches:
                    await send({"type": "http.response.body", "body": _events(batch), "more_body": True})
            tail = _DONE
        except BlacksoilError as exc:
            tail = b"data: " + orjson.dumps(exc.to_dict()) + b"\n\n"
        await send({"type": "http.response.body", "body": tail, "more_body": False})


def _events(batch: list[Any]) -> bytes:
    """One SSE event per chunk, all in one write."""
    return b"".join([b"data: " + orjson.dumps(chunk) + b"\n\n" for chunk in batch])


async def _open(opening: Awaitable[AsyncIterator[list[Any]]]) -> Opened:
    chunks = await opening
    try:
        return chunks, await anext(chunks)
    except StopAsyncIteration:
        return chunks, []
    except BaseException:
        await aclose_quietly(chunks)
        raise


async def _discard(head: asyncio.Future[Opened]) -> None:
    """Stop: cancel a pending open (it closes what it opened), or close the opened chunks."""
    head.cancel()
    await asyncio.gather(head, return_exceptions=True)
    if not head.cancelled() and head.exception() is None:
        await aclose_quietly(head.result()[0])
