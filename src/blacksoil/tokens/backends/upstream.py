"""An engine that forwards to any OpenAI-compatible server (vLLM, SGLang, llama.cpp server, Ollama).

The request body is forwarded as the client sent it, with ``model`` replaced by the name the
upstream knows. Streams are read line by line and yielded as soon as each ``data:`` line arrives;
nothing is buffered. Connections are pooled (keep-alive) per replica.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import orjson

from blacksoil.tokens.config import TimeoutConfig, UpstreamReplicaConfig
from blacksoil.tokens.engine import Engine
from blacksoil.tokens.errors import (
    UpstreamBadResponseError,
    UpstreamClientError,
    UpstreamError,
    UpstreamUnavailableError,
)
from blacksoil.tokens.types import Batch, Completion, EmbeddingRequest, GenerationRequest

_PATHS = {"chat": "/chat/completions", "completion": "/completions"}
_JSON = {"Content-Type": "application/json"}


class UpstreamEngine(Engine):
    def __init__(self, name: str, pool_model: str, config: UpstreamReplicaConfig, timeouts: TimeoutConfig):
        self.name = name
        self.config = config
        self.model = config.model or pool_model
        self.base_url = str(config.base_url).rstrip("/")
        self.timeouts = timeouts
        self._headers = dict(_JSON)
        if config.api_key:
            self._headers["Authorization"] = f"Bearer {config.api_key}"
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        connector = aiohttp.TCPConnector(limit=self.config.max_connections, keepalive_timeout=30)
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(total=None, connect=self.timeouts.connect_s),
            headers=self._headers,
            skip_auto_headers=("User-Agent",),
        )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise UpstreamUnavailableError(f"replica {self.name} is not started")
        return self._session

    async def check_health(self) -> None:
        url = self.base_url + self.config.health_path
        timeout = aiohttp.ClientTimeout(total=self.timeouts.health_s)
        try:
            async with self.session.get(url, timeout=timeout) as resp:
                if resp.status >= 400:
                    raise UpstreamUnavailableError(f"health check GET {url} answered {resp.status}")
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise UpstreamUnavailableError(f"health check GET {url} failed: {_describe(exc)}") from exc

    async def generate(self, request: GenerationRequest) -> Completion:
        resp = await self._post(_PATHS[request.kind], self._body(request, stream=False))
        try:
            data = await resp.read()
        except aiohttp.ClientError as exc:
            raise UpstreamBadResponseError(f"{self.name}: reading the response failed: {_describe(exc)}") from exc
        finally:
            resp.release()
        result = _loads(data, self.name)
        if not isinstance(result, dict) or "choices" not in result:
            raise UpstreamBadResponseError(f"{self.name}: the response is not an OpenAI completion object")
        return result  # type: ignore[return-value]

    async def open_stream(self, request: GenerationRequest) -> AsyncIterator[Batch]:
        resp = await self._post(_PATHS[request.kind], self._body(request, stream=True))
        return self._read_stream(resp)

    async def embed(self, request: EmbeddingRequest) -> dict[str, Any]:
        body = request.model_dump(exclude_none=True)
        body["model"] = self.model
        resp = await self._post("/embeddings", orjson.dumps(body))
        try:
            data = await resp.read()
        finally:
            resp.release()
        result = _loads(data, self.name)
        if not isinstance(result, dict) or "data" not in result:
            raise UpstreamBadResponseError(f"{self.name}: the response is not an OpenAI embeddings list")
        return result

    def _body(self, request: GenerationRequest, *, stream: bool) -> bytes:
        body = dict(request.body)
        body["model"] = self.model
        body["stream"] = stream
        if stream:
            # Always ask for usage so the gateway can count tokens; it drops the chunk if unwanted.
            body["stream_options"] = {**(body.get("stream_options") or {}), "include_usage": True}
        return orjson.dumps(body)

    async def _post(self, path: str, data: bytes) -> aiohttp.ClientResponse:
        url = self.base_url + path
        try:
            resp = await self.session.post(url, data=data)
        except aiohttp.ClientConnectorError as exc:
            raise UpstreamUnavailableError(f"{self.name}: cannot connect to {url}: {_describe(exc)}") from exc
        except aiohttp.ClientError as exc:
            raise UpstreamUnavailableError(f"{self.name}: request to {url} failed: {_describe(exc)}") from exc
        if resp.status >= 400:
            try:
                raw = await resp.read()
            except aiohttp.ClientError:
                raw = b""
            finally:
                resp.release()
            raise _status_error(self.name, resp.status, raw)
        return resp

    async def _read_stream(self, resp: aiohttp.ClientResponse) -> AsyncIterator[Batch]:
        """Yield the events of each network read as one batch; a partial line waits for the next read."""
        done = False
        tail = b""
        try:
            async for data in resp.content.iter_any():
                *lines, tail = (tail + data).split(b"\n")
                batch: Batch = []
                for line in lines:
                    if not line.startswith(b"data:"):
                        continue  # blank separators, ": comments", "event:" lines
                    payload = line[5:].strip()
                    if payload == b"[DONE]":
                        done = True
                        break
                    chunk = _loads(payload, self.name)
                    if isinstance(chunk, dict) and "error" in chunk:
                        raise _error_from_body(self.name, 502, chunk)
                    batch.append(chunk)
                if batch:
                    yield batch
                if done:
                    break
        except aiohttp.ClientError as exc:
            raise UpstreamBadResponseError(f"{self.name}: the stream broke off: {_describe(exc)}") from exc
        finally:
            if done:
                resp.release()  # the connection goes back to the pool
            else:
                resp.close()  # drop the connection so the upstream stops generating
        if not done:
            raise UpstreamBadResponseError(f"{self.name}: the stream ended before [DONE]")


def _loads(data: bytes, name: str) -> Any:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        snippet = data[:200].decode("utf-8", "replace")
        raise UpstreamBadResponseError(f"{name}: the upstream sent invalid JSON: {snippet!r}") from exc


def _status_error(name: str, status: int, raw: bytes) -> UpstreamError:
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        body = {"error": {"message": raw[:500].decode("utf-8", "replace")}}
    return _error_from_body(name, status, body)


def _error_from_body(name: str, status: int, body: Any) -> UpstreamError:
    err = body.get("error") if isinstance(body, dict) else None
    if isinstance(err, dict):
        message, code, param = str(err.get("message", "")), err.get("code"), err.get("param")
    else:
        message, code, param = str(err or body), None, None
    if 400 <= status < 500 and status not in (408, 429):
        return UpstreamClientError(status, message, code=code if isinstance(code, str) else None, param=param)
    text = f"{name}: the upstream answered {status}: {message}"
    if status in (408, 429) or status >= 500:
        return UpstreamBadResponseError(text, retryable=True)
    return UpstreamBadResponseError(text)


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
