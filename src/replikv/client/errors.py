"""Exceptions the client raises, one per core ``ClientError``, split by what they say about
the operation: ``DefiniteError`` (it did not happen) and ``IndefiniteError`` (it may have
happened). Each carries the core error in ``.error`` (DESIGN.md, client semantics)."""

from __future__ import annotations

from replikv.core.errors import (
    Aborted,
    BadRequest,
    ClientError,
    ConnectionLost,
    NotLeader,
    Timeout,
    Unavailable,
    WrongType,
)


class ReplikvError(Exception):
    """Base of client errors; ``error`` is the core ``ClientError``."""

    def __init__(self, error: ClientError) -> None:
        super().__init__(f"{error.redis_prefix}: {error.describe()}")
        self.error = error

    @property
    def definite(self) -> bool:
        """``True``: the operation definitely did not happen."""
        return self.error.definite


class DefiniteError(ReplikvError):
    """The operation did not happen (safe to treat as a failure)."""


class IndefiniteError(ReplikvError):
    """The operation may or may not have happened."""


class NotLeaderError(DefiniteError):
    pass


class UnavailableError(DefiniteError):
    pass


class AbortedError(DefiniteError):
    pass


class BadRequestError(DefiniteError):
    pass


class RequestTimeout(IndefiniteError):
    pass


class ConnectionLostError(IndefiniteError):
    pass


_BY_TYPE: dict[type[ClientError], type[ReplikvError]] = {
    NotLeader: NotLeaderError,
    Unavailable: UnavailableError,
    Aborted: AbortedError,
    BadRequest: BadRequestError,
    WrongType: BadRequestError,
    Timeout: RequestTimeout,
    ConnectionLost: ConnectionLostError,
}


def error_for(error: ClientError) -> ReplikvError:
    """The exception that stands for ``error`` (definite ones never for indefinite)."""
    kind = _BY_TYPE.get(type(error))
    if kind is None:
        kind = DefiniteError if error.definite else IndefiniteError
    return kind(error)
