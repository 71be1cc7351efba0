"""A real, deliberately misbehaving OpenAI-compatible upstream for the gateway's failure tests.

It is an ``aiohttp.web`` server on 127.0.0.1 (an ephemeral port), running in a background thread
with its own event loop, so the gateway under test talks to it over real TCP. What it does is
chosen by the ``model`` the request names (the gateway rewrites ``model`` to the replica's
``model`` setting, so each replica can point at one behaviour):

=================  ============================================================================
``ok``             a normal completion; streams send 5 chunks, a usage chunk and ``[DONE]``
``error500``       500 with an OpenAI error body (``UPSTREAM_500_MESSAGE``)
``status-NNN``     status NNN with an OpenAI error body (``upstream says NNN``)
``client-error``   400 with an OpenAI error body (``CLIENT_ERROR``: message, type, param, code)
``slow-first``     streams: headers at once, then ``slow_first_s`` of silence, then like ``ok``;
                   non-streaming: ``slow_first_s`` of silence, then like ``ok``
``slow-headers``   like ``slow-first``, but the response headers are held back too
``cut``            streams: 2 chunks, ``cut_after_s`` later the TCP connection is dropped (no
                   ``[DONE]``); non-streaming: half of a Content-Length body, then dropped
``stall``          streams: 2 chunks, then silence while the connection stays open
``trickle``        streams: a chunk every ``trickle_interval_s``, ``trickle_chunks`` in all
``hang``           reads the request and never answers
``bad-json``       200 whose body (or first ``data:`` line) is not JSON
``not-openai``     200 with valid JSON that is not a completion object
=================  ============================================================================

``alias(model, behaviour)`` maps a made-up model name to a behaviour and can be changed while the
server runs (e.g. a replica that fails, then recovers).

Every POST is recorded (:class:`Call`): the model, whether it streamed, and whether the client
(the gateway) dropped the connection before the server finished answering (``disconnected``),
which is how the tests prove that a cancellation reaches the upstream.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

UPSTREAM_500_MESSAGE = "the toy upstream exploded"
CLIENT_ERROR = {
    "message": "messages[0].content is too long for this toy upstream",
    "type": "invalid_request_error",
    "param": "messages",
    "code": "toy_rejected",
}
STREAM_PIECES = ["Hel", "lo", ", ", "wor", "ld"]
COMPLETION_TEXT = "Hello, world"


@dataclass
class Call:
    """One POST the upstream received."""

    path: str
    model: str
    stream: bool
    body: dict[str, Any]
    started: float = field(default_factory=time.monotonic)
    chunks_sent: int = 0
    finished: threading.Event = field(default_factory=threading.Event)
    disconnected: threading.Event = field(default_factory=threading.Event)
    disconnected_at: float | None = None

    def mark_disconnected(self) -> None:
        if not self.disconnected.is_set():
            self.disconnected_at = time.monotonic()
            self.disconnected.set()


class MisbehavingUpstream:
    """Start with ``with MisbehavingUpstream() as up:``; ``up.url`` is its OpenAI base URL."""

    def __init__(
        self,
        *,
        slow_first_s: float = 0.8,
        chunk_interval_s: float = 0.01,
        cut_after_s: float = 0.1,
        trickle_interval_s: float = 0.05,
        trickle_chunks: int = 100,
    ) -> None:
        self.slow_first_s = slow_first_s
        self.chunk_interval_s = chunk_interval_s
        self.cut_after_s = cut_after_s
        self.trickle_interval_s = trickle_interval_s
        self.trickle_chunks = trickle_chunks
        self.calls: list[Call] = []
        self.health_checks = 0
        self._aliases: dict[str, str] = {}
        self._lock = threading.Lock()
        self._ready = threading.Event()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None
        self.port = 0

    # -- control (from the test's thread) ----------------------------------------------------

    @property
    def url(self) -> str:
        """The OpenAI base URL, ``http://127.0.0.1:PORT/v1``."""
        return f"http://127.0.0.1:{self.port}/v1"

    def alias(self, model: str, behaviour: str) -> None:
        with self._lock:
            self._aliases[model] = behaviour

    def calls_for(self, model: str | None = None) -> list[Call]:
        with self._lock:
            return [c for c in self.calls if model is None or c.model == model]

    def count(self, model: str | None = None) -> int:
        return len(self.calls_for(model))

    def start(self) -> MisbehavingUpstream:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        self._thread = threading.Thread(target=self._run, args=(sock,), name="misbehaving-upstream", daemon=True)
        self._thread.start()
        if not self._ready.wait(10) or self._error is not None:
            raise RuntimeError(f"the misbehaving upstream did not start: {self._error!r}")
        return self

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None and self._thread is not None:
            with contextlib.suppress(RuntimeError):  # the loop already closed
                self._loop.call_soon_threadsafe(self._stop.set)
            self._thread.join(10)
            if self._thread.is_alive():
                raise RuntimeError("the misbehaving upstream did not stop")

    def __enter__(self) -> MisbehavingUpstream:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- the server thread ---------------------------------------------------------------------

    def _run(self, sock: socket.socket) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            runner = loop.run_until_complete(self._start(sock))
        except BaseException as exc:
            self._error = exc
            self._ready.set()
            sock.close()
            loop.close()
            return
        self._ready.set()
        try:
            assert self._stop is not None
            loop.run_until_complete(self._stop.wait())
            loop.run_until_complete(runner.cleanup())
        finally:
            pending = asyncio.all_tasks(loop)
            for task in pending:
                task.cancel()
            if pending:
                loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    async def _start(self, sock: socket.socket) -> web.AppRunner:
        self._stop = asyncio.Event()
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._handle)
        app.router.add_post("/v1/completions", self._handle)
        app.router.add_get("/v1/models", self._models)
        # handler_cancellation: a dropped client connection cancels the handler, so we can see it.
        runner = web.AppRunner(app, handler_cancellation=True, access_log=None, shutdown_timeout=0.5)
        await runner.setup()
        await web.SockSite(runner, sock).start()
        return runner

    async def _models(self, request: web.Request) -> web.Response:
        self.health_checks += 1
        return web.json_response({"object": "list", "data": [{"id": "ok", "object": "model", "owned_by": "toy"}]})

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = orjson.loads(await request.read())
        model = str(body.get("model", ""))
        call = Call(request.path, model, bool(body.get("stream")), body)
        with self._lock:
            self.calls.append(call)
            behaviour = self._aliases.get(model, model)
        try:
            response = await self._behave(behaviour, call, request)
        except (asyncio.CancelledError, ConnectionResetError):
            call.mark_disconnected()
            raise
        call.finished.set()
        return response

    async def _behave(self, behaviour: str, call: Call, request: web.Request) -> web.StreamResponse:
        chat = call.path.endswith("/chat/completions")
        if behaviour == "error500":
            return _error(500, {"message": UPSTREAM_500_MESSAGE, "type": "server_error", "param": None, "code": None})
        if behaviour.startswith("status-"):
            status = int(behaviour.removeprefix("status-"))
            return _error(status, {"message": f"upstream says {status}", "type": "error", "param": None, "code": None})
        if behaviour == "client-error":
            return _error(400, CLIENT_ERROR)
        if behaviour == "hang":
            await self._forever()
            return _error(503, {"message": "shutting down", "type": "error", "param": None, "code": None})
        if behaviour == "bad-json":
            if call.stream:
                resp = await _open_sse(request)
                await resp.write(b"data: {this is not json\n\n")
                await resp.write_eof()
                return resp
            return web.Response(body=b"{this is not json", content_type="application/json")
        if behaviour == "not-openai":
            return web.json_response({"hello": "world"})
        if behaviour == "slow-headers":
            await asyncio.sleep(self.slow_first_s)
        if not call.stream:
            if behaviour == "slow-first":
                await asyncio.sleep(self.slow_first_s)
            if behaviour == "cut":
                return await self._cut_body(request)
            return web.json_response(_completion(chat, call.model))
        return await self._stream(behaviour, call, request, chat)

    async def _stream(self, behaviour: str, call: Call, request: web.Request, chat: bool) -> web.StreamResponse:
        resp = await _open_sse(request)
        if behaviour == "slow-first":
            await asyncio.sleep(self.slow_first_s)
        if behaviour == "trickle":
            pieces = [f"t{i} " for i in range(self.trickle_chunks)]
            interval = self.trickle_interval_s
        else:
            pieces, interval = STREAM_PIECES, self.chunk_interval_s
        for index, piece in enumerate(pieces):
            if index:
                await asyncio.sleep(interval)
            if behaviour in ("cut", "stall") and index == 2:
                await asyncio.sleep(self.cut_after_s)  # let the two chunks reach the client first
                if behaviour == "stall":
                    await self._forever()
                    return resp
                assert request.transport is not None
                request.transport.abort()  # drop the TCP connection: no final chunk, no [DONE]
                return resp
            await resp.write(_sse(_chunk(chat, call.model, piece, first=index == 0)))
            call.chunks_sent += 1
        await resp.write(_sse(_chunk(chat, call.model, None, finish=True)))
        await resp.write(_sse(_usage_chunk(chat, call.model, len(pieces))))
        await resp.write(b"data: [DONE]\n\n")
        await resp.write_eof()
        return resp

    async def _cut_body(self, request: web.Request) -> web.StreamResponse:
        body = orjson.dumps(_completion(True, "cut"))
        resp = web.StreamResponse(headers={"Content-Type": "application/json", "Content-Length": str(len(body))})
        await resp.prepare(request)
        await resp.write(body[: len(body) // 2])
        await asyncio.sleep(self.cut_after_s)
        assert request.transport is not None
        request.transport.abort()
        return resp

    async def _forever(self) -> None:
        """Wait until the server stops (or the client goes away, which cancels the handler)."""
        assert self._stop is not None
        await self._stop.wait()


async def _open_sse(request: web.Request) -> web.StreamResponse:
    resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
    await resp.prepare(request)
    return resp


def _error(status: int, error: dict[str, Any]) -> web.Response:
    return web.Response(status=status, body=orjson.dumps({"error": error}), content_type="application/json")


def _sse(obj: Any) -> bytes:
    return b"data: " + orjson.dumps(obj) + b"\n\n"


def _completion(chat: bool, model: str) -> dict[str, Any]:
    usage = {"prompt_tokens": 3, "completion_tokens": 5, "total_tokens": 8}
    if chat:
        message = {"role": "assistant", "content": COMPLETION_TEXT}
        choice: dict[str, Any] = {"index": 0, "message": message, "finish_reason": "stop", "logprobs": None}
        return {
            "id": "chatcmpl-toy",
            "object": "chat.completion",
            "created": 1,
            "model": model,
            "choices": [choice],
            "usage": usage,
        }
    choice = {"index": 0, "text": COMPLETION_TEXT, "finish_reason": "stop", "logprobs": None}
    return {
        "id": "cmpl-toy",
        "object": "text_completion",
        "created": 1,
        "model": model,
        "choices": [choice],
        "usage": usage,
    }


def _chunk(chat: bool, model: str, piece: str | None, *, first: bool = False, finish: bool = False) -> dict[str, Any]:
    if chat:
        delta: dict[str, Any] = {} if piece is None else {"content": piece}
        if first:
            delta["role"] = "assistant"
        choice: dict[str, Any] = {"index": 0, "delta": delta, "finish_reason": "stop" if finish else None}
        obj = "chat.completion.chunk"
    else:
        choice = {"index": 0, "text": piece or "", "finish_reason": "stop" if finish else None}
        obj = "text_completion"
    return {"id": "chunk-toy", "object": obj, "created": 1, "model": model, "choices": [choice]}


def _usage_chunk(chat: bool, model: str, n: int) -> dict[str, Any]:
    obj = "chat.completion.chunk" if chat else "text_completion"
    usage = {"prompt_tokens": 3, "completion_tokens": n, "total_tokens": 3 + n}
    return {"id": "chunk-toy", "object": obj, "created": 1, "model": model, "choices": [], "usage": usage}


@contextlib.contextmanager
def refused_port() -> Iterator[int]:
    """A loopback port with nothing listening: connecting to it is refused.

    The socket stays bound (but never listens) for the duration, so no other process can take
    the port meanwhile; on Linux a connection to a bound, non-listening port gets a RST.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]
    finally:
        sock.close()
