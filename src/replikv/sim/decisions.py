"""The ``divergent_decisions`` check: did two nodes decide the same transaction
differently? (2PC/3PC, issue 11.)

What may live here: folding every node's durable records through the scheme's
``ProtocolSpec.decisions`` and comparing the outcomes. The records, not the replicas'
memory, so a node that is down at the end still counts, and what is compared is what
each node would act on after a restart. A node with no record of a transaction does not
count as deciding it (presumed abort writes nothing).

Skeen's 3PC termination protocol is safe under crashes and unsafe under partitions: each
side elects its own new coordinator and they may decide differently. The check shows
that; whether a scheme promises it is the report's business (``sim.report``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from replikv.sim.simulation import Simulation


def decisions_by_transaction(sim: Simulation) -> dict[str, dict[int, str]] | None:
    """``{transaction: {node: outcome}}`` from every node's durable records; None when
    the scheme does not decide transactions per node."""
    fold = sim.spec.decisions
    if fold is None:
        return None
    found: dict[str, dict[int, str]] = {}
    for node in sim.all_nodes():
        for txid, outcome in fold(sim.hosts[node].disk.records).items():
            found.setdefault(txid, {})[node] = outcome
    return found


def divergent_decisions(sim: Simulation) -> tuple[int | None, str]:
    """(how many transactions were decided differently, a detail naming them)."""
    found = decisions_by_transaction(sim)
    if found is None:
        return None, "the scheme does not decide transactions per node"
    split = {t: by_node for t, by_node in found.items() if len(set(by_node.values())) > 1}
    if not split:
        return 0, f"every node that decided a transaction decided it the same way ({len(found)} transactions)"
    shown = [_describe(t, split[t]) for t in sorted(split)[:5]]
    more = f" (+{len(split) - 5} more)" if len(split) > 5 else ""
    return len(split), "; ".join(shown) + more


def _describe(txid: str, by_node: dict[int, str]) -> str:
    outcomes: dict[str, list[int]] = {}
    for node, outcome in sorted(by_node.items()):
        outcomes.setdefault(outcome, []).append(node)
    return f"transaction {txid}: " + ", ".join(f"{o} on nodes {n}" for o, n in sorted(outcomes.items()))


def scheme_metrics(sim: Simulation) -> dict[str, Any]:
    """Figures a replica offers through an optional ``metrics()`` (2PC/3PC: the longest
    lock hold, transactions in doubt): the max over the nodes up at the end."""
    merged: dict[str, Any] = {}
    for node in sim.all_nodes():
        host = sim.hosts[node]
        metrics = getattr(host.replica, "metrics", None) if host.up else None
        if metrics is None:
            continue
        for name, value in metrics().items():
            merged[name] = max(merged.get(name, value), value)
    return merged
