"""A node whose durable state was damaged catches up from a peer before it takes part.

Issue 8's rule (``core.replica.Recovery``): a node told its disk was wiped, or that
recovery cut records off its tail, may have voted YES, precommitted, acknowledged or
decided things it no longer remembers. It must not vote, coordinate or answer for them
until the others brought it up to date. In N-of-N commit the others know enough:

- every transaction that may still commit needs everyone's YES, and its coordinator
  holds it undecided until it is decided. A peer that has not voted on it yet (it was
  down, or the PREPARE to it is still being resent) knows nothing of it, so one peer's
  answer is not enough: the damaged node asks every peer (``CatchUp``) and waits for all
  of them (no transaction commits without each of them anyway). It takes the lowest
  answering peer's state machine and what that peer finished, and, in doubt, locks held,
  every transaction any peer holds open that this peer has not finished; it resolves
  them as any participant does (it asks). If two of those open transactions conflict,
  the answers caught the peers at different points, and it asks everyone again
  (``lock_compatible``, swarm seed 995594). Swarm seed 991884 (2pc): node 2 voted YES on
  3/1/39, lost that record in a torn tail and rejoined from node 1, which had been down
  when the PREPARE went out and had not voted; node 3 then got node 1's YES, committed,
  and node 2, which knew nothing of 3/1/39, never applied it (its copy of k1 diverged);
- while rejoining it votes NO, refuses clients, ignores outcomes it cannot apply, and
  answers every query "unknown" (it cannot say what it voted, so it neither presumes
  abort nor aborts unilaterally);
- its coordinator epoch moves past every epoch of its own the peers have seen, in case
  the damaged tail held a ``Boot``;
- a transaction it coordinated and can no longer find a decision for (2PC: its COMMIT
  record was in the damaged tail) is resolved by asking everyone: anyone who knows the
  outcome says it; if every other node answers in doubt, every node voted YES and nobody
  learned an outcome, so it decides COMMIT (its client may have been told so).

The ``rejoining`` flag is on disk (``records.Boot``) until the catch-up is, so a crash in
the middle starts it again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from replikv.protocols.twophase import messages as m
from replikv.protocols.twophase.constants import COMMITTED, PRECOMMITTED, UNCERTAIN
from replikv.protocols.twophase.locks import LockTable
from replikv.protocols.twophase.records import Boot, OpenTxn, Snapshot
from replikv.protocols.twophase.state import PRECOMMIT, InDoubt

if TYPE_CHECKING:
    from replikv.protocols.twophase.replica import TwoPhaseReplica

    _Base = TwoPhaseReplica
else:
    _Base = object

REJOINING = "rejoining: this node lost durable state and is catching up from a peer"


class RejoinMixin(_Base):
    def _rejoin_tick(self) -> None:
        if not self.peers:
            self._rejoined_from(m.CatchUpState(self._sm.snapshot(), (), tuple(self.finished.items()), 0))
            return
        if self.now - self._catch_up_asked_ms >= self.config.query_ms:
            self._catch_up_asked_ms = self.now
            for peer in self.peers:
                if peer not in self._catch_ups:
                    self._send(peer, m.CatchUp())

    def _caught_up_by(self, src: int, msg: m.CatchUpState) -> None:
        """``src`` answered; once every peer has, rejoin from all of them."""
        if not self.rejoining or src not in self.peers:
            return
        self._catch_ups[src] = msg
        if all(peer in self._catch_ups for peer in self.peers):
            answers, self._catch_ups = self._catch_ups, {}
            state = merged(answers)
            if not lock_compatible(state.open):
                # the answers are not one consistent cut yet: ask everyone again
                self._catch_up_asked_ms = self.now
                return
            self._rejoined_from(state)

    def _on_catch_up(self, src: int) -> None:
        if self.rejoining:
            return  # nothing trustworthy to give
        open_txns = [m.OpenTxnState(t, d.request, d.state) for t, d in sorted(self.in_doubt.items())]
        for txid, ctx in sorted(self.coordinating.items()):
            if ctx.request is not None and not ctx.applied:  # undecided, or not yet durable
                state = PRECOMMITTED if ctx.phase == PRECOMMIT else UNCERTAIN
                open_txns.append(m.OpenTxnState(txid, ctx.request, state))
        known = [t for t in (*self.finished, *self.in_doubt, *self.coordinating) if t[0] == src]
        epoch = max((t[1] for t in known), default=0)
        self._send(src, m.CatchUpState(self._sm.snapshot(), tuple(open_txns), tuple(self.finished.items()), epoch))

    def _rejoined_from(self, msg: m.CatchUpState) -> None:
        """Adopt a peer's state: its state machine, its open transactions in doubt here
        (locks taken), what it finished; a new epoch; all of it durable in one
        restatement, behind which every later vote and answer waits."""
        if not self.rejoining:
            return
        self._sm.restore(msg.data)
        self.locks = type(self.locks)()
        self.in_doubt = {}
        for o in msg.open:
            txid = tuple(o.txid)
            # recovered: this node was down, and it may itself have decided the transaction
            # before its damaged tail forgot it (a peer's doubt says nothing of that), so
            # it asks until someone tells it the outcome and is never the one that
            # terminates it (3PC, Skeen 1981's recovery rule; swarm seed 983605)
            self.in_doubt[txid] = InDoubt(o.request, o.state, since_ms=self.now, recovered=True)
            self.locks.acquire(txid, o.request, self.now)
        self.finished.clear()
        for txid, state in msg.finished:
            self.finished_put(tuple(txid), state)
        self.coordinating = {}
        self.epoch = max(self.epoch, msg.epoch) + 1
        self.rejoining = False
        snapshot = Snapshot(
            epoch=self.epoch,
            data=msg.data,
            open=tuple(OpenTxn(t, d.request, d.state) for t, d in sorted(self.in_doubt.items())),
            finished=tuple(self.finished.items()),
        )
        self._persist((snapshot, Boot(self.epoch)), replace=True)

    def _own_undecided(self, txid, reports: dict[int, str]) -> bool:
        """2PC, after a rejoin: this node coordinated ``txid`` and no longer knows its
        decision; every other node answered in doubt, so all voted YES and none learned
        an outcome: decide COMMIT (True when it did)."""
        if txid[0] != self.node or set(reports) != set(self.peers):
            return False
        if not all(state in (UNCERTAIN, PRECOMMITTED) for state in reports.values()):
            return False
        self._learn(txid, COMMITTED)
        for peer in self.peers:
            self._send(peer, m.Commit(txid))
        return True


def lock_compatible(open_txns: tuple[m.OpenTxnState, ...]) -> bool:
    """Whether one node could hold all of ``open_txns`` in doubt at once: no two of them
    lock the same key or the same client (``locks.py``).

    A node in doubt on two conflicting transactions cannot tell in which order to apply
    them when both commit, and the order it learns their outcomes in need not be the
    order they committed in. A node that votes never gets there (no-wait locking), but
    the merged answers of a rejoin can: swarm seed 995594 (3pc, N=3). Node 2 rejoined
    after a torn tail from node 1, back from a crash and still in doubt on 3/1/68 (a SET
    of k2), and from coordinator 3, which had committed 3/1/68 and was collecting votes
    on 3/1/101, a later SET of k2. Node 2 adopted both, heard 3/1/101's COMMIT first and
    applied it before 3/1/68's: its k2 diverged. Conflicting open transactions mean the
    answers caught the peers at different points (here node 1 before it learned
    3/1/68's outcome), so the rejoining node asks again; no transaction can commit
    without its vote meanwhile, other than the ones it voted YES on before its crash, so
    the peers settle and a later round of answers is compatible."""
    locks = LockTable()
    for txn in open_txns:
        txid = tuple(txn.txid)
        if locks.conflict(txid, txn.request) is not None:
            return False
        locks.acquire(txid, txn.request, 0.0)
    return True


def merged(answers: dict[int, m.CatchUpState]) -> m.CatchUpState:
    """Every peer's answer as one: the lowest peer's state machine and what it finished,
    and every transaction open at any peer that it has not finished (each open at most
    once; precommitted if any peer says so, a node in doubt only moves forward), and the
    highest epoch any peer has seen of ours."""
    source = answers[min(answers)]
    finished = {tuple(txid) for txid, _ in source.finished}
    open_txns: dict[tuple, m.OpenTxnState] = {}
    for peer in sorted(answers):
        for txn in answers[peer].open:
            txid = tuple(txn.txid)
            if txid in finished:
                continue  # decided at the source: in its state machine, or aborted
            known = open_txns.get(txid)
            if known is None or (txn.state == PRECOMMITTED and known.state != PRECOMMITTED):
                open_txns[txid] = txn
    return m.CatchUpState(source.data, tuple(open_txns[t] for t in sorted(open_txns)), source.finished,
                          max(answer.epoch for answer in answers.values()))
