"""The learner: knowing what is chosen, executing it in slot order, catching up, and
folding executed slots into snapshots.

- **Learning** (Paxos Made Simple §2.3): the leader tells every acceptor its chosen
  frontier in each ``Accept`` and ``Heartbeat``: every slot in [``chosen_from``,
  ``chosen_upto``] is chosen under a ballot <= ``chosen_ballot``. A learner that accepted
  such a slot under a ballot >= ``chosen_ballot`` holds the chosen value (P2b: every
  proposal numbered at or above the chosen one carries its value), so it learns it with no
  message. For a slot it cannot tell, it asks (``CatchUp``) and is told the chosen values
  (``Learn``) or, for slots folded into a snapshot there, the snapshot
  (``SnapshotTransfer``). A lagging or restarted node catches up the same way.
- **Execution** (§3): the chosen values live in a ``SlotLog``; a slot runs only when every
  slot below it has (no slot executed before all below it are chosen).
- **Snapshots**: once ``snapshot_threshold`` slots are executed since the last one (and
  the log has grown as large as it: ``core.config.compaction_due``), the
  state machine is snapshotted and the executed slots forgotten, by one restatement
  ``Persist(replace=True)`` (promise, snapshot, accepted and chosen slots above it).

A mixin of ``PaxosReplica``.
"""

from __future__ import annotations

from replikv.core.errors import Ok, Result, Timeout
from replikv.core.slots import SlotLog
from replikv.protocols.paxos.constants import ZERO, Ballot, is_internal
from replikv.protocols.paxos.fences import is_fence
from replikv.protocols.paxos.membership import is_change
from replikv.protocols.paxos.messages import CatchUp, Learn, Proposal, SnapshotTransfer, Value
from replikv.protocols.paxos.records import (
    AcceptRecord,
    ChosenRecord,
    PromiseRecord,
    SnapshotRecord,
)

_SCAN = 4096
"""At most this many slots examined per frontier message (a far-behind learner catches
up by ``CatchUp`` anyway)."""


class LearnerMixin:
    def _learn_frontier(self, src: int, chosen_from: int, upto: int, ballot: Ballot) -> None:
        chosen, accepted = self.learner.chosen, self.acceptor.accepted
        if ballot != ZERO and not self.acceptor.rejoining:
            first = max(chosen.executed + 1, chosen_from)
            for slot in range(first, min(upto, first + _SCAN) + 1):
                entry = accepted.get(slot)
                if slot not in chosen and entry is not None and entry[0] >= ballot:
                    chosen.put(slot, entry[1])
        self._execute()
        if chosen.executed < upto:
            self._ask_catch_up(src)

    def _ask_catch_up(self, dst: int, *, now: bool = False) -> bool:
        """Ask ``dst`` for the chosen slots after ours, unless we asked someone within
        ``retransmit_ms`` (``now``: ask anyway). True if it asked."""
        learner = self.learner
        if not now and self.proposer.now - learner.catchup_sent_ms < self.config.retransmit_ms:
            return False
        learner.catchup_sent_ms = self.proposer.now
        self._send(dst, CatchUp(learner.chosen.executed + 1))
        return True

    def _on_catch_up(self, src: int, msg: CatchUp) -> None:
        chosen = self.learner.chosen
        if msg.from_slot <= chosen.base:
            self._send(src, SnapshotTransfer(chosen.executed, self._sm.snapshot(), self.members))
            start = chosen.executed + 1
        else:
            start = msg.from_slot
        values = tuple(Value(s, r) for s, r in chosen.items(start)[: self.config.max_batch])
        if values:
            self._send(src, Learn(values))

    def _on_learn(self, src: int, msg: Learn) -> None:
        chosen = self.learner.chosen
        new = tuple(v for v in msg.values if v.slot > chosen.base and v.slot not in chosen)
        if not new:
            return
        for value in new:
            chosen.put(value.slot, value.request)
        self.leadership.outside_upto = max(self.leadership.outside_upto, new[-1].slot)
        self._persist((ChosenRecord(new),))
        self._execute()
        if len(msg.values) >= self.config.max_batch:
            self._ask_catch_up(src, now=True)

    def _on_snapshot(self, src: int, msg: SnapshotTransfer) -> None:
        chosen = self.learner.chosen
        last = msg.last_slot
        if last <= chosen.executed:
            return
        self._sm.restore(msg.data)
        if msg.members:
            self.members = tuple(msg.members)
        fresh: SlotLog = SlotLog(last)
        for slot, request in chosen.items(last + 1):
            fresh.put(slot, request)
        self.learner.chosen = fresh
        self.acceptor.accepted = {s: a for s, a in self.acceptor.accepted.items() if s > last}
        leadership = self.leadership
        leadership.outside_upto = max(leadership.outside_upto, last)
        for slot in [s for s in leadership.pending if s <= last]:
            for request, _since in leadership.pending.pop(slot):
                leadership.pending_ids.pop(request.id, None)
                self._reply(request, Timeout())
        self._restate(msg.data)
        self._execute()

    # -- execution (§3: strictly in slot order) ---------------------------------------

    def _execute(self) -> None:
        chosen, leadership = self.learner.chosen, self.leadership
        ran = False
        for slot, request in list(chosen.next_runnable()):
            chosen.mark_executed(slot)
            ran = True
            if is_internal(request):
                result: Result = Ok(None)
            else:  # a client's write, or a fence taking its session slot (fences.py)
                result = self._sm.apply(request)
            self._outbox.commit(slot, request)
            if not is_internal(request) and is_change(request.command):
                self._apply_change(slot, request.command)
            answer = self._fence_answer(request, result) if is_fence(request) else result
            for waiter, _since in leadership.pending.pop(slot, ()):
                leadership.pending_ids.pop(waiter.id, None)
                # the slot holds another value (we lost it to a higher ballot): ours may
                # still be chosen elsewhere, so the answer is indefinite
                self._reply(waiter, answer if waiter.id == request.id else Timeout())
        if ran:
            self._serve_reads()
            self._rejoin_check()
            self._maybe_snapshot()

    def _maybe_snapshot(self) -> None:
        chosen = self.learner.chosen
        if not self.config.snapshot_due(chosen.executed - chosen.base, self._sm.snapshot_size):
            return
        chosen.compact(chosen.executed)
        self.acceptor.accepted = {s: a for s, a in self.acceptor.accepted.items() if s > chosen.base}
        self._restate(self._sm.snapshot(), compaction=True)

    def _restate(self, data: bytes, compaction: bool = False) -> None:
        """The whole durable state in one ``Persist(replace=True)``.

        ``compaction`` (``core.io.Persist``) for this node's own snapshot: the promise
        and every accepted proposal in it were emitted in a Persist of their own when
        they changed (acceptor.py, proposer.py, rejoin.py), and the rest is what the
        node learned: the state after executing chosen slots, and chosen values. Some of
        those it may have learned without a record of its own (from a majority's
        acks, or from the promises a new leader gathered), so a crash before the swap
        can make it forget them; learning promises nothing to anyone (Paxos Made Simple
        §2.3), so it is a learner behind, and it learns them again (catch-up, or phase 1
        of a later leader, which finds them accepted by a majority, P2c). A snapshot
        installed from a peer brings state the disk never held: a barrier."""
        chosen, acceptor = self.learner.chosen, self.acceptor
        proposals = tuple(Proposal(s, b, r) for s, (b, r) in sorted(acceptor.accepted.items()))
        values = tuple(Value(s, r) for s, r in chosen.items())
        records = [SnapshotRecord(chosen.executed, data, self.members),
                   PromiseRecord(acceptor.promised, acceptor.rejoining)]
        if proposals:
            records.append(AcceptRecord(proposals))
        if values:
            records.append(ChosenRecord(values))
        self._persist(tuple(records), replace=True, compaction=compaction)
