"""The dependency graph of a list-append history (Adya 1999, §3; Elle §4).

What may live here: turning version orders and reads into edges between transactions,
each with the reason for it in words. Cycles are found in ``cycles``.

Nodes are the committed (``ok``) transactions and those of unknown outcome (``info``:
their appends may have committed; their reads are unknown, so they have no read edges).
Failed transactions are not in the graph (their reads of others are ``G1a``, found in
``versions``). For a key with version order e1, e2, ..., en (its longest read):

* **ww** (write dependency): the appender of e(i) -> the appender of e(i+1); every
  element appended but never read comes after en, so appender(en) -> its appender;
* **wr** (read dependency): the appender of the last element a transaction read (of
  what others wrote) -> the reader;
* **rw** (anti-dependency): a reader that saw the list up to e(i) -> the appender of
  e(i+1), which overwrote what it read (or, when it read all of e1..en, -> each
  appender of an element never read: one of them came next, the rest after it);
* **realtime** (for *strict* serializability, Herlihy & Wing's real-time order): T1 ->
  T2 when T1 completed before T2 was invoked. Only the edges no other real-time path
  implies are kept (T1 -> T2 unless T1 completed before some T' was invoked that
  itself completed before T2 was invoked), which keeps reachability and the graph
  linear in size for a bounded number of concurrent clients.

A transaction's edges to itself are dropped. Keys with an incompatible order give no
ww or rw edges (their order is unknown; the anomaly is reported on its own).
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence

from replikv.check.txn.versions import Versions
from replikv.check.txn.words import RT, RW, WR, WW, Txn, show_list


class Graph:
    """Edges as ``adj[a][b] = kinds`` (a bit set of ``words.WW`` ...), and for each
    ``(a, b, kind)`` the first reason found, in words, and its key (``None`` for a
    real-time edge)."""

    def __init__(self, size: int) -> None:
        self.adj: list[dict[int, int]] = [{} for _ in range(size)]
        self.why: dict[tuple[int, int, int], str] = {}
        self.key: dict[tuple[int, int, int], str | None] = {}

    def add(self, a: int, b: int, kind: int, why: str, key: str | None = None) -> None:
        if a == b:
            return
        edges = self.adj[a]
        old = edges.get(b, 0)
        if not old & kind:
            edges[b] = old | kind
            self.why[(a, b, kind)] = why
            self.key[(a, b, kind)] = key

    def edges(self) -> int:
        return sum(bin(kinds).count("1") for edges in self.adj for kinds in edges.values())


def build(txns: Sequence[Txn], versions: Versions) -> Graph:
    graph = Graph(len(txns))
    _write_edges(txns, versions, graph)
    _read_edges(txns, versions, graph)
    _realtime_edges(txns, graph)
    return graph


def _write_edges(txns: Sequence[Txn], versions: Versions, graph: Graph) -> None:
    for key, order in versions.order.items():
        owners = versions.appender.get(key, {})
        for before, after in zip(order, order[1:], strict=False):
            a, b = owners[before], owners[after]
            if not txns[a].failed and not txns[b].failed:
                graph.add(a, b, WW, f"{key}: {txns[a].name} appended {before}, and "
                                    f"{txns[b].name}'s {after} came right after it", key)
        if order and not txns[owners[order[-1]]].failed:
            last = owners[order[-1]]
            for element, writer in versions.unseen[key]:
                graph.add(last, writer, WW, f"{key}: {txns[writer].name} appended {element}, "
                                            f"read by nobody, so after {order[-1]}, the last "
                                            f"element read", key)


def _read_edges(txns: Sequence[Txn], versions: Versions, graph: Graph) -> None:
    for read in versions.reads:
        key, reader = read.key, read.txn
        owners = versions.appender.get(key, {})
        seen = read.external
        name = txns[reader].name
        if seen and seen[-1] in owners and not txns[owners[seen[-1]]].failed:
            writer = owners[seen[-1]]
            graph.add(writer, reader, WR, f"{key}: {name} read {show_list(seen)}, whose last "
                                          f"element {seen[-1]} {txns[writer].name} appended", key)
        order = versions.order.get(key)
        if order is None or order[:len(seen)] != seen:
            continue
        if len(seen) < len(order):
            nxt = order[len(seen)]
            writer = owners[nxt]
            if not txns[writer].failed:
                graph.add(reader, writer, RW, f"{key}: {name} read {show_list(seen)}, and "
                                              f"{txns[writer].name} appended the next element "
                                              f"{nxt}", key)
            continue
        for element, writer in versions.unseen[key]:
            graph.add(reader, writer, RW, f"{key}: {name} read {show_list(seen)}, all that "
                                          f"was ever read, and {txns[writer].name} appended "
                                          f"{element} later", key)


def _realtime_edges(txns: Sequence[Txn], graph: Graph) -> None:
    """T1 -> T2 for T1 committed before T2 was invoked, reduced (module docstring)."""
    done = sorted((t for t in txns if t.committed), key=lambda t: (t.op.complete_time, t.id))
    ends = [t.op.complete_time for t in done]
    starts = sorted((t for t in txns if not t.failed), key=lambda t: (t.op.invoke_time, t.id))
    before = 0                # done[:before] completed before the current invoke
    latest_invoke = float("-inf")  # the latest invoke among them
    for second in starts:
        invoked = second.op.invoke_time
        while before < len(done) and done[before].op.complete_time < invoked:
            latest_invoke = max(latest_invoke, done[before].op.invoke_time)
            before += 1
        # those completed before `invoked` but not before another of them was invoked
        for first in done[bisect.bisect_left(ends, latest_invoke, 0, before):before]:
            graph.add(first.id, second.id, RT,
                      f"{first.name} completed at {first.op.complete_time:g} ms, before "
                      f"{second.name} was invoked at {invoked:g} ms")
