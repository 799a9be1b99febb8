"""Runtime failpoints (etcd's gofail, in miniature): make a node die at an exact point
of the protocol, so a test can show what a crash *there* does on a real cluster.

A failpoint is named ``<where>:<MessageType>`` and armed with an action:

- ``after-send:<T>``: the host handed a ``Send`` of a ``T`` to the transport and the
  transport queued it on the peer's link (or delivered it to this node);
- ``after-receive:<T>``: a ``T`` arrived from a peer and the host handled it.

The only action is ``exit``: the node dies with ``os._exit(EXIT_CODE)``, as ``kill -9``
would (no WAL flush beyond what is already durable, no goodbye to peers). What the
failpoint guarantees (``PeerTransport``, "Failpoints"): the moment it fires the node
*freezes* -- it sends nothing more, hands no more received message to the replica and
stops ticking it (no timeout can fire, so a frozen node decides nothing on its own) --
then it waits (at most ``FLUSH_TIMEOUT_S``) until every link that is up has written its
queue into the kernel (the asyncio write buffer is empty), and exits. Every message sent
before the firing, the firing one and the rest of the same batch of effects included
(the host runs one input's effects synchronously: a coordinator's PREPARE to every
participant), has then left for every peer whose link was up; the kernel delivers what
is in a socket's buffer after the process ends (a close without unread input is a FIN,
not a reset). A link that was down loses its queue, as with a real crash.

Off by default and refused unless the node runs with ``replikv serve --failpoints``
(``replikv test`` clusters do): with failpoints off the transport's hot path pays one
``is not None`` test. Operators arm them with ``RKVADMIN failpoint set NAME exit``
(``runtime.admin``); names and actions are checked and refused with the list of what is
known.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable

WHERE = ("after-send", "after-receive")
ACTIONS = ("exit",)
EXIT_CODE = 137
"""What the node exits with when a failpoint fires (128 + SIGKILL, as a shell shows kill -9)."""
FLUSH_TIMEOUT_S = 1.0
"""How long a firing node waits for its links to hand their queues to the kernel."""


class FailpointError(ValueError):
    """A failpoint name or action this node does not know; the message lists the known ones."""


class Failpoints:
    """The armed failpoints of one node, by message type name."""

    def __init__(self, message_types: Iterable[str], exit_process: Callable[[int], None] = os._exit) -> None:
        self.message_types = frozenset(message_types)
        self.after_send: dict[str, str] = {}
        self.after_receive: dict[str, str] = {}
        self.fired: str | None = None
        """The failpoint that fired (the node is frozen and about to exit), else ``None``."""
        self.exit_process = exit_process
        self.on_freeze: list[Callable[[], None]] = []
        """Called when the node freezes (``replikv serve`` stops the host's ticker here, so
        no timeout of the replica runs between the firing and the exit)."""

    def set(self, name: str, action: str) -> None:
        where, message_type = self._parse(name)
        if action.lower() not in ACTIONS:
            raise FailpointError(f"unknown failpoint action {action!r}; known: {', '.join(ACTIONS)}")
        self._table(where)[message_type] = action.lower()

    def clear(self, name: str | None = None) -> int:
        """Disarm ``name`` (or every failpoint); returns how many were disarmed."""
        if name is None:
            count = len(self.after_send) + len(self.after_receive)
            self.after_send.clear()
            self.after_receive.clear()
            return count
        where, message_type = self._parse(name)
        return 1 if self._table(where).pop(message_type, None) is not None else 0

    def armed(self) -> dict[str, str]:
        """Every armed failpoint: ``{"after-send:Prepare": "exit", ...}``."""
        return {**{f"after-send:{t}": a for t, a in sorted(self.after_send.items())},
                **{f"after-receive:{t}": a for t, a in sorted(self.after_receive.items())}}

    def _table(self, where: str) -> dict[str, str]:
        return self.after_send if where == "after-send" else self.after_receive

    def _parse(self, name: str) -> tuple[str, str]:
        where, _, message_type = name.partition(":")
        where = where.lower()
        if where not in WHERE or not message_type:
            raise FailpointError(f"unknown failpoint {name!r}; failpoints are "
                                 f"{' or '.join(w + ':<MessageType>' for w in WHERE)}")
        if message_type not in self.message_types:
            raise FailpointError(f"failpoint {name!r}: this scheme has no message type {message_type!r}; "
                                 f"known: {', '.join(sorted(self.message_types))}")
        return where, message_type
