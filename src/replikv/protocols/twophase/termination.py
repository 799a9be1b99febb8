"""What a node in doubt does: ask, and (3PC) terminate without the coordinator.

2PC, the cooperative termination protocol (Bernstein et al. §7.4): a participant
uncertain for ``query_ms`` asks its coordinator and every other participant. Whoever
knows the outcome says it; a participant that never voted may abort unilaterally (it
persists ABORTED first, so it can never vote YES later); the coordinator with no record
answers "aborted" (presumed abort). If every answer is "uncertain" the participant
blocks, locks held, and asks again: in 2PC it never decides alone.

3PC, the termination protocol (Skeen 1981; Bernstein et al. §7.5): the same question
opens a round of ``termination_ms``; the question says the asker's own state, and a node
whose round is open counts a peer's question as that peer's answer, and the
coordinator's resent PREPARE as its answer "pending" (``_heard_in_round``). The
survivors that answered elect the one with the lowest id (the old coordinator left out)
as the new coordinator, which decides by Skeen's rule over the states it collected:
- someone committed (or aborted) -> that outcome;
- someone precommitted -> PRECOMMIT to the uncertain ones, resent until each acks
  (never a COMMIT on a timeout), then COMMIT;
- all uncertain -> ABORT (no one can have committed: commit follows PRECOMMIT at all).
A node whose doubt came back from disk after a crash never becomes the new coordinator:
the others may have terminated while it was down, taking its silence for a failure, so
it asks until someone tells it the outcome (Skeen's recovery rule; a recovered node
that heard no one decided ABORT alone while the survivors had committed: `replikv test
--protocol 3pc --nemesis crash-after-votes --seed 12`). Once a live terminator's
PRECOMMIT reaches it, it acks like any participant. After a total failure no survivor is
left; once every node answered undecided, the lowest node decides by the same rule
(``_total_failure``, Skeen 1981).
The rule is safe when failures are crashes and every live node answers; under a
partition each side elects its own new coordinator and the two may decide differently.
That is the chapter's point; it is shown (the ``no_divergent_decisions`` check), not
fixed. A node that is only slow or paused looks failed too (3PC assumes a failure
detector that never suspects a live node); so that such a node cannot then commit what
the others aborted, a coordinator never commits without every PRECOMMIT ack, and a node
that aborted answers a late PRECOMMIT with ABORT (``coordinator.py``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from replikv.protocols.twophase import messages as m
from replikv.protocols.twophase.constants import (
    ABORTED,
    COMMITTED,
    PENDING,
    PRECOMMITTED,
    THREE_PC,
    UNCERTAIN,
    UNKNOWN,
    Txid,
)
from replikv.protocols.twophase.records import Decided
from replikv.protocols.twophase.state import InDoubt, Round, TermPrecommit

if TYPE_CHECKING:
    from replikv.protocols.twophase.replica import TwoPhaseReplica

    _Base = TwoPhaseReplica
else:
    _Base = object


class TerminationMixin(_Base):
    def _doubt_tick(self) -> None:
        now, config = self.now, self.config
        for txid in sorted(self.in_doubt):
            doubt = self.in_doubt.get(txid)
            if doubt is None:
                continue
            if doubt.since_ms is None:
                doubt.since_ms = now
            if txid in self.rounds:
                continue  # a round still listening is not cut short by the next one
            if now - doubt.since_ms >= config.query_ms and now - doubt.queried_ms >= config.query_ms:
                doubt.queried_ms = now
                if self.mode == THREE_PC or txid[0] == self.node:
                    self.rounds[txid] = Round(now)
                query = self._query(txid, doubt)
                for peer in self.peers:
                    self._send(peer, query)
        for txid in sorted(self.rounds):
            rnd = self.rounds.get(txid)
            if rnd is None:
                continue
            if now - rnd.started_ms >= config.termination_ms:
                del self.rounds[txid]
                self._terminate(txid, rnd)
            elif self.mode == THREE_PC and not rnd.asked_again and now - rnd.started_ms >= config.termination_ms / 2:
                self._ask_again(txid, rnd)
        for txid in sorted(self.term_precommits):
            waiting = self.term_precommits[txid]
            if now - waiting.sent_ms >= config.retransmit_ms:
                self._resend_term_precommit(txid, waiting)

    def _after_stall(self, gap_ms: float) -> None:
        """The host says (``Tick.stalled``) the node did not run for a while, ``gap_ms``
        since its last tick (a pause, a held-up event loop), and what its peers sent
        meanwhile waits unread, to be fed right after this tick. That time is no time its
        open rounds listened: each is pushed back by the stall, so the node reads what
        waits before a round ends. Skeen's model bounds processing as well as delivery; a
        node can see its own breach of the bound and not take the silence it caused for
        its peers' failure (swarm seed 1003632, N=4: node 1 was paused 120 ms two ms into
        its round and, on resuming, decided ABORT at once, hearing nobody, while the
        reports of a precommitted coordinator waited in its queue; the others committed)."""
        stall = gap_ms - self.config.tick_ms
        if stall <= 0:
            return
        for rnd in self.rounds.values():
            rnd.started_ms += stall

    def _ask_again(self, txid: Txid, rnd: Round) -> None:
        """3PC: halfway through a round, ask the peers not heard yet once more. A node
        that does not answer within the round is taken for failed (Skeen 1981), so one
        lost query, or one lost report, must not be all that stands between a live
        node's state and the round (swarm seed 930334, N=3: the query and both messages
        that could have carried the peer's state were lost, and a live node was taken
        for failed)."""
        rnd.asked_again = True
        doubt = self.in_doubt.get(txid)
        if doubt is None:
            return
        query = self._query(txid, doubt)
        for peer in self.peers:
            if peer not in rnd.reports:
                self._send(peer, query)

    def _query(self, txid: Txid, doubt: InDoubt) -> m.StateQuery:
        """The question a node in doubt asks; in 3PC it says the asker's state too (it
        counts as its report, ``_heard_in_round``)."""
        if self.mode == THREE_PC:
            return m.StateQuery(txid, doubt.state, recovered=doubt.recovered)
        return m.StateQuery(txid)

    # -- answering -------------------------------------------------------------------------

    def _on_state_query(self, src: int, msg: m.StateQuery) -> None:
        txid: Txid = tuple(msg.txid)
        if self.mode == THREE_PC and msg.state is not None:
            self._heard_in_round(src, txid, msg.state, msg.recovered)
        state, presumed = self._state_of(txid)
        doubt = self.in_doubt.get(txid)
        self._send(src, m.StateReport(txid, state, presumed, recovered=doubt is not None and doubt.recovered))

    def _state_of(self, txid: Txid) -> tuple[str, bool]:
        done = self.finished.get(txid)
        if done is not None:
            if done == ABORTED and txid[0] != self.node:
                # a NO vote or a learned abort is kept in memory only: before it is
                # reported (someone may act on it) it must survive a restart
                self._persist((Decided(txid, ABORTED),))
            return done, done == ABORTED and txid[0] == self.node
        phase = self._in_doubt_phase(txid)
        if phase is not None:
            return phase, False
        doubt = self.in_doubt.get(txid)
        if doubt is not None:
            return doubt.state, False
        self.finished_put(txid, ABORTED)
        if txid[0] == self.node:
            return ABORTED, True  # presumed abort: no record, so it never committed
        # never voted: abort unilaterally, durably, so a late PREPARE gets NO
        self._persist((Decided(txid, ABORTED),))
        return ABORTED, False

    # -- hearing answers -------------------------------------------------------------------

    def _on_state_report(self, src: int, msg: m.StateReport) -> None:
        txid: Txid = tuple(msg.txid)
        if msg.state in (COMMITTED, ABORTED):
            coordinator = txid[0] if msg.state == COMMITTED and txid[0] != self.node else None
            self._learn(txid, msg.state, ack_to=coordinator)
            return
        self._heard_in_round(src, txid, msg.state, msg.recovered)

    def _heard_in_round(self, src: int, txid: Txid, state: str, recovered: bool) -> None:
        """``src`` said it is in ``state`` while this node's round for ``txid`` is open: by
        its report, or (3PC) by its own query, which carries the same state.

        Skeen's termination protocol elects among the sites that are up and decides over
        their states, and takes a site that does not answer within the timeout for failed;
        that is sound only if a live site's state reaches the round (Skeen 1981 assumes a
        network that loses nothing; Bernstein et al. §7.5, the failure detector that never
        suspects a live site). Over a lossy link one report is not enough: in swarm seeds
        940115 and 940256 (N=5) a query or a report between two live nodes was lost while
        the links stayed lively (later messages got through within a few ms), and a node
        that had received the other's own query for the same transaction during its round
        took it for failed, elected itself and decided alone, the other way from the node
        it ignored. A query shows its asker alive and in doubt, in the state it says, as
        surely as its report would. So does a PREPARE the coordinator resends
        (``participant._on_prepare``): it is up and still collecting votes, "pending"
        (swarm seed 930021, N=3: a node whose round heard no report from the coordinator,
        only its resent PREPARE, took it for failed and aborted, while a node that had
        heard it precommitted committed). A node in doubt only moves from uncertain to
        precommitted, and a coordinator from pending to precommitted, so a late copy
        saying uncertain or pending does not undo a precommitted heard from the same
        node."""
        rnd = self.rounds.get(txid)
        if rnd is not None:
            if not (state in (UNCERTAIN, PENDING) and rnd.reports.get(src) == PRECOMMITTED):
                rnd.reports[src] = state
            if recovered:
                rnd.recovered.add(src)

    # -- 3PC: the new coordinator ----------------------------------------------------------

    def _terminate(self, txid: Txid, rnd: Round) -> None:
        doubt = self.in_doubt.get(txid)
        if doubt is None:
            return
        if self.mode != THREE_PC:
            self._own_undecided(txid, rnd.reports)  # 2PC: only its own, after a rejoin
            return
        if rnd.reports.get(txid[0]) == PENDING:
            return  # the coordinator is alive and will decide
        # a node that is rejoining after a damaged disk answers "unknown": it is no survivor
        states = {n: s for n, s in rnd.reports.items() if s != UNKNOWN} | {self.node: doubt.state}
        recovered = rnd.recovered | ({self.node} if doubt.recovered else set())
        survivors = sorted(n for n in states if n != txid[0] and n not in recovered)
        if survivors:
            if survivors[0] != self.node:
                return  # the lowest survivor terminates; ask again later
        elif not self._total_failure(states):
            # back from a crash in doubt: the others may have decided without us (they
            # took our silence for a crash); ask again, never decide (Skeen 1981)
            return
        elif min(self.members) != self.node:
            return  # after a total failure the lowest node terminates
        if PRECOMMITTED in states.values():
            if doubt.state == UNCERTAIN:
                doubt.state = PRECOMMITTED
                self._persist((Decided(txid, PRECOMMITTED),))
            uncertain = {n for n, s in states.items() if s == UNCERTAIN and n != self.node}
            if not uncertain:
                self._terminate_commit(txid)
                return
            waiting = TermPrecommit(uncertain, self.now)
            self.term_precommits[txid] = waiting
            self._resend_term_precommit(txid, waiting)
        else:
            self.terminations += 1
            self._learn(txid, ABORTED, force=True)  # ABORTED durable before the ABORTs leave
            for peer in self.peers:
                self._send(peer, m.Abort(txid))

    def _total_failure(self, states: dict[int, str]) -> bool:
        """No survivor is left to terminate (every node is the coordinator or came back
        from a crash in doubt), and every node answered this round, in doubt.

        Skeen 1981, recovery from total failure: a recovered node may not decide while a
        node that kept running could have decided without it; once every node has
        answered and none holds an outcome, nobody did (an outcome is durable before it
        is sent or answered), and nobody will, since there is no survivor to elect. So the
        lowest node decides by the same rule over everyone's states. Without this the
        transaction stays in doubt for ever with its locks held: when the coordinator that
        committed it lost its disk (``lost-disk``, seed 3: its client was told OK and the
        write never reached the others' state machines), and by the same rules after any
        total failure (``restart-all``) that caught a coordinator precommitted.

        A node that lost its disk and rejoined (``rejoin.py``) answers with a peer's state,
        not its own; what it may have decided before it lost it is consistent with the
        rule. A COMMIT it decided needed another node to hold PRECOMMITTED durably (as
        the coordinator, every node's ack; as a terminator, the report that made it
        precommit, or the coordinator whose PRECOMMIT it had), and that node answers
        PRECOMMITTED here, so the rule commits too. An ABORT it took with a PRECOMMITTED
        node absent reached no one (anyone it reached would answer ABORTED here), no
        client included.
        """
        return set(states) >= set(self.members) and all(s in (UNCERTAIN, PRECOMMITTED) for s in states.values())

    def _on_termination_precommit_ack(self, src: int, txid: Txid) -> None:
        waiting = self.term_precommits.get(txid)
        if waiting is None:
            return
        waiting.waiting.discard(src)
        if not waiting.waiting:
            self._terminate_commit(txid)

    def _resend_term_precommit(self, txid: Txid, waiting: TermPrecommit) -> None:
        """Send PRECOMMIT to the uncertain nodes that have not acked it, now and every
        ``retransmit_ms``; never COMMIT on a timeout.

        The same rule as the coordinator's (``coordinator.py``), for the same reason: a
        node that answered this round uncertain is alive, and a lost PRECOMMIT is no
        sign that it failed. A terminator that committed after ``termination_ms``
        without its ack and then crashed left it uncertain and alone, and it aborted
        (swarm seed 5193, N=3, no partition). Until it acks, nobody has committed, so
        whoever terminates next (a later round of this node, or of the survivors if
        this one crashes) decides by the same rule over what it then hears; a node that
        stops answering is taken for failed by that later round (Skeen 1981)."""
        waiting.sent_ms = self.now
        for peer in sorted(waiting.waiting):
            self._send(peer, m.PreCommit(txid))

    def _terminate_commit(self, txid: Txid) -> None:
        self.term_precommits.pop(txid, None)
        if txid not in self.in_doubt:
            return
        self.terminations += 1
        self._learn(txid, COMMITTED)  # persists COMMITTED: the sends below wait for it
        for peer in self.peers:
            self._send(peer, m.Commit(txid))
