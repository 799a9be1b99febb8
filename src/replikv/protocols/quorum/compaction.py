"""Compaction of a ``quorum`` node's WAL, and the recovery fold it must agree with.

Without compaction a node appends a ``Stored`` record at every change of a key and keeps
them all, so its disk and its restart time grow with the writes it ever took. Every
``compact_every`` records (default: the core's ``snapshot_threshold``; 0 = never), and
not before as many records followed the last restatement as it held keys
(``Compaction.due``), the node restates its whole durable state in one ``Restated``
record, emitted as ``Persist(replace=True)``: storage swaps it in atomically and drops every record before
it, the same mechanism a Raft snapshot uses to compact the log behind it (Raft §7,
``core/io.py``). There is no log index to cut at: the restatement is the node's state
at the end of the step that filled the count, which already folds in every record
emitted before it (durable or not yet), so it supersedes them all.

It is a ``compaction`` (``core.io.Persist``): durable once the records before it are,
written beside the live log and swapped in later. A crash before the swap recovers the
records it would have replaced, with every record since, which is the node it would
have been had it never compacted; the acks (``PutAck``, ``HandOffAck``) claim key
states, and every key state came with a record of its own.

Recovery (``recover``) must give the same node from ``[Restated, rest...]`` as from the
whole WAL it replaced. The key states are not enough for that: a replay re-applies, in
order, the client request of every version a record brought, overwritten ones
included, so the state machine (and the simulator's held-request accounting,
``sim/applied.py``, which reads it) knows that those requests ran here. The
restatement therefore carries the state machine's snapshot (values and session table,
restored rather than re-applied; the simulator files beside those bytes which requests
that state applied), the highest request seq per client known
to have run (``Store.ran``, the at-most-once rule), the hints held for others, and the
store's internal seq. Claims (``claims.py``) are in memory and forgotten at a restart
with or without compaction.

What may live here: when to restate, what a restatement holds, and the fold of
recovered records. The records are in ``records.py``.
"""

from __future__ import annotations

from collections.abc import Sequence

from replikv.core.config import compaction_due
from replikv.core.messages import Record
from replikv.protocols.quorum import versions as v
from replikv.protocols.quorum.config import QuorumConfig
from replikv.protocols.quorum.handoff import Hints
from replikv.protocols.quorum.records import HintDone, Hinted, Refilling, Restated, Stored
from replikv.protocols.quorum.store import Store


def requests_of(state: v.KeyState) -> tuple[tuple[int, int], ...]:
    """The client requests whose versions a key state holds."""
    return tuple((s.client_id, s.seq) for s in state.siblings)


def recover(records: Sequence[Record], store: Store, hints: Hints) -> bool:
    """Fold the recovered records into an empty store and hint table, in order; returns
    whether the node was still refilling from its peers (``Refilling``)."""
    refilling = False
    for record in records:
        match record:
            case Restated():
                store.load(record.states, record.clients, record.machine, record.internal_seq, record.changes)
                hints.states = {(intended, key): state for intended, key, state in record.hints}
                refilling = record.refilling
            case Refilling(active=active):
                refilling = active
            case Stored():
                store.note(record.requests)
                store.absorb(record.key, record.state)
            case Hinted():
                # the fallback noted these requests as run when it took the hint
                store.note(requests_of(record.state))
                hints.add(record.intended, record.key, record.state)
            case HintDone():
                hints.done(record.intended, record.key, record.state)
    return refilling


def _size(record: Record) -> int:
    assert isinstance(record, Restated)
    return len(record.states) + len(record.hints)


def restatement(store: Store, hints: Hints, refilling: bool = False) -> Restated:
    """The node's whole durable state now, in one record."""
    states, clients, machine, internal_seq = store.restatement()
    held = tuple((intended, key, state) for (intended, key), state in sorted(hints.states.items()))
    return Restated(states=states, hints=held, clients=clients, machine=machine, internal_seq=internal_seq,
                    changes=store.changes, refilling=refilling)


class Compaction:
    """Counts the records appended since the last restatement and says when one is due."""

    def __init__(self, config: QuorumConfig, recovered: Sequence[Record]) -> None:
        every = config.compact_every
        self.every = config.snapshot_threshold if every is None else every
        self.growth = config.snapshot_growth
        last = max((i for i, r in enumerate(recovered) if isinstance(r, Restated)), default=-1)
        self.since = len(recovered) - last - 1
        """Records in the WAL after its last restatement (a node restarted often still
        compacts)."""
        self.last_size = _size(recovered[last]) if last >= 0 else 0
        """Entries (keys and hints) the last restatement held."""
        self.restatements = 0
        """How many restatements this incarnation emitted (for tests and status)."""

    def appended(self, count: int) -> None:
        self.since += count

    def due(self) -> bool:
        """A restatement is due after ``every`` records, and not before as many records
        followed the last restatement as it held entries (keys and hints): restating a
        million keys every 10,000 writes would write the state 100 times over per million
        writes; this way each record written is rewritten about once on average and the
        WAL stays within about twice the state it last restated (the rule of an
        append-only file rewritten once it has doubled): every scheme's rule,
        ``core.config.compaction_due``, with quorum's ``snapshot_growth`` of 1."""
        return compaction_due(self.since, self.every, self.last_size, self.growth)

    def restated(self, size: int) -> None:
        """A restatement of ``size`` entries was emitted."""
        self.since = 0
        self.last_size = size
        self.restatements += 1
