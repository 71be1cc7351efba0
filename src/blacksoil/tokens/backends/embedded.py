"""The embedded engine: llama.cpp in-process, serving a GGUF model (Gemma 3 270M by default).

The event loop tokenizes, checks the context window and enqueues a job; the worker thread
(``llama_worker.py``) generates and emits text pieces, which hop back onto the loop and become
OpenAI chunks here. Closing a stream early marks its job cancelled: a queued job is skipped and a
running one stops at its next token.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from blacksoil.core.ids import new_id
from blacksoil.kvpool import KVPool
from blacksoil.tokens.config import EmbeddedReplicaConfig
from blacksoil.tokens.engine import Engine
from blacksoil.tokens.errors import (
    ContextLengthError,
    UnsupportedError,
    UpstreamBadResponseError,
    UpstreamUnavailableError,
)
from blacksoil.tokens.prompt import CHAT_STOPS, render_chat
from blacksoil.tokens.types import (
    Batch,
    ChatCompletionRequest,
    Chunk,
    Completion,
    CompletionRequest,
    EmbeddingRequest,
    GenerationRequest,
    make_usage,
)
from blacksoil.tokens.vectors import shape_embedding

try:
    import llama_cpp
    from llama_cpp import Llama

    from blacksoil.kvpool.connectors.llama import LlamaConnector
    from blacksoil.tokens.backends.llama_worker import Job, LlamaWorker
except ImportError as _exc:  # the optional [embedded] extra is not installed
    _IMPORT_ERROR: ImportError | None = _exc
else:
    _IMPORT_ERROR = None

DEFAULT_TEMPERATURE = 0.8
DEFAULT_TOP_P = 0.95


class EmbeddedEngine(Engine):
    def __init__(
        self,
        name: str,
        pool_model: str,
        config: EmbeddedReplicaConfig,
        model_path: Path,
        kv_pool: KVPool | None = None,
        block_tokens: int = 256,
    ) -> None:
        if _IMPORT_ERROR is not None:
            raise UpstreamUnavailableError(
                "the embedded engine needs llama-cpp-python, which is not installed: run `make up` "
                f"(or `pip install 'blacksoil[embedded]'`); import failed with: {_IMPORT_ERROR}"
            )
        self.name = name
        self.model = pool_model
        self.config = config
        self.model_path = model_path
        self.kv_pool = kv_pool
        self.block_tokens = block_tokens
        prefiller = self._connect if kv_pool is not None else None
        self.worker = LlamaWorker(self._load, self._load_embedder if config.embeddings else None, prefiller)

    # -- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        await asyncio.to_thread(self.worker.start)

    async def close(self) -> None:
        await asyncio.to_thread(self.worker.stop)

    async def check_health(self) -> None:
        if self.worker.llm is None:
            raise UpstreamUnavailableError(f"{self.name}: the model is not loaded")

    def queue_depth(self) -> int:
        return self.worker.pending

    def _params(self, embedding: bool) -> dict[str, Any]:
        # llama-cpp-python's default is half the cores for decoding: a third slower on 2 cores.
        threads = self.config.n_threads or os.cpu_count() or 1
        return {
            "model_path": str(self.model_path),
            "n_ctx": self.config.n_ctx,
            "n_batch": self.config.n_batch,
            "n_threads": threads,
            "n_threads_batch": threads,
            "embedding": embedding,
            "verbose": False,
        }

    def _load(self) -> Any:
        return Llama(**self._params(embedding=False))

    def _load_embedder(self) -> Any:
        return Llama(**self._params(embedding=True), pooling_type=llama_cpp.LLAMA_POOLING_TYPE_MEAN)

    def _connect(self, llm: Any) -> Callable[[list[int]], object]:
        """The KV-pool connector's prefill, keyed by the weights' SHA-256 (computed once, on load)."""
        assert self.kv_pool is not None
        with self.model_path.open("rb") as f:
            digest = hashlib.file_digest(f, "sha256").hexdigest()
        return LlamaConnector(llm, self.kv_pool, self.block_tokens, f"sha256:{digest}").prefill

    # -- generation ----------------------------------------------------------------------------

    async def generate(self, request: GenerationRequest) -> Completion:
        chunks = await self.open_stream(request)
        text: list[str] = []
        finish, usage = "stop", make_usage(0, 0)
        async for batch in chunks:
            for chunk in batch:
                if chunk.get("usage"):
                    usage = chunk["usage"] or usage
                for part in chunk["choices"]:
                    piece = part["delta"].get("content") if request.kind == "chat" else part["text"]
                    text.append(piece or "")
                    finish = part.get("finish_reason") or finish
        content = "".join(text)
        choice: dict[str, Any]
        if request.kind == "chat":
            choice = {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "logprobs": None,
                "finish_reason": finish,
            }
            obj = "chat.completion"
        else:
            choice = {"index": 0, "text": content, "logprobs": None, "finish_reason": finish}
            obj = "text_completion"
        return {
            "id": new_id("chatcmpl" if request.kind == "chat" else "cmpl"),
            "object": obj,
            "created": int(time.time()),
            "model": self.model,
            "choices": [choice],
            "usage": usage,
        }

    async def open_stream(self, request: GenerationRequest) -> AsyncIterator[Batch]:
        job = self._job(request)
        events = self._submit(job)
        return self._chunks(request, job, events)

    def _job(self, request: GenerationRequest) -> Job:
        params = request.params
        llm = self.worker.llm
        if llm is None:
            raise UpstreamUnavailableError(f"{self.name}: the model is still loading")
        if isinstance(params, ChatCompletionRequest):
            if params.tools and params.tool_choice != "none":
                raise UnsupportedError(
                    f"The model '{self.model}' (an embedded base model) cannot call tools; send tool "
                    "requests to a model served by an engine that supports them.",
                    param="tools",
                )
            prompt, stops = render_chat(params.messages), [*params.stop_list, *CHAT_STOPS]
        else:
            assert isinstance(params, CompletionRequest)
            prompt, stops = params.prompt_text, params.stop_list
        tokens = llm.tokenize(prompt.encode("utf-8"), add_bos=True, special=False)
        n_ctx = self.config.n_ctx
        room = n_ctx - len(tokens)
        limit = params.token_limit
        if room <= 0 or (limit is not None and limit > room):
            asked = f" + max_tokens {limit}" if limit is not None else ""
            raise ContextLengthError(
                f"This model's maximum context length is {n_ctx} tokens; the prompt has {len(tokens)} tokens"
                f"{asked}. Shorten the prompt or lower max_tokens.",
                param="messages" if isinstance(params, ChatCompletionRequest) else "prompt",
            )
        if self.worker.pending >= self.config.max_queue:
            raise UpstreamUnavailableError(f"{self.name}: {self.worker.pending} requests are queued; retry later")
        return Job(
            emit=lambda event: None,
            tokens=tokens,
            max_tokens=limit or min(room, self.config.default_max_tokens),
            stops=stops,
            strip_leading=isinstance(params, ChatCompletionRequest),
            temperature=DEFAULT_TEMPERATURE if params.temperature is None else params.temperature,
            top_p=DEFAULT_TOP_P if params.top_p is None else params.top_p,
            seed=params.seed,
            reproducible=params.seed is not None or params.temperature == 0,
            presence_penalty=params.presence_penalty or 0.0,
            frequency_penalty=params.frequency_penalty or 0.0,
        )

    def _submit(self, job: Job) -> asyncio.Queue[tuple[Any, ...]]:
        loop = asyncio.get_running_loop()
        events: asyncio.Queue[tuple[Any, ...]] = asyncio.Queue()

        def emit(event: tuple[Any, ...]) -> None:
            loop.call_soon_threadsafe(events.put_nowait, event)

        job.emit = emit
        self.worker.submit(job)
        return events

    async def _chunks(
        self, request: GenerationRequest, job: Job, events: asyncio.Queue[tuple[Any, ...]]
    ) -> AsyncIterator[Batch]:
        chat = request.kind == "chat"
        base = {
            "id": new_id("chatcmpl" if chat else "cmpl"),
            "object": "chat.completion.chunk" if chat else "text_completion",
            "created": int(time.time()),
            "model": self.model,
        }

        def chunk(text: str | None, finish: str | None, role: bool = False) -> Chunk:
            if chat:
                delta: dict[str, Any] = {"content": text} if text is not None else {}
                if role:
                    delta["role"] = "assistant"
                choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
            else:
                choice = {"index": 0, "text": text or "", "logprobs": None, "finish_reason": finish}
            return {**base, "choices": [choice]}  # type: ignore[typeddict-item]

        try:
            if chat:
                yield [chunk("", None, role=True)]
            while True:
                batch: Batch = []
                event = await events.get()
                while True:  # take every event that is already there
                    if event[0] == "text":
                        batch.append(chunk(event[1], None))
                    elif event[0] == "done":
                        _, finish, n_prompt, n_out = event
                        batch.append(chunk(None, finish))
                        batch.append({**base, "choices": [], "usage": make_usage(n_prompt, n_out)})  # type: ignore[typeddict-item]
                        yield batch
                        return
                    else:
                        raise UpstreamBadResponseError(f"{self.name}: generation failed: {event[1]!r}")
                    if events.empty():
                        break
                    event = events.get_nowait()
                yield batch
        finally:
            job.cancelled = True  # no-op when finished; stops the worker when the client left

    # -- embeddings ----------------------------------------------------------------------------

    async def embed(self, request: EmbeddingRequest) -> dict[str, Any]:
        if not self.config.embeddings:
            raise UnsupportedError(f"Embeddings are turned off for the model '{self.model}'.", param="model")
        llm = self.worker.llm
        raw = request.input
        items: list[Any] = [raw] if isinstance(raw, str) or (raw and isinstance(raw[0], int)) else list(raw)
        texts = [t if isinstance(t, str) else llm.detokenize(t).decode("utf-8", "replace") for t in items]
        job = Job(emit=lambda event: None, embed_inputs=texts)
        events = self._submit(job)
        event = await events.get()
        if event[0] != "embeddings":
            raise UpstreamBadResponseError(f"{self.name}: embedding failed: {event[1]!r}")
        vectors, n_tokens = event[1], event[2]
        if request.dimensions is not None and request.dimensions > len(vectors[0]):
            raise UnsupportedError(
                f"dimensions must be at most {len(vectors[0])} for the model '{self.model}'",
                param="dimensions",
            )
        return {
            "object": "list",
            "data": [
                {
                    "object": "embedding",
                    "index": i,
                    "embedding": shape_embedding(v, request.dimensions, request.encoding_format),
                }
                for i, v in enumerate(vectors)
            ],
            "model": self.model,
            "usage": {"prompt_tokens": n_tokens, "total_tokens": n_tokens},
        }
