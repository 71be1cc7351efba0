"""Errors of the KV pool.

::

    KVPoolError (BlacksoilError)
    ├── BlockNotFoundError      404  no tier holds the block
    └── TierUnavailableError    503  a tier's backend (disk, Redis) cannot be reached

A corrupt or truncated block is not an error to the caller: it fails its checksum, is deleted,
counted in the tier's ``corrupt`` stat, and read as a miss.
"""

from __future__ import annotations

from blacksoil.core.errors import BlacksoilError, NotFoundError, ServiceUnavailableError


class KVPoolError(BlacksoilError):
    """Root of the KV pool's errors."""


class BlockNotFoundError(KVPoolError, NotFoundError):
    code = "block_not_found"


class TierUnavailableError(KVPoolError, ServiceUnavailableError):
    code = "tier_unavailable"
