"""Embedding vectors on the wire: optional truncation (``dimensions``) and base64 encoding.

The ``openai`` SDK asks for ``encoding_format="base64"`` by default: little-endian float32 bytes,
base64-encoded, which it decodes with numpy. A truncated vector is re-normalised to unit length.
"""

from __future__ import annotations

import base64
import math
import struct
from collections.abc import Sequence


def shape_embedding(vector: Sequence[float], dimensions: int | None, encoding: str) -> list[float] | str:
    values = list(vector)
    if dimensions is not None and dimensions < len(values):
        values = values[:dimensions]
        norm = math.sqrt(sum(v * v for v in values)) or 1.0
        values = [v / norm for v in values]
    if encoding == "base64":
        return base64.b64encode(struct.pack(f"<{len(values)}f", *values)).decode("ascii")
    return values
