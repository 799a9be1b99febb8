"""Inputs a replica handles and effects it returns (the sans-I/O contract, DESIGN.md).

    Input  = Tick(now_ms) | Receive(src, msg) | Submit(request) | Persisted(seq)
    Effect = Send(dst, msg) | Persist(seq, records, replace) | Commit(index, request)
           | Reply(request, result)

``Reply`` carries the whole request (not only its id) so a host can route the answer
back to whoever submitted it, and so a trace line is self-explaining.

``Persist(replace=True)`` says: these records are a complete restatement of the durable
state (snapshot + what follows it); storage swaps them in atomically and drops the rest.
That is how a snapshot compacts the WAL behind it (Raft §7), with one mechanism for
every scheme.

``Persist(replace=True, compaction=True)`` adds: these records restate only what the
Persists before this one already hold (a snapshot of the node's own applied state, not
one it received), so they add nothing to the durable state. A host may then count this
Persist durable as soon as every earlier one is, and write the restatement beside the
live log while later appends go on, swapping it in when it is written (issue 14: a
40 MB snapshot rewritten as a barrier stalled every node for ~300 ms). A crash before
the swap recovers the old log, which says the same. A replace that brings anything new
(an installed snapshot, a term or mark not yet persisted) must leave ``compaction``
false: it stays a barrier.
"""

from __future__ import annotations

from typing import Any

import msgspec

from replikv.core.errors import Result
from replikv.core.messages import Message, Record
from replikv.core.requests import Request


class Tick(msgspec.Struct, frozen=True):
    now_ms: float
    stalled: bool = False
    """The tick came more than a tick after the last one (the node was paused or its
    loop held up): the one ``NodeDriver.stale_clock`` feeds before inputs that queued
    meanwhile, or a late regular one (``NodeDriver.tick``). A timer that measures how long
    the node listened may leave the stall out (3PC's termination round, swarm seed
    1003632); a lease or an election timeout must not."""


class Receive(msgspec.Struct, frozen=True):
    src: int
    msg: Message


class Submit(msgspec.Struct, frozen=True):
    request: Request


class Persisted(msgspec.Struct, frozen=True):
    """Every Persist with ``seq <=`` this is durable."""

    seq: int


Input = Tick | Receive | Submit | Persisted


class Send(msgspec.Struct, frozen=True):
    dst: int
    msg: Message


class Persist(msgspec.Struct, frozen=True):
    seq: int
    records: tuple[Record, ...]
    replace: bool = False
    compaction: bool = False
    """Only with ``replace``: a restatement of what earlier Persists hold (module
    docstring); durable once they are, swapped in later."""


class Commit(msgspec.Struct, frozen=True):
    """The replica applied ``request`` at log position ``index`` (for traces and checkers)."""

    index: int
    request: Request


class Reply(msgspec.Struct, frozen=True):
    request: Request
    result: Result


Effect = Send | Persist | Commit | Reply


def describe(item: Any) -> str:
    """A one-line human description of an input or effect, for traces."""
    return f"{type(item).__name__}({', '.join(f'{f}={getattr(item, f)!r}' for f in item.__struct_fields__)})"
