"""Identifiers: short, prefixed by what they name (``chatcmpl-…``, ``req-…``).

They are unique, not secret: 96 random bits from the standard library's Mersenne Twister (seeded
from the OS at start), which costs a fraction of a microsecond, where ``secrets`` makes a system
call per id. Never use them as credentials.
"""

from __future__ import annotations

import random


def new_id(prefix: str) -> str:
    """A random id such as ``chatcmpl-3f9a…`` (24 hex digits)."""
    return f"{prefix}-{random.getrandbits(96):024x}"
