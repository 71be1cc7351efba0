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
    head = read_header(data[:HEADER_BYTES])
    if head is None or len(data) - HEADER_BYTES != head[0]:
        return None
    payload = bytes(data[HEADER_BYTES:])
    return payload if zlib.crc32(payload) == head[1] else None


def read_header(data: bytes | memoryview) -> tuple[int, int] | None:
    """(payload length, CRC-32) from a frame's header, or None if it is not one."""
    if len(data) < HEADER_BYTES:
        return None
    magic, version, length, crc = _HEADER.unpack_from(data)
    if magic != MAGIC or version != VERSION:
        return None
    return length, crc


def verify(payload: bytes, crc: int) -> bool:
    return zlib.crc32(payload) == crc
