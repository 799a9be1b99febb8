"""Consistent hashing: a key's preference list (Dynamo, SOSP 2007, §4.2 and §4.3).

Each node owns ``virtual_nodes`` points on a ring of 64-bit hashes; a key's preference
list is the first ``n`` distinct nodes met walking clockwise from the key's hash. With
``n`` equal to the cluster size every node holds every key, in a per-key order.

What may live here: the pure placement function. Hashes are blake2b, stable across
processes (Python's ``hash`` of a str is not).
"""

from __future__ import annotations

import bisect
import hashlib
from functools import lru_cache


def point(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode("latin-1", "replace"), digest_size=8).digest(), "big")


class Ring:
    def __init__(self, members: tuple[int, ...], virtual_nodes: int, replicas: int) -> None:
        self.members = tuple(sorted(members))
        self.n = len(self.members) if replicas <= 0 else min(replicas, len(self.members))
        points = sorted((point(f"node{node}#{i}"), node) for node in self.members for i in range(virtual_nodes))
        self._hashes = [h for h, _ in points]
        self._owners = [node for _, node in points]
        self.preference = lru_cache(maxsize=4096)(self._preference)
        self.extended = lru_cache(maxsize=4096)(self._extended)

    def _extended(self, key: str) -> tuple[int, ...]:
        """Every node in ring order from ``key``: the preference list, then the nodes a
        sloppy quorum falls back to (Dynamo §4.6)."""
        owners = self._owners
        size, everyone = len(owners), len(self.members)
        start = bisect.bisect(self._hashes, point(key))
        found: list[int] = []
        for i in range(size):
            node = owners[(start + i) % size]
            if node not in found:
                found.append(node)
                if len(found) == everyone:  # the rest of the ring adds nobody
                    break
        return tuple(found)

    def _preference(self, key: str) -> tuple[int, ...]:
        """The ``n`` nodes that hold ``key``, coordinator first."""
        return self.extended(key)[: self.n]
