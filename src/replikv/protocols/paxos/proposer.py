"""The proposer: elections, phase 1 with P2c, phase 2, and leading.

- **Ballots** (Paxos Made Simple §2.2; Paxos Made Live §4): a new ballot's round is above
  every round this node has seen and above its own promised ballot; the node promises it
  to itself *durably before* its ``Prepare`` leaves, so after a restart its next round is
  higher still: a restarted proposer never reuses a ballot.
- **Leader election** (§3 "a single distinguished proposer"; §2.4 on progress): a
  follower that has not heard from a leader for a randomized timeout in [t, 2t) runs
  phase 1 under a higher ballot. A ``Nack`` (someone promised higher) or a higher ballot in
  any message ends the attempt or the reign, and the next try waits a fresh random
  timeout: the randomized back-off that keeps dueling proposers from livelocking forever.
- **Phase 1 over all open slots** (§3): ``Prepare(b, from_slot)`` with ``from_slot`` the
  first slot we have not executed. On a quorum of promises, **P2c** per slot: propose the
  value with the highest accepted ballot any promise reports (a value some acceptor
  *knows chosen* wins outright); a slot below the highest reported one that no promise
  mentions is a **hole**, filled with a no-op (§3). Then phase 2 for new writes only.
- ``multipaxos``: phase 1 once per reign. ``paxos``: every write runs phase 1
  again under a fresh ballot first (the chapter's "Paxos with repeated leader election").
- **Phase 2** (§2.2): ``Accept`` to every acceptor; a slot is chosen when a majority
  (the leader counting itself only once its own accept is durable) accepted it under our
  ballot. Unanswered accepts are re-sent every ``retransmit_ms``.
- **Membership** (``membership.py``, PMS §3 with α = 1): P2c stops at the first
  configuration change phase 1 finds; nothing is proposed above an unexecuted change;
  after one executes, phase 1 runs again under a majority of the new configuration.
  Queue fences (``fences.py``) ride in the next ballot with its one write.
- **Stepping down**: writes already proposed may still be chosen by the next leader, so
  their clients get ``Timeout`` (indefinite); writes never proposed get ``NotLeader``
  unless a copy of them sits accepted in our log (``Uncertain``).

A mixin of ``PaxosReplica``.
"""

from __future__ import annotations

from replikv.core.errors import NotLeader, Timeout, Uncertain
from replikv.core.quorum import has_quorum, majority
from replikv.protocols.paxos.constants import CANDIDATE, FOLLOWER, LEADER, NOOP, PAXOS, Ballot
from replikv.protocols.paxos.fences import fence_for
from replikv.protocols.paxos.membership import is_change
from replikv.protocols.paxos.messages import (
    Accept,
    Accepted,
    Heartbeat,
    Nack,
    Prepare,
    Promise,
    Proposal,
    Value,
)
from replikv.protocols.paxos.records import AcceptRecord, PromiseRecord
from replikv.protocols.paxos.state import LeaderState


class ProposerMixin:
    # -- phase 1 ----------------------------------------------------------------------

    def _next_ballot(self) -> Ballot:
        return (max(self.proposer.max_round, self.acceptor.promised[0]) + 1, self.node)

    def _start_phase1(self) -> None:
        """Prepare a fresh ballot for every slot we have not executed."""
        proposer, acceptor = self.proposer, self.acceptor
        ballot = self._next_ballot()
        if self._lease_blocks(ballot):
            self._reset_deadline()  # a lease we granted may still run (lease.py): not yet
            return
        proposer.max_round = ballot[0]
        proposer.ballot = acceptor.promised = ballot
        self._persist((PromiseRecord(ballot, False),))  # durable before the Prepare leaves
        proposer.from_slot = self.learner.chosen.executed + 1
        proposer.promises = {self.node: self._promise(ballot, proposer.from_slot)}
        proposer.preparing = True
        proposer.prepare_sent_ms = proposer.now
        if proposer.role != LEADER:
            proposer.role, proposer.leader = CANDIDATE, None
        self._reset_deadline()
        for peer in self._peers():
            self._send(peer, Prepare(ballot, proposer.from_slot))
        self._check_phase1()

    def _on_promise(self, src: int, msg: Promise) -> None:
        proposer = self.proposer
        if proposer.preparing and tuple(msg.ballot) == proposer.ballot:
            proposer.promises[src] = msg
            self._check_phase1()

    def _check_phase1(self) -> None:
        if self.proposer.preparing and has_quorum(self.proposer.promises, self.members):
            self._phase1_done()

    def _phase1_done(self) -> None:
        """A quorum promised: apply P2c to every slot any promise reports (§2.2, §3)."""
        proposer, chosen = self.proposer, self.learner.chosen
        proposer.preparing = False
        if proposer.role != LEADER:
            self._become_leader()
        leadership = self.leadership
        leadership.fresh = True
        best: dict[int, tuple[Ballot, object]] = {}
        known: dict[int, object] = {}
        top, max_base, behind_of = proposer.from_slot - 1, 0, None
        for node, promise in sorted(proposer.promises.items()):
            if promise.base > max_base:
                max_base, behind_of = promise.base, node
            for value in promise.chosen:
                known[value.slot] = value.request
                top = max(top, value.slot)
            for p in promise.accepted:
                top = max(top, p.slot)
                if p.slot not in best or tuple(p.ballot) > best[p.slot][0]:
                    best[p.slot] = (tuple(p.ballot), p.request)
        proposer.promises = {}
        if max_base > chosen.executed and behind_of is not None and behind_of != self.node:
            leadership.catch_up = (behind_of, max_base)  # slots it folded away are chosen
            leadership.catch_up_asks = 1
            self._ask_catch_up(behind_of, now=True)
            leadership.outside_upto = max(leadership.outside_upto, max_base)
            # they may hold membership changes: nothing above them until we have executed
            # them and run phase 1 under the configuration they leave (membership.py)
            leadership.change_slot = max_base
        for slot, request in sorted(known.items()):
            if slot > chosen.base and slot not in chosen:
                chosen.put(slot, request)
                leadership.outside_upto = max(leadership.outside_upto, slot)
        start = max(proposer.from_slot, max_base + 1)
        self._drop_earlier_ballots_proposals()

        def value_at(slot: int):
            if slot in chosen:
                return chosen.get(slot)
            return best[slot][1] if slot in best else NOOP

        # our quorum speaks for the slots up to the first membership change only
        change = next((s for s in range(start, top + 1) if is_change(value_at(s).command)), None)
        if change is not None:
            top = change
            leadership.change_slot = max(leadership.change_slot or 0, change)
        values = [Value(slot, value_at(slot)) for slot in range(start, top + 1) if slot not in chosen]
        leadership.next_slot = top + 1 if change is not None else max(top + 1, chosen.highest + 1, chosen.executed + 1)
        self._propose(values)
        self._execute()

    def _drop_earlier_ballots_proposals(self) -> None:
        """A leader that ran phase 1 again within its reign (``reprepare``: after a
        membership change, or after catching up on slots a peer folded into its
        snapshot) forgets what it proposed under its earlier ballot. Those slots are
        settled by this phase 1 like any other: P2c gives each its value (our own
        promise reports what we accepted under the earlier ballot, and a higher ballot
        another proposer used in between wins over it, Paxos Made Simple §2.2), and
        phase 2 runs again under the new ballot, our own accept included.

        Kept, they were re-sent under the new ballot with the old value, past P2c, and
        their acks of the earlier ballot counted with the new ones, while our own
        accept, durable under the earlier ballot, never counted again: with one peer
        down such a slot was never chosen, and nothing above it ran (multipaxos swarm
        seed 980548). Their clients stay in ``pending``: the slot's execution answers
        them (``Timeout`` if it holds another value)."""
        leadership = self.leadership
        if leadership.proposals:
            leadership.proposals.clear()
            leadership.acks.clear()
            leadership.sent_ms.clear()

    # -- leading ----------------------------------------------------------------------

    def _become_leader(self) -> None:
        proposer = self.proposer
        proposer.role, proposer.leader = LEADER, self.node
        leadership = self.leadership = LeaderState()
        leadership.since_ms = proposer.now
        leadership.reign_ballot = proposer.ballot
        leadership.outside_upto = self.learner.chosen.executed
        leadership.heard_ms = {peer: proposer.now for peer in self._peers()}
        leadership.want_round = True

    def _flush(self) -> None:
        """Give queued writes their slots (``multipaxos``), or start the next ballot's
        phase 1 for them (``paxos``)."""
        leadership = self.leadership
        if self.proposer.preparing or not self._unstalled():
            return
        if leadership.reprepare:
            leadership.reprepare = leadership.fresh = False
            self._start_phase1()  # a new configuration: phase 1 under a majority of it
            return
        if not (leadership.queue or leadership.fencing):
            return
        if self.mode == PAXOS and not leadership.fresh:
            if not leadership.proposals:
                self._start_phase1()
            return
        leadership.fresh = False
        # ``paxos``: one write per ballot, both phases every time (the chapter's model);
        # fences (fences.py) are not writes and ride along
        batch = leadership.queue[:1] if self.mode == PAXOS else leadership.queue
        leadership.queue = leadership.queue[len(batch):]
        fenced, leadership.fencing = leadership.fencing, []
        values, rest = [], []
        for request, value in [(r, fence_for(r)) for r in fenced] + [(r, r) for r in batch]:
            if leadership.change_slot is not None:  # a change went into this batch: α = 1
                rest.append(request)
                continue
            slot = leadership.next_slot
            leadership.next_slot += 1
            leadership.pending.setdefault(slot, []).append((request, self.proposer.now))
            leadership.pending_ids[request.id] = slot
            leadership.queued_ids.discard(request.id)
            leadership.queued_since.pop(request.id, None)
            values.append(Value(slot, value))
            if is_change(value.command):
                leadership.change_slot = slot
        leadership.queue = rest + leadership.queue
        self._propose(values)

    def _propose(self, values: list[Value]) -> None:
        """Phase 2a for ``values`` under our ballot; our own accept counts once durable."""
        if not values:
            return
        proposer, leadership = self.proposer, self.leadership
        ballot, now = proposer.ballot, proposer.now
        for value in values:
            self.acceptor.accepted[value.slot] = (ballot, value.request)
            leadership.proposals[value.slot] = value.request
            leadership.acks[value.slot] = set()
            leadership.sent_ms[value.slot] = now
        for peer in self._peers():
            self._send_accepts(peer, values)
        proposals = tuple(Proposal(v.slot, ballot, v.request) for v in values)
        seq = self._persist((AcceptRecord(proposals),))
        leadership.own_pending.append((seq, ballot, tuple(v.slot for v in values)))

    def _send_accepts(self, peer: int, values: list[Value]) -> None:
        leadership, executed = self.leadership, self.learner.chosen.executed
        size = self.config.max_batch
        for i in range(0, len(values), size):
            self._send(peer, Accept(self.proposer.ballot, tuple(values[i:i + size]), leadership.outside_upto + 1,
                                    executed, leadership.chosen_ballot))

    def _own_accepts_durable(self, seq: int) -> None:
        leadership = self.leadership
        while leadership.own_pending and leadership.own_pending[0][0] <= seq:
            _, ballot, slots = leadership.own_pending.pop(0)
            if self.proposer.role == LEADER and ballot == self.proposer.ballot:
                for slot in slots:
                    self._count_accept(slot, self.node)

    def _on_accepted(self, src: int, msg: Accepted) -> None:
        if self.proposer.role != LEADER or tuple(msg.ballot) != self.proposer.ballot:
            return
        self.leadership.heard_ms[src] = self.proposer.now
        for slot in msg.slots:
            self._count_accept(slot, src)

    def _count_accept(self, slot: int, node: int) -> None:
        leadership = self.leadership
        acks = leadership.acks.get(slot)
        if acks is None or node not in self.members:
            return
        acks.add(node)
        if len(acks) >= majority(len(self.members)):
            request = leadership.proposals.pop(slot)
            del leadership.acks[slot]
            leadership.sent_ms.pop(slot, None)
            leadership.chosen_ballot = max(leadership.chosen_ballot, self.proposer.ballot)
            chosen = self.learner.chosen
            if slot > chosen.base and slot not in chosen:
                chosen.put(slot, request)
            self._execute()

    def _on_nack(self, src: int, msg: Nack) -> None:
        proposer = self.proposer
        promised = tuple(msg.promised)
        proposer.max_round = max(proposer.max_round, promised[0])
        if proposer.role in (LEADER, CANDIDATE) and promised > proposer.ballot:
            self._step_down()  # a stale leader learns from the refusal that it lost

    def _leader_tick(self) -> None:
        proposer, leadership, config = self.proposer, self.leadership, self.config
        now = proposer.now
        if config.check_quorum and now - leadership.since_ms >= config.election_timeout_ms:
            heard = sum(1 for t in leadership.heard_ms.values() if now - t < config.election_timeout_ms)
            if heard + 1 < majority(len(self.members)):
                self._step_down()
                return
        if proposer.preparing:
            if now >= proposer.deadline:
                self._step_down()
                return
            self._resend_prepare()
        if now - leadership.last_heartbeat_ms >= config.heartbeat_ms:
            leadership.want_round = True
        self._retransmit_accepts()
        if leadership.catch_up is not None:
            source, upto = leadership.catch_up
            if self.learner.chosen.executed >= upto:
                leadership.catch_up = None
            elif self._ask_catch_up(source):  # every retransmit_ms until we executed them
                leadership.catch_up_asks += 1
                others = [p for p in self.members if p != self.node and p != source]
                if leadership.catch_up_asks > 2 and others:
                    self._ask_catch_up(others[leadership.catch_up_asks % len(others)], now=True)

    def _candidate_tick(self) -> None:
        if self.node not in self.members:
            self._step_down()  # removed while campaigning (membership.py)
        elif self.proposer.now >= self.proposer.deadline:
            self._start_phase1()  # no quorum in time: a higher ballot (after the random wait)
        else:
            self._resend_prepare()

    def _resend_prepare(self) -> None:
        proposer = self.proposer
        if proposer.now - proposer.prepare_sent_ms < self.config.retransmit_ms:
            return
        proposer.prepare_sent_ms = proposer.now
        for peer in self._peers():
            if peer not in proposer.promises:
                self._send(peer, Prepare(proposer.ballot, proposer.from_slot))

    def _retransmit_accepts(self) -> None:
        leadership, now = self.leadership, self.proposer.now
        due = [s for s, t in sorted(leadership.sent_ms.items()) if now - t >= self.config.retransmit_ms]
        if not due:
            return
        due = due[: self.config.max_batch]
        for slot in due:
            leadership.sent_ms[slot] = now
        for peer in self._peers():
            values = [Value(s, leadership.proposals[s]) for s in due if peer not in leadership.acks[s]]
            if values:
                self._send_accepts(peer, values)

    def _broadcast_heartbeat(self) -> None:
        proposer, leadership = self.proposer, self.leadership
        leadership.round += 1
        leadership.want_round = False
        leadership.last_heartbeat_ms = proposer.now
        leadership.round_sent[leadership.round] = proposer.now
        self._grant_lease(self.node)  # our own ack of the round: we promise nobody else either
        executed = self.learner.chosen.executed
        for peer in self._peers() + self._joining():
            self._send(peer, Heartbeat(proposer.ballot, leadership.outside_upto + 1, executed,
                                       leadership.chosen_ballot, leadership.next_slot - 1, leadership.round))
        self._update_confirmed()

    # -- stepping down ----------------------------------------------------------------

    def _step_down(self) -> None:
        proposer, leadership = self.proposer, self.leadership
        if proposer.role == LEADER:
            for request in leadership.queue + leadership.fencing:
                if self._accepted_copy(request.id):
                    self._reply(request, Uncertain("not the leader any more; a copy is accepted"))
                else:
                    self._reply(request, NotLeader(None))
            for _slot, waiters in sorted(leadership.pending.items()):
                for request, _since in waiters:
                    self._reply(request, Timeout())  # proposed: may still be chosen
            for read in leadership.reads:
                self._reply(read.request, NotLeader(None))
        self.leadership = LeaderState()
        proposer.role, proposer.leader, proposer.preparing, proposer.promises = FOLLOWER, None, False, {}
        self._reset_deadline()
