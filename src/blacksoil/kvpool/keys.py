"""Content-addressed block keys: a chained hash of token ids, bound to the model and engine.

A prompt is cut into blocks of ``block_tokens`` tokens. Block *i*'s key hashes the key of block
*i-1*, the fingerprint, and block *i*'s token ids, so equal keys mean an equal whole prefix, not
just equal last tokens (the scheme of vLLM's automatic prefix caching). The fingerprint names the
model file, the engine build and the KV layout (context size, cache types): a key can never serve
KV computed by another model, build or layout. Only whole blocks get keys; the tail of a prompt
shorter than a block is always recomputed.
"""

from __future__ import annotations

import hashlib
from array import array
from collections.abc import Sequence

KEY_BYTES = 16


def fingerprint(*parts: str) -> bytes:
    """A fixed-size digest of everything that decides the KV layout (model hash, engine version, …)."""
    return hashlib.blake2b("\x1f".join(parts).encode(), digest_size=KEY_BYTES).digest()


def block_keys(tokens: Sequence[int], block_tokens: int, model_fingerprint: bytes) -> list[bytes]:
    """The keys of every whole block of ``tokens``, first block first."""
    if block_tokens < 1:
        raise ValueError("block_tokens must be at least 1")
    keys = []
    parent = model_fingerprint
    for start in range(0, len(tokens) - block_tokens + 1, block_tokens):
        ids = array("q", tokens[start : start + block_tokens]).tobytes()
        parent = hashlib.blake2b(ids, digest_size=KEY_BYTES, key=parent).digest()
        keys.append(parent)
    return keys
