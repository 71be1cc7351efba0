"""End to end through the unmodified openai SDK against the real embedded engine."""

from __future__ import annotations

import asyncio
import base64
import math
import struct
import time
from collections.abc import AsyncIterator

import httpx
import openai
import pytest

from tests.conftest import MODEL, TEST_CTX, EmbeddedServer

pytestmark = pytest.mark.embedded


@pytest.fixture
async def client(embedded_server: EmbeddedServer) -> AsyncIterator[openai.AsyncOpenAI]:
    async with openai.AsyncOpenAI(base_url=embedded_server.url + "/v1", api_key="unused", max_retries=0) as sdk:
        yield sdk


def _chat(content: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": content}]


async def test_models_lists_the_embedded_model(client: openai.AsyncOpenAI) -> None:
    models = await client.models.list()
    assert [m.id for m in models.data] == [MODEL]
    assert (await client.models.retrieve(MODEL)).id == MODEL


async def test_chat_completion(client: openai.AsyncOpenAI) -> None:
    reply = await client.chat.completions.create(
        model=MODEL, messages=_chat("What is the capital of France?"), max_tokens=24, temperature=0
    )
    assert reply.model == MODEL
    assert reply.object == "chat.completion"
    choice = reply.choices[0]
    assert choice.message.role == "assistant"
    assert choice.message.content and choice.message.content.strip()
    assert choice.finish_reason in ("stop", "length")
    assert reply.usage is not None
    assert reply.usage.prompt_tokens > 5
    assert 0 < reply.usage.completion_tokens <= 24


async def test_chat_stream_with_usage(client: openai.AsyncOpenAI) -> None:
    stream = await client.chat.completions.create(
        model=MODEL,
        messages=_chat("Name three rivers."),
        max_tokens=16,
        temperature=0,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = [chunk async for chunk in stream]
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert text.strip()
    assert finishes in (["stop"], ["length"])
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None and 0 < chunks[-1].usage.completion_tokens <= 16
    assert all(c.model == MODEL for c in chunks)


async def test_stream_without_usage_has_no_usage_chunk(client: openai.AsyncOpenAI) -> None:
    stream = await client.chat.completions.create(model=MODEL, messages=_chat("Hi"), max_tokens=4, stream=True)
    chunks = [chunk async for chunk in stream]
    assert all(c.choices for c in chunks)


async def test_greedy_is_deterministic_and_seed_repeats(client: openai.AsyncOpenAI) -> None:
    async def once(**kw: object) -> str:
        reply = await client.completions.create(model=MODEL, prompt="Once upon a time", max_tokens=12, **kw)  # type: ignore[call-overload]
        return str(reply.choices[0].text)

    assert await once(temperature=0) == await once(temperature=0)
    assert await once(temperature=1.0, seed=1234) == await once(temperature=1.0, seed=1234)


async def test_completion_max_tokens_and_stop(client: openai.AsyncOpenAI) -> None:
    capped = await client.completions.create(model=MODEL, prompt="1, 2, 3, 4,", max_tokens=3, temperature=0)
    assert capped.usage is not None and capped.usage.completion_tokens == 3
    assert capped.choices[0].finish_reason == "length"
    stopped = await client.completions.create(
        model=MODEL, prompt="1, 2, 3, 4, 5,", max_tokens=30, temperature=0, stop=["8"]
    )
    text = stopped.choices[0].text
    assert "8" not in text
    assert "6" in text and "7" in text  # it counted on, and stopped where asked
    assert stopped.choices[0].finish_reason == "stop"


async def test_completion_stream(client: openai.AsyncOpenAI) -> None:
    stream = await client.completions.create(model=MODEL, prompt="The sky is", max_tokens=8, stream=True)
    pieces = [c.choices[0].text async for c in stream if c.choices]
    assert "".join(pieces).strip()


async def test_embeddings_base64_and_float(client: openai.AsyncOpenAI, embedded_server: EmbeddedServer) -> None:
    result = await client.embeddings.create(model=MODEL, input=["a red apple", "a green apple"])
    vectors = [item.embedding for item in result.data]
    assert len(vectors) == 2 and len(vectors[0]) == len(vectors[1]) == 640
    assert math.isclose(math.sqrt(sum(v * v for v in vectors[0])), 1.0, rel_tol=1e-3)
    assert vectors[0] != vectors[1]
    async with httpx.AsyncClient(base_url=embedded_server.url) as http:
        raw = await http.post(
            "/v1/embeddings",
            json={"model": MODEL, "input": "a red apple", "encoding_format": "base64", "dimensions": 64},
        )
    assert raw.status_code == 200
    data = base64.b64decode(raw.json()["data"][0]["embedding"])
    short = struct.unpack(f"<{len(data) // 4}f", data)
    assert len(short) == 64
    assert math.isclose(math.sqrt(sum(v * v for v in short)), 1.0, rel_tol=1e-3)


async def test_unknown_model_is_404(client: openai.AsyncOpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as info:
        await client.chat.completions.create(model="nope", messages=_chat("hi"))
    assert "nope" in info.value.message and MODEL in info.value.message


@pytest.mark.parametrize(
    ("extra", "param"),
    [({"temperature": 3}, "temperature"), ({"n": 2}, "n"), ({"top_p": -1}, "top_p"), ({"max_tokens": 0}, "max_tokens")],
)
async def test_bad_parameters_are_400(client: openai.AsyncOpenAI, extra: dict[str, object], param: str) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        await client.chat.completions.create(model=MODEL, messages=_chat("hi"), **extra)  # type: ignore[call-overload]
    assert info.value.body["param"] == param  # type: ignore[index]


async def test_context_too_long_is_400(client: openai.AsyncOpenAI) -> None:
    long_prompt = "word " * (TEST_CTX + 100)
    with pytest.raises(openai.BadRequestError) as info:
        await client.completions.create(model=MODEL, prompt=long_prompt, max_tokens=4)
    assert info.value.code == "context_length_exceeded"
    with pytest.raises(openai.BadRequestError):  # fits alone, not with the requested output
        await client.completions.create(model=MODEL, prompt="hello", max_tokens=TEST_CTX)


async def test_tools_are_refused_by_the_base_model(client: openai.AsyncOpenAI) -> None:
    tool = {"type": "function", "function": {"name": "f", "parameters": {"type": "object", "properties": {}}}}
    with pytest.raises(openai.BadRequestError) as info:
        await client.chat.completions.create(model=MODEL, messages=_chat("hi"), tools=[tool])  # type: ignore[list-item]
    assert "tools" in info.value.message


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b"{not json", "not valid JSON"),
        (b"[1, 2]", "JSON object"),
        (b"", "empty"),
        (b'{"model": "gemma-3-270m"}', "messages"),
        (b'{"model": "gemma-3-270m", "messages": []}', "messages"),
        (b'{"model": "gemma-3-270m", "messages": [{"role": "wizard", "content": "x"}]}', "role"),
    ],
)
async def test_malformed_requests_are_400(embedded_server: EmbeddedServer, body: bytes, fragment: str) -> None:
    async with httpx.AsyncClient(base_url=embedded_server.url) as http:
        resp = await http.post("/v1/chat/completions", content=body, headers={"content-type": "application/json"})
    assert resp.status_code == 400
    error = resp.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert fragment in error["message"]


async def test_concurrent_requests_are_all_served(client: openai.AsyncOpenAI) -> None:
    async def one(i: int) -> tuple[str, str | None]:
        stream = await client.chat.completions.create(
            model=MODEL, messages=_chat(f"Count to {i + 3}."), max_tokens=12, temperature=0, stream=True
        )
        text, finish = "", None
        async for chunk in stream:
            text += chunk.choices[0].delta.content or ""
            finish = chunk.choices[0].finish_reason or finish
        return text, finish

    results = await asyncio.gather(*(one(i) for i in range(4)))
    assert all(finish in ("stop", "length") for _, finish in results)
    assert all(text for text, _ in results)


async def test_client_disconnect_cancels_generation(
    client: openai.AsyncOpenAI, embedded_server: EmbeddedServer
) -> None:
    replica = embedded_server.gateway.pools[MODEL].replicas[0]
    stream = await client.completions.create(
        model=MODEL, prompt="A very long story:", max_tokens=1500, temperature=1.0, stream=True
    )
    async for _ in stream:
        break
    await stream.close()
    started = time.monotonic()
    while replica.in_flight and time.monotonic() - started < 5:
        await asyncio.sleep(0.05)
    assert replica.in_flight == 0, "the abandoned stream is still generating"
    quick = await client.completions.create(model=MODEL, prompt="Hello", max_tokens=4)
    assert quick.choices[0].text is not None
    # 1,500 tokens take about a minute here: the next request was not stuck behind them.
    assert time.monotonic() - started < 15


async def test_ops_endpoints_and_metrics(client: openai.AsyncOpenAI, embedded_server: EmbeddedServer) -> None:
    await client.chat.completions.create(model=MODEL, messages=_chat("Hi"), max_tokens=3, stream=False)
    async with httpx.AsyncClient(base_url=embedded_server.url) as http:
        assert (await http.get("/healthz")).json() == {"status": "ok"}
        assert (await http.get("/readyz")).status_code == 200
        text = (await http.get("/metrics")).text
        missing = await http.get("/v1/nothing-here")
    assert missing.status_code == 404 and missing.json()["error"]["type"] == "not_found_error"
    for name in (
        "blacksoil_tokens_time_to_first_token_seconds_count",
        "blacksoil_tokens_completion_tokens_total",
        "blacksoil_tokens_in_flight",
        "blacksoil_tokens_queue_depth",
        "blacksoil_tokens_requests_total",
    ):
        series = [line for line in text.splitlines() if line.startswith(name + "{")]
        assert any(f'model="{MODEL}"' in s and f'replica="{MODEL}/0"' in s for s in series), name


async def test_client_disconnect_cancels_a_non_streaming_request(embedded_server: EmbeddedServer) -> None:
    replica = embedded_server.gateway.pools[MODEL].replicas[0]
    body = {"model": MODEL, "prompt": "A very long story:", "max_tokens": 1500, "temperature": 1.0}
    async with httpx.AsyncClient(base_url=embedded_server.url, timeout=1.0) as http:
        with pytest.raises(httpx.ReadTimeout):
            await http.post("/v1/completions", json=body)
    started = time.monotonic()
    while replica.in_flight and time.monotonic() - started < 5:
        await asyncio.sleep(0.05)
    assert replica.in_flight == 0, "the abandoned request is still generating"
    while replica.engine.queue_depth() and time.monotonic() - started < 5:
        await asyncio.sleep(0.05)
    assert replica.engine.queue_depth() == 0
