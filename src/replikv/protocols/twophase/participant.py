"""The participant: every node takes part in every transaction (every node holds every
key, MySQL Cluster's synchronous replication: N-of-N).

Gray & Lamport 2006 §2; Bernstein et al. §7.3-7.4; Skeen 1981 for PRECOMMIT:

- PREPARE: take the locks (no-wait: any held -> NO), check the guards against the
  locked keys, persist PREPARED with the request, then vote YES (the barrier holds the
  vote until PREPARED is durable). A NO promises nothing.
- PRECOMMIT (3PC): persist PRECOMMITTED, then acknowledge.
- COMMIT: apply, persist COMMITTED, release the locks, acknowledge. ABORT: release; the
  record is written lazily (presumed abort: a node that forgets it asks and is told),
  unless the ABORT asks for confirmation (``confirm``, 2PC after a missing vote): then it
  is persisted, also for a transaction this node never voted on, and acknowledged.
- Duplicated, reordered and late messages change nothing: a node answers a repeated
  PREPARE, PRECOMMIT or COMMIT as it did the first time, and a decision, once taken,
  never changes (a message that says otherwise is counted in ``decision_conflicts``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from replikv.core.commands import GUARD_FAILED, Get, Txn
from replikv.core.errors import Aborted, Ok
from replikv.core.requests import Request
from replikv.protocols.twophase import messages as m
from replikv.protocols.twophase.constants import (
    ABORTED,
    COMMITTED,
    PENDING,
    PRECOMMITTED,
    THREE_PC,
    UNCERTAIN,
    Txid,
)
from replikv.protocols.twophase.records import Decided, Prepared
from replikv.protocols.twophase.state import COLLECT, COMMIT, PRECOMMIT, InDoubt

if TYPE_CHECKING:
    from replikv.protocols.twophase.replica import TwoPhaseReplica

    _Base = TwoPhaseReplica
else:
    _Base = object


class ParticipantMixin(_Base):
    def _on_prepare(self, src: int, msg: m.Prepare) -> None:
        txid: Txid = tuple(msg.txid)
        done = self.finished.get(txid)
        if done == COMMITTED:
            self._send(src, m.Ack(txid))
            return
        if done == ABORTED:
            self._send(src, m.VoteNo(txid, "aborted"))
            return
        if txid in self.in_doubt:
            if self.mode == THREE_PC and src == txid[0]:
                # the coordinator resends PREPARE while it collects votes: it is up, and
                # pending, as surely as a report would say (termination._heard_in_round)
                self._heard_in_round(src, txid, PENDING, False)
            self._send(src, m.VoteYes(txid))
            return
        request = msg.request
        conflict = self.locks.conflict(txid, request)
        if conflict is None and not self._guards_hold(request):
            conflict = GUARD_FAILED
        if conflict is not None:
            self.finished_put(txid, ABORTED)  # in memory: a repeated PREPARE gets the same NO
            self._send(src, m.VoteNo(txid, conflict))
            return
        self.locks.acquire(txid, request, self.now)
        self.in_doubt[txid] = InDoubt(request, UNCERTAIN, since_ms=self.now)
        self._persist((Prepared(txid, request),))
        self._send(src, m.VoteYes(txid))

    def _on_precommit(self, src: int, msg: m.PreCommit) -> None:
        txid: Txid = tuple(msg.txid)
        if self.finished.get(txid) == COMMITTED:
            self._send(src, m.PreCommitAck(txid))
            return
        doubt = self.in_doubt.get(txid)
        if doubt is None:
            if self.finished.get(txid) == ABORTED:
                # the termination protocol aborted it while the coordinator was slow:
                # tell it (PRECOMMITTED is no decision, so it can still follow)
                self._send(src, m.Abort(txid))
            return
        doubt.since_ms = self.now
        if doubt.state == UNCERTAIN:
            doubt.state = PRECOMMITTED
            self._persist((Decided(txid, PRECOMMITTED),))
        self._send(src, m.PreCommitAck(txid))

    def _on_decision(self, src: int, msg: m.Commit | m.Abort) -> None:
        txid: Txid = tuple(msg.txid)
        if isinstance(msg, m.Commit):
            self._learn(txid, COMMITTED, ack_to=src)
            return
        self._learn(txid, ABORTED)
        # the coordinator's client waits for this: the abort is made durable first, as
        # before any report of it (termination._state_of: also for a transaction this
        # node never voted on, so a late PREPARE gets NO), then said
        if msg.confirm and self._state_of(txid)[0] == ABORTED:
            self._send(src, m.AbortAck(txid))

    def _learn(self, txid: Txid, outcome: str, ack_to: int | None = None, force: bool = False) -> None:
        """This node learned ``txid``'s outcome (from its coordinator, a termination
        coordinator, or a peer that knew it). ``force``: write an ABORTED record now (this
        node decided it and is about to tell others) instead of lazily."""
        known = self.finished.get(txid)
        if known is not None:
            if known != outcome:
                self.decision_conflicts += 1  # a decision never changes: keep ours
            elif outcome == COMMITTED and ack_to is not None:
                self._send(ack_to, m.Ack(txid))
            return
        ctx = self.coordinating.get(txid)
        if ctx is not None:
            self._coordinator_learns(ctx, outcome)
            return
        doubt = self.in_doubt.pop(txid, None)
        self.rounds.pop(txid, None)
        self.term_precommits.pop(txid, None)
        if doubt is None:
            return  # never voted YES (or forgot it): nothing to apply or release
        self.finished_put(txid, outcome)
        if outcome == COMMITTED:
            self._apply(doubt.request)
            self._persist((Decided(txid, COMMITTED),))
            if ack_to is not None:
                self._send(ack_to, m.Ack(txid))
        elif force:
            self._persist((Decided(txid, ABORTED),))
        else:
            self.lazy.append(Decided(txid, ABORTED))
        self.locks.release(txid, doubt.request, self.now)
        self._serve_reads()

    def _coordinator_learns(self, ctx, outcome: str) -> None:
        """3PC: a termination coordinator decided a transaction this node coordinates
        (it was cut off, and the others went on without it)."""
        if outcome == COMMITTED and ctx.phase in (COLLECT, PRECOMMIT):
            self._decide_commit(ctx)
        elif outcome == ABORTED and ctx.phase == COLLECT:
            reason = "aborted by the termination protocol"
            self._abort(ctx, reason, retry=False, definite=Aborted(reason))
        elif outcome == ABORTED and ctx.phase == PRECOMMIT:
            self._abort_precommitted(ctx)
        elif outcome == ABORTED and ctx.phase == COMMIT:
            self.decision_conflicts += 1

    # -- helpers shared with the coordinator --------------------------------------------

    def _guards_hold(self, request: Request) -> bool:
        command = request.command
        if not isinstance(command, Txn):
            return True
        for guard in command.guards:
            current = self._sm.read(Request(request.client_id, request.seq, Get(guard.key)))
            if not isinstance(current, Ok) or current.value != guard.value:
                return False
        return True

    def _apply(self, request: Request):
        result = self._sm.apply(request)
        self.applied += 1
        self._outbox.commit(self.applied, request)
        return result

    def _in_doubt_phase(self, txid: Txid) -> str | None:
        ctx = self.coordinating.get(txid)
        if ctx is None:
            return None
        return {COLLECT: "pending", PRECOMMIT: PRECOMMITTED, COMMIT: COMMITTED if ctx.applied else "pending"}[ctx.phase]
