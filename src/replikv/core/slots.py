"""A log whose slots are filled out of order (Multi-Paxos, Paxos Made Simple §3).

What may live here: a pure, in-memory map slot -> value with a compacted prefix. Unlike
``ReplicatedLog`` (Raft's gapless log), a slot above a hole may be filled first: a new
leader may learn slot 7 was chosen before it knows slot 5, and proposes a no-op for 5.
Execution still goes strictly in slot order: ``next_runnable`` yields the slots whose
every predecessor is filled, and nothing beyond a hole.

Generic in the value kept per slot (an accepted (ballot, request), a chosen request...),
so each scheme stores what it needs. No persistence: schemes persist through ``Persist``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Generic, TypeVar

V = TypeVar("V")


class SlotLog(Generic[V]):
    __slots__ = ("_slots", "base", "executed")

    def __init__(self, base: int = 0) -> None:
        self._slots: dict[int, V] = {}
        self.base = base
        """Every slot up to ``base`` is compacted away (folded into a snapshot)."""
        self.executed = base
        """Every slot up to ``executed`` has been run, in order."""

    def __len__(self) -> int:
        return len(self._slots)

    def __contains__(self, slot: int) -> bool:
        return slot in self._slots

    def get(self, slot: int) -> V | None:
        return self._slots.get(slot)

    def put(self, slot: int, value: V) -> None:
        """Fill (or overwrite) ``slot``; slots at or below the compacted base are refused."""
        assert slot > self.base, f"slot {slot} is compacted (base {self.base})"
        self._slots[slot] = value

    @property
    def highest(self) -> int:
        """The highest filled slot (``base`` if none)."""
        return max(self._slots, default=self.base)

    def holes(self, upto: int | None = None) -> list[int]:
        """Empty slots above ``base`` and up to ``upto`` (default: the highest filled)."""
        top = self.highest if upto is None else upto
        return [s for s in range(self.base + 1, top + 1) if s not in self._slots]

    def next_runnable(self) -> Iterator[tuple[int, V]]:
        """Filled slots right after ``executed``, in order, up to the first hole. The caller
        marks each run with ``mark_executed``."""
        slot = self.executed + 1
        while slot in self._slots:
            yield slot, self._slots[slot]
            slot += 1

    def mark_executed(self, slot: int) -> None:
        assert slot == self.executed + 1, f"slot {slot} executed out of order after {self.executed}"
        self.executed = slot

    def items(self, start: int | None = None) -> list[tuple[int, V]]:
        """Filled slots from ``start`` (default: above base), in slot order."""
        lo = self.base + 1 if start is None else start
        return sorted((s, v) for s, v in self._slots.items() if s >= lo)

    def compact(self, upto: int) -> None:
        """Forget slots up to ``upto`` (a snapshot covers them); never past ``executed``."""
        assert upto <= self.executed, f"cannot compact unexecuted slot {upto} (executed {self.executed})"
        if upto <= self.base:
            return
        for slot in [s for s in self._slots if s <= upto]:
            del self._slots[slot]
        self.base = upto
