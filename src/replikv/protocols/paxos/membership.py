"""Membership change: a reconfiguration chosen in a slot, taking effect from the next slot
(Paxos Made Simple §3: "the set of servers ... can be made part of the state", with
α = 1), one server at a time (``AddServer``/``RemoveServer``, the admin commands raft
answers).

The configuration in force at slot s is the bootstrap configuration changed by every
``AddServer``/``RemoveServer`` chosen in a slot below s; a replica's ``members`` is the
configuration after the slots it has executed (restored with a snapshot, which records
it). The rules:

- **A change stalls the pipeline** (α = 1 made safe): once a leader has proposed, or
  found in phase 1, a change at slot c, it proposes nothing above c until it has
  executed c. So every slot a leader has in flight is governed by its own ``members``.
- **Phase 1 stops at the first change it finds.** A promise quorum is a majority of the
  leader's configuration, which governs the slots up to the first change after its
  executed prefix, and no further. So P2c is applied to the slots up to that change and
  the values reported above it are ignored: they were proposed under the next
  configuration and will be found by a phase 1 whose quorum is a majority of that one.
- **A new configuration, a new phase 1.** When a leader executes a change it runs phase
  1 again, under a fresh ballot and a majority of the new configuration, for every slot
  above it. So a slot's phase 2 quorum (a majority of the configuration in force there)
  always meets the phase 1 quorum of any later leader that proposes there (§2.2's
  argument, per configuration), whatever the sizes of the two configurations.
- One change at a time (a second one is refused with ``Unavailable``, definite, while
  one is in flight) and one server per change: consecutive configurations then share a
  majority, which is what keeps a leader lease (``lease.py``) meaningful across a change;
  the lease restarts from the first heartbeat round after the change anyway.
- A node outside its own configuration (a joining node not yet caught up to the slot
  that added it, a removed one) never starts phase 1, and a member ignores the
  ``Prepare`` of a node outside its configuration (a removed node cannot disrupt the
  cluster). A joining node is sent heartbeats while its ``AddServer`` is in flight, so
  it learns the frontier and catches up (``CatchUp``/``Learn``, a snapshot) like any
  lagging acceptor; it starts with nothing promised or accepted, so it may count in a
  quorum at once. A leader that removed itself steps down once the change executes.

Why not raft's "latest configuration in the log, committed or not": Paxos acceptors have
no log-matching property (holes, out-of-order accepts), so a configuration must be tied to
a slot whose value is chosen, and read from executed slots only.

A mixin of ``PaxosReplica``.
"""

from __future__ import annotations

from replikv.core.commands import AddServer, Command, RemoveServer
from replikv.core.errors import BadRequest, NotLeader, Ok, Unavailable
from replikv.core.requests import Request
from replikv.protocols.paxos.constants import CANDIDATE, LEADER


def is_change(command: Command) -> bool:
    return isinstance(command, AddServer | RemoveServer)


def changed(members: tuple[int, ...], command: Command) -> tuple[int, ...]:
    """The configuration after one change."""
    current = set(members)
    match command:
        case AddServer(node=node):
            current.add(node)
        case RemoveServer(node=node):
            current.discard(node)
        case _:
            raise ValueError(f"not a configuration change: {type(command).__name__}")
    return tuple(sorted(current))


class MembershipMixin:
    def _submit_change(self, request: Request) -> None:
        """``AddServer``/``RemoveServer`` at the leader: queued like a write, proposed in
        a slot of its own (``_flush``), answered when that slot executes."""
        command = request.command
        if self.proposer.role != LEADER:
            self._reply(request, NotLeader(self.proposer.leader))
            return
        if self._answering(request):
            return  # a copy is queued or proposed: its answer is this one's
        if isinstance(command, AddServer):
            if command.learner:
                self._reply(request, BadRequest(f"{self.mode} has no learners: add the node as an acceptor"))
                return
            if command.node in self.members:
                self._reply(request, Ok(None))
                return
        else:
            if command.node not in self.members:
                self._reply(request, Ok(None))
                return
            if self.members == (command.node,):
                self._reply(request, BadRequest("cannot remove the last member"))
                return
        blocked = self._change_blocked()
        if blocked is not None:
            self._reply(request, Unavailable(blocked))
            return
        leadership = self.leadership
        leadership.queue.append(request)
        leadership.queued_ids.add(request.id)
        leadership.queued_since[request.id] = self.proposer.now

    def _change_blocked(self) -> str | None:
        leadership = self.leadership
        if leadership.change_slot is not None or any(is_change(r.command) for r in leadership.queue):
            return "a configuration change is in progress"
        return None

    def _unstalled(self) -> bool:
        """False while a change is proposed or found and not executed: nothing above it
        (α = 1). Once it is executed, phase 1 runs again (``reprepare``)."""
        leadership = self.leadership
        if leadership.change_slot is None:
            return True
        if self.learner.chosen.executed < leadership.change_slot:
            return False
        leadership.change_slot = None
        leadership.reprepare = True
        return True

    def _joining(self) -> list[int]:
        """The node an ``AddServer`` in flight adds: sent heartbeats so it catches up."""
        leadership = self.leadership
        slot = leadership.change_slot
        request = leadership.proposals.get(slot) if slot is not None else None
        if request is not None and isinstance(request.command, AddServer) and request.command.node not in self.members:
            return [request.command.node]
        return []

    def _apply_change(self, slot: int, command: Command) -> None:
        """A change executed at ``slot``: the configuration for every slot above it."""
        self.members = changed(self.members, command)
        leadership = self.leadership
        if self.proposer.role == CANDIDATE and self.node not in self.members:
            self._step_down()  # removed: no campaign of ours may go on
            return
        if self.proposer.role != LEADER:
            return
        if self.node not in self.members:
            self._step_down()  # removed ourselves: stop leading once it is chosen
            return
        now = self.proposer.now
        leadership.heard_ms = {p: leadership.heard_ms.get(p, now) for p in self._peers()}
        leadership.peer_round = {p: r for p, r in leadership.peer_round.items() if p in self.members}
        leadership.lease_from_ms = None  # a lease is counted in one configuration
        leadership.round_sent.clear()
        leadership.reprepare = True  # phase 1 again, under a majority of the new configuration
