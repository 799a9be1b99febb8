"""Primary order, checked as it happens: every node delivers one total order with no gap,
duplicate or reordering (ZAB's "primary order" and "agreement", Junqueira, Reed,
Serafini, DSN 2011 §III; Raft's State Machine Safety says the same of applied entries).

What may live here: the pure bookkeeping the simulator feeds after every step (a
node delivered request r at index i; a node restarted; a node restated its durable
state). A scheme that declares ``ProtocolSpec.primary_order`` is held to it:

- within one incarnation of a node, each delivery is at the index right after the
  previous one, except right after a restatement (``Persist(replace=True)``: a snapshot
  it installed may move it forward, never back);
- the first delivery of an incarnation may be anywhere (it starts over from its
  snapshot);
- every node that delivers index i delivers the same request there.
"""

from __future__ import annotations

from typing import Any


class DeliveryOrder:
    __slots__ = ("_last", "_jump", "_at")

    def __init__(self) -> None:
        self._last: dict[int, tuple[int, int]] = {}
        """node -> (incarnation, last index delivered)."""
        self._jump: set[int] = set()
        self._at: dict[int, tuple[int, Any]] = {}
        """index -> (first node to deliver it, the request id delivered)."""

    def restated(self, node: int) -> None:
        """The node restated its durable state (it may have installed a snapshot)."""
        self._jump.add(node)

    def delivered(self, node: int, incarnation: int, index: int, request_id: Any) -> str | None:
        """Record a delivery; a description of the broken rule, or None."""
        last = self._last.get(node)
        jump = node in self._jump
        self._jump.discard(node)
        problem = None
        if last is not None and last[0] == incarnation:
            if index <= last[1]:
                problem = f"node {node} delivered index {index} again (or back in order) after {last[1]}"
            elif index != last[1] + 1 and not jump:
                problem = f"node {node} delivered index {index} after {last[1]}: a gap"
        self._last[node] = (incarnation, index)
        first = self._at.setdefault(index, (node, request_id))
        if problem is None and first[1] != request_id:
            problem = (f"node {node} delivered request {request_id} at index {index}, where node {first[0]} "
                       f"delivered {first[1]}")
        return problem
