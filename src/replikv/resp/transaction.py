"""A connection's ``MULTI`` and ``WATCH`` state: what EXEC sends as one ``Txn``.

What may live here: the per-connection transaction state (the commands queued since
MULTI, the keys WATCHed and the values read then) and the replies that need no cluster.
No I/O and no cluster access: the session reads the watched keys and runs what ``exec``
hands back as one replicated request.

Redis's rules, kept (redis.io "Transactions"): MULTI opens a transaction; each command
after it is answered ``+QUEUED``; a command that is unknown, has the wrong arity, is
malformed or cannot go in a transaction is answered with its error and marks the
transaction, so EXEC answers ``-EXECABORT`` and applies nothing; EXEC, DISCARD and QUIT
run at once. WATCH (outside MULTI only) remembers the keys; EXEC and DISCARD forget them.

Where replikv differs (docs/redis.md): the queued commands become ONE ``Txn`` (all or
nothing, core/commands.py), so an op that fails inside it (INCR of a non-integer) aborts
the whole transaction; and a watched key becomes a ``Guard`` on the value read at WATCH
time, so a key changed and changed back does not abort the transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from replikv.core.commands import Get, Guard, MGet, Txn, TxnOp
from replikv.resp import protocol as p
from replikv.resp.commands import DataCommand, Render

MAX_QUEUED = 10_000
"""Commands one transaction may queue; one more marks it (EXEC then aborts)."""
MAX_WATCHED = 10_000
"""Keys one connection may watch."""

QUEUED = p.Simple("QUEUED")
OK = p.Simple("OK")
EXEC_ABORTED = "EXECABORT Transaction discarded because of previous errors."
NESTED = "ERR MULTI calls can not be nested"
WATCH_INSIDE_MULTI = "ERR WATCH inside MULTI is not allowed"
TOO_MANY_QUEUED = f"ERR a transaction holds at most {MAX_QUEUED} commands"
TOO_MANY_WATCHED = f"ERR a connection watches at most {MAX_WATCHED} keys"

PASS_THROUGH = frozenset({"multi", "exec", "discard", "quit", "watch"})
"""Commands the session runs at once while a transaction is open (as Redis does)."""


def not_in_transaction(name: str) -> str:
    return (f"ERR '{name[:64]}' cannot be used inside MULTI in replikv (only data commands "
            "such as GET, SET, DEL, INCR, APPEND, MGET, MSET, CAS go in a transaction)")


def no_transactions(scheme: str) -> str:
    return (f"ERR the {scheme} scheme does not offer multi-key transactions; "
            "nothing was applied")


@dataclass(frozen=True)
class Queued:
    """One queued command: the ops it adds to the ``Txn`` and how its reply is made from
    their results (``single``: from the one result, else from the list of them)."""

    ops: tuple[TxnOp, ...]
    render: Render
    single: bool

    @staticmethod
    def of(data: DataCommand) -> Queued:
        command = data.command
        if isinstance(command, Txn):
            assert not command.guards
            return Queued(command.ops, data.render, single=False)
        if isinstance(command, MGet):  # MGET, EXISTS: one Get per key
            return Queued(tuple(Get(k) for k in command.keys), data.render, single=False)
        return Queued((command,), data.render, single=True)  # type: ignore[arg-type]


UNWATCH_QUEUED = Queued((), lambda _: OK, single=False)
"""UNWATCH inside MULTI: queued, answers OK in EXEC's array, changes nothing (EXEC
forgets the watches anyway), as in Redis."""


@dataclass
class Transaction:
    """An open MULTI."""

    queued: list[Queued] = field(default_factory=list)
    refused: bool = False
    """A command was refused while queuing: EXEC must discard the transaction."""


@dataclass(frozen=True)
class Prepared:
    """What EXEC runs: the ops of every queued command, in order, and the guards."""

    queued: tuple[Queued, ...]
    guards: tuple[Guard, ...]

    @property
    def ops(self) -> tuple[TxnOp, ...]:
        return tuple(op for q in self.queued for op in q.ops)

    @property
    def read_only(self) -> bool:
        return all(isinstance(op, Get) for op in self.ops)

    def replies(self, results: Sequence[object]) -> list[p.ReplyValue]:
        """EXEC's array: each queued command's reply, from the ``Txn``'s results."""
        assert len(results) == sum(len(q.ops) for q in self.queued)
        out: list[p.ReplyValue] = []
        at = 0
        for q in self.queued:
            mine = results[at : at + len(q.ops)]
            at += len(q.ops)
            out.append(q.render(mine[0] if q.single else list(mine)))
        return out


class TransactionState:
    """``MULTI`` / ``EXEC`` / ``DISCARD`` / ``WATCH`` for one connection."""

    def __init__(self) -> None:
        self.open: Transaction | None = None
        self.watched: dict[str, str | None] = {}
        """Watched key -> the value read when it was first watched (``None``: absent)."""

    def intercepts(self, name: str) -> bool:
        """Whether a command must go to ``queue`` instead of running now."""
        return self.open is not None and name not in PASS_THROUGH

    def refuse(self) -> None:
        """A command sent inside the transaction was refused: EXEC will abort."""
        if self.open is not None:
            self.open.refused = True

    def queue(self, item: Queued) -> p.ReplyValue:
        assert self.open is not None
        if len(self.open.queued) >= MAX_QUEUED:
            self.open.refused = True
            return p.Error(TOO_MANY_QUEUED)
        self.open.queued.append(item)
        return QUEUED

    def multi(self) -> p.ReplyValue:
        if self.open is not None:
            return p.Error(NESTED)
        self.open = Transaction()
        return OK

    def exec(self) -> Prepared | p.Error:
        """Close the transaction and forget the watches; what to run, or EXEC's error."""
        if self.open is None:
            return p.Error("ERR EXEC without MULTI")
        transaction, self.open = self.open, None
        watched, self.watched = self.watched, {}
        if transaction.refused:
            return p.Error(EXEC_ABORTED)
        guards = tuple(Guard(k, v) for k, v in sorted(watched.items()))
        return Prepared(tuple(transaction.queued), guards)

    def discard(self) -> p.ReplyValue:
        if self.open is None:
            return p.Error("ERR DISCARD without MULTI")
        self.open = None
        self.watched = {}
        return OK

    def unwatched(self, keys: Sequence[str]) -> list[str]:
        """The keys of a WATCH not watched yet (each once, in order)."""
        return list(dict.fromkeys(k for k in keys if k not in self.watched))

    def watch(self, values: dict[str, str | None]) -> p.ReplyValue:
        if len(self.watched) + len(values) > MAX_WATCHED:
            return p.Error(TOO_MANY_WATCHED)
        self.watched.update(values)
        return OK

    def unwatch(self) -> None:
        self.watched = {}
