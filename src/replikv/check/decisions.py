"""Divergent decisions: nodes that decided the same transaction differently (2PC/3PC).

What may live here: comparing what each node says it decided, ``{node: {transaction:
outcome}}`` (a scheme's ``ProtocolSpec.decisions`` folded over each node's durable
records, by the simulator or by ``replikv test`` after the cluster stopped). A node with
no record of a transaction does not count as deciding it (presumed abort writes
nothing). Skeen's 3PC termination protocol decides differently on the two sides of a
partition; this is where that shows.
"""

from __future__ import annotations

from collections.abc import Mapping


def divergent_decisions(by_node: Mapping[int, Mapping[str, str]]) -> tuple[int, str]:
    """(how many transactions were decided differently, a detail naming them)."""
    found: dict[str, dict[int, str]] = {}
    for node, decided in sorted(by_node.items()):
        for txid, outcome in decided.items():
            found.setdefault(txid, {})[node] = outcome
    split = {t: nodes for t, nodes in found.items() if len(set(nodes.values())) > 1}
    if not split:
        return 0, f"every node that decided a transaction decided it the same way ({len(found)} transactions)"
    shown = [_describe(t, split[t]) for t in sorted(split)[:5]]
    more = f" (+{len(split) - 5} more)" if len(split) > 5 else ""
    return len(split), "; ".join(shown) + more


def _describe(txid: str, by_node: Mapping[int, str]) -> str:
    outcomes: dict[str, list[int]] = {}
    for node, outcome in sorted(by_node.items()):
        outcomes.setdefault(outcome, []).append(node)
    return f"transaction {txid}: " + ", ".join(f"{o} on nodes {n}" for o, n in sorted(outcomes.items()))
