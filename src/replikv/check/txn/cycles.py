"""Cycles of the dependency graph, named by the edges they need (Adya 1999, §4; Elle §4.3).

What may live here: strongly connected components (Tarjan 1972), the shortest cycle
through a given kind of edge (breadth-first search inside a component), and naming a
cycle. Words for the cycle are added in ``check``.

Names, by the edges a cycle needs:

* ``G0`` (write cycle): ww edges only;
* ``G1c`` (circular information flow): ww and wr edges, at least one wr;
* ``G-single`` (read skew, lost update): exactly one rw edge, the rest ww/wr;
* ``G2`` (anti-dependency cycle, write skew): two or more rw edges;
* ``-realtime`` after any of these (``G-single-realtime`` ...): the cycle needs a
  real-time edge: serializable, but not *strictly* (an order exists, but not one that
  respects when transactions ran).

Search, per strongly connected component of the ww/wr/rw graph (a cycle lies inside
one): the shortest ww cycle (G0); the shortest cycle through a wr edge using ww/wr
edges (G1c); the shortest through an rw edge using ww/wr edges (G-single), and when
there is none, using any of ww/wr/rw (G2). Then, in each component of the graph with
real-time edges that holds no cycle found so far, the shortest cycle through a
real-time edge. Each breadth-first search starts from up to ``MAX_STARTS`` edges of
the kind (in a fixed order, so the result is deterministic) and keeps the shortest:
on a large component the cycle shown is the smallest *found*.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

from replikv.check.txn.words import PREFERENCE, RT, RW, WR, WW

MAX_STARTS = 16
Step = tuple[int, int, int]
"""An edge of a cycle: ``(from, kind, to)``."""


def components(adj: list[dict[int, int]], mask: int,
               within: Iterable[int] | None = None) -> list[list[int]]:
    """Tarjan's strongly connected components of the edges whose kinds meet ``mask``
    (restricted to the nodes ``within``), those of two nodes or more, each sorted.
    Iterative: histories have tens of thousands of transactions."""
    nodes = sorted(within) if within is not None else range(len(adj))
    allowed = set(nodes) if within is not None else None
    index: dict[int, int] = {}
    low: dict[int, int] = {}
    on_stack: set[int] = set()
    stack: list[int] = []
    found: list[list[int]] = []
    counter = 0
    for root in nodes:
        if root in index:
            continue
        work = [(root, iter(sorted(adj[root].items())))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, edges = work[-1]
            advanced = False
            for target, kinds in edges:
                if not kinds & mask or (allowed is not None and target not in allowed):
                    continue
                if target not in index:
                    index[target] = low[target] = counter
                    counter += 1
                    stack.append(target)
                    on_stack.add(target)
                    work.append((target, iter(sorted(adj[target].items()))))
                    advanced = True
                    break
                if target in on_stack:
                    low[node] = min(low[node], index[target])
            if advanced:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def _kind(kinds: int, mask: int) -> int:
    for kind in PREFERENCE:
        if kinds & mask & kind:
            return kind
    raise AssertionError("no edge kind in the mask")


def _path(adj: list[dict[int, int]], start: int, targets: set[int], mask: int,
          inside: set[int]) -> list[int] | None:
    """Nodes of a shortest path from ``start`` to the nearest of ``targets`` over edges
    meeting ``mask``, inside ``inside`` (breadth-first)."""
    parent = {start: start}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        if node in targets and node != start:
            path = [node]
            while path[-1] != start:
                path.append(parent[path[-1]])
            return path[::-1]
        for target in sorted(adj[node]):
            if target not in parent and target in inside and adj[node][target] & mask:
                parent[target] = node
                queue.append(target)
    return None


def shortest_through(adj: list[dict[int, int]], component: list[int], first: int,
                     mask: int) -> list[Step] | None:
    """The shortest cycle found that starts with an edge of kind ``first`` and goes on
    over edges meeting ``mask``, inside ``component``. (The first edge is named by its
    weakest kind in ``first | mask``.)"""
    inside = set(component)
    starts: dict[int, set[int]] = {}  # edge target -> sources (one search per target)
    for a in component:
        for b, kinds in adj[a].items():
            if kinds & first and b in inside:
                starts.setdefault(b, set()).add(a)
    best: list[Step] | None = None
    for b in sorted(starts)[:MAX_STARTS]:
        sources = starts[b]
        if b in sources:
            continue
        path = _path(adj, b, sources, mask, inside)
        if path is None:
            continue
        a = path[-1]
        steps = [(a, _kind(adj[a][b], first | mask), b)]
        steps += [(x, _kind(adj[x][y], mask), y) for x, y in zip(path, path[1:], strict=False)]
        if best is None or len(steps) < len(best):
            best = steps
    return best


def name(cycle: list[Step]) -> str:
    """The anomaly a cycle proves (module docstring)."""
    kinds = [kind for _, kind, _ in cycle]
    rw = kinds.count(RW)
    base = ("G0" if all(k in (WW, RT) for k in kinds) and WW in kinds and not rw else
            "G1c" if not rw and WR in kinds else
            "G-single" if rw == 1 else
            "G2" if rw > 1 else "realtime-only")
    return f"{base}-realtime" if RT in kinds else base


def find(adj: list[dict[int, int]]) -> list[list[Step]]:
    """The cycles to report, at most one per name and component (module docstring)."""
    cycles: list[list[Step]] = []
    covered: set[int] = set()
    for component in components(adj, WW | WR | RW):
        found: list[list[Step]] = []
        for sub in components(adj, WW, component):
            cycle = shortest_through(adj, sub, WW, WW)
            if cycle:
                found.append(cycle)
        for sub in components(adj, WW | WR, component):
            cycle = shortest_through(adj, sub, WR, WW | WR)
            if cycle:
                found.append(cycle)
        cycle = shortest_through(adj, component, RW, WW | WR)
        if cycle is None:
            cycle = shortest_through(adj, component, RW, WW | WR | RW)
        if cycle:
            found.append(cycle)
        named: dict[str, list[Step]] = {}
        for cycle in found:  # a start edge that is also a weaker kind names a cycle twice
            named.setdefault(name(cycle), cycle)
            covered.update(a for a, _, _ in cycle)
        cycles += named.values()
    for component in components(adj, WW | WR | RW | RT):
        if covered.intersection(component):
            continue
        cycle = shortest_through(adj, component, RT, WW | WR | RW | RT)
        if cycle:
            cycles.append(cycle)
    return cycles
