"""HTTP for the token plane: OpenAI's ``/v1`` endpoints over :class:`Gateway`. No logic lives here.

Bodies are parsed with orjson and validated once into the request models; the raw body is kept
so upstream engines receive exactly what the client sent.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from blacksoil.core.http import DisconnectWatch, JSONBytesResponse, parse, read_json
from blacksoil.core.ids import new_id
from blacksoil.tokens.gateway import Gateway
from blacksoil.tokens.sse import SSEResponse
from blacksoil.tokens.types import (
    ChatCompletionRequest,
    CompletionRequest,
    EmbeddingRequest,
    GenerationRequest,
    Kind,
)

MODEL_HEADER = "x-blacksoil-model"
"""The model that served the request; for ``auto`` streams, the one chosen when the headers went out
(a later fallback shows in the chunks' ``model`` field)."""
TENANT_HEADER = "x-blacksoil-tenant"
SENSITIVE_HEADER = "x-blacksoil-sensitive"

_REQUEST_BODY = {"requestBody": {"content": {"application/json": {}}, "required": True}}


def router(gateway: Gateway) -> APIRouter:
    api = APIRouter(prefix="/v1", tags=["tokens"])
    keepalive_s = gateway.config.keepalive_s

    async def generate(
        http: Request, kind: Kind, params: ChatCompletionRequest | CompletionRequest, body: dict[str, Any]
    ) -> Response:
        meta = _routing_meta(http)
        request = GenerationRequest(kind, params, body, request_id=new_id("req"), meta=meta)
        async with DisconnectWatch(http.receive):
            if not params.stream:
                result = await gateway.generate(request)
                headers = {"x-request-id": request.request_id, MODEL_HEADER: result["model"]}
                return JSONBytesResponse(result, headers=headers)

            def stream_headers() -> list[tuple[bytes, bytes]]:
                served = request.meta.get("model", params.model)
                return [(b"x-request-id", request.request_id.encode()), (MODEL_HEADER.encode(), served.encode())]

            return await SSEResponse.start(gateway.open_stream(request), keepalive_s, stream_headers)

    @api.post("/chat/completions", openapi_extra=_REQUEST_BODY, summary="Create a chat completion")
    async def chat_completions(http: Request) -> Response:
        body = await read_json(http)
        return await generate(http, "chat", parse(ChatCompletionRequest, body), body)

    @api.post("/completions", openapi_extra=_REQUEST_BODY, summary="Create a text completion")
    async def completions(http: Request) -> Response:
        body = await read_json(http)
        return await generate(http, "completion", parse(CompletionRequest, body), body)

    @api.post("/embeddings", openapi_extra=_REQUEST_BODY, summary="Create embeddings")
    async def embeddings(http: Request) -> Response:
        params = parse(EmbeddingRequest, await read_json(http))
        return JSONBytesResponse(await gateway.embed(params))

    @api.get("/router", summary="The routing catalog: each model's price, limits, locality and live state")
    async def catalog() -> Response:
        return JSONBytesResponse(gateway.catalog())

    @api.get("/models", summary="List the models this gateway serves")
    async def models() -> Response:
        data = [{"id": m.id, "object": "model", "created": m.created, "owned_by": m.owned_by} for m in gateway.models()]
        return JSONBytesResponse({"object": "list", "data": data})

    @api.get("/models/{model:path}", summary="Describe one model")
    async def model(model: str) -> Response:
        card = gateway.pool(model)
        return JSONBytesResponse(
            {"id": card.name, "object": "model", "created": card.created, "owned_by": card.owned_by}
        )

    return api


def _routing_meta(http: Request) -> dict[str, Any]:
    """What the router reads from headers: the tenant and whether the request is sensitive."""
    meta: dict[str, Any] = {}
    tenant = http.headers.get(TENANT_HEADER)
    if tenant:
        meta["tenant"] = tenant
    if http.headers.get(SENSITIVE_HEADER, "").lower() in ("1", "true", "yes"):
        meta["sensitive"] = True
    return meta
