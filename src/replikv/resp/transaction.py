"""A connection's ``MULTI`` state: what happens to the commands between MULTI and EXEC.

What may live here: the per-connection transaction state and the replies of MULTI, EXEC
and DISCARD. No I/O and no cluster access; the session asks this state what to do with
each command while a transaction is open.

Today MULTI/EXEC is refused (issue 8.5): MULTI answers an error but still opens the
transaction, so every command sent after it (redis-py's ``pipeline()`` sends MULTI, the
commands and EXEC in one write, before it reads any reply) is refused, never applied,
until EXEC (answered ``EXECABORT``) or DISCARD. A client that sees any of these errors is
right to believe nothing happened: a transaction is all or nothing, and here it is
nothing. Applying the queued commands one by one would half-apply it.

The shape is the one a real implementation (issue 9: transactions through the scheme's
``Txn``) fills in: ``queue`` keeps the command instead of refusing it, and ``exec``
returns the queued commands for the session to run as one replicated transaction.
"""

from __future__ import annotations

from dataclasses import dataclass, field

MULTI_REFUSED = (
    "ERR MULTI/EXEC transactions are not supported yet; nothing was applied, and every "
    "command up to EXEC or DISCARD is refused (TXN runs several commands atomically)"
)
QUEUED_REFUSED = (
    "ERR not applied: this connection sent MULTI, which replikv does not support yet; "
    "send DISCARD or EXEC to leave the transaction"
)
EXEC_ABORTED = "EXECABORT Transaction discarded because MULTI is not supported; nothing was applied"
NESTED = "ERR MULTI calls can not be nested"

PASS_THROUGH = frozenset({"multi", "exec", "discard", "quit"})
"""Commands the session runs itself while a transaction is open (Redis runs these
immediately too; every other command is queued, or today refused)."""


@dataclass
class Transaction:
    """An open MULTI on one connection."""

    queued: list[list[bytes]] = field(default_factory=list)
    """Commands queued for EXEC (always empty while transactions are refused)."""
    refused: bool = True
    """Whether EXEC must discard the transaction (Redis: an error while queuing)."""

    def queue(self, argv: list[bytes]) -> str:
        """The error reply for a command sent inside the transaction: refused, not run."""
        self.refused = True
        return QUEUED_REFUSED

    def exec_reply(self) -> str:
        """EXEC's reply: the transaction was refused, nothing ran."""
        assert self.refused, "queued transactions are not implemented"
        return EXEC_ABORTED


class TransactionState:
    """``MULTI`` / ``EXEC`` / ``DISCARD`` for one connection; ``open`` is the transaction
    in progress, if any."""

    def __init__(self) -> None:
        self.open: Transaction | None = None

    def intercepts(self, name: str) -> bool:
        """Whether a command must go to ``queue`` instead of running now."""
        return self.open is not None and name not in PASS_THROUGH

    def queue(self, argv: list[bytes]) -> str:
        assert self.open is not None
        return self.open.queue(argv)

    def multi(self) -> str:
        """MULTI's reply (an error today); opens the transaction either way."""
        if self.open is not None:
            return NESTED
        self.open = Transaction()
        return MULTI_REFUSED

    def exec(self) -> str:
        """EXEC's reply; closes the transaction."""
        if self.open is None:
            return "ERR EXEC without MULTI"
        transaction, self.open = self.open, None
        return transaction.exec_reply()

    def discard(self) -> str | None:
        """DISCARD's error, or None for OK; closes the transaction."""
        if self.open is None:
            return "ERR DISCARD without MULTI"
        self.open = None
        return None
