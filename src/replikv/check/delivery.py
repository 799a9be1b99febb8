"""Primary order, checked as it happens: every node delivers one total order with no gap,
duplicate or reordering (ZAB's "primary order" and "agreement", Junqueira, Reed,
Serafini, DSN 2011 §III; Raft's State Machine Safety says the same of applied entries).

What may live here: the pure bookkeeping the simulator feeds after every step (a
node delivered request r at index i; a node restarted; a node restated its durable
state). A scheme that declares ``ProtocolSpec.primary_order`` is held to it:

- within one incarnation of a node, each delivery is at the index right after the
  previous one; a restatement (``Persist(replace=True)``: a snapshot it installed) allows
  one forward jump each, never a step back. The host sees a Persist when it is written, ahead
  of the deliveries the replica emitted before it (they wait behind earlier barriers), so
  the allowance lasts until a jump uses it, not only for the next delivery (swarm seed
  242: a follower resumed from a pause delivered 33..39 from queued proposals, then 41
  after a SNAP at 40 written before 33 was released);
- the first delivery of an incarnation may be anywhere (it starts over from its
  snapshot); restatements of earlier incarnations allow nothing, and those of this one
  made before its first delivery keep their allowance, but for one that the first
  delivery uses (swarm seed 931188, zab: a restarted follower synced by a SNAP at 50,
  whose deliveries 51..91 waited behind its write, took a second SNAP at 100 before they
  were released, and next delivered 101);
- every node that delivers index i delivers the same request there.
"""

from __future__ import annotations

from typing import Any


class DeliveryOrder:
    __slots__ = ("_last", "_jump", "_at")

    def __init__(self) -> None:
        self._last: dict[int, tuple[int, int]] = {}
        """node -> (incarnation, last index delivered)."""
        self._jump: dict[int, tuple[int, int]] = {}
        """node -> (incarnation, forward jumps its restatements in it still allow: one each)."""
        self._at: dict[int, tuple[int, Any]] = {}
        """index -> (first node to deliver it, the request id delivered)."""

    def restated(self, node: int, incarnation: int) -> None:
        """The node restated its durable state (it may have installed a snapshot)."""
        self._jump[node] = (incarnation, self._jumps(node, incarnation) + 1)

    def _jumps(self, node: int, incarnation: int) -> int:
        held = self._jump.get(node)
        return held[1] if held is not None and held[0] == incarnation else 0

    def delivered(self, node: int, incarnation: int, index: int, request_id: Any) -> str | None:
        """Record a delivery; a description of the broken rule, or None."""
        last = self._last.get(node)
        problem = None
        jumps = self._jumps(node, incarnation)  # an earlier incarnation's allow nothing
        if last is None or last[0] != incarnation:
            jumps = max(0, jumps - 1)  # a new incarnation starts over, from a snapshot if it took one
        elif index <= last[1]:
            problem = f"node {node} delivered index {index} again (or back in order) after {last[1]}"
        elif index != last[1] + 1:
            if jumps > 0:
                jumps -= 1
            else:
                problem = f"node {node} delivered index {index} after {last[1]}: a gap"
        self._jump[node] = (incarnation, jumps)
        self._last[node] = (incarnation, index)
        first = self._at.setdefault(index, (node, request_id))
        if problem is None and first[1] != request_id:
            problem = (f"node {node} delivered request {request_id} at index {index}, where node {first[0]} "
                       f"delivered {first[1]}")
        return problem
