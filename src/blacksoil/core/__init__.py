"""Shared foundations: errors, config loading, ids, the state directory, metrics and HTTP helpers.

``blacksoil.core`` imports nothing else of the project; every plane may import it.
"""

from blacksoil.core.errors import (
    BlacksoilError,
    ConfigError,
    InvalidRequestError,
    NotFoundError,
    ServiceUnavailableError,
)
from blacksoil.core.home import Home

__all__ = [
    "BlacksoilError",
    "ConfigError",
    "Home",
    "InvalidRequestError",
    "NotFoundError",
    "ServiceUnavailableError",
]
