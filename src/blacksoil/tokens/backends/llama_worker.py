"""The thread that owns the llama.cpp model and runs one job at a time, in arrival order.

llama.cpp's Python bindings are not re-entrant and a second generation on the same context would
cancel the first, so every job goes through one FIFO queue and one thread. Jobs report back through
a callback that the engine sets (it hops to the event loop); the thread never touches asyncio.
Sampling is llama.cpp's native sampler chain (top-k, top-p, min-p, temperature, penalties, seeded
distribution): Python-side sampling over Gemma's 262k-token vocabulary would be ~20x slower.
"""

from __future__ import annotations

import codecs
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import llama_cpp

from blacksoil.tokens.prompt import StopMatcher

Emit = Callable[[tuple[Any, ...]], None]
"""Receives ``("text", str)``, ``("done", finish_reason, prompt_tokens, completion_tokens)``,
``("embeddings", vectors, prompt_tokens)`` or ``("error", exception)``."""


@dataclass
class Job:
    emit: Emit
    tokens: list[int] = field(default_factory=list)
    max_tokens: int = 16
    stops: list[str] = field(default_factory=list)
    temperature: float = 0.8
    top_p: float = 0.95
    seed: int | None = None
    presence_penalty: float = 0.0
    frequency_penalty: float = 0.0
    reproducible: bool = False
    """Prefill from scratch instead of reusing the cached prefix of the previous request: llama.cpp's
    logits differ in the last bits between batch sizes, enough to flip a greedy or seeded choice."""
    strip_leading: bool = False
    """Drop whitespace before the first visible text (the space after ``Assistant:``)."""
    embed_inputs: list[str] | None = None
    cancelled: bool = False
    """Set from the event loop when the client is gone; checked before and between tokens."""
    enqueued_at: float = field(default_factory=time.perf_counter)


Prefiller = Callable[[Any], Callable[[list[int]], object]]
"""Given the loaded model, a function that evaluates a prompt (e.g. a KV-pool connector's prefill)."""


class LlamaWorker:
    def __init__(
        self, load: Callable[[], Any], load_embedder: Callable[[], Any] | None, prefiller: Prefiller | None = None
    ) -> None:
        self._load = load
        self._load_embedder = load_embedder
        self._make_prefill = prefiller
        self._prefill: Callable[[list[int]], object] | None = None
        self._jobs: queue.Queue[Job | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="llama-worker", daemon=True)
        self._ready = threading.Event()
        self._load_error: BaseException | None = None
        self.llm: Any = None
        self._embedder: Any = None
        self._prefilling = False  # written by the worker thread only

    def start(self) -> None:
        """Load the model on the worker thread; block until it is loaded (or failed to)."""
        self._thread.start()
        self._ready.wait()
        if self._load_error is not None:
            raise self._load_error

    def stop(self) -> None:
        self._jobs.put(None)
        self._thread.join(timeout=30)

    @property
    def pending(self) -> int:
        """Jobs queued or in prefill (not yet producing tokens)."""
        return self._jobs.qsize() + int(self._prefilling)

    def submit(self, job: Job) -> None:
        self._jobs.put(job)

    def _run(self) -> None:
        try:
            self.llm = self._load()
            if self._make_prefill is not None:
                self._prefill = self._make_prefill(self.llm)
        except BaseException as exc:  # reported to start()
            self._load_error = exc
        self._ready.set()
        if self._load_error is not None:
            return
        while (job := self._jobs.get()) is not None:
            if job.cancelled:
                continue
            try:
                if job.embed_inputs is not None:
                    self._embed(job)
                else:
                    self._prefilling = True
                    self._generate(job)
            except Exception as exc:
                job.emit(("error", exc))
            finally:
                self._prefilling = False

    def _generate(self, job: Job) -> None:
        llm = self.llm
        vocab = llm._model.vocab
        llm.set_seed(job.seed if job.seed is not None else int(time.time_ns() & 0x7FFFFFFF))
        if self._prefill is not None:
            self._prefill(job.tokens)  # then generate() below finds the prompt evaluated
        elif job.reproducible:
            llm.reset()
        stops = StopMatcher(job.stops)
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        produced, finish, lead = 0, "length", job.strip_leading
        tokens = llm.generate(
            job.tokens,
            temp=job.temperature,
            top_p=job.top_p,
            top_k=0 if job.temperature > 0 else 1,
            min_p=0.0,
            repeat_penalty=1.0,
            presence_penalty=job.presence_penalty,
            frequency_penalty=job.frequency_penalty,
        )
        for token in tokens:
            self._prefilling = False
            if job.cancelled:
                finish = "cancelled"
                break
            if llama_cpp.llama_vocab_is_eog(vocab, token):
                finish = "stop"
                break
            produced += 1
            piece = decoder.decode(llm.detokenize([token], special=False))
            if lead:
                piece = piece.lstrip()
                lead = not piece
            text = stops.push(piece)
            if text:
                job.emit(("text", text))
            if stops.stopped:
                finish = "stop"
                break
            if produced >= job.max_tokens:
                break
        if not stops.stopped:
            tail = stops.push(decoder.decode(b"", final=True)) + stops.flush()
            if tail:
                job.emit(("text", tail))
        job.emit(("done", finish, len(job.tokens), produced))

    def _embed(self, job: Job) -> None:
        if self._embedder is None:
            assert self._load_embedder is not None
            self._embedder = self._load_embedder()
        assert job.embed_inputs is not None
        vectors, n_tokens = self._embedder.embed(job.embed_inputs, normalize=True, return_count=True)
        job.emit(("embeddings", vectors, n_tokens))
