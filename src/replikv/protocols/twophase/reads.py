"""Reads: ``local`` (this node's committed state, may be stale) and ``linearizable``
(the same state, once no transaction in doubt here holds a key the read touches).

Why waiting for the locks is enough (N-of-N, strict two-phase locking): a write W that
completed before the read began was decided COMMIT, so every node voted YES for it, so
this node either applied W already or still holds W's locks (PREPARED) and the read
waits until W's outcome is applied. A read never sees a transaction that is not
decided. Reads wait instead of aborting, and a PREPARE that needs a key a read waits for
is refused (``locks.LockTable.conflict``), so a stream of writers cannot starve a read;
a read still waiting after ``request_timeout_ms`` is answered ``Unavailable`` (definite: a
read changes nothing).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from replikv.core.commands import keys_of
from replikv.core.errors import Unavailable
from replikv.core.requests import Request
from replikv.protocols.twophase.state import WaitingRead

if TYPE_CHECKING:
    from replikv.protocols.twophase.replica import TwoPhaseReplica

    _Base = TwoPhaseReplica
else:
    _Base = object


class ReadsMixin(_Base):
    def _submit_read(self, request: Request) -> None:
        keys = keys_of(request.command)
        if request.read_level == "local" or self.locks.free(keys):
            self._reply(request, self._sm.read(request))
            return
        if len(self.reads) >= self.config.max_pending:
            self._reply(request, Unavailable("too many reads waiting for locks"))
            return
        self.reads.append(WaitingRead(request, keys, self.now))
        self.locks.want(keys, 1)

    def _serve_reads(self) -> None:
        if not self.reads:
            return
        waiting = []
        for read in self.reads:
            if self.locks.free(read.keys):
                self.locks.want(read.keys, -1)
                self._reply(read.request, self._sm.read(read.request))
            else:
                waiting.append(read)
        self.reads = waiting

    def _expire_reads(self) -> None:
        if not self.reads or self.now - self.reads[0].since_ms < self.config.request_timeout_ms:
            return
        waiting = []
        for read in self.reads:
            if self.now - read.since_ms >= self.config.request_timeout_ms:
                self.locks.want(read.keys, -1)
                held = sorted(k for k in read.keys if k in self.locks.keys)
                self._reply(read.request, Unavailable(
                    f"key(s) {held} locked by a transaction in doubt for {self.config.request_timeout_ms:g} ms"))
            else:
                waiting.append(read)
        self.reads = waiting
