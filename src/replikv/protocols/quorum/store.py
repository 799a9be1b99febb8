"""One node's replica storage: every key's state, kept in step with its state machine.

What may live here: the key states, the rule that folds an incoming state in (merge, or
last-writer-wins), and the state machine bookkeeping. No messages, no coordination.

The state machine (``KVStateMachine``) holds each key's resolved value (``crdt.stored_value``), so digests
compare replicas and a ``local`` read could be served from it. Each sibling that enters
the store is applied under its own client request ``(client_id, seq)`` (Set of the
resolved value, or Delete), so the state machine says which client writes this node
holds (the simulator's lost-write count reads that); when the session table skips a
request (a duplicate, or older than that client's last), an internal request puts the
resolved value in place instead.
"""

from __future__ import annotations

import hashlib

import msgspec

from replikv.core.commands import Delete, Set
from replikv.core.replica import StateMachine
from replikv.core.requests import Request
from replikv.protocols.quorum import crdt
from replikv.protocols.quorum import versions as v

INTERNAL_CLIENT = -3
"""The client id under which a replica brings its state machine to a resolved value."""

_ENCODER = msgspec.msgpack.Encoder()


class Store:
    def __init__(self, state_machine: StateMachine, resolution: str) -> None:
        self._sm = state_machine
        self._lww = resolution == "lww"
        self.states: dict[str, v.KeyState] = {}
        self._hashes: dict[str, bytes] = {}
        self._internal_seq = 0
        self.changes = 0
        """How many times a key's state changed here (the status's applied index)."""
        self.discarded = 0
        """Siblings dropped by last-writer-wins (each an overwritten concurrent write)."""
        self._clients: dict[int, int] = {}
        """Client id -> the highest request seq of it whose version reached this node."""
        self.changed_keys: set[str] = set()
        """Keys whose state changed since ``AntiEntropy`` last folded them into its trees
        (it empties the set); ``loads`` counts whole-store replacements, after which it
        rebuilds them from every key."""
        self.loads = 0

    def note(self, requests: tuple[tuple[int, int], ...]) -> None:
        """These client requests ran (a coordinator issued a dot for each)."""
        for client_id, seq in requests:
            if seq > self._clients.get(client_id, 0):
                self._clients[client_id] = seq

    def ran(self, client_id: int, seq: int) -> bool:
        """Did this request, or a later one of its client, run? A client sends a request
        only after its previous one ended, so a later one means this copy is stale."""
        return seq > 0 and self._clients.get(client_id, 0) >= seq

    def get(self, key: str) -> v.KeyState:
        return self.states.get(key, v.EMPTY)

    def absorb(self, key: str, incoming: v.KeyState) -> v.KeyState | None:
        """Merge ``incoming`` into the key; the new state, or None when nothing changed."""
        current = self.get(key)
        self.note(tuple((s.client_id, s.seq) for s in incoming.siblings))
        merged = v.merge(current, incoming)
        if self._lww and len(merged.siblings) > 1:
            self.discarded += len(merged.siblings) - 1
            merged = v.last_writer_wins(merged)
        if merged == current:
            return None
        self.states[key] = merged
        self._hashes.pop(key, None)
        self.changed_keys.add(key)
        self.changes += 1
        self._apply(key, current, merged)
        return merged

    def restatement(self) -> tuple[tuple[tuple[str, v.KeyState], ...], tuple[tuple[int, int], ...], bytes, int]:
        """(key states, client -> highest seq run, the state machine's snapshot, the
        internal seq): what ``load`` needs to rebuild this store (``compaction.py``)."""
        return (tuple(sorted(self.states.items())), tuple(sorted(self._clients.items())), self._sm.snapshot(),
                self._internal_seq)

    def load(self, states: tuple[tuple[str, v.KeyState], ...], clients: tuple[tuple[int, int], ...],
             machine: bytes, internal_seq: int, changes: int) -> None:
        """Take a restatement as the whole store: the state machine is restored from its
        snapshot (which already holds every value and applied request), not re-applied."""
        self._sm.restore(machine)
        self.states = dict(states)
        self._hashes = {}
        self.changed_keys.clear()
        self.loads += 1
        self._clients = dict(clients)
        self._internal_seq = internal_seq
        self.changes = changes

    @property
    def clients(self) -> dict[int, int]:
        """Client id -> the highest request seq of it whose version reached this node."""
        return dict(self._clients)

    def key_hash(self, key: str) -> bytes:
        found = self._hashes.get(key)
        if found is None:
            found = hashlib.blake2b(_ENCODER.encode((key, self.states[key])), digest_size=8).digest()
            self._hashes[key] = found
        return found

    def _apply(self, key: str, before: v.KeyState, after: v.KeyState) -> None:
        resolved = crdt.stored_value(after)
        command = Set(key, resolved) if resolved is not None else Delete(key)
        old = {s.dot for s in before.siblings}
        for sibling in after.siblings:
            if sibling.dot not in old and not before.context.covers(sibling.dot):
                self._sm.apply(Request(sibling.client_id, sibling.seq, command))
        if _value(self._sm, key) != resolved:
            self._internal_seq += 1
            self._sm.apply(Request(INTERNAL_CLIENT, self._internal_seq, command))


def _value(sm: StateMachine, key: str) -> str | None:
    get = getattr(sm, "get", None)
    assert get is not None, "the quorum scheme needs a state machine with get(key)"
    return get(key)
