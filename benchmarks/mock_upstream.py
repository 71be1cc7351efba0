"""A very fast OpenAI-compatible mock upstream: raw asyncio protocol, httptools parsing, uvloop.

Answers, with HTTP/1.1 keep-alive:

* ``POST /v1/chat/completions`` (and ``/v1/completions``): a small fixed ``chat.completion`` object;
  with ``"stream": true`` in the body, 20 ``data:`` chunks then ``data: [DONE]``, in chunked
  transfer encoding, all written at once (no delay between chunks): a gateway reading the stream
  gets them in one or two reads, the best case for one that batches what arrived together.
* The same under ``/spaced/v1/...``, except that streams are paced like an engine's decode steps:
  the headers and the first chunk at once, then each further chunk ``--chunk-gap-ms`` (default 1)
  after the one before, so that each arrives in its own read; ``[DONE]`` and the end of the body go
  out in the same write as the last chunk. (The event loop's timers tick in whole milliseconds, so a
  1 ms gap is 1 to 2 ms in practice; the direct figures show what it was.)
* ``GET /v1/models`` (the gateways' health check), ``GET /spaced/v1/models`` and ``GET /health``.

Every response is pre-built bytes, so a request costs one parse and one ``write`` (spaced: 20).
Run it alone: ``python benchmarks/mock_upstream.py --port 9100 [--chunk-gap-ms 1]``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import signal
import socket

import httptools
import orjson
import uvloop

STREAM_CHUNKS = 20
_STREAM_FLAG = re.compile(rb'"stream"\s*:\s*true')
_CREATED = 1_700_000_000


def _http(status: str, content_type: str, body: bytes) -> bytes:
    head = f"HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\ncontent-length: {len(body)}\r\n\r\n"
    return head.encode() + body


def _completion() -> bytes:
    body = {
        "id": "chatcmpl-mock",
        "object": "chat.completion",
        "created": _CREATED,
        "model": "mock",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "Hello from the mock upstream."},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 9, "completion_tokens": 7, "total_tokens": 16},
    }
    return _http("200 OK", "application/json", orjson.dumps(body))


def _stream_parts() -> list[bytes]:
    """20 chat.completion.chunk events and [DONE], each event one chunk of chunked encoding.

    One part per write of a spaced stream: the headers with the first event, one event each, and
    the last event with [DONE] and the end of the body.
    """
    frames = [b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"]
    for i in range(STREAM_CHUNKS):
        delta: dict[str, str] = {"content": f"tok{i} "}
        if i == 0:
            delta["role"] = "assistant"
        chunk: dict[str, object] = {
            "id": "chatcmpl-mock",
            "object": "chat.completion.chunk",
            "created": _CREATED,
            "model": "mock",
            "choices": [{"index": 0, "delta": delta, "finish_reason": "stop" if i == STREAM_CHUNKS - 1 else None}],
        }
        if i == STREAM_CHUNKS - 1:
            chunk["usage"] = {"prompt_tokens": 9, "completion_tokens": STREAM_CHUNKS, "total_tokens": 29}
        frames.append(_frame(b"data: " + orjson.dumps(chunk) + b"\n\n"))
    frames.append(_frame(b"data: [DONE]\n\n"))
    frames.append(b"0\r\n\r\n")
    return [frames[0] + frames[1], *frames[2:-3], b"".join(frames[-3:])]


def _frame(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


_MODELS = _http(
    "200 OK",
    "application/json",
    orjson.dumps(
        {"object": "list", "data": [{"id": "mock", "object": "model", "created": _CREATED, "owned_by": "bench"}]}
    ),
)
_HEALTH = _http("200 OK", "application/json", b'{"status":"ok"}')
_NOT_FOUND = _http("404 Not Found", "application/json", b'{"error":{"message":"not found","type":"not_found"}}')
_BAD = _http("400 Bad Request", "application/json", b'{"error":{"message":"bad request","type":"invalid"}}')
COMPLETION = _completion()
STREAM_PARTS = _stream_parts()
STREAM = b"".join(STREAM_PARTS)
_POST_PATHS = (b"/v1/chat/completions", b"/v1/completions")
_SPACED = b"/spaced"


class MockProtocol(asyncio.Protocol):
    __slots__ = ("body", "gap_s", "parser", "pending", "transport", "url")

    def __init__(self, gap_s: float = 0.001) -> None:
        self.gap_s = gap_s
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.url = b""
        self.body = b""
        self.pending: asyncio.TimerHandle | None = None  # the next write of a spaced stream

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is not an asyncio.Transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.pending is not None:
            self.pending.cancel()
        self.transport = None

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            assert self.transport is not None
            self.transport.write(_BAD)
            self.transport.close()

    # httptools callbacks
    def on_message_begin(self) -> None:
        self.url = b""
        self.body = b""

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_body(self, body: bytes) -> None:
        self.body += body

    def on_message_complete(self) -> None:
        transport = self.transport
        assert transport is not None
        method = self.parser.get_method()
        path = self.url.split(b"?", 1)[0]
        spaced = path.startswith(_SPACED)
        path = path.removeprefix(_SPACED)
        keep_alive = self.parser.should_keep_alive()
        if method == b"POST" and path in _POST_PATHS:
            if not _STREAM_FLAG.search(self.body):
                transport.write(COMPLETION)
            elif spaced:
                self._spaced(0, keep_alive)
                return
            else:
                transport.write(STREAM)
        elif method == b"GET" and path == b"/v1/models":
            transport.write(_MODELS)
        elif method == b"GET" and path == b"/health":
            transport.write(_HEALTH)
        else:
            transport.write(_NOT_FOUND)
        if not keep_alive:
            transport.close()

    def _spaced(self, i: int, keep_alive: bool) -> None:
        """Write part ``i`` of the stream now and schedule the next one a gap later."""
        self.pending = None
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        transport.write(STREAM_PARTS[i])
        if i + 1 < len(STREAM_PARTS):
            self.pending = asyncio.get_running_loop().call_later(self.gap_s, self._spaced, i + 1, keep_alive)
        elif not keep_alive:
            transport.close()


async def serve(host: str, port: int, gap_s: float) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: MockProtocol(gap_s), host, port, reuse_address=True, backlog=1024)
    print(f"mock upstream listening on http://{host}:{port}/v1", flush=True)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9100)
    parser.add_argument("--chunk-gap-ms", type=float, default=1.0, help="gap between spaced chunks (default 1)")
    args = parser.parse_args()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: os._exit(0))  # nothing to flush: stop at once
    uvloop.run(serve(args.host, args.port, args.chunk_gap_ms / 1000))


if __name__ == "__main__":
    main()
