"""A node's simulated disk: durable records, writes in flight, crash faults.

What may live here: the durable record list of one node and its write queue. A write
becomes durable after its write + fsync latency, in order (a WAL: a later write is never
durable before an earlier one), and writes group-commit as the runtime's writer does
(``runtime/writer.py``): a write to an idle disk starts a group that is durable after its
own latency; writes that arrive while a group is being written form the next group, which
starts when that one ends and is durable after the latency of the first write in it, however
many writes join it. ``Persist(replace=True)`` swaps the whole record list at
durability time. A compaction (``Persist(compaction=True)``, core.io) restates what
the writes before it hold: it is durable as soon as they are and is written beside the
live record list, which later writes still extend; ``swap(seq)``, which the host calls
``COMPACTION_WRITE_FACTOR`` write latencies later, makes it plus those later writes the
record list, as the runtime's WAL does (a newer compaction or a replace abandons one
still being written), and a crash before the swap recovers the old list. A crash loses
every write not yet durable; optional faults at a crash: a torn tail (the last records
are lost), a bit flip before the tail (the node must refuse to start on it, DESIGN.md
"Storage") and a wipe (every record is lost: the disk was replaced). What the last
crash did is kept (``torn_at_crash``, ``wiped``) and handed to the next incarnation as
``core.replica.Recovery``, and to every later one until a write of an incarnation told
about it is durable: the damage is the disk's to remember until the replica has
recorded it (its first write after a damaged start is that record in every scheme that
rejoins, e.g. 2PC's ``Boot(rejoining=True)``, raft's rejoining term record). A crash
before then must not let the next start take the shortened log for an intact one: swarm
seed 1100093 (2pc, N=5), a coordinator whose COMMIT record was torn off restarted, crashed
again in the same millisecond, and came back believing its log whole; it presumed abort
for the write its client had been told was committed.
"""

from __future__ import annotations

from collections import deque

from replikv.core.messages import Record

COMPACTION_WRITE_FACTOR = 20
"""A compaction's swap comes this many write latencies after it is durable: it rewrites
the whole state, and the longer window gives crashes a chance to land inside it."""


class Disk:
    __slots__ = ("records", "_pending", "_busy_until", "corrupt", "writes", "lost_at_crash", "torn_at_crash",
                 "wiped", "_compacting", "_forming_until", "_told")

    def __init__(self) -> None:
        self.records: list[Record] = []
        self._pending: deque[tuple[int, tuple[Record, ...], bool, bool]] = deque()
        self._compacting: tuple[int, list[Record], list[Record]] | None = None
        """A compaction being written beside ``records``: its seq, its records and the
        records written after it (what the swap appends to them)."""
        self._busy_until = 0.0
        """When the group being written is durable."""
        self._forming_until: float | None = None
        """When the group forming behind it will be durable (None: no write is waiting)."""
        self.corrupt = False
        self.writes = 0
        self.lost_at_crash = 0
        self.torn_at_crash = 0
        """Durable records crashes tore off the tail (what recovery cut) since the last
        durable write of an incarnation that was told (summed over crashes in between)."""
        self.wiped = False
        """A crash lost the whole disk, and no incarnation since has made a write durable."""
        self._told = False
        """An incarnation was handed the damage (``take_recovery``): its first durable
        write clears it."""

    def write(self, now: float, seq: int, records: tuple[Record, ...], replace: bool, latency: float,
              compaction: bool = False) -> float:
        """Queue a write; returns the virtual time it becomes durable (never before an
        earlier write): the end of a new group on an idle disk, else the end of the group
        forming behind the one being written (group commit). A compaction takes no time
        of its own: it is durable with the writes before it, and the host calls ``swap``
        once it is written (``COMPACTION_WRITE_FACTOR`` write latencies later)."""
        self.writes += 1
        self._pending.append((seq, records, replace, compaction))
        if self._forming_until is not None and now >= self._busy_until:
            self._busy_until, self._forming_until = self._forming_until, None  # it went to disk
        if now >= self._busy_until:  # idle: nothing is being written
            self._busy_until = now + (0.0 if compaction else latency)
            return self._busy_until
        if self._forming_until is None:
            if compaction:  # nothing waits: durable with the group being written
                return self._busy_until
            self._forming_until = self._busy_until + latency
        return self._forming_until

    def complete(self, seq: int) -> None:
        """Everything queued up to ``seq`` is now durable."""
        if self._told and self._pending and self._pending[0][0] <= seq:
            self._told = False  # the damage is on record now: the replica wrote after it was told
            self.wiped = False
            self.torn_at_crash = 0
        while self._pending and self._pending[0][0] <= seq:
            done, records, replace, compaction = self._pending.popleft()
            if compaction:
                self._compacting = (done, list(records), [])
            elif replace:
                self.records = list(records)
                self._compacting = None
            else:
                self.records.extend(records)
                if self._compacting is not None:
                    self._compacting[2].extend(records)

    def swap(self, seq: int) -> None:
        """The compaction of ``seq`` is written: it and what followed it become the
        record list (nothing, when a replace or a newer compaction abandoned it)."""
        if self._compacting is not None and self._compacting[0] == seq:
            _, records, after = self._compacting
            self.records = records + after
            self._compacting = None

    @property
    def pending(self) -> int:
        return len(self._pending)

    def crash(self, torn: int = 0, bitflip: bool = False, wipe: bool = False) -> None:
        """Lose undurable writes; then optionally tear ``torn`` records off the tail and/or
        corrupt a record before the tail; or (``wipe``) lose every record."""
        self.lost_at_crash += len(self._pending)
        self._pending.clear()
        self._compacting = None  # its temp file is removed at recovery
        self._busy_until = 0.0
        self._forming_until = None
        before = len(self.records)
        if wipe:
            self.records.clear()
            self.corrupt = False
            self.wiped = True
            self.torn_at_crash = 0
            return
        if torn > 0:
            del self.records[max(0, len(self.records) - torn) :]
        if bitflip:
            if len(self.records) >= 2:
                self.corrupt = True
            else:
                self.records.clear()  # a flip in the only record is a torn tail
        self.torn_at_crash += before - len(self.records)

    def take_recovery(self) -> tuple[bool, int]:
        """``(lost, torn_records)``: what crashes did to this disk since an incarnation
        that was told last made a write durable (the first start after the damage gets
        it, and so does every start after it until then)."""
        self._told = self.wiped or self.torn_at_crash > 0
        return self.wiped, self.torn_at_crash
