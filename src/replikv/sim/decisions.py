"""The ``no_divergent_decisions`` check in the simulator: did two nodes decide the same
transaction differently? (2PC/3PC, issue 11.)

What may live here: folding every node's durable records through the scheme's
``ProtocolSpec.decisions`` (the records, not the replicas' memory, so a node that is down
at the end still counts, and what is compared is what each node would act on after a
restart) and handing them to ``check.decisions``; and the scheme figures a replica
offers through ``metrics()``. Whether a scheme promises agreement is the report's
business (``sim.report``): 3PC's termination protocol is not partition tolerant.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from replikv.check.decisions import divergent_decisions as compare

if TYPE_CHECKING:
    from replikv.sim.simulation import Simulation


def divergent_decisions(sim: Simulation) -> tuple[int | None, str]:
    """(how many transactions were decided differently, a detail naming them); None when
    the scheme does not decide transactions per node."""
    fold = sim.spec.decisions
    if fold is None:
        return None, "the scheme does not decide transactions per node"
    return compare({node: fold(sim.hosts[node].disk.records) for node in sim.all_nodes()})


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
