"""Block keys are chained content hashes bound to the model; frames catch corruption."""

from __future__ import annotations

import pytest

from blacksoil.kvpool import frame
from blacksoil.kvpool.keys import KEY_BYTES, block_keys, fingerprint

FP = fingerprint("gemma-3-270m sha256:abc", "llama.cpp 0.3.36", "n_ctx=8192 f16")


def test_keys_cover_whole_blocks_only_and_are_deterministic() -> None:
    tokens = list(range(1000))
    keys = block_keys(tokens, 256, FP)
    assert len(keys) == 3  # 1000 // 256; the 232-token tail has no key
    assert all(len(k) == KEY_BYTES for k in keys)
    assert block_keys(tokens, 256, FP) == keys
    assert block_keys(tokens[:512], 256, FP) == keys[:2]  # a prefix has the prefix's keys


def test_a_key_depends_on_the_whole_prefix_not_just_its_block() -> None:
    a = list(range(512))
    b = [999, *range(1, 512)]  # same second block, different first block
    assert block_keys(a, 256, FP)[1] != block_keys(b, 256, FP)[1]


def test_a_key_never_serves_another_model_or_layout() -> None:
    tokens = list(range(512))
    other = fingerprint("gemma-3-270m sha256:abc", "llama.cpp 0.3.36", "n_ctx=4096 q8_0")
    assert set(block_keys(tokens, 256, FP)).isdisjoint(block_keys(tokens, 256, other))


def test_block_size_must_be_positive() -> None:
    with pytest.raises(ValueError, match="block_tokens"):
        block_keys([1, 2, 3], 0, FP)


def test_frames_round_trip_and_reject_truncation_and_bit_flips() -> None:
    payload = bytes(range(256)) * 100
    data = frame.pack(payload)
    assert frame.unpack(data) == payload
    assert frame.unpack(data[:-1]) is None  # truncated
    assert frame.unpack(data[:5]) is None  # not even a header
    flipped = bytearray(data)
    flipped[frame.HEADER_BYTES + 1000] ^= 0x01
    assert frame.unpack(bytes(flipped)) is None
    assert frame.unpack(b"XXXX" + data[4:]) is None  # not a block
