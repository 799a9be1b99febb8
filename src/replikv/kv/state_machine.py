"""The deterministic key-value state machine every scheme replicates.

``apply`` is called in log order with committed requests; the same sequence gives the
same state and the same results on every replica. ``read`` serves a read without the
session table (reads need no exactly-once). ``snapshot``/``restore`` move the whole
state (data and sessions) for compaction and catch-up (Raft §7).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import msgspec

from replikv.core.commands import (
    GUARD_FAILED,
    Append,
    Cas,
    Command,
    Delete,
    Get,
    Incr,
    MGet,
    Set,
    Sync,
    Txn,
    is_admin,
)
from replikv.core.errors import Aborted, BadRequest, Ok, Result, Timeout
from replikv.core.requests import Request
from replikv.kv.packed import PackedPairs
from replikv.kv.packed import digest as pairs_digest
from replikv.kv.sessions import SessionTable

HOT_LIMIT = 1 << 17
"""Recent keys kept in a dict before the oldest move into the packed pairs
(``kv.packed``): a state of fewer keys is a plain dict, as it always was."""
PACK_CHUNK = 1 << 14
"""How many of the oldest recent keys move at a time: each move costs the event loop
about 20 ms (encoding them, rebuilding the buckets they land in); moving all 131,072 at
once took 180 ms at 1,000,000 keys."""


class _Snapshot(msgspec.Struct, frozen=True, omit_defaults=True):
    data: dict[str, str] | list[tuple[str, str]]
    """The keys and values, encoded straight from the state's dict (a msgpack map, in
    the dict's order, which every replica shares: they apply the same sequence). A
    snapshot of 1,000,000 keys built a list of as many pairs first, 64 MB at its peak on
    top of the encoded 32 MB (issue 14, ``replikv bench --rss``); a list of pairs is
    what earlier snapshots hold, and it is still read."""
    sessions: list[tuple[int, int, Result]]
    applied: int
    packed: list[bytes] = []
    """The packed pairs' buckets (``kv.packed``), as they are; left out while there are
    none (every snapshot of a state under ``HOT_LIMIT`` keys is as it was before)."""


class _TxnFailed(Exception):
    pass


_ENCODER = msgspec.msgpack.Encoder()
_DECODER = msgspec.msgpack.Decoder(_Snapshot)


class _Layered:
    """The state as one map once keys were packed: recent keys in ``hot`` (a dict), the
    rest in ``packed``; a key is in one of them, never both. The command functions below
    take it in place of the dict and use only these methods."""

    __slots__ = ("hot", "packed", "_absent")

    def __init__(self, hot: dict[str, str], packed: PackedPairs) -> None:
        self.hot = hot
        self.packed = packed
        self._absent: str | None = None
        """The last key ``get`` found nowhere, until the next write: its ``SET`` needs no
        second search. Still absent from ``packed`` then, since keys enter it only from
        ``hot``, and a key enters ``hot`` only by a write."""

    def get(self, key: str, default: str | None = None) -> str | None:
        value = self.hot.get(key)
        if value is None:
            value = self.packed.get(key)
            if value is None:
                self._absent = key
                return default
        return value

    def __getitem__(self, key: str) -> str:
        value = self.get(key)
        if value is None:
            raise KeyError(key)
        return value

    def __contains__(self, key: str) -> bool:
        return self.get(key) is not None

    def __setitem__(self, key: str, value: str) -> None:
        hot = self.hot
        if key not in hot and key != self._absent:
            self.packed.pop(key)
        self._absent = None
        hot[key] = value

    def pop(self, key: str, default: str | None = None) -> str | None:
        value = self.hot.pop(key, None)
        if value is None:
            value = self.packed.pop(key)
        return default if value is None else value


class KVStateMachine:
    __slots__ = ("_data", "_packed", "_view", "_hot_limit", "_sessions", "_digested", "applied", "snapshot_size")

    def __init__(self, session_limit: int = 100_000, hot_limit: int = HOT_LIMIT) -> None:
        self._data: dict[str, str] = {}
        """The recent keys (all of them until the state passes ``hot_limit`` keys)."""
        self._packed: PackedPairs | None = None
        """The older keys, packed (``kv.packed``); None until the first move."""
        self._view: dict[str, str] | _Layered = self._data
        """What the commands read and write: the dict itself, or both layers."""
        self._hot_limit = hot_limit
        self._sessions = SessionTable(session_limit)
        self._digested: tuple[int, str] | None = None
        """(``applied`` when it was computed, the digest): ``digest`` again for free
        until the next request applies (``cluster wait`` polls it on every node)."""
        self.applied = 0
        """How many requests were applied (duplicates included), for tests and status."""
        self.snapshot_size = 0
        """Items (keys and sessions) of the last snapshot taken or restored (the snapshot
        cadence's measure, ``NodeConfig.snapshot_due``)."""

    # -- the StateMachine protocol ---------------------------------------------------

    def apply(self, request: Request) -> Result:
        self.applied += 1
        kind, cached = self._sessions.lookup(request.client_id, request.seq)
        if kind == "duplicate":
            assert cached is not None
            return cached
        if kind == "stale":
            # The client has moved on; we cannot say what this old request did.
            return Timeout()
        result = self._execute(request.command)
        self._sessions.record(request.client_id, request.seq, result)
        if len(self._data) >= self._hot_limit:
            self._pack()
        return result

    def _pack(self) -> None:
        """Move the oldest recent keys (``PACK_CHUNK``, in the dict's order) into the
        packed pairs (issue 14: a node's memory at 1,000,000 keys). Done at the same
        point of the same sequence on every replica."""
        if self._packed is None:
            self._packed = PackedPairs()
            self._view = _Layered(self._data, self._packed)
        data = self._data
        oldest = list(itertools.islice(data.items(), min(PACK_CHUNK, len(data))))
        self._packed.add_all(oldest)
        for key, _ in oldest:
            del data[key]

    def read(self, request: Request) -> Result:
        command = request.command
        match command:
            case Get(key=key):
                return Ok(self._view.get(key))
            case MGet(keys=keys):
                return Ok([self._view.get(k) for k in keys])
            case Sync():
                return Ok(None)
            case Txn(ops=ops) if all(isinstance(op, Get) for op in ops):
                return Ok([self._view.get(op.key) for op in ops])
        return BadRequest(f"{type(command).__name__} is not a read")

    def snapshot(self) -> bytes:
        self.snapshot_size = len(self) + len(self._sessions)
        packed = self._packed.buckets() if self._packed is not None else []
        return _ENCODER.encode(
            _Snapshot(data=self._data, sessions=self._sessions.items(), applied=self.applied, packed=packed)
        )

    def restore(self, data: bytes) -> None:
        # drop the state being replaced before the new one is built: held both at once, a
        # large state would double a node's memory while it installs a snapshot
        self._data = self._view = {}
        self._packed, self._digested = None, None
        snap = _DECODER.decode(data)
        self._data = snap.data if isinstance(snap.data, dict) else dict(snap.data)
        self._packed = PackedPairs(snap.packed) if snap.packed else None
        self._view = self._data if self._packed is None else _Layered(self._data, self._packed)
        self._sessions.load(snap.sessions)
        self.applied = snap.applied
        while len(self._data) >= self._hot_limit:
            self._pack()  # a snapshot of an older version holds every key in its map
        self.snapshot_size = len(self) + len(self._sessions)

    def digest(self) -> str:
        """Hash of the data (not the sessions), to compare replicas: the same whichever
        layer holds a key (``kv.packed.digest``). Remembered until the next request
        applies (``cluster wait`` polls it on every node)."""
        if self._digested is not None and self._digested[0] == self.applied:
            return self._digested[1]
        return self._remember(self.applied, pairs_digest(self._data, self._buckets()))

    def digest_job(self) -> str | Callable[[], str]:
        """The digest when it is remembered, else a job that computes it from copies
        taken now (the recent keys' dict, the list of immutable packed buckets), to run
        off the event loop: a node asked for its status keeps serving meanwhile (0.5 s
        of hashing at 1,000,000 keys). The job remembers its result while the state is
        unchanged."""
        if self._digested is not None and self._digested[0] == self.applied:
            return self._digested[1]
        applied, recent, buckets = self.applied, dict(self._data), self._buckets()
        buckets = None if buckets is None else list(buckets)
        return lambda: self._remember(applied, pairs_digest(recent, buckets))

    def _remember(self, applied: int, digest: str) -> str:
        if applied == self.applied:
            self._digested = (applied, digest)
        return digest

    def _buckets(self) -> list[bytes] | None:
        return None if self._packed is None else self._packed.buckets()

    # -- inspection ------------------------------------------------------------------

    def get(self, key: str) -> str | None:
        return self._view.get(key)

    def items(self) -> dict[str, str]:
        """Every key and its value (packed ones first, in their buckets' order)."""
        every = dict(self._packed.items()) if self._packed is not None else {}
        every.update(self._data)
        return every

    def __len__(self) -> int:
        return len(self._data) + (len(self._packed) if self._packed is not None else 0)

    # -- execution -------------------------------------------------------------------

    def _execute(self, command: Command) -> Result:
        op = _OPS.get(type(command))
        if op is not None:
            # the common case, one dict lookup instead of the isinstance chain below and
            # the match in ``_op`` (issue 14: CPU per write); the same code either way
            try:
                return Ok(op(command, self._view))
            except _TxnFailed as exc:
                return BadRequest(str(exc))
        if isinstance(command, Txn):
            return self._execute_txn(command)
        if is_admin(command):
            return Ok(None)
        try:
            return Ok(self._op(command, self._view))
        except _TxnFailed as exc:
            return BadRequest(str(exc))

    def _execute_txn(self, txn: Txn) -> Result:
        data = self._view
        if any(data.get(g.key) != g.value for g in txn.guards):
            return Aborted(GUARD_FAILED)
        # Work on a copy of the touched keys so a failing op leaves nothing behind.
        scratch = {op.key: data[op.key] for op in txn.ops if op.key in data}
        try:
            results = [self._op(op, scratch) for op in txn.ops]
        except _TxnFailed as exc:
            return Aborted(f"transaction aborted: {exc}")
        for op in txn.ops:
            if op.key in scratch:
                data[op.key] = scratch[op.key]
            else:
                data.pop(op.key, None)
        return Ok(results)

    @staticmethod
    def _op(command: Command, data: dict[str, str]) -> object:
        op = _OPS.get(type(command))
        if op is None:
            op = next((f for cls, f in _OPS.items() if isinstance(command, cls)), None)
            if op is None:
                raise _TxnFailed(f"unsupported command {type(command).__name__}")
        return op(command, data)


# -- one function per data command, found by the command's type (no isinstance chain) ------


def _get(command: Get, data: dict[str, str]) -> object:
    return data.get(command.key)


def _mget(command: MGet, data: dict[str, str]) -> object:
    return [data.get(k) for k in command.keys]


def _set(command: Set, data: dict[str, str]) -> object:
    key = command.key
    old = data.get(key)
    only_if = command.only_if
    if (only_if == "nx" and old is not None) or (only_if == "xx" and old is None):
        return old if command.return_old else False
    data[key] = command.value
    return old if command.return_old else True


def _delete(command: Delete, data: dict[str, str]) -> object:
    return 1 if data.pop(command.key, None) is not None else 0


def _append(command: Append, data: dict[str, str]) -> object:
    key = command.key
    data[key] = data.get(key, "") + command.value
    return len(data[key])


def _cas(command: Cas, data: dict[str, str]) -> object:
    if data.get(command.key) != command.expected:
        return False
    data[command.key] = command.new
    return True


def _incr(command: Incr, data: dict[str, str]) -> object:
    current = data.get(command.key, "0")
    try:
        number = int(current)
    except ValueError:
        raise _TxnFailed("value is not an integer or out of range") from None
    number += command.by
    if not -(2**63) <= number < 2**63:
        raise _TxnFailed("increment or decrement would overflow")
    data[command.key] = str(number)
    return number


_OPS: dict[type, Callable[[Any, dict[str, str]], object]] = {
    Get: _get,
    MGet: _mget,
    Set: _set,
    Delete: _delete,
    Append: _append,
    Cas: _cas,
    Incr: _incr,
}
"""The commands ``_op`` executes (alone or inside a ``Txn``); any other is unsupported."""
