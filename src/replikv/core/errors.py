"""Results and typed client errors.

Every error says whether the operation **definitely did not happen** (``definite``)
or **may have happened** (indefinite). A definite error is never returned for an
operation that may have taken effect (DESIGN.md, client semantics).

What may live here: result/error structs and nothing that acts on them.
"""

from __future__ import annotations

from typing import Any, ClassVar

import msgspec
from msgspec import UNSET, UnsetType


class Ok(msgspec.Struct, frozen=True, tag=True):
    """Success. ``value``: read value (``None`` = missing), ``True``/``False`` for a
    swap, the new integer for ``incr``, a list for ``mget``/``txn``."""

    value: Any = None
    session: bytes | UnsetType = UNSET
    """The client's new session token (``core.requests.ClientSession``), set by a scheme
    that keeps session guarantees when the request carried a session; UNSET (left out of
    the encoding): keep the one you have."""


class ClientError(msgspec.Struct, frozen=True, tag=True):
    """Base of errors returned to clients."""

    definite: ClassVar[bool] = True
    redis_prefix: ClassVar[str] = "ERR"

    def describe(self) -> str:
        return type(self).__name__


class NotLeader(ClientError, frozen=True):
    """This replica does not order writes; ``leader`` is a hint (may be ``None``)."""

    leader: int | None = None
    redis_prefix: ClassVar[str] = "NOTLEADER"

    def describe(self) -> str:
        hint = f" leader is node {self.leader}" if self.leader is not None else " leader unknown"
        return f"not the leader;{hint}"


class Unavailable(ClientError, frozen=True):
    """The scheme cannot serve this now (backup down under N-of-N, no quorum, ...)."""

    reason: str = ""
    redis_prefix: ClassVar[str] = "UNAVAILABLE"

    def describe(self) -> str:
        return self.reason or "unavailable"


class Uncertain(ClientError, frozen=True):
    """The replica did not take this request now, and cannot promise that no other copy
    of it (a duplicate, a delayed copy, a retry, a copy at another node) takes effect
    later: the operation **may happen**. A scheme answers this instead of a definite
    refusal when it cannot make the refusal stick (issue 8.10)."""

    definite: ClassVar[bool] = False
    reason: str = ""
    redis_prefix: ClassVar[str] = "TIMEOUT"

    def describe(self) -> str:
        return f"{self.reason or 'not taken now'}; the operation may or may not take effect"


class Aborted(ClientError, frozen=True):
    """A transaction was aborted (2PC/3PC); nothing of it applied."""

    reason: str = ""
    redis_prefix: ClassVar[str] = "ABORTED"

    def describe(self) -> str:
        return self.reason or "aborted"


class BadRequest(ClientError, frozen=True):
    """The request itself is wrong (oversized value, not an integer, ...)."""

    reason: str = ""

    def describe(self) -> str:
        return self.reason or "bad request"


class WrongType(BadRequest, frozen=True):
    """The key holds another kind of value than the command works on (an ``INCRBY`` on a
    set): Redis's own ``WRONGTYPE`` error, with its words."""

    redis_prefix: ClassVar[str] = "WRONGTYPE"

    def describe(self) -> str:
        return "Operation against a key holding the wrong kind of value"


class Timeout(ClientError, frozen=True):
    """No answer in time: the operation **may have happened**."""

    definite: ClassVar[bool] = False
    redis_prefix: ClassVar[str] = "TIMEOUT"

    def describe(self) -> str:
        return "timed out; the operation may or may not have taken effect"


class ConnectionLost(ClientError, frozen=True):
    """The connection broke after sending: the operation **may have happened**."""

    definite: ClassVar[bool] = False
    redis_prefix: ClassVar[str] = "TIMEOUT"

    def describe(self) -> str:
        return "connection lost; the operation may or may not have taken effect"


Result = Ok | NotLeader | Unavailable | Uncertain | Aborted | BadRequest | WrongType | Timeout | ConnectionLost


class CorruptStorage(Exception):
    """Durable state is damaged before its tail; the node must not start on it."""


class ConfigError(ValueError):
    """A configuration value is wrong; the message says which and why."""
