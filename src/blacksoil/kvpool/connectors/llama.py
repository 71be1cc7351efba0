"""Engine connector for llama.cpp (llama-cpp-python): restore cached prefix blocks before
prefill, compute only the rest, and store the blocks it computed.

The prompt is always evaluated in block-aligned chunks (block 0, block 1, …, then the tail), both
when nothing is cached and after a restore, so every chunk sees exactly the same inputs either
way: restored KV is the bytes the cold path computed, and the tokens after it are computed in the
same batches. That is what makes greedy output with a restored prefix identical to output without.
At least the prompt's last token is always computed, so its logits are fresh.

After each whole block the sequence's state is read back and that block's cells are stored; a
block already in the pool is not stored again.
"""

from __future__ import annotations

import ctypes
import hashlib
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import llama_cpp

from blacksoil.kvpool.connectors import llama_state as state
from blacksoil.kvpool.keys import block_keys, fingerprint
from blacksoil.kvpool.pool import KVPool


@dataclass(frozen=True, slots=True)
class Prefill:
    """What one prefill did."""

    tokens: int
    restored_tokens: int
    computed_tokens: int
    stored_blocks: int
    restore_s: float
    compute_s: float
    store_s: float


class LlamaConnector:
    def __init__(self, llm: Any, pool: KVPool, block_tokens: int, model_id: str, seq_id: int = 0) -> None:
        """``llm`` is a ``llama_cpp.Llama``; ``model_id`` names the weights (e.g. their SHA-256)."""
        self.llm = llm
        self.pool = pool
        self.block_tokens = block_tokens
        self.seq_id = seq_id
        ctx = llm._ctx.ctx
        self._ctx = ctx
        window = int(llama_cpp.llama_model_n_swa(llm._model.model))
        self.windows: list[int | None] = [None, window] if window > 0 else [None]
        """Per cache in the state: None for a global cache, else its attention window."""
        self._global = [i for i, w in enumerate(self.windows) if w is None]
        self._windowed = [i for i, w in enumerate(self.windows) if w is not None]
        self._span = -(-max((w or 0) for w in self.windows) // block_tokens)
        """How many trailing blocks' windowed cells a restore needs."""
        flash = getattr(llm.context_params, "flash_attn", "?")
        layout = f"n_ctx={llm.n_ctx()} kv=default swa={window} flash_attn={flash}"
        self.fingerprint = fingerprint(model_id, f"llama-cpp-python {llama_cpp.__version__}", layout)

    def prefill(self, tokens: Sequence[int]) -> Prefill:
        """Evaluate ``tokens`` from an empty sequence, restoring what the pool holds."""
        b = self.block_tokens
        keys = block_keys(tokens, b, self.fingerprint)
        usable = min(len(keys), (len(tokens) - 1) // b)  # leave the last token to compute
        self.llm.reset()
        llama_cpp.llama_memory_seq_rm(llama_cpp.llama_get_memory(self._ctx), self.seq_id, -1, -1)

        started = time.perf_counter()
        restored = self._restore(tokens, keys[: self._restorable(keys[:usable])])
        restore_s = time.perf_counter() - started

        compute_s = store_s = 0.0
        stored = 0
        position = restored
        while position < len(tokens):
            end = min(len(tokens), (position // b + 1) * b)
            t0 = time.perf_counter()
            self.llm.eval(list(tokens[position:end]))
            t1 = time.perf_counter()
            compute_s += t1 - t0
            if end % b == 0:
                stored += self._store(keys[end // b - 1], end - b, end)
                store_s += time.perf_counter() - t1
            position = end
        return Prefill(len(tokens), restored, len(tokens) - restored, stored, restore_s, compute_s, store_s)

    # -- internals -----------------------------------------------------------------------------

    def _restorable(self, keys: Sequence[bytes]) -> int:
        """How many leading blocks can be restored: their global cells, and the last ones' windowed."""
        n = self.pool.lookup(keys).blocks
        while n > 0 and self._windowed:
            tail = [_window_key(k) for k in keys[max(0, n - self._span) : n]]
            if self.pool.lookup(tail).blocks == len(tail):
                break
            n -= 1  # the windowed cells of a late block were evicted: restore a shorter prefix
        return n

    def _restore(self, tokens: Sequence[int], keys: Sequence[bytes]) -> int:
        """Load the blocks of ``keys`` into the sequence; a block that fails to load shortens the prefix."""
        while keys:
            tail = range(max(0, len(keys) - self._span), len(keys))
            global_parts = [self.pool.get(k) for k in keys]
            window_parts = [self.pool.get(_window_key(keys[i])) for i in tail]
            bad = [i for i, e in enumerate(global_parts) if e is None]
            bad += [i for i, e in zip(tail, window_parts, strict=True) if e is None]
            if bad:  # evicted since the lookup, or failed its checksum: restore what precedes it
                keys = keys[: min(bad)]
                continue
            return self._load(tokens, keys, global_parts, window_parts)
        return 0

    def _load(
        self,
        tokens: Sequence[int],
        keys: Sequence[bytes],
        global_parts: list[bytes | None],
        window_parts: list[bytes | None],
    ) -> int:
        parts: list[list[state.Cache]] = [[] for _ in self.windows]
        header = b""
        for indices, entries in ((self._global, global_parts), (self._windowed, window_parts)):
            for entry in entries:
                assert entry is not None
                header, caches = state.decode_block(entry)
                for i, cache in zip(indices, caches, strict=True):
                    parts[i].append(cache)
        blob = state.serialize(state.assemble(header, parts, self.windows), self.seq_id)
        buffer = (ctypes.c_uint8 * len(blob)).from_buffer_copy(blob)
        if llama_cpp.llama_state_seq_set_data(self._ctx, buffer, len(blob), self.seq_id) != len(blob):
            llama_cpp.llama_memory_seq_rm(llama_cpp.llama_get_memory(self._ctx), self.seq_id, -1, -1)
            return 0
        n = len(keys) * self.block_tokens
        self.llm.input_ids[:n] = tokens[:n]
        self.llm.n_tokens = n
        return n

    def _store(self, key: bytes, lo: int, hi: int) -> int:
        """Store the block's global and windowed cells, each unless the pool has it; 1 if anything was stored."""
        wanted = [(k, idx) for k, idx in ((key, self._global), (_window_key(key), self._windowed)) if idx]
        missing = [(k, idx) for (k, idx), held in zip(wanted, self.pool.contains([k for k, _ in wanted]), strict=True)
                   if not held]  # fmt: skip
        if not missing:
            return 0
        seq = state.parse(self._read_state())
        for k, indices in missing:
            cells = [seq.caches[i].select(lo, hi) for i in indices]
            self.pool.put(k, state.encode_block(cells, seq.header), cost=float(hi - lo))
        return 1

    def _read_state(self) -> bytes:
        size = llama_cpp.llama_state_seq_get_size(self._ctx, self.seq_id)
        buffer = (ctypes.c_uint8 * size)()
        written = llama_cpp.llama_state_seq_get_data(self._ctx, buffer, size, self.seq_id)
        return bytes(memoryview(buffer)[:written])


def _window_key(key: bytes) -> bytes:
    """The key of a block's windowed cells, derived from its own key."""
    return hashlib.blake2b(key, digest_size=len(key), person=b"bskv-window").digest()
