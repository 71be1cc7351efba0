"""Server-sent events for streamed completions, as an ASGI response.

* Chunks are written the moment they arrive (one ``send`` each; nothing is buffered).
* Until the first chunk arrives the response may still fail with a proper HTTP status; if it takes
  longer than ``keepalive_s`` the 200 headers are committed and an SSE comment is sent every
  ``keepalive_s`` so proxies' idle timeouts do not cut a slow first token.
* An error after the headers went out is sent as a final ``data: {"error": …}`` event (the
  ``openai`` SDK raises it as an APIError), with no ``[DONE]``.
* A client disconnect cancels the response task, which closes the chunk iterator and so cancels
  the generation upstream or in the embedded engine.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import orjson
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from blacksoil.core.errors import BlacksoilError

_HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
]
_KEEPALIVE = b": keep-alive\n\n"
_DONE = b"data: [DONE]\n\n"


class SSEResponse(Response):
    def __init__(
        self,
        chunks: AsyncIterator[Any],
        first: asyncio.Future[Any],
        keepalive_s: float,
        headers: list[tuple[bytes, bytes]],
    ) -> None:
        self.chunks = chunks
        self.first = first  # the pending (or finished) read of the first chunk
        self.keepalive_s = keepalive_s
        self.status_code = 200
        self.background = None
        self.extra_headers = headers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        task = asyncio.current_task()
        assert task is not None
        state = _State()
        watcher = asyncio.create_task(_watch_disconnect(receive, task, state))
        try:
            await self._stream(send)
        except asyncio.CancelledError:
            if not state.gone:
                raise
            task.uncancel()
        except OSError:
            pass  # the client went away while we were writing
        finally:
            state.finished = True
            watcher.cancel()
            self.first.cancel()
            with contextlib.suppress(BaseException):
                await self.chunks.aclose()  # type: ignore[attr-defined]

    async def _stream(self, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": _HEADERS + self.extra_headers})
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


class _State:
    gone = False
    finished = False


async def _watch_disconnect(receive: Receive, task: asyncio.Task[Any], state: _State) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            if not state.finished:
                state.gone = True
                task.cancel()
            return
