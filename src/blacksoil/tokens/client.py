"""An HTTP client for the token plane with the gateway's method names.

Other planes (and agents) use this to reach a gateway that runs in another process::

    async with TokensClient("http://127.0.0.1:8400") as tokens:
        reply = await tokens.generate("chat", {"model": "gemma-3-270m", "messages": [...]})
        async for chunk in await tokens.open_stream("chat", {...}):
            ...

Errors come back as the same exception classes the gateway raises in-process, chosen by the
status code of OpenAI's error shape.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from types import TracebackType
from typing import Any

import aiohttp
import orjson

from blacksoil.core.errors import BlacksoilError, InvalidRequestError, NotFoundError
from blacksoil.tokens.errors import (
    UpstreamBadResponseError,
    UpstreamError,
    UpstreamTimeoutError,
    UpstreamUnavailableError,
)
from blacksoil.tokens.types import Chunk, Completion, Kind

_PATHS = {"chat": "/v1/chat/completions", "completion": "/v1/completions"}


class TokensClient:
    def __init__(self, base_url: str, api_key: str | None = None, timeout_s: float = 600.0) -> None:
        self.base_url = base_url.rstrip("/")
        headers = {"Content-Type": "application/json"}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        self._headers = headers
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> TokensClient:
        _ = self.session  # open the connection pool now
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(headers=self._headers, timeout=self._timeout)
        return self._session

    async def models(self) -> list[dict[str, Any]]:
        async with self.session.get(self.base_url + "/v1/models") as resp:
            body = await _json(resp)
        return list(body["data"])

    async def catalog(self) -> dict[str, Any]:
        """The router's catalog: strategies, predictor, and each model's facts and live state."""
        async with self.session.get(self.base_url + "/v1/router") as resp:
            result: dict[str, Any] = await _json(resp)
        return result

    async def generate(self, kind: Kind, body: dict[str, Any]) -> Completion:
        async with self.session.post(self.base_url + _PATHS[kind], data=orjson.dumps({**body, "stream": False})) as r:
            result: Completion = await _json(r)
        return result

    async def embed(self, body: dict[str, Any]) -> dict[str, Any]:
        async with self.session.post(self.base_url + "/v1/embeddings", data=orjson.dumps(body)) as resp:
            result: dict[str, Any] = await _json(resp)
        return result

    async def open_stream(self, kind: Kind, body: dict[str, Any]) -> AsyncIterator[Chunk]:
        resp = await self.session.post(self.base_url + _PATHS[kind], data=orjson.dumps({**body, "stream": True}))
        if resp.status >= 400:
            await _json(resp)  # raises the mapped error
        return _events(resp)


async def _events(resp: aiohttp.ClientResponse) -> AsyncIterator[Chunk]:
    try:
        async for line in resp.content:
            if not line.startswith(b"data:"):
                continue
            payload = line[5:].strip()
            if payload == b"[DONE]":
                return
            data = orjson.loads(payload)
            if "error" in data:
                raise _error(502, data)
            yield data
        raise UpstreamBadResponseError("the stream ended before [DONE]")
    finally:
        resp.close()


async def _json(resp: aiohttp.ClientResponse) -> Any:
    raw = await resp.read()
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        data = {"error": {"message": raw[:500].decode("utf-8", "replace")}}
    if resp.status >= 400:
        raise _error(resp.status, data)
    return data


def _error(status: int, data: Any) -> BlacksoilError:
    err = data.get("error") if isinstance(data, dict) else None
    err = err if isinstance(err, dict) else {"message": str(data)}
    message, code, param = str(err.get("message", "")), err.get("code"), err.get("param")
    cls: type[BlacksoilError] = {
        404: NotFoundError,
        502: UpstreamBadResponseError,
        503: UpstreamUnavailableError,
        504: UpstreamTimeoutError,
    }.get(status, InvalidRequestError if status < 500 else UpstreamError)
    if cls is UpstreamBadResponseError:
        return UpstreamBadResponseError(message)
    error = cls(message, code=code, param=param)
    error.status = status
    return error
