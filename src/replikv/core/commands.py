"""Client commands: the operations every scheme replicates.

What may live here: frozen msgspec structs describing *what a client asked for*, and
pure helpers that classify them. No state, no I/O.

The commands live in ``core`` (not ``kv``) because protocols need to look at them
(is this a read? which keys does this transaction lock?) and protocols may import
only ``core``. ``kv`` gives them meaning (``KVStateMachine``).

Keys and values are ``str``. Byte strings from the Redis front end are carried
losslessly as latin-1 text, so any byte value round-trips exactly.
"""

from __future__ import annotations

import msgspec


class Command(msgspec.Struct, frozen=True, tag=True):
    """Base of every command. Subclasses are tagged by class name on the wire."""


class Get(Command, frozen=True):
    key: str


class Set(Command, frozen=True):
    """Write ``value``. ``only_if`` is ``"nx"`` (only if absent) or ``"xx"`` (only if present)."""

    key: str
    value: str
    only_if: str | None = None
    return_old: bool = False


class Delete(Command, frozen=True):
    key: str


class Cas(Command, frozen=True):
    """Compare-and-set: write ``new`` only if the current value equals ``expected``
    (``None`` means "absent"). Result is ``True`` when swapped."""

    key: str
    expected: str | None
    new: str


class Incr(Command, frozen=True):
    key: str
    by: int = 1


class MGet(Command, frozen=True):
    keys: tuple[str, ...]


class Append(Command, frozen=True):
    """Redis ``APPEND``: add ``value`` to the end of the key's string (created empty);
    the result is the new length. Elle's list-append workload is built on it."""

    key: str
    value: str


class Sync(Command, frozen=True):
    """A barrier (ZooKeeper's ``sync()``, the ``SYNC`` command): answered ``Ok`` once the
    node that took it has caught up with every write acknowledged before it arrived.
    Changes nothing; a read with no key, so every scheme serves it at its read level
    (a linearizable read of nothing is exactly that barrier)."""


class Guard(msgspec.Struct, frozen=True):
    """A transaction's precondition: ``key`` still holds ``value`` (``None``: absent).
    Redis ``WATCH`` becomes one guard per watched key, with the value read at WATCH time."""

    key: str
    value: str | None


TxnOp = Get | Set | Delete | Cas | Incr | Append


class Txn(Command, frozen=True):
    """Atomic multi-key transaction: every op applies or none does. Reads inside see
    the writes before them. If a guard does not hold, nothing applies and the result is
    ``Aborted`` (definitely not applied; ``EXEC`` answers nil, as after a ``WATCH``ed
    key changed). 2PC/3PC run it natively; consensus schemes through the log."""

    ops: tuple[TxnOp, ...]
    guards: tuple[Guard, ...] = ()


# -- administrative commands (go through Submit like any other request) ---------------


class Promote(Command, frozen=True):
    """Manual failover: make the receiving replica the primary (primary/backup)."""


class AddServer(Command, frozen=True):
    """Membership change (Raft §6 / thesis ch. 4): add ``node`` (as a learner if asked)."""

    node: int
    learner: bool = False


class RemoveServer(Command, frozen=True):
    node: int


class TransferLeader(Command, frozen=True):
    """Leadership transfer (Raft thesis §3.10)."""

    node: int


class Noop(Command, frozen=True):
    """Appended by a new leader (Raft §8) or used to probe; applies to nothing."""


class SAdd(Command, frozen=True):
    """Redis ``SADD``: add members to the set at ``key``; the result is how many were new.
    Offered by schemes that keep sets (``quorum``: an observed-remove set, Shapiro et al.
    2011); the others answer ``BadRequest``."""

    key: str
    members: tuple[str, ...]


class SRem(Command, frozen=True):
    """Redis ``SREM``: remove members; the result is how many were present."""

    key: str
    members: tuple[str, ...]


class SMembers(Command, frozen=True):
    """Redis ``SMEMBERS``: the set's members (sorted)."""

    key: str


class Siblings(Command, frozen=True):
    """Every concurrent value of a register (a multi-value register's read; ``quorum``
    keeps siblings). Schemes without siblings answer ``BadRequest``."""

    key: str


ClientCommand = Get | Set | Delete | Cas | Incr | Append | MGet | Txn | Sync | SAdd | SRem | SMembers | Siblings
AdminCommand = Promote | AddServer | RemoveServer | TransferLeader
AnyCommand = ClientCommand | AdminCommand | Noop

READ_COMMANDS = (Get, MGet, Sync, SMembers, Siblings)
ADMIN_COMMANDS = (Promote, AddServer, RemoveServer, TransferLeader)


def is_read(command: Command) -> bool:
    """A command that changes nothing (may be served without going through the log)."""
    if isinstance(command, READ_COMMANDS):
        return True
    if isinstance(command, Txn):
        return all(isinstance(op, Get) for op in command.ops)
    return False


GUARD_FAILED = "watched key changed"
"""The ``Aborted`` reason of a transaction whose guard did not hold (``EXEC`` -> nil)."""


def is_admin(command: Command) -> bool:
    return isinstance(command, ADMIN_COMMANDS)


def keys_of(command: Command) -> tuple[str, ...]:
    """The keys a command touches, sorted and unique (what a 2PC participant locks)."""
    match command:
        case MGet(keys=keys):
            return tuple(sorted(set(keys)))
        case Txn(ops=ops, guards=guards):
            return tuple(sorted({op.key for op in ops} | {g.key for g in guards}))
        case Get(key=k) | Set(key=k) | Delete(key=k) | Cas(key=k) | Incr(key=k) | Append(key=k):
            return (k,)
        case SAdd(key=k) | SRem(key=k) | SMembers(key=k) | Siblings(key=k):
            return (k,)
    return ()


def value_bytes(command: Command) -> int:
    """Size of the values a command writes, for the configured maximum."""
    match command:
        case Set(value=v) | Append(value=v):
            return len(v)
        case Cas(new=v, expected=e):
            return len(v) + (len(e) if e is not None else 0)
        case Txn(ops=ops):
            return sum(value_bytes(op) for op in ops)
        case SAdd(members=members):
            return sum(len(m) for m in members)
    return 0
