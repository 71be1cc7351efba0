"""The gateway in front of upstreams that fail: refused connections, 5xx, slow or hung servers,
streams cut mid-way, bad JSON, 4xx, open breakers and clients that go away.

Everything runs over real loopback TCP: the misbehaving upstream (``upstream_server.py``) is an
aiohttp server, and each scenario's gateway is ``build_app(...)`` served by uvicorn. Timeouts are
short (about a second) so the failures show up quickly; the timing assertions are no-hang checks
with generous margins, not performance tests.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import openai
import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.tokens.conftest import GatewayStarter, RunningGateway, replica
from tests.tokens.upstream_server import (
    CLIENT_ERROR,
    COMPLETION_TEXT,
    STREAM_PIECES,
    UPSTREAM_500_MESSAGE,
    Call,
    MisbehavingUpstream,
)

MARGIN_S = 0.75  # slack on top of a configured timeout before we call it a hang

STREAM = pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])


# -- helpers -------------------------------------------------------------------------------------


def chat(model: str = "chat", *, stream: bool = False, **extra: Any) -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": "hi"}], "stream": stream, **extra}


def events(raw: bytes) -> list[bytes]:
    """The SSE events of a raw body, comments included, in order (each without its blank line)."""
    return [block for block in raw.replace(b"\r\n", b"\n").split(b"\n\n") if block]


def data_events(raw: bytes) -> list[bytes]:
    return [e.removeprefix(b"data: ") for e in events(raw) if e.startswith(b"data: ")]


def stream_text(raw: bytes) -> str:
    """The concatenated content of the chat chunks in a raw SSE body."""
    text = ""
    for payload in data_events(raw):
        if payload == b"[DONE]":
            continue
        chunk = orjson.loads(payload)
        for choice in chunk.get("choices", []):
            text += choice.get("delta", {}).get("content") or choice.get("text") or ""
    return text


def assert_error(body: Any, *, type_: str, code: str | None, contains: tuple[str, ...] = ()) -> dict[str, Any]:
    """``body`` is OpenAI's error shape with this type and code, and its message names the causes."""
    assert isinstance(body, dict), body
    assert set(body) == {"error"}, body
    err = body["error"]
    assert set(err) == {"message", "type", "param", "code"}, err
    assert err["type"] == type_, err
    assert err["code"] == code, err
    for part in contains:
        assert part in err["message"], (part, err["message"])
    return err


async def post(http: httpx.AsyncClient, gw: RunningGateway, body: dict[str, Any]) -> tuple[httpx.Response, bytes]:
    """POST a chat completion and read the whole body (also for streams)."""
    async with http.stream("POST", gw.v1 + "/chat/completions", json=body) as resp:
        raw = await resp.aread()
    return resp, raw


async def post_timed(
    http: httpx.AsyncClient, gw: RunningGateway, body: dict[str, Any]
) -> tuple[httpx.Response, list[tuple[float, bytes]]]:
    """POST and record when each piece of the body arrived (seconds since the request was sent)."""
    pieces: list[tuple[float, bytes]] = []
    t0 = time.monotonic()
    async with http.stream("POST", gw.v1 + "/chat/completions", json=body) as resp:
        async for piece in resp.aiter_raw():
            pieces.append((time.monotonic() - t0, piece))
    return resp, pieces


def is_sse(resp: httpx.Response) -> bool:
    return resp.headers.get("content-type", "").startswith("text/event-stream")


async def metric(http: httpx.AsyncClient, gw: RunningGateway, sample: str, **labels: str) -> float:
    """One sample of the gateway's /metrics (0 when it is absent)."""
    text = (await http.get(gw.url + "/metrics")).text
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == sample and all(s.labels.get(k) == v for k, v in labels.items()):
                return float(s.value)
    return 0.0


async def wait_for(predicate: Any, timeout_s: float) -> bool:
    """Poll ``predicate()`` until it is true or ``timeout_s`` passed; return its last value."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            return bool(predicate())
        await asyncio.sleep(0.02)
    return True


async def only_call(upstream: MisbehavingUpstream, model: str) -> Call:
    assert await wait_for(lambda: upstream.count(model) >= 1, 3), f"the upstream never saw a '{model}' request"
    calls = upstream.calls_for(model)
    assert len(calls) == 1, calls
    return calls[0]


async def raw_connection(gw: RunningGateway, body: dict[str, Any]) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Send a chat completion over a bare TCP connection (so the test decides when it closes)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", gw.port)
    payload = orjson.dumps(body)
    head = (
        "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(payload)}\r\n\r\n"
    )
    writer.write(head.encode() + payload)
    await writer.drain()
    return reader, writer


async def read_until(reader: asyncio.StreamReader, needle: bytes, count: int, timeout_s: float = 5) -> bytes:
    buf = b""
    async with asyncio.timeout(timeout_s):
        while buf.count(needle) < count:
            piece = await reader.read(65536)
            assert piece, f"the connection closed early: {buf!r}"
            buf += piece
    return buf


def sdk(gw: RunningGateway) -> openai.AsyncOpenAI:
    """The unmodified openai SDK pointed at the gateway (no retries, no proxy)."""
    return openai.AsyncOpenAI(
        base_url=gw.v1,
        api_key="x",
        max_retries=0,
        http_client=httpx.AsyncClient(trust_env=False, timeout=httpx.Timeout(15.0)),
    )


MESSAGES: list[Any] = [{"role": "user", "content": "hi"}]


# -- connection refused ----------------------------------------------------------------------------


@STREAM
async def test_refused_single_replica_is_503_naming_the_cause(
    start_gateway: GatewayStarter, refused_url: str, http: httpx.AsyncClient, stream: bool
) -> None:
    gw = start_gateway({"chat": [replica(refused_url, "ok", name="dead")]})
    resp, raw = await post(http, gw, chat(stream=stream))
    assert resp.status_code == 503
    assert not is_sse(resp)  # nothing was committed: a plain HTTP error, also for a stream
    port = refused_url.split(":")[2].split("/")[0]
    assert_error(
        orjson.loads(raw),
        type_="service_unavailable",
        code="upstream_unavailable",
        contains=("no replica of model 'chat'", "dead: cannot connect to", f"127.0.0.1:{port}"),
    )


@STREAM
async def test_refused_replica_fails_over_to_the_healthy_one(
    start_gateway: GatewayStarter,
    upstream: MisbehavingUpstream,
    refused_url: str,
    http: httpx.AsyncClient,
    stream: bool,
) -> None:
    gw = start_gateway({"chat": [replica(refused_url, "ok", name="dead"), replica(upstream.url, "ok", name="good")]})
    for _ in range(4):  # the balancer rotates: the dead replica comes first in some of these
        resp, raw = await post(http, gw, chat(stream=stream))
        assert resp.status_code == 200, raw
        if stream:
            assert stream_text(raw) == "".join(STREAM_PIECES)
            assert data_events(raw)[-1] == b"[DONE]"
        else:
            assert orjson.loads(raw)["choices"][0]["message"]["content"] == COMPLETION_TEXT
    assert upstream.count("ok") == 4
    # Proof that the dead replica was really tried (and failed over), not just skipped by luck.
    dead_failures = await metric(http, gw, "blacksoil_tokens_errors_total", replica="dead", kind="upstream_unavailable")
    assert dead_failures >= 1


# -- upstream 5xx ----------------------------------------------------------------------------------


@STREAM
async def test_upstream_500_message_reaches_the_client(
    start_gateway: GatewayStarter, upstream: MisbehavingUpstream, http: httpx.AsyncClient, stream: bool
) -> None:
    gw = start_gateway({"chat": [replica(upstream.url, "error500", name="boom")]})
    resp, raw = await post(http, gw, chat(stream=stream))
    assert resp.status_code >= 500
    assert not is_sse(resp)
    message = orjson.loads(raw)["error"]["message"]
    assert "boom: the upstream answered 500" in message
    assert UPSTREAM_500_MESSAGE in message
    assert upstream.count("error500") == 1


@STREAM
async def test_upstream_500_single_replica_is_502(
    start_gateway: GatewayStarter, upstream: MisbehavingUpstream, http: httpx.AsyncClient, stream: bool
) -> None:
    gw = start_gateway({"chat": [replica(upstream.url, "error500", name="boom")]})
    resp, raw = await post(http, gw, chat(stream=stream))
    assert resp.status_code == 502
    assert_error(orjson.loads(raw), type_="upstream_error", code="bad_gateway", contains=(UPSTREAM_500_MESSAGE,))


@STREAM
async def test_upstream_500_fails_over_to_the_healthy_one(
    start_gateway: GatewayStarter, upstream: MisbehavingUpstream, http: httpx.AsyncClient, stream: bool
) -> None:
    gw = start_gateway(
        {"chat": [replica(upstream.url, "error500", name="boom"), replica(upstream.url, "ok", name="good")]}
    )
    for _ in range(4):
        resp, raw = await post(http, gw, chat(stream=stream))
        assert resp.status_code == 200, raw
        if stream:
            assert stream_text(raw) == "".join(STREAM_PIECES)
        else:
            assert orjson.loads(raw)["choices"][0]["message"]["content"] == COMPLETION_TEXT
    assert upstream.count("ok") == 4
    assert upstream.count("error500") >= 1  # the failing replica was tried, and the request moved on


async def test_failure_after_the_first_byte_is_not_retried(
    start_gateway: GatewayStarter, upstream: MisbehavingUpstream, http: httpx.AsyncClient
) -> None:
    """Once chunks went out, another replica would duplicate them: the cut is reported instead."""
    gw = start_gateway({"chat": [replica(upstream.url, "cut", name="cutter"), replica(upstream.url, "ok")]})
    outcomes = []
    for _ in range(2):  # the rotation puts the cutting replica first in one of the two
        resp, raw = await post(http, gw, chat(stream=True))
        assert resp.status_code == 200
        outcomes.append(data_events(raw)[-1])
    assert upstream.count("cut") == 1
    assert upstream.count("ok") == 1
    assert sorted(o == b"[DONE]" for o in outcomes) == [False, True]


# -- bad responses ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("behaviour", "stream", "cause"),
    [
        ("bad-json", False, "invalid JSON"),
        ("bad-json", True, "invalid JSON"),
        ("not-openai", False, "not an OpenAI completion object"),
        ("cut", False, "reading the response failed"),
    ],
)
async def test_bad_upstream_response_is_502(
    start_gateway: GatewayStarter,
    upstream: MisbehavingUpstream,
    http: httpx.AsyncClient,
    behaviour: str,
    stream: bool,
    cause: str,
) -> None:
    gw = start_gateway({"chat": [replica(upstream.url, behaviour, name="weird")]})
    resp, raw = await post(http, gw, chat(stream=stream))
    assert resp.status_code == 502
    assert not is_sse(resp)
    assert_error(orjson.loads(raw), type_="upstream_error", code="bad_gateway", contains=("weird: ", cause))
    assert upstream.count(behaviour) == 1  # not retried: the upstream may have generated already


# -- slow first token: keep-alives -----------------------------------------------------------------


@pytest.mark.parametrize("behaviour", ["slow-first", "slow-headers"])
async def test_slow_first_token_gets_keepalive_comments(
    start_gateway: GatewayStarter, upstream: MisbehavingUpstream, http: httpx.AsyncClient, behaviour: str
) -> None:
    """Whether the upstream sends its headers at once (vLLM) or only with the first token."""
    upstream.slow_first_s = 0.8
    gw = start_gateway({"chat": [replica(upstream.url, behaviour)]}, timeouts={"first_token_s": 2.0}, keepalive_s=0.1)
    resp, pieces = await post_timed(http, gw, chat(stream=True))
    assert resp.status_code == 200
    assert is_sse(resp)
    raw = b"".join(p for _, p in pieces)
    before_data = raw[: raw.index(b"data: ")]
    assert before_data.count(b": keep-alive\n\n") >= 2, raw
    assert before_data.replace(b": keep-alive\n\n", b"") == b""  # nothing but comments before the data
    # The comments were sent while waiting, not flushed together with the first token.
    first_comment_at = next(t for t, p in pieces if b": keep-alive" in p)
    first_data_at = next(t for t, p in pieces if b"data: " in p)
    assert first_comment_at < 0.6 < first_data_at
    assert stream_text(raw) == "".join(STREAM_PIECES)
    assert data_events(raw)[-1] == b"[DONE]"


@pytest.mark.parametrize("behaviour", ["slow-first", "hang"])
async def test_first_token_timeout_after_keepalives_is_an_error_event(
    start_gateway: GatewayStarter, upstream: MisbehavingUpstream, http: httpx.AsyncClient, behaviour: str
) -> None:
    """The 200 went out with the keep-alives, so the timeout arrives as an SSE error event, whether the
    upstream sent its headers (slow-first) or nothing at all (hang)."""
    upstream.slow_first_s = 3.0
    gw = start_gateway({"chat": [replica(upstream.url, behaviour)]}, timeouts={"first_token_s": 0.5}, keepalive_s=0.1)
    t0 = time.monotonic()
    resp, raw = await post(http, gw, chat(stream=True))
    elapsed = time.monotonic() - t0
    assert resp.status_code == 200
    assert b": keep-alive" in raw
    payloads = data_events(raw)
    assert len(payloads) == 1, raw
    assert b"[DONE]" not in raw
    assert_error(
        orjson.loads(payloads[0]),
        type_="timeout_error",
        code="upstream_timeout",
        contains=("the first token", "timeouts.first_token_s"),
    )
    assert elapsed < 0.5 + MARGIN_S
    # The gateway gave up on the upstream request too.
    call = await only_call(upstream, behaviour)
    assert await wait_for(call.disconnected.is_set, 2)


# -- stream cut mid-way ----------------------------------------------------------------------------


async def test_stream_cut_midway_ends_with_an_error_event(
    start_gateway: GatewayStarter, upstream: MisbehavingUpstream, http: httpx.AsyncClient
) -> None:
    gw = start_gateway({"chat": [replica(upstream.url, "cut", name="cutter")]})
    resp, raw = await post(http, gw, chat(stream=True))
    assert resp.status_code == 200
    assert is_sse(resp)
    payloads = data_events(raw)
    assert b"[DONE]" not in raw
    assert len(payloads) == 3, raw
    first, second = (orjson.loads(p) for p in payloads[:2])
    assert [first["choices"][0]["delta"]["content"], second["choices"][0]["delta"]["content"]] == STREAM_PIECES[:2]
    assert first["model"] == second["model"] == "chat"  # the pool's name, not the upstream's
    assert_error(
        orjson.loads(payloads[2]), type_="upstream_error", code="bad_gateway", contains=("cutter: ", "broke off")
    )


async def test_stream_cut_midway_raises_apierror_in_the_openai_sdk(
    start_gateway: GatewayStarter, upstream: MisbehavingUpstream
) -> None:
    gw = start_gateway({"chat": [replica(upstream.url, "cut")]})
    received: list[str] = []
    async with sdk(gw) as client:
        stream = await client.chat.completions.create(model="chat", messages=MESSAGES, stream=True)

        async def consume() -> None:
            async for chunk in stream:
                received.append(chunk.choices[0].delta.content or "")

        with pytest.raises(openai.APIError) as info:
            await consume()
    assert not isinstance(info.value, openai.APIStatusError)  # the status was 200: the error came in-band
    assert received == STREAM_PIECES[:2]
    assert "broke off" in info.value.message
    assert isinstance(info.value.body, dict)
    assert info.value.body["code"] == "bad_gateway"


# -- hung upstream and timeouts --------------------------------------------------------------------


async def test_hung_upstream_stream_is_504_within_first_token_s(
    start_gateway: GatewayStarter, upstream: MisbehavingUpstream, http: httpx.AsyncClient
) -> None:
    """Within the keep-alive window nothing is committed yet, so the timeout is a real 504."""
    gw = start_gateway(
        {"chat": [replica(upstream.url, "hang", name="sleepy")]}, timeouts={"first_token_s": 0.5}, keepalive_s=2.0
    )
    t0 = time.monotonic()
    resp, raw = await post(http, gw, chat(stream=True))
    elapsed = time.monotonic() - t0
    assert resp.status_code == 504
    assert not is_sse(resp)
    assert_error(orjson.loads(raw), type_="timeout_error", code="upstream_timeout", contains=("sleepy: ", "0.5s"))
    assert 0.45 <= elapsed < 0.5 + MARGIN_S
    call = await only_call(upstream, "hang")
    assert await wait_for(call.disconnected.is_set, 2), "the gateway kept the hung upstream request open"


async def test_hung_upstream_plain_is_504_within_total_s(
    start_gateway: GatewayStarter, upstream: MisbehavingUpstream, http: httpx.AsyncClient
) -> None:
    """A non-streaming answer only exists as a whole, so its limit is total_s (not first_token_s)."""
    gw = start_gateway(
        {"chat": [replica(upstream.url, "hang", name="sleepy")]}, timeouts={"first_token_s": 0.3, "total_s": 1.0}
    )
    t0 = time.monotonic()
    resp, raw = await post(http, gw, chat())
    elapsed = time.monotonic() - t0
    assert resp.status_code == 504
    assert_error(orjson.loads(raw), type_="timeout_error", code="upstream_timeout", contains=("sleepy: ", "1s"))
    assert 0.95 <= elapsed < 1.0 + MARGIN_S
    call = await only_call(upstream, "hang")
    assert await wait_for(call.disconnected.is_set, 2), "the gateway kept the hung upstream request open"


async def test_stalled_stream_hits_the_idle_timeout(
    start_gateway: GatewayStarter, upstream: MisbehavingUpstream, http: httpx.AsyncClient
) -> None:
    gw = start_gateway({"chat": [replica(upstream.url, "stall")]}, timeouts={"idle_s": 0.5})
    t0 = time.monotonic()
    resp, raw = await post(http, gw, chat(stream=True))
    elapsed = time.monotonic() - t0
    assert resp.status_code == 200
    payloads = data_events(raw)
    assert b"[DONE]" not in raw
    assert len(payloads) == 3, raw
    assert_error(
        orjson.loads(payloads[-1]),
        type_="timeout_error",
        code="upstream_timeout",
        contains=("the next token", "0.5s"),
    )
    assert elapsed < upstream.cut_after_s + 0.5 + MARGIN_S
    call = await only_call(upstream, "stall")
    assert await wait_for(call.disconnected.is_set, 2), "the gateway kept the stalled upstream stream open"


async def test_total_timeout_ends_a_stream_that_never_stops(
    start_gateway: GatewayStarter, upstream: MisbehavingUpstream, http: httpx.AsyncClient
) -> None:
    upstream.trickle_interval_s = 0.05  # well inside idle_s: only total_s can stop it
    gw = start_gateway({"chat": [replica(upstream.url, "trickle")]}, timeouts={"idle_s": 0.5, "total_s": 1.0})
    t0 = time.monotonic()
    resp, raw = await post(http, gw, chat(stream=True))
    elapsed = time.monotonic() - t0
    assert resp.status_code == 200
    payloads = data_events(raw)
    assert b"[DONE]" not in raw
    assert 5 <= len(payloads) - 1 < upstream.trickle_chunks
    assert_error(orjson.loads(payloads[-1]), type_="timeout_error", code="upstream_timeout")
    assert 0.95 <= elapsed < 1.0 + MARGIN_S
    call = await only_call(upstream, "trickle")
    assert await wait_for(call.disconnected.is_set, 2)


async def test_total_timeout_error_names_the_total_limit(
    start_gateway: GatewayStarter, upstream: MisbehavingUpstream, http: httpx.AsyncClient
) -> None:
    upstream.trickle_interval_s = 0.05
    gw = start_gateway({"chat": [replica(upstream.url, "trickle")]}, timeouts={"idle_s": 0.5, "total_s": 1.0})
    _, raw = await post(http, gw, chat(stream=True))
    err = orjson.loads(data_events(raw)[-1])["error"]
    assert err["code"] == "upstream_timeout"
    assert "within 1s" in err["message"], err["message"]


# -- upstream 4xx ----------------------------------------------------------------------------------


@STREAM
@pytest.mark.parametrize(
    ("behaviour", "status", "message", "code", "param"),
    [
        ("client-error", 400, CLIENT_ERROR["message"], CLIENT_ERROR["code"], CLIENT_ERROR["param"]),
        ("status-404", 404, "upstream says 404", None, None),
        ("status-422", 422, "upstream says 422", None, None),
    ],
)
async def test_upstream_4xx_passes_through(
    start_gateway: GatewayStarter,
    upstream: MisbehavingUpstream,
    http: httpx.AsyncClient,
    behaviour: str,
    status: int,
    message: str,
    code: str | None,
    param: str | None,
    stream: bool,
) -> None:
    # Also: a 4xx is the caller's fault, not the replica's, so it must neither fail over nor open
    # the breaker (threshold 2, four requests, all four reach the upstream).
    gw = start_gateway(
        {"chat": [replica(upstream.url, behaviour), replica(upstream.url, "ok")]},
        breaker={"failure_threshold": 2},
        balancer="round_robin",
    )
    seen = 0
    for _ in range(8):
        resp, raw = await post(http, gw, chat(stream=stream))
        if resp.status_code == 200:
            continue  # the other replica's turn
        seen += 1
        assert resp.status_code == status
        assert not is_sse(resp)
        err = assert_error(orjson.loads(raw), type_="invalid_request_error", code=code)
        assert err["message"] == message
        assert err["param"] == param
    assert seen == upstream.count(behaviour) == 4
    assert upstream.count("ok") == 4  # no failover after a 4xx


# -- circuit breaker -------------------------------------------------------------------------------


async def test_breaker_opens_after_threshold_and_spares_the_upstream(
    start_gateway: GatewayStarter, upstream: MisbehavingUpstream, http: httpx.AsyncClient
) -> None:
    gw = start_gateway(
        {"chat": [replica(upstream.url, "error500", name="boom")]},
        breaker={"failure_threshold": 3, "cooldown_s": 30.0},
    )
    for _ in range(3):
        resp, raw = await post(http, gw, chat())
        assert resp.status_code >= 500
        assert "circuit open" not in orjson.loads(raw)["error"]["message"]
    assert upstream.count("error500") == 3
    for stream in (False, True, False):
        t0 = time.monotonic()
        resp, raw = await post(http, gw, chat(stream=stream))
        assert time.monotonic() - t0 < 0.5  # refused on the spot
        assert resp.status_code == 503
        assert_error(
            orjson.loads(raw),
            type_="service_unavailable",
            code="upstream_unavailable",
            contains=("boom: circuit open after repeated failures", UPSTREAM_500_MESSAGE),
        )
    assert upstream.count("error500") == 3  # no request reached it while open
    assert await metric(http, gw, "blacksoil_tokens_circuit_state", replica="boom") == 2


async def test_breaker_half_opens_after_cooldown_then_closes_on_success(
    start_gateway: GatewayStarter, upstream: MisbehavingUpstream, http: httpx.AsyncClient
) -> None:
    upstream.alias("flaky", "error500")
    gw = start_gateway(
        {"chat": [replica(upstream.url, "flaky", name="flaky")]}, breaker={"failure_threshold": 2, "cooldown_s": 0.5}
    )
    for _ in range(2):
        assert (await post(http, gw, chat()))[0].status_code >= 500
    resp, raw = await post(http, gw, chat())
    assert "circuit open" in orjson.loads(raw)["error"]["message"]
    assert upstream.count("flaky") == 2

    await asyncio.sleep(0.55)  # cooldown over: one trial goes through, fails, and reopens the breaker
    assert (await post(http, gw, chat()))[0].status_code >= 500
    assert upstream.count("flaky") == 3
    resp, raw = await post(http, gw, chat())
    assert "circuit open" in orjson.loads(raw)["error"]["message"]
    assert upstream.count("flaky") == 3

    upstream.alias("flaky", "ok")  # the replica recovers
    await asyncio.sleep(0.55)
    for _ in range(3):
        resp, raw = await post(http, gw, chat())
        assert resp.status_code == 200, raw
    assert upstream.count("flaky") == 6
    assert await metric(http, gw, "blacksoil_tokens_circuit_state", replica="flaky") == 0


async def test_open_breaker_sends_all_traffic_to_the_other_replica(
    start_gateway: GatewayStarter, upstream: MisbehavingUpstream, http: httpx.AsyncClient
) -> None:
    gw = start_gateway(
        {"chat": [replica(upstream.url, "error500", name="boom"), replica(upstream.url, "ok", name="good")]},
        breaker={"failure_threshold": 1, "cooldown_s": 30.0},
    )
    for stream in (False, True) * 3:
        resp, raw = await post(http, gw, chat(stream=stream))
        assert resp.status_code == 200, raw
    assert upstream.count("error500") == 1  # tried once, then skipped while open
    assert upstream.count("ok") == 6


# -- client disconnects ----------------------------------------------------------------------------


async def test_client_disconnect_mid_stream_reaches_the_upstream(
    start_gateway: GatewayStarter, upstream: MisbehavingUpstream
) -> None:
    upstream.trickle_interval_s = 0.1  # 100 chunks: 10 s if nobody stops it
    gw = start_gateway({"chat": [replica(upstream.url, "trickle")]}, timeouts={"total_s": 30.0})
    reader, writer = await raw_connection(gw, chat(stream=True))
    head = await read_until(reader, b"data: ", 2)
    assert head.startswith(b"HTTP/1.1 200")
    call = await only_call(upstream, "trickle")
    assert not call.disconnected.is_set()
    writer.close()
    await writer.wait_closed()
    closed_at = time.monotonic()
    assert await wait_for(call.disconnected.is_set, 2), "the upstream never saw the client go away"
    assert call.disconnected_at is not None
    assert call.disconnected_at - closed_at < 1.5
    assert not call.finished.is_set()
    assert call.chunks_sent < upstream.trickle_chunks


async def test_client_disconnect_during_keepalives_reaches_the_upstream(
    start_gateway: GatewayStarter, upstream: MisbehavingUpstream
) -> None:
    upstream.slow_first_s = 5.0
    gw = start_gateway({"chat": [replica(upstream.url, "slow-first")]}, timeouts={"first_token_s": 10.0})
    reader, writer = await raw_connection(gw, chat(stream=True))
    await read_until(reader, b": keep-alive", 1)
    call = await only_call(upstream, "slow-first")
    writer.close()
    await writer.wait_closed()
    assert await wait_for(call.disconnected.is_set, 2), "the upstream never saw the client go away"
    assert call.chunks_sent == 0


@pytest.mark.parametrize(("behaviour", "stream"), [("hang", False), ("slow-headers", True)], ids=["plain", "stream"])
async def test_client_disconnect_before_the_response_reaches_the_upstream(
    start_gateway: GatewayStarter, upstream: MisbehavingUpstream, behaviour: str, stream: bool
) -> None:
    upstream.slow_first_s = 5.0
    gw = start_gateway({"chat": [replica(upstream.url, behaviour)]}, timeouts={"first_token_s": 10.0, "total_s": 10.0})
    _, writer = await raw_connection(gw, chat(stream=stream))
    call = await only_call(upstream, behaviour)
    writer.close()
    await writer.wait_closed()
    assert await wait_for(call.disconnected.is_set, 2), "the upstream never saw the client go away"


# -- the unmodified openai SDK ---------------------------------------------------------------------


@pytest.fixture
def zoo(start_gateway: GatewayStarter, upstream: MisbehavingUpstream, refused_url: str) -> RunningGateway:
    """One gateway with a model per failure."""
    return start_gateway(
        {
            "fine": [replica(upstream.url, "ok")],
            "dead": [replica(refused_url, "ok")],
            "broken": [replica(upstream.url, "bad-json")],
            "hung": [replica(upstream.url, "hang")],
            "picky": [replica(upstream.url, "client-error")],
        },
        timeouts={"first_token_s": 0.5, "total_s": 0.5},
        keepalive_s=2.0,
    )


@STREAM
@pytest.mark.parametrize(
    ("model", "exc_type", "status", "code"),
    [
        ("dead", openai.InternalServerError, 503, "upstream_unavailable"),
        ("broken", openai.InternalServerError, 502, "bad_gateway"),
        ("hung", openai.InternalServerError, 504, "upstream_timeout"),
        ("picky", openai.BadRequestError, 400, CLIENT_ERROR["code"]),
        ("no-such-model", openai.NotFoundError, 404, "model_not_found"),
    ],
)
async def test_openai_sdk_gets_the_right_exception(
    zoo: RunningGateway, model: str, exc_type: type[openai.APIStatusError], status: int, code: str, stream: bool
) -> None:
    async with sdk(zoo) as client:
        t0 = time.monotonic()
        with pytest.raises(openai.APIStatusError) as info:
            await client.chat.completions.create(model=model, messages=MESSAGES, stream=stream)
        assert time.monotonic() - t0 < 0.5 + MARGIN_S
    assert type(info.value) is exc_type
    assert info.value.status_code == status
    assert isinstance(info.value.body, dict)
    assert info.value.body["code"] == code


async def test_openai_sdk_works_against_the_same_gateway(zoo: RunningGateway) -> None:
    """Sanity check for the table above: the healthy model next to the broken ones serves normally."""
    async with sdk(zoo) as client:
        done = await client.chat.completions.create(model="fine", messages=MESSAGES)
        assert done.choices[0].message.content == COMPLETION_TEXT
        assert done.model == "fine"
        stream = await client.chat.completions.create(
            model="fine", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
        )
        text, usage = "", None
        async for chunk in stream:
            if chunk.choices:
                text += chunk.choices[0].delta.content or ""
            if chunk.usage:
                usage = chunk.usage
        assert text == "".join(STREAM_PIECES)
        assert usage is not None
        assert usage.completion_tokens == len(STREAM_PIECES)


# -- health checks --------------------------------------------------------------------------------


async def test_health_checks_take_a_dead_replica_out_and_readyz_reports_it(
    start_gateway: GatewayStarter, upstream: MisbehavingUpstream, refused_url: str, http: httpx.AsyncClient
) -> None:
    gw = start_gateway(
        {
            "chat": [replica(refused_url, "ok", name="dead"), replica(upstream.url, "ok", name="alive")],
            "lonely": [replica(refused_url, "ok", name="gone")],
        },
        health_interval_s=0.1,
    )
    dead = gw.gateway.pools["chat"].replicas[0]
    assert await wait_for(lambda: not dead.healthy, 3), "the health loop never marked the dead replica"
    assert "cannot connect" in (dead.last_error or "") or "failed" in (dead.last_error or "")
    ready = await http.get(gw.url + "/readyz")
    assert ready.status_code == 503  # "lonely" has no healthy replica
    assert await metric(http, gw, "blacksoil_tokens_replica_healthy", replica="dead") == 0
    assert await metric(http, gw, "blacksoil_tokens_replica_healthy", replica="alive") == 1
    for _ in range(4):  # the dead replica is not even tried: no failed attempts pile up
        resp, _ = await post(http, gw, chat())
        assert resp.status_code == 200
    assert await metric(http, gw, "blacksoil_tokens_requests_total", replica="dead", outcome="error") == 0
    assert await metric(http, gw, "blacksoil_tokens_requests_total", replica="alive", outcome="ok") == 4
    resp, raw = await post(http, gw, chat(model="lonely"))
    assert resp.status_code == 503
    assert_error(orjson.loads(raw), type_="service_unavailable", code="upstream_unavailable", contains=("unhealthy",))


# -- what reaches the upstream ----------------------------------------------------------------------


@STREAM
async def test_body_is_forwarded_verbatim_with_the_upstream_model_name(
    start_gateway: GatewayStarter, upstream: MisbehavingUpstream, http: httpx.AsyncClient, stream: bool
) -> None:
    tool = {"type": "function", "function": {"name": "lookup", "parameters": {"type": "object", "properties": {}}}}
    extra = {"tools": [tool], "tool_choice": "auto", "top_k": 7, "seed": 3, "stop": ["\n\n"]}
    gw = start_gateway({"public-name": [replica(upstream.url, "ok")]})
    resp, raw = await post(http, gw, chat(model="public-name", stream=stream, **extra))
    assert resp.status_code == 200
    body = (await only_call(upstream, "ok")).body
    assert body["model"] == "ok"  # the name the upstream knows
    for key, value in extra.items():
        assert body[key] == value, key
    if stream:  # always asked, so the gateway can count tokens; not shown to a client that did not ask
        assert body["stream_options"] == {"include_usage": True}
        assert all(orjson.loads(e).get("choices") for e in data_events(raw) if e != b"[DONE]")
    else:
        assert orjson.loads(raw)["model"] == "public-name"
