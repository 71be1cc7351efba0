"""llama.cpp's per-sequence KV state, cut into blocks and put back together.

``llama_state_seq_get_data`` returns one blob for a whole sequence. For models with sliding-window
attention (Gemma 3: 3 global layers, 15 local ones with a 512-token window) it holds two caches:

::

    opaque header (8 bytes)
    per cache (the global one, then the sliding-window one):
        n_stream u32 (1) | cell_count u32
        cell_count x (pos i32, n_seq_id u32, seq_id i32 x n_seq_id)
        v_trans u32 | n_layer u32
        per layer: k_type i32, k_row_bytes u64, K rows (cell_count x k_row_bytes)
        per layer, V transposed (v_trans = 1): v_type i32, v_elem_bytes u32, n_embd_v u32,
            then for each of the n_embd_v dimensions, that dimension's values for every cell
        or V by rows (v_trans = 0): v_type i32, v_row_bytes u64, V rows

A block keeps, for each cache, the K and V of the cells whose positions fall in the block. The
global cache of a prefix is every block's cells; the sliding-window cache is only the cells of
its last ``window`` positions, which is what llama.cpp itself keeps, so the connector stores a
block's global and windowed cells as two entries and reads the windowed ones of the last blocks
only. The parser checks that it
consumed the blob exactly, so a layout it does not know fails loudly instead of restoring garbage.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from blacksoil.kvpool.errors import KVPoolError

Bytes2D = npt.NDArray[np.uint8]


class StateFormatError(KVPoolError):
    """The engine's state blob is not in the layout this connector understands."""


@dataclass(frozen=True)
class LayerLayout:
    k_type: int
    k_row: int
    v_type: int
    v_elem: int  # v_trans: bytes per value; else bytes per row
    v_embd: int  # v_trans: dimensions; else 0


@dataclass
class Cache:
    """One KV cache of a sequence: its cells' positions, and per layer their K and V bytes."""

    positions: npt.NDArray[np.int32]
    v_trans: bool
    layers: list[LayerLayout]
    k: list[Bytes2D]  # per layer: (cells, k_row)
    v: list[npt.NDArray[np.uint8]]  # per layer: (v_embd, cells, v_elem) if v_trans else (cells, v_row)

    def select(self, lo: int, hi: int) -> Cache:
        """The cells with positions in ``[lo, hi)``."""
        keep = (self.positions >= lo) & (self.positions < hi)
        return Cache(
            self.positions[keep],
            self.v_trans,
            self.layers,
            [k[keep] for k in self.k],
            [v[:, keep] if self.v_trans else v[keep] for v in self.v],
        )

    @staticmethod
    def concat(parts: list[Cache]) -> Cache:
        first = parts[0]
        return Cache(
            np.concatenate([p.positions for p in parts]),
            first.v_trans,
            first.layers,
            [np.concatenate([p.k[i] for p in parts]) for i in range(len(first.layers))],
            [np.concatenate([p.v[i] for p in parts], axis=1 if first.v_trans else 0) for i in range(len(first.layers))],
        )


@dataclass
class SeqState:
    header: bytes
    caches: list[Cache]


def parse(data: bytes) -> SeqState:
    view = memoryview(data)
    offset = 8
    caches = []
    try:
        while offset < len(data):
            cache, offset = _parse_cache(view, offset)
            caches.append(cache)
    except (struct.error, ValueError) as exc:
        raise StateFormatError(f"unexpected KV state layout at byte {offset}: {exc}") from None
    if offset != len(data) or not caches:
        raise StateFormatError(f"KV state layout not understood: parsed {offset} of {len(data)} bytes")
    return SeqState(bytes(data[:8]), caches)


def serialize(state: SeqState, seq_id: int = 0) -> bytes:
    out = [state.header]
    for cache in state.caches:
        n = len(cache.positions)
        meta = np.empty((n, 3), dtype="<i4")
        meta[:, 0] = cache.positions
        meta[:, 1] = 1
        meta[:, 2] = seq_id
        out += [struct.pack("<II", 1, n), meta.tobytes(), struct.pack("<II", int(cache.v_trans), len(cache.layers))]
        for layer, k in zip(cache.layers, cache.k, strict=True):
            out += [struct.pack("<iQ", layer.k_type, layer.k_row), k.tobytes()]
        for layer, v in zip(cache.layers, cache.v, strict=True):
            if cache.v_trans:
                out += [struct.pack("<iII", layer.v_type, layer.v_elem, layer.v_embd), v.tobytes()]
            else:
                out += [struct.pack("<iQ", layer.v_type, layer.v_elem), v.tobytes()]
    return b"".join(out)


def encode_block(caches: list[Cache], header: bytes) -> bytes:
    """A block's cells from every cache, as one payload."""
    meta = {
        "header": header.hex(),
        "caches": [
            {"v_trans": c.v_trans, "positions": c.positions.tolist(), "layers": [vars(layer) for layer in c.layers]}
            for c in caches
        ],
    }
    head = json.dumps(meta, separators=(",", ":")).encode()
    arrays = [a.tobytes() for c in caches for a in (*c.k, *c.v)]
    return struct.pack("<I", len(head)) + head + b"".join(arrays)


def decode_block(payload: bytes) -> tuple[bytes, list[Cache]]:
    (size,) = struct.unpack_from("<I", payload)
    meta = json.loads(payload[4 : 4 + size])
    offset = 4 + size
    caches = []
    buffer = np.frombuffer(payload, dtype=np.uint8)
    for c in meta["caches"]:
        layers = [LayerLayout(**layer) for layer in c["layers"]]
        n = len(c["positions"])
        ks: list[Bytes2D] = []
        vs: list[npt.NDArray[np.uint8]] = []
        for layer in layers:
            ks.append(buffer[offset : offset + n * layer.k_row].reshape(n, layer.k_row))
            offset += n * layer.k_row
        for layer in layers:
            if c["v_trans"]:
                size_v = layer.v_embd * n * layer.v_elem
                vs.append(buffer[offset : offset + size_v].reshape(layer.v_embd, n, layer.v_elem))
            else:
                size_v = n * layer.v_elem
                vs.append(buffer[offset : offset + size_v].reshape(n, layer.v_elem))
            offset += size_v
        caches.append(Cache(np.asarray(c["positions"], dtype=np.int32), bool(c["v_trans"]), layers, ks, vs))
    if offset != len(payload):
        raise StateFormatError(f"block payload has {len(payload) - offset} unexpected trailing bytes")
    return bytes.fromhex(meta["header"]), caches


def assemble(header: bytes, parts: list[list[Cache]], windows: list[int | None]) -> SeqState:
    """The state of a prefix from its blocks' cells: ``parts[i]`` are cache i's, in order.

    A cache with a window keeps only the cells of its last ``window`` positions, as llama.cpp does.
    """
    caches = []
    for cells, window in zip(parts, windows, strict=True):
        whole = Cache.concat(cells)
        if window is not None:
            end = int(whole.positions.max()) + 1
            if int(whole.positions.min()) < end - window:
                whole = whole.select(end - window, end)
        caches.append(whole)
    return SeqState(header, caches)


def _parse_cache(view: memoryview, offset: int) -> tuple[Cache, int]:
    n_stream, cells = struct.unpack_from("<II", view, offset)
    offset += 8
    if n_stream != 1:
        raise ValueError(f"{n_stream} streams in one sequence's state")
    positions = np.empty(cells, dtype=np.int32)
    for i in range(cells):
        pos, n_seq = struct.unpack_from("<iI", view, offset)
        positions[i] = pos
        offset += 8 + 4 * n_seq
    v_trans, n_layer = struct.unpack_from("<II", view, offset)
    offset += 8
    raw = np.frombuffer(view, dtype=np.uint8)
    layouts: list[tuple[int, int]] = []
    ks = []
    for _ in range(n_layer):
        k_type, k_row = struct.unpack_from("<iQ", view, offset)
        offset += 12
        ks.append(raw[offset : offset + cells * k_row].reshape(cells, k_row))
        offset += cells * k_row
        layouts.append((k_type, k_row))
    layers: list[LayerLayout] = []
    vs: list[npt.NDArray[np.uint8]] = []
    for k_type, k_row in layouts:
        if v_trans:
            v_type, v_elem, v_embd = struct.unpack_from("<iII", view, offset)
            offset += 12
            size = v_embd * cells * v_elem
            vs.append(raw[offset : offset + size].reshape(v_embd, cells, v_elem))
        else:
            v_type, v_elem = struct.unpack_from("<iQ", view, offset)
            v_embd = 0
            offset += 12
            size = cells * v_elem
            vs.append(raw[offset : offset + size].reshape(cells, v_elem))
        offset += size
        layers.append(LayerLayout(k_type, k_row, v_type, v_elem, v_embd))
    return Cache(positions, bool(v_trans), layers, ks, vs), offset
