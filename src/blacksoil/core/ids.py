"""Identifiers: short, sortable-enough, prefixed by what they name (``chatcmpl-…``, ``req-…``)."""

from __future__ import annotations

import secrets


def new_id(prefix: str, nbytes: int = 12) -> str:
    """A random id such as ``chatcmpl-3f9a…``; 96 bits of randomness by default."""
    return f"{prefix}-{secrets.token_hex(nbytes)}"
