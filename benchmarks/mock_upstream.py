"""A very fast OpenAI-compatible mock upstream: raw asyncio protocol, httptools parsing, uvloop.

Answers, with HTTP/1.1 keep-alive:

* ``POST /v1/chat/completions`` (and ``/v1/completions``): a small fixed ``chat.completion`` object;
  with ``"stream": true`` in the body, 20 ``data:`` chunks then ``data: [DONE]``, in chunked
  transfer encoding, all written at once (no delay between chunks).
* ``GET /v1/models`` (the gateways' health check) and ``GET /health``.

Every response is pre-built bytes, so a request costs one parse and one ``write``.
Run it alone: ``python benchmarks/mock_upstream.py --port 9100``.
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


def _stream() -> bytes:
    """20 chat.completion.chunk events and [DONE], each event one chunk of chunked encoding."""
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
    return b"".join(frames)


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
STREAM = _stream()
_POST_PATHS = (b"/v1/chat/completions", b"/v1/completions")


class MockProtocol(asyncio.Protocol):
    __slots__ = ("body", "parser", "transport", "url")

    def __init__(self) -> None:
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.url = b""
        self.body = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is not an asyncio.Transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

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
        if method == b"POST" and path in _POST_PATHS:
            transport.write(STREAM if _STREAM_FLAG.search(self.body) else COMPLETION)
        elif method == b"GET" and path == b"/v1/models":
            transport.write(_MODELS)
        elif method == b"GET" and path == b"/health":
            transport.write(_HEALTH)
        else:
            transport.write(_NOT_FOUND)
        if not self.parser.should_keep_alive():
            transport.close()


async def serve(host: str, port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(MockProtocol, host, port, reuse_address=True, backlog=1024)
    print(f"mock upstream listening on http://{host}:{port}/v1", flush=True)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9100)
    args = parser.parse_args()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: os._exit(0))  # nothing to flush: stop at once
    uvloop.run(serve(args.host, args.port))


if __name__ == "__main__":
    main()
