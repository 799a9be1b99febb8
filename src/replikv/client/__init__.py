"""replikv.client: one asyncio client for every scheme (docs/client.md).

May import: core, kv, resp (only the sans-I/O protocol and command mapping).
"""

from replikv.client.client import Client, parse_info
from replikv.client.errors import (
    AbortedError,
    BadRequestError,
    ConnectionLostError,
    DefiniteError,
    IndefiniteError,
    NotLeaderError,
    ReplikvError,
    RequestTimeout,
    UnavailableError,
    error_for,
)

__all__ = [
    "AbortedError",
    "BadRequestError",
    "Client",
    "ConnectionLostError",
    "DefiniteError",
    "IndefiniteError",
    "NotLeaderError",
    "ReplikvError",
    "RequestTimeout",
    "UnavailableError",
    "error_for",
    "parse_info",
]
