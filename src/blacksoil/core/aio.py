"""Small asyncio helpers shared by the planes."""

from __future__ import annotations

import contextlib
from typing import Any


async def aclose_quietly(iterator: Any) -> None:
    """Close an async generator (running its ``finally`` blocks); ignore iterators without ``aclose``."""
    aclose = getattr(iterator, "aclose", None)
    if aclose is not None:
        with contextlib.suppress(Exception):
            await aclose()
