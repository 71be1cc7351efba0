"""The stored form of a block outside process memory: a small header, then the payload.

``magic (4) | version (1) | length (8) | crc32 (4) | payload``. A reader checks the length and the
CRC before handing a payload out, so a truncated file or a corrupted value is detected and read as
a miss, never loaded into an engine.
"""

from __future__ import annotations

import struct
import zlib

_HEADER = struct.Struct("<4sBQI")
MAGIC = b"BSKV"
VERSION = 1
HEADER_BYTES = _HEADER.size


def pack(payload: bytes) -> bytes:
    return _HEADER.pack(MAGIC, VERSION, len(payload), zlib.crc32(payload)) + payload


def unpack(data: bytes | memoryview) -> bytes | None:
    """The payload, or None when the header, the length or the checksum does not match."""
    if len(data) < HEADER_BYTES:
        return None
    magic, version, length, crc = _HEADER.unpack_from(data)
    if magic != MAGIC or version != VERSION or len(data) - HEADER_BYTES != length:
        return None
    payload = bytes(data[HEADER_BYTES:])
    return payload if zlib.crc32(payload) == crc else None
