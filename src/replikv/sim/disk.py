"""A node's simulated disk: durable records, writes in flight, crash faults.

What may live here: the durable record list of one node and its write queue. A write
becomes durable after its write + fsync latency, in order (a WAL: a later write is never
durable before an earlier one). ``Persist(replace=True)`` swaps the whole record list at
durability time. A crash loses every write not yet durable; optional faults at a crash:
a torn tail (the last records are lost) and a bit flip before the tail (the node must
refuse to start on it, DESIGN.md "Storage").
"""

from __future__ import annotations

from collections import deque

from replikv.core.messages import Record


class Disk:
    __slots__ = ("records", "_pending", "_busy_until", "corrupt", "writes", "lost_at_crash")

    def __init__(self) -> None:
        self.records: list[Record] = []
        self._pending: deque[tuple[int, tuple[Record, ...], bool]] = deque()
        self._busy_until = 0.0
        self.corrupt = False
        self.writes = 0
        self.lost_at_crash = 0

    def write(self, now: float, seq: int, records: tuple[Record, ...], replace: bool, latency: float) -> float:
        """Queue a write; returns the virtual time it becomes durable (never before an
        earlier write)."""
        self.writes += 1
        self._pending.append((seq, records, replace))
        self._busy_until = max(self._busy_until, now) + latency
        return self._busy_until

    def complete(self, seq: int) -> None:
        """Everything queued up to ``seq`` is now durable."""
        while self._pending and self._pending[0][0] <= seq:
            _, records, replace = self._pending.popleft()
            if replace:
                self.records = list(records)
            else:
                self.records.extend(records)

    @property
    def pending(self) -> int:
        return len(self._pending)

    def crash(self, torn: int = 0, bitflip: bool = False) -> None:
        """Lose undurable writes; then optionally tear ``torn`` records off the tail and/or
        corrupt a record before the tail."""
        self.lost_at_crash += len(self._pending)
        self._pending.clear()
        self._busy_until = 0.0
        if torn > 0:
            del self.records[max(0, len(self.records) - torn) :]
        if bitflip:
            if len(self.records) >= 2:
                self.corrupt = True
            else:
                self.records.clear()  # a flip in the only record is a torn tail
