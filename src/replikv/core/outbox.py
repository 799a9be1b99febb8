"""The effects a replica emits during one ``handle`` call, in order.

Every scheme needs the same small machinery: append ``Send``/``Reply``/``Commit``
effects, number its ``Persist`` barriers with increasing seqs (starting at 1 for each
new replica object, as the hosts expect), and hand the list over at the end of the
step. One implementation, so a new scheme cannot get the numbering wrong.
"""

from __future__ import annotations

from replikv.core.errors import Result
from replikv.core.io import Commit, Effect, Persist, Reply, Send
from replikv.core.messages import Message, Record
from replikv.core.requests import Request


class Outbox:
    __slots__ = ("_effects", "_persist_seq")

    def __init__(self) -> None:
        self._effects: list[Effect] = []
        self._persist_seq = 0

    def send(self, dst: int, msg: Message) -> None:
        self._effects.append(Send(dst, msg))

    def reply(self, request: Request, result: Result) -> None:
        self._effects.append(Reply(request, result))

    def commit(self, index: int, request: Request) -> None:
        self._effects.append(Commit(index, request))

    def persist(self, records: tuple[Record, ...], replace: bool = False) -> int:
        """Emit a Persist barrier; returns its seq (what ``Persisted(seq)`` will confirm)."""
        self._persist_seq += 1
        self._effects.append(Persist(self._persist_seq, records, replace))
        return self._persist_seq

    def drain(self) -> list[Effect]:
        """The effects of this step, in order; the outbox is empty afterwards."""
        effects, self._effects = self._effects, []
        return effects
