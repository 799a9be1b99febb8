"""``check_txn``: strict serializability of a list-append transaction history.

What may live here: putting ``versions``, ``graph`` and ``cycles`` together, the words
for a cycle, and the ``CheckResult``. The rules are in those modules' docstrings.

A history of committed transactions is serializable when its dependency graph (ww, wr,
rw) has no cycle (Adya 1999, §3-4), and *strictly* serializable when the graph with
real-time edges added has none either (Elle, Kingsbury & Alvaro, VLDB 2020, §4.3).
The reads also must not see aborted or intermediate states (G1a, G1b), and must agree
on each key's order. Any anomaly found is certain: ``valid`` is ``True`` or ``False``,
never unknown.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from replikv.check.history import HistoryError, HistoryEvent, Operation, pair_operations
from replikv.check.result import CheckResult, KeyFailure
from replikv.check.txn import cycles
from replikv.check.txn.graph import Graph, build
from replikv.check.txn.ops import APPEND
from replikv.check.txn.versions import EXAMPLES, analyse
from replikv.check.txn.words import KIND_NAMES, Anomaly, Txn, describe

MODEL = "txn"
ORDER = ("G0", "G1a", "G1b", "G1c", "G-single", "G2", "G0-realtime", "G1c-realtime",
         "G-single-realtime", "G2-realtime", "incompatible-order", "duplicate-elements",
         "unwritten-element", "internal")
"""Anomaly names in the order the explanation lists them."""

_MEANING = {
    "G0": "write cycle",
    "G1c": "circular information flow",
    "G-single": "a cycle with one anti-dependency: read skew or lost update",
    "G2": "a cycle of anti-dependencies: write skew",
}


def transactions(history: Iterable[HistoryEvent] | Iterable[Operation]) -> list[Txn]:
    """The history's transactions (``Txn.id`` is the position); anything else is refused."""
    items = list(history)
    ops = items if items and isinstance(items[0], Operation) else pair_operations(items)  # type: ignore[arg-type]
    other = next((op for op in ops if op.f != "txn"), None)  # type: ignore[union-attr]
    if other is not None:
        raise HistoryError(
            f"operation {other.index + 1} (process {other.process}) is a {other.f} of key "  # type: ignore[union-attr]
            f"{other.key!r}: the transaction checker takes only txn operations; check "  # type: ignore[union-attr]
            "single-key operations with the linearizability checker")
    ints = all(isinstance(arg, int) for op in ops for kind, _, arg in op.value  # type: ignore[union-attr]
               if kind == APPEND)
    return [Txn(op, position, ints) for position, op in enumerate(ops)]  # type: ignore[arg-type]


def check_txn(history: Iterable[HistoryEvent] | Iterable[Operation]) -> CheckResult:
    """Is the list-append history strictly serializable? Anomalies by name, each cycle
    the smallest found, in words (docs/checker.md, "Transactions")."""
    txns = transactions(history)
    versions = analyse(txns)
    graph = build(txns, versions)
    counts = dict(versions.counts)
    anomalies = list(versions.anomalies)
    for cycle in cycles.find(graph.adj):
        anomaly = _cycle_anomaly(cycle, txns, graph)
        counts[anomaly.name] = counts.get(anomaly.name, 0) + 1
        if counts[anomaly.name] <= EXAMPLES:
            anomalies.append(anomaly)
    anomalies.sort(key=lambda a: (_rank(a.name), a.txns))
    keys = len(versions.appender.keys() | {r.key for r in versions.reads})
    ordered = {name: counts[name] for name in sorted(counts, key=_rank)}
    failures = tuple(KeyFailure(key=", ".join(a.keys), model=MODEL, anomaly=a.name,
                                ops=tuple(txns[i].op for i in a.txns),
                                explanation="\n".join(a.lines), certified=True)
                     for a in anomalies)
    if not anomalies:
        text = (f"strictly serializable: {len(txns)} transactions on {keys} key(s) "
                f"({sum(t.committed for t in txns)} committed), {graph.edges()} dependency "
                "edges, no cycle and no aborted or intermediate read")
        return CheckResult(valid=True, model=MODEL, keys_checked=keys, ops=len(txns),
                           explanation=text)
    summary = ", ".join(f"{name} x{n}" for name, n in ordered.items())
    text = "\n\n".join([f"not strictly serializable: {summary}"]
                       + [f.explanation for f in failures])
    return CheckResult(valid=False, model=MODEL, keys_checked=keys, ops=len(txns),
                       failures=failures, explanation=text, anomalies=ordered)


def _rank(name: str) -> int:
    return ORDER.index(name) if name in ORDER else len(ORDER)


def _cycle_anomaly(cycle: list[cycles.Step], txns: Sequence[Txn], graph: Graph) -> Anomaly:
    """Rotate the cycle to start at its lowest transaction, and say each edge."""
    start = min(range(len(cycle)), key=lambda i: cycle[i][0])
    cycle = cycle[start:] + cycle[:start]
    name = cycles.name(cycle)
    base = name.removesuffix("-realtime")
    meaning = _MEANING.get(base, "")
    realtime = (", and needs real-time order: serializable, but not strictly"
                if name.endswith("-realtime") else "")
    lines = [f"{name} ({meaning}{realtime}): a cycle of {len(cycle)} transactions:"]
    for a, kind, b in cycle:
        lines.append(f"  {txns[a].name} -{KIND_NAMES[kind]}-> {txns[b].name}: "
                     f"{graph.why[(a, b, kind)]}")
    lines.append("where")
    lines += [f"  {describe(txns[a])}" for a, _, _ in cycle]
    involved = tuple(a for a, _, _ in cycle)
    keys = sorted({key for a, k, b in cycle if (key := graph.key[(a, b, k)]) is not None})
    return Anomaly(name=name, txns=involved, keys=tuple(keys), lines=tuple(lines),
                   cycle=tuple((txns[a].id, KIND_NAMES[k], txns[b].id) for a, k, b in cycle))
