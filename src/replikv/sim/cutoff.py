"""Nodes cut off by slowness or loss alone: the partitions a timeout cannot see.

What may live here: the pure computation, from the network's long link silences
(``sim.network``: a link between two up nodes on which a message, and nothing sent after
it, went unheard for longer than the scheme's ``ProtocolSpec.synchrony_bound``), of the
windows in which a node was cut off from *every* peer: for each peer, at every instant
of the window one such silence was under way in one direction or the other (the node's
messages to it, or its messages to the node, late or lost). No request and reply
between that node and anyone could be counted on within the bound, so to a failure
detector built on that timeout the node and the rest were on two sides of a partition.
Skeen's 3PC termination protocol assumes this never happens to a live node (fail-stop
nodes, a synchronous network: Skeen 1981; Bernstein et al. §7.5); where it did, the
report judges the run as partitioned (``sim.report.cut_off``).

Conservative: only silences longer than the bound are kept, and a silence that a crash
or restart of either end interrupted is not one (a crash is in the fault model), so a
node with a peer down or restarted in the window does not count as cut off from it.
"""

from __future__ import annotations

from collections.abc import Iterable

Silence = tuple[float, float, int, int]
"""(from ms, to ms, src, dst)."""
Span = tuple[float, float]


def cut_off_windows(silences: Iterable[Silence], bound_ms: float,
                    nodes: Iterable[int]) -> list[tuple[float, float, int]]:
    """Every maximal window longer than ``bound_ms`` in which one of ``nodes`` was cut
    off from every other one: ``(from ms, length ms, node)``, sorted."""
    silences = list(silences)
    nodes = sorted(nodes)
    found: list[tuple[float, float, int]] = []
    for node in nodes:
        common: list[Span] | None = None
        for peer in nodes:
            if peer == node:
                continue
            spans = _merged([(a, b) for a, b, src, dst in silences if {src, dst} == {node, peer}])
            common = spans if common is None else _intersection(common, spans)
            if not common:
                break
        found += [(a, round(b - a, 3), node) for a, b in common or [] if b - a > bound_ms]
    return sorted(found)


def _merged(spans: list[Span]) -> list[Span]:
    out: list[Span] = []
    for a, b in sorted(spans):
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def _intersection(left: list[Span], right: list[Span]) -> list[Span]:
    """Both lists sorted and disjoint."""
    out: list[Span] = []
    i = j = 0
    while i < len(left) and j < len(right):
        a, b = max(left[i][0], right[j][0]), min(left[i][1], right[j][1])
        if a < b:
            out.append((a, b))
        if left[i][1] < right[j][1]:
            i += 1
        else:
            j += 1
    return out
