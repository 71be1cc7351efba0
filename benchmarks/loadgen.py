"""A closed-loop HTTP/1.1 load generator: asyncio protocol + httptools, keep-alive, one request in flight per
connection.

``run_phase()`` opens ``concurrency`` connections, warms up, then measures for ``duration_s``:
for each request it records the send time, the first byte of the response body (for streams: the
first ``data:`` event) and the end of the response. Requests that start and end inside the measured
window give the latencies; responses that end inside it give the throughput. For streams it also
counts the pieces of chunked encoding in each body: a server that writes each ``send`` as one chunk
(uvicorn, the mock) shows how many writes it made, however the network merged them.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import httptools

_NS = 1_000_000_000


class _Conn(asyncio.Protocol):
    """One keep-alive connection; ``request()`` sends one request and waits for the whole response."""

    def __init__(self) -> None:
        self.parser = httptools.HttpResponseParser(self)
        self.transport: asyncio.Transport | None = None
        self.waiter: asyncio.Future[tuple[int, int, int, int, int, bool]] | None = None
        self.first_ns = 0
        self.events = 0
        self.parts = 0
        self.done_seen = False
        self.tail = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is not an asyncio.Transport
        transport.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ConnectionError(f"connection lost: {exc}"))
        self.transport = None

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            if self.waiter is not None and not self.waiter.done():
                self.waiter.set_exception(exc)
            if self.transport is not None:
                self.transport.close()

    def on_body(self, body: bytes) -> None:
        if not self.first_ns:
            self.first_ns = time.perf_counter_ns()
        self.events += body.count(b"data:")
        self.parts += 1
        if b"[DONE]" in body or b"[DONE]" in self.tail + body[:8]:
            self.done_seen = True
        self.tail = body[-8:]

    def on_message_complete(self) -> None:
        end = time.perf_counter_ns()
        if self.waiter is not None and not self.waiter.done():
            status = self.parser.get_status_code()
            self.waiter.set_result((status, self.first_ns or end, end, self.events, self.parts, self.done_seen))

    def request(self, payload: bytes) -> asyncio.Future[tuple[int, int, int, int, int, bool]]:
        if self.transport is None:
            raise ConnectionError("not connected")
        self.first_ns, self.events, self.parts, self.done_seen, self.tail = 0, 0, 0, False, b""
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(payload)
        return self.waiter

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


def build_request(
    host: str, port: int, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"host: {host}:{port}", "connection: keep-alive"]
    if body:
        lines += ["content-type: application/json", f"content-length: {len(body)}"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


@dataclass
class PhaseResult:
    concurrency: int
    window_s: float
    samples: list[tuple[int, int, int]] = field(default_factory=list)  # (start, first body byte, end) in ns
    completed_in_window: int = 0
    errors: int = 0
    error_examples: list[str] = field(default_factory=list)
    events: int = 0
    parts: int = 0
    missing_done: int = 0

    def error(self, what: str) -> None:
        self.errors += 1
        if len(self.error_examples) < 3:
            self.error_examples.append(what)

    def summary(self, stream: bool) -> dict[str, object]:
        lat = sorted((e - s) / 1e6 for s, _, e in self.samples)
        out: dict[str, object] = {
            "concurrency": self.concurrency,
            "requests": len(lat),
            "errors": self.errors,
            "rps": round(self.completed_in_window / self.window_s, 1),
            "latency_ms": _stats(lat),
        }
        if stream:
            ttfb = sorted((f - s) / 1e6 for s, f, _ in self.samples)
            out["ttfb_ms"] = _stats(ttfb)
            out["events_per_response"] = round(self.events / max(1, len(self.samples)), 2)
            out["http_chunks_per_response"] = round(self.parts / max(1, len(self.samples)), 2)
            out["responses_without_done"] = self.missing_done
        if self.error_examples:
            out["error_examples"] = self.error_examples
        return out


def percentile(sorted_values: list[float], q: float) -> float:
    """Linear interpolation between closest ranks (q in 0..100)."""
    if not sorted_values:
        return float("nan")
    k = (len(sorted_values) - 1) * q / 100
    lo = int(k)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (k - lo)


def _stats(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    return {
        "p50": round(percentile(values, 50), 4),
        "p90": round(percentile(values, 90), 4),
        "p99": round(percentile(values, 99), 4),
        "mean": round(sum(values) / len(values), 4),
        "max": round(values[-1], 4),
    }


async def run_phase(
    host: str,
    port: int,
    payload: bytes,
    *,
    concurrency: int,
    warmup_s: float,
    duration_s: float,
    stream: bool,
    on_window_start: Callable[[], None] | None = None,
    on_window_end: Callable[[], None] | None = None,
    request_timeout_s: float = 60.0,
    drain_s: float = 30.0,
) -> PhaseResult:
    """Drive ``concurrency`` closed-loop connections; measure the window after ``warmup_s``."""
    loop = asyncio.get_running_loop()
    conns: list[_Conn] = []
    for _ in range(concurrency):
        _, proto = await loop.create_connection(_Conn, host, port)
        conns.append(proto)
    result = PhaseResult(concurrency, duration_s)
    t0 = time.perf_counter_ns()
    w0 = t0 + int(warmup_s * _NS)
    w1 = w0 + int(duration_s * _NS)
    stop = False

    async def worker(conn: _Conn) -> None:
        while not stop:
            start = time.perf_counter_ns()
            try:
                if conn.transport is None:
                    _, conn = await loop.create_connection(_Conn, host, port)
                    conns.append(conn)
                    start = time.perf_counter_ns()
                status, first, end, events, parts, done = await asyncio.wait_for(
                    conn.request(payload), request_timeout_s
                )
            except (OSError, TimeoutError, httptools.HttpParserError) as exc:
                if start >= w0 and time.perf_counter_ns() <= w1:
                    result.error(f"{type(exc).__name__}: {exc}")
                conn.close()
                await asyncio.sleep(0.01)
                continue
            if w0 <= end <= w1:
                if status != 200:
                    result.error(f"HTTP {status}")
                    continue
                result.completed_in_window += 1
                if start >= w0:
                    result.samples.append((start, first, end))
                    result.events += events
                    result.parts += parts
                    if stream and not done:
                        result.missing_done += 1

    def mark(callback: Callable[[], None] | None) -> None:
        if callback is not None:
            callback()

    tasks = [asyncio.create_task(worker(c)) for c in conns]
    try:
        await asyncio.sleep(warmup_s - (time.perf_counter_ns() - t0) / _NS)
        mark(on_window_start)
        await asyncio.sleep(max(0.0, (w1 - time.perf_counter_ns()) / _NS))
        mark(on_window_end)
        stop = True
        await asyncio.wait(tasks, timeout=drain_s)
    finally:
        stop = True  # also when this phase is cancelled: no worker goes round again
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for conn in conns:
            conn.close()
    await asyncio.sleep(0.05)  # let the closes go out before the next phase
    return result


async def probe(host: str, port: int, payload: bytes, n: int = 3, timeout_s: float = 60.0) -> list[dict[str, object]]:
    """Send ``n`` requests one after another on one connection; what each answered (for sanity checks)."""
    _, conn = await asyncio.get_running_loop().create_connection(_Conn, host, port)
    answers: list[dict[str, object]] = []
    try:
        for _ in range(n):
            start = time.perf_counter_ns()
            status, _first, end, events, _parts, done = await asyncio.wait_for(conn.request(payload), timeout_s)
            answers.append({"status": status, "ms": round((end - start) / 1e6, 2), "events": events, "done": done})
    finally:
        conn.close()
    return answers
