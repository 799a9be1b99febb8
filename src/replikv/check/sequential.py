"""Sequential consistency of reads served by the node a client talks to (ZooKeeper's
guarantee: Hunt et al., USENIX ATC 2010, §2.3 "all requests from a given client are
executed in the order that they were sent by the client"; Lamport 1979), and how many of
the reads it accepted were stale.

What may live here: the verdict (``models.check_sequential``, per key: one order of the
key's operations that keeps every process's own order and the register's rules; a stale
read is allowed, a process going back in time or missing its own write is not) joined
with the count of reads that were *stale but allowed*: reads that certainly missed an
acknowledged mutation completed before they were invoked (``invariants.stale_reads``),
which linearizability would reject and sequential consistency accepts.
"""

from __future__ import annotations

from collections.abc import Iterable

import msgspec

from replikv.check.grouping import operations_of
from replikv.check.history import HistoryEvent, Operation
from replikv.check.invariants import stale_reads
from replikv.check.linearizability import DEFAULT_MAX_STEPS
from replikv.check.models import check_sequential
from replikv.check.result import CheckResult


class SequentialReport(msgspec.Struct, frozen=True, kw_only=True):
    result: CheckResult
    stale_allowed: int
    """Reads that missed an acknowledged write completed before they were invoked: not
    linearizable, allowed by sequential consistency (counted whatever the verdict)."""
    reads: int


def check_sequential_reads(history: Iterable[HistoryEvent] | Iterable[Operation], *,
                           max_steps: int = DEFAULT_MAX_STEPS,
                           timeout_s: float | None = None) -> SequentialReport:
    ops = operations_of(history)
    result = check_sequential(ops, max_steps=max_steps, timeout_s=timeout_s)
    reads = sum(1 for op in ops if op.f == "read" and op.type == "ok")
    return SequentialReport(result=result, stale_allowed=len(stale_reads(ops)), reads=reads)
