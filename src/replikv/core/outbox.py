"""The effects a replica emits during one ``handle`` call, in order.

Every scheme needs the same small machinery: append ``Send``/``Reply``/``Commit``
effects, number its ``Persist`` barriers with increasing seqs (starting at 1 for each
new replica object, as the hosts expect), and hand the list over at the end of the
step. One implementation, so a new scheme cannot get the numbering wrong.
"""

from __future__ import annotations

from collections import deque

from replikv.core.errors import Result
from replikv.core.io import Commit, Effect, Persist, Reply, Send
from replikv.core.messages import Message, Record
from replikv.core.requests import Request


class Outbox:
    """Effects of one step, Persist numbering, and the durable log index.

    ``persist(records, upto=i)`` notes that once this Persist is durable the replica's log
    is durable up to index ``i``; ``durable(seq)`` (on ``Persisted(seq)``) returns the
    highest such index now durable; ``truncate(i)`` lowers every pending mark above ``i``
    (a conflicting suffix was cut, Raft §5.3). Every log-based scheme needs exactly this
    to know what it may acknowledge.
    """

    __slots__ = ("_effects", "_persist_seq", "_marks")

    def __init__(self) -> None:
        self._effects: list[Effect] = []
        self._persist_seq = 0
        self._marks: deque[tuple[int, int]] = deque()

    def send(self, dst: int, msg: Message) -> None:
        self._effects.append(Send(dst, msg))

    def reply(self, request: Request, result: Result) -> None:
        self._effects.append(Reply(request, result))

    def commit(self, index: int, request: Request) -> None:
        self._effects.append(Commit(index, request))

    def persist(self, records: tuple[Record, ...], replace: bool = False, *, upto: int | None = None,
                compaction: bool = False) -> int:
        """Emit a Persist barrier; returns its seq (what ``Persisted(seq)`` will confirm).
        ``upto``: the log index that is durable once this Persist is. ``compaction``: a
        replace that restates only what earlier Persists hold (``core.io``)."""
        assert replace or not compaction, "a compaction is a replace"
        self._persist_seq += 1
        self._effects.append(Persist(self._persist_seq, records, replace, compaction))
        if upto is not None:
            self._marks.append((self._persist_seq, upto))
        return self._persist_seq

    def durable(self, seq: int) -> int | None:
        """Persists up to ``seq`` are durable: the highest log index they cover, or None."""
        index = None
        while self._marks and self._marks[0][0] <= seq:
            index = self._marks.popleft()[1]
        return index

    def truncate(self, index: int) -> None:
        """The log was cut above ``index``: no pending Persist makes more than it durable."""
        self._marks = deque((seq, min(upto, index)) for seq, upto in self._marks)

    def drain(self) -> list[Effect]:
        """The effects of this step, in order; the outbox is empty afterwards."""
        effects, self._effects = self._effects, []
        return effects
