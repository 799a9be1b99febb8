"""The effect pipeline: save-before-send as data, not a comment (DESIGN.md).

A node's effects form one FIFO stream. A ``Persist`` is a barrier: no ``Send``,
``Commit`` or ``Reply`` behind it may run until it is durable; effects before it may
run while it is written. Persists themselves are released at once, in order, so
storage can write (and group-commit) them while the stream waits.

One exception, declared by the message type and never by the host: a ``Send`` whose
message ``overtakes_persist`` (``core/messages.py``) runs at once even behind a pending
``Persist``, because it promises nothing a pending Persist could still make true (Raft
thesis §10.2.1: the leader sends its entries while its own disk write is under way,
and counts its own copy toward a majority only once ``Persisted`` says it is durable).
Every other effect keeps the stream's order; a message that asserts durable state can
never overtake.

One implementation, used by the simulator host and the asyncio runtime alike.
"""

from __future__ import annotations

from collections import deque

from replikv.core.io import Effect, Persist, Send


class EffectPipeline:
    """Orders a replica's effects around its persist barriers.

    ``push(effects)`` returns what may run now: every ``Persist`` (to be written), every
    ``Send`` whose message overtakes pending Persists, and every other effect not behind
    a ``Persist`` that is not yet durable. ``durable(seq)`` records that persists up to
    ``seq`` are on disk and returns the effects that this releases. ``reset()`` forgets
    everything (the node crashed).
    """

    __slots__ = ("_held", "_pending_seqs", "_durable_seq")

    def __init__(self) -> None:
        self._held: deque[Effect] = deque()
        self._pending_seqs: deque[int] = deque()
        self._durable_seq = 0

    @property
    def durable_seq(self) -> int:
        return self._durable_seq

    @property
    def waiting(self) -> int:
        """How many non-persist effects are held behind a barrier."""
        return sum(1 for e in self._held if not isinstance(e, Persist))

    def push(self, effects: list[Effect]) -> list[Effect]:
        ready: list[Effect] = []
        for effect in effects:
            if isinstance(effect, Persist):
                assert effect.seq > self._durable_seq and (
                    not self._pending_seqs or effect.seq > self._pending_seqs[-1]
                ), f"persist seqs must increase: {effect.seq}"
                self._pending_seqs.append(effect.seq)
                self._held.append(effect)
                ready.append(effect)
            elif not self._pending_seqs:
                ready.append(effect)
            elif type(effect) is Send and effect.msg.overtakes_persist:
                assert not effect.msg.asserts_durable, (
                    f"{type(effect.msg).__name__} asserts durable state: it may not overtake a Persist"
                )
                ready.append(effect)
            else:
                self._held.append(effect)
        return ready

    def durable(self, seq: int) -> list[Effect]:
        assert seq >= self._durable_seq, f"durable seq went backwards: {seq} < {self._durable_seq}"
        self._durable_seq = seq
        while self._pending_seqs and self._pending_seqs[0] <= seq:
            self._pending_seqs.popleft()
        released: list[Effect] = []
        while self._held:
            head = self._held[0]
            if isinstance(head, Persist):
                if head.seq > seq:
                    break
                self._held.popleft()
                continue
            self._held.popleft()
            released.append(head)
        return released

    def reset(self) -> None:
        self._held.clear()
        self._pending_seqs.clear()
        self._durable_seq = 0
