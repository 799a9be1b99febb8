"""The coordinator: any node coordinates the transactions its own clients send (MySQL
Cluster's transaction coordinators).

Gray & Lamport 2006 §2 (the two-phase commit protocol), presumed abort (Mohan, Lindsay,
Obermarck 1986), Skeen 1981 for 3PC:

1. Lock locally (no-wait), send PREPARE with the request to every other node. The
   coordinator's own vote needs no record: under presumed abort a coordinator that
   restarts without a decision aborts, which is what its missing vote would mean.
2. Every vote YES -> 2PC: persist COMMITTED (the commit point) and only then send COMMIT
   (the barrier holds the sends until the record is durable); 3PC: persist PRECOMMITTED,
   send PRECOMMIT, and once every node acknowledged persist COMMITTED and send COMMIT.
   A missing ack is not taken as a failure (Skeen's coordinator would commit on a
   timeout; a node that was only slow or paused may meanwhile have aborted with the
   others): PRECOMMIT is resent, and if a node really failed the survivors' termination
   protocol decides, and this coordinator follows (``participant._coordinator_learns``).
3. A NO, or a vote missing after ``vote_timeout_ms``: abort. Nothing is persisted
   (presumed abort); ABORT goes to everyone that did not vote NO. A lock conflict is
   retried under a new transaction id after a random pause until the request's deadline.
   A vote missing (2PC): the client's definite refusal waits until one participant has
   made the abort durable and acknowledged it (``Abort(confirm=True)``, ``AbortAck``); by
   the request's deadline without one it gets ``Timeout``. Every participant may have
   voted YES (the missing vote only late), and if this coordinator then loses its
   memory (a torn tail, a wiped disk) before any ABORT arrives, rejoin.py finds every
   peer in doubt and decides COMMIT, as it must for a lost COMMIT record: a refusal
   told before anyone else knew the abort would then be a lie (swarm seed 2pc 52162:
   "did not vote" answered at 4,108 ms, the ABORTs lost in the crash at 4,140 ms with
   the last record torn, the write committed at 4,530 ms). A NO needs no wait: its
   voter never holds the transaction in doubt, so it never reports it undecided.
4. The coordinator applies the transaction and answers the client when its COMMITTED
   record is durable; it re-sends COMMIT until every node acknowledged, then forgets.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from replikv.core.commands import GUARD_FAILED
from replikv.core.errors import Aborted, Result, Timeout, Unavailable
from replikv.core.requests import Request
from replikv.protocols.twophase import messages as m
from replikv.protocols.twophase.constants import (
    ABORTED,
    CLIENT_BUSY,
    COMMITTED,
    LOCK_CONFLICT,
    PRECOMMITTED,
    THREE_PC,
    TWO_PC,
    Txid,
)
from replikv.protocols.twophase.records import Decided, Forgotten
from replikv.protocols.twophase.state import (
    COLLECT,
    COMMIT,
    PRECOMMIT,
    Coordinated,
    Retry,
    UnconfirmedAbort,
)

if TYPE_CHECKING:
    from replikv.protocols.twophase.replica import TwoPhaseReplica

    _Base = TwoPhaseReplica
else:
    _Base = object


class CoordinatorMixin(_Base):
    # -- starting a transaction ----------------------------------------------------------

    def _begin(self, request: Request, copies: list[Request], deadline_ms: float, attempt: int) -> None:
        self.counter += 1
        txid: Txid = (self.node, self.epoch, self.counter)
        conflict = self.locks.conflict(txid, request)
        if conflict is not None:
            self._retry_or_fail(request, copies, deadline_ms, attempt, conflict)
            return
        if not self._guards_hold(request):
            self._finish_request(request, copies, Aborted(GUARD_FAILED))
            return
        self.locks.acquire(txid, request, self.now)
        ctx = Coordinated(txid, request, copies, started_ms=self.now, phase_ms=self.now, sent_ms=self.now,
                          deadline_ms=deadline_ms, attempt=attempt)
        self.coordinating[txid] = ctx
        self.by_request[request.id] = txid
        for peer in self.peers:
            self._send(peer, m.Prepare(txid, request))
        if not self.peers:
            self._all_voted(ctx)

    def _retry_or_fail(self, request: Request, copies: list[Request], deadline_ms: float, attempt: int,
                       reason: str) -> None:
        pause = self.config.retry_ms * (2 ** min(attempt, 6)) * (1 + self._rng.random())
        if self.now + pause < deadline_ms:
            self.retries.append(Retry(self.now + pause, request, copies, deadline_ms, attempt + 1))
            self.retrying.add(request.id)
        else:
            self._finish_request(request, copies, Aborted(f"{reason}; gave up after {attempt + 1} attempts"))

    # -- votes -----------------------------------------------------------------------------

    def _on_vote(self, src: int, msg: m.VoteYes | m.VoteNo) -> None:
        txid = tuple(msg.txid)
        yes = isinstance(msg, m.VoteYes)
        ctx = self.coordinating.get(txid)
        if ctx is None or ctx.phase != COLLECT:
            if yes and ctx is None and self.finished.get(txid) == ABORTED:
                self._send(src, m.Abort(txid))  # a late YES: let it release its locks
            return
        if yes:
            ctx.votes.add(src)
            if ctx.votes.issuperset(self.peers):
                self._all_voted(ctx)
        else:
            ctx.noes.add(src)
            retry = msg.reason.startswith(LOCK_CONFLICT) or msg.reason == CLIENT_BUSY
            self._abort(ctx, msg.reason, retry=retry, definite=Aborted(msg.reason))

    def _all_voted(self, ctx: Coordinated) -> None:
        if self.mode == THREE_PC:
            ctx.phase, ctx.phase_ms, ctx.sent_ms = PRECOMMIT, self.now, self.now
            self._persist((Decided(ctx.txid, PRECOMMITTED, ctx.request),))
            for peer in self.peers:
                self._send(peer, m.PreCommit(ctx.txid))
            if not self.peers:
                self._decide_commit(ctx)
        else:
            self._decide_commit(ctx)

    def _on_precommit_ack(self, src: int, msg: m.PreCommitAck) -> None:
        txid = tuple(msg.txid)
        ctx = self.coordinating.get(txid)
        if ctx is not None and ctx.phase == PRECOMMIT:
            ctx.acks.add(src)
            if ctx.acks.issuperset(self.peers):
                self._decide_commit(ctx)
            return
        self._on_termination_precommit_ack(src, txid)

    # -- the decision ----------------------------------------------------------------------

    def _decide_commit(self, ctx: Coordinated) -> None:
        """Persist COMMITTED, then (behind the barrier) tell everyone; apply and answer
        once the record is durable."""
        ctx.phase, ctx.phase_ms, ctx.sent_ms, ctx.acks = COMMIT, self.now, self.now, set()
        seq = self._persist((Decided(ctx.txid, COMMITTED, ctx.request),))
        for peer in self.peers:
            self._send(peer, m.Commit(ctx.txid))
        self._after_durable(seq, ctx.txid)

    def _commit_durable(self, txid: Txid) -> None:
        ctx = self.coordinating.get(txid)
        if ctx is None or ctx.applied or ctx.request is None:
            return
        ctx.applied = True
        self.finished_put(txid, COMMITTED)
        result = self._apply(ctx.request)
        self.locks.release(txid, ctx.request, self.now)
        self.by_request.pop(ctx.request.id, None)
        self._remember(ctx.request.id, result)  # a late copy gets this, not a new transaction
        for copy in ctx.copies:
            self._reply(copy, result)
        self._serve_reads()
        self._maybe_forget(ctx)

    def _on_abort_ack(self, msg: m.AbortAck) -> None:
        """A participant made our abort durable: the client's refusal is definite now."""
        waiting = self.unconfirmed.pop(tuple(msg.txid), None)
        if waiting is not None:
            self.unconfirmed_requests.pop(waiting.request.id, None)
            self._finish_request(waiting.request, waiting.copies, waiting.result)

    def _on_ack(self, src: int, msg: m.Ack) -> None:
        ctx = self.coordinating.get(tuple(msg.txid))
        if ctx is not None and ctx.phase == COMMIT:
            ctx.acks.add(src)
            self._maybe_forget(ctx)

    def _maybe_forget(self, ctx: Coordinated) -> None:
        if ctx.applied and ctx.acks.issuperset(self.peers):
            del self.coordinating[ctx.txid]
            self.lazy.append(Forgotten((ctx.txid,)))

    def _abort(self, ctx: Coordinated, reason: str, *, retry: bool, definite: Result,
               confirm: bool = False) -> None:
        """Presumed abort: nothing persisted; ABORT to every node that did not vote NO.
        ``confirm``: answer the client only once a participant acknowledged the abort
        (the module docstring, step 3)."""
        assert ctx.phase == COLLECT and ctx.request is not None, ctx
        del self.coordinating[ctx.txid]
        self.finished_put(ctx.txid, ABORTED)
        self.by_request.pop(ctx.request.id, None)
        self.locks.release(ctx.txid, ctx.request, self.now)
        for peer in self.peers:
            if peer not in ctx.noes:
                self._send(peer, m.Abort(ctx.txid, confirm=confirm))
        if confirm and self.peers:
            self.unconfirmed[ctx.txid] = UnconfirmedAbort(
                ctx.request, ctx.copies, definite, ctx.deadline_ms, self.now)
            self.unconfirmed_requests[ctx.request.id] = ctx.txid
        elif retry:
            self._retry_or_fail(ctx.request, ctx.copies, ctx.deadline_ms, ctx.attempt, reason)
        else:
            self._finish_request(ctx.request, ctx.copies, definite)
        self._serve_reads()

    def _abort_precommitted(self, ctx: Coordinated) -> None:
        """3PC: cut off after PRECOMMIT, this coordinator hears that the others' termination
        protocol aborted: it follows (its PRECOMMITTED was no decision)."""
        assert ctx.request is not None
        del self.coordinating[ctx.txid]
        self.finished_put(ctx.txid, ABORTED)
        self._persist((Decided(ctx.txid, ABORTED),))
        self.by_request.pop(ctx.request.id, None)
        self.locks.release(ctx.txid, ctx.request, self.now)
        reason = "aborted by the termination protocol"
        self._finish_request(ctx.request, ctx.copies, Aborted(reason))
        self._serve_reads()

    def _finish_request(self, request: Request, copies: list[Request], result: Result) -> None:
        """A definite refusal: remembered, so a later copy of the same request gets the
        same answer instead of running again (DESIGN.md: a definite error sticks)."""
        self.retrying.discard(request.id)
        self._remember(request.id, result)
        for copy in copies:
            self._reply(copy, result)

    def _remember(self, request_id, result: Result) -> None:
        """The answer every later copy of this request gets (bounded by ``outcomes_kept``):
        a copy that arrives after its request committed or was refused must not run as a
        new transaction, whose abort would then be a definite error for a request that
        took effect."""
        self.answered[request_id] = result
        while len(self.answered) > self.config.outcomes_kept:
            self.answered.popitem(last=False)

    # -- timers ----------------------------------------------------------------------------

    def _coordinator_tick(self) -> None:
        config, now = self.config, self.now
        for txid in sorted(self.coordinating):
            ctx = self.coordinating.get(txid)
            if ctx is None:
                continue
            if ctx.phase == COLLECT:
                if now - ctx.started_ms >= config.vote_timeout_ms:
                    missing = [p for p in self.peers if p not in ctx.votes]
                    why = f"node(s) {missing} did not vote within {config.vote_timeout_ms:g} ms (N-of-N)"
                    self._abort(ctx, why, retry=False, definite=Unavailable(why), confirm=self.mode == TWO_PC)
                elif now - ctx.sent_ms >= config.retransmit_ms:
                    ctx.sent_ms = now
                    for peer in self.peers:
                        if peer not in ctx.votes and ctx.request is not None:
                            self._send(peer, m.Prepare(txid, ctx.request))
            elif ctx.phase == PRECOMMIT:
                # no "commit anyway" on a timeout (termination.py says why): resend, and
                # let the survivors' termination protocol decide if a node is really gone
                if now - ctx.sent_ms >= config.retransmit_ms:
                    ctx.sent_ms = now
                    for peer in self.peers:
                        if peer not in ctx.acks:
                            self._send(peer, m.PreCommit(txid))
            elif ctx.applied and now - ctx.sent_ms >= config.retransmit_ms:
                ctx.sent_ms = now
                for peer in self.peers:
                    if peer not in ctx.acks:
                        self._send(peer, m.Commit(txid))
        for txid in sorted(self.unconfirmed):
            waiting = self.unconfirmed[txid]
            if now >= waiting.deadline_ms:  # no participant confirmed: the outcome stays open to the client
                del self.unconfirmed[txid]
                self.unconfirmed_requests.pop(waiting.request.id, None)
                for copy in waiting.copies:
                    self._reply(copy, Timeout())
            elif now - waiting.sent_ms >= config.retransmit_ms:
                waiting.sent_ms = now
                for peer in self.peers:
                    self._send(peer, m.Abort(txid, confirm=True))
        due = [r for r in self.retries if r.due_ms <= now]
        if due:
            self.retries = [r for r in self.retries if r.due_ms > now]
            for retry in due:
                self.retrying.discard(retry.request.id)
                self._begin(retry.request, retry.copies, retry.deadline_ms, retry.attempt)
