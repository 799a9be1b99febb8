"""Request routing: where a client request goes next (one rule for every host).

What may live here: the forwarding rule and the envelopes that carry a request and its
answer between nodes (``Forward``, ``ForwardReply``, and ``Envelopes``, several of them
in one message, which only the runtime sends). The asyncio runtime (``runtime/node.py``) and the simulator
(``sim/host.py``) both follow it, so simulated clients exercise the forwarding path a
real cluster uses.

The rule. A request is first submitted to the node the client reached. If that node's
replica answers ``NotLeader(hint)``:
- with a hint naming another known node: forward it there, the *same* request with the
  same (client_id, seq), so a retry stays exactly-once (Raft thesis §6.3). ``NotLeader``
  is a definite answer (the request did not happen), so trying elsewhere cannot apply it
  twice. Each forward is one hop: the node forwarded to answers whatever its replica
  says, and the routing node decides again;
- with no hint (an election is going on), or a hint back to where it was just refused:
  wait ``retry_ms`` and ask the local replica again;
- after ``max_hops`` forwards, or once the deadline passed: answer the ``NotLeader`` the
  client can act on itself;
- a forward the host could not even send (no connection to the hinted node: a leader that
  died) did not happen, so it is no hop: the host calls ``unreachable`` and the route waits
  ``retry_ms`` and asks the local replica again, which learns the next leader from the
  election instead of the client waiting out a forward that never left.
Any other answer goes to the client as it is. A forward that gets no answer is the
host's ``Timeout`` (outcome unknown), never retried.
"""

from __future__ import annotations

from dataclasses import dataclass

from replikv.core.errors import NotLeader, Result
from replikv.core.messages import Message
from replikv.core.requests import Request

MAX_HOPS = 8
"""Most forwards for one request (leadership moves while it travels)."""


class Forward(Message, frozen=True, tag="rkv.forward"):
    """A client request forwarded to the node that orders writes."""

    forward_id: int
    request: Request


class ForwardReply(Message, frozen=True, tag="rkv.forward_reply"):
    """The answer to ``Forward(forward_id, request)``; ``request_id`` is that request's id,
    so a reply meant for an earlier incarnation of the forwarding node (whose forward ids
    started over after a restart) is never taken for the answer to another request."""

    forward_id: int
    result: Result
    request_id: tuple[int, int]


class Envelopes(Message, frozen=True, tag="rkv.envelopes"):
    """Several ``Forward``s and ``ForwardReply``s for one node in one message: what a host
    gathered in one turn of its loop (the runtime's ``Node``; each is handled as if it
    came alone). One frame, one encode and one decode for all of them: a follower
    serving clients forwards several requests a turn, and a leader answers a whole
    committed batch at once (issue 14, the followers'-clients line)."""

    forwards: tuple[Forward, ...] = ()
    replies: tuple[ForwardReply, ...] = ()


ENVELOPES: tuple[type, ...] = (Forward, ForwardReply, Envelopes)


@dataclass(frozen=True)
class Answer:
    """Give ``result`` to the client."""

    result: Result


@dataclass(frozen=True)
class Try:
    """Submit the request at ``node`` (this node: the local replica; another: forward)."""

    node: int


@dataclass(frozen=True)
class Wait:
    """No leader known: ask the local replica again after ``ms``."""

    ms: float


Step = Answer | Try | Wait


@dataclass
class Route:
    """One request's way through the cluster, as seen by the node the client reached."""

    node: int
    """The node the client reached (it routes and answers)."""
    deadline_ms: float
    max_hops: int = MAX_HOPS
    target: int = 0
    hops: int = 0

    def __post_init__(self) -> None:
        self.target = self.target or self.node

    def next(self, result: Result, now_ms: float, known: tuple[int, ...], retry_ms: float) -> Step:
        """What to do with the answer ``result`` the current target gave."""
        if type(result) is not NotLeader or now_ms >= self.deadline_ms or self.hops >= self.max_hops:
            return Answer(result)
        hint = result.leader
        if hint is None or hint == self.target:
            self.target = self.node
            return Wait(retry_ms)
        if hint != self.node and hint not in known:
            return Answer(result)
        self.target = hint
        if hint != self.node:
            self.hops += 1
        return Try(hint)

    def unreachable(self) -> NotLeader:
        """The current target could not be sent to at all (the host has no connection to
        it), so nothing happened there: the forward is no hop, and the answer to feed to
        ``next`` is a ``NotLeader`` without a hint (wait, then ask the local replica)."""
        assert self.target != self.node, "the local replica is always reachable"
        self.hops -= 1
        return NotLeader(None)
