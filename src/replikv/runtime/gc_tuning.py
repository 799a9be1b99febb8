"""The cyclic garbage collector set for a node's allocation pattern (issue 14).

Nearly everything a write allocates (its request, futures, effects, messages) lives a few
milliseconds and is freed by reference counting; what survives is the node's state (log
entries until a snapshot compacts them, the key-value map, the session table). CPython's
default collects the young generation every 700 net allocations of tracked objects, so
a node under load traverses its in-flight objects over and over, promotes the ones still
in flight, and its older-generation collections then traverse the whole, growing state:
measured on a raft leader under ``replikv bench`` (32 clients, new keys), the collector
took 7-12% of ``perf``'s samples late in a run and 3-4% of each node's CPU over a whole
run; with this tuning nodes spent about 4-5% less CPU per write (docs/bench.md, "CPU per
write on the runtime's hot path").

``tune_gc`` runs once, when the node serves: it freezes what start-up built (modules,
the recovered state: never traversed again, still freed by reference counting) and
raises the young generation's threshold to ``GEN0_THRESHOLD``, so short-lived objects
are mostly gone before a collection looks at them. Cycles are still collected.
"""

from __future__ import annotations

import gc

GEN0_THRESHOLD = 10_000
"""Net allocations of tracked objects between young collections (CPython's default: 700)."""


def tune_gc(gen0_threshold: int = GEN0_THRESHOLD) -> None:
    """Collect once, freeze the survivors, raise the young threshold (older ones kept)."""
    gc.collect()
    gc.freeze()
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(gen0_threshold, gen1, gen2)
