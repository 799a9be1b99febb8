"""Sloppy quorums and hinted handoff (Dynamo, SOSP 2007, §4.6), the ``sloppy_quorum``
option.

When nodes of a key's preference list do not answer within ``hint_after_ms``, the
coordinator asks the next nodes of the ring instead (the key's extended preference
list): a read counts their answers, a write sends them its version with a *hint* naming
the node it was meant for. A node holding a hinted version keeps it apart from its own
keys (it is not a replica of that key), durably, acknowledges it like any ``Put``, and
every ``anti_entropy_ms`` hands it to the node it was meant for (``HandOff``); once that
node says it holds it durably (``HandOffAck``) the hint is dropped.

A write acknowledged by fallback nodes may be missed by a read of the real replicas
until the handoff: with ``sloppy_quorum`` neither fresh reads nor no lost acknowledged
write are promised (availability first, the point of the option).

What may live here: the hints a node holds and their records; the coordinator and the
replica call in.
"""

from __future__ import annotations

from replikv.protocols.quorum import versions as v


class Hints:
    def __init__(self) -> None:
        self.states: dict[tuple[int, str], v.KeyState] = {}
        """(intended node, key) -> the versions held for it."""

    def add(self, intended: int, key: str, state: v.KeyState) -> v.KeyState:
        merged = v.merge(self.states.get((intended, key), v.EMPTY), state)
        self.states[(intended, key)] = merged
        return merged

    def done(self, intended: int, key: str, state: v.KeyState) -> bool:
        """The intended node holds ``state``: drop the hint if nothing newer came since."""
        if self.states.get((intended, key)) == state:
            del self.states[(intended, key)]
            return True
        return False

    def for_key(self, key: str) -> v.KeyState:
        """What this node holds of ``key`` for others (a fallback's answer to a read)."""
        found = v.EMPTY
        for (_, hinted_key), state in sorted(self.states.items()):
            if hinted_key == key:
                found = v.merge(found, state)
        return found
