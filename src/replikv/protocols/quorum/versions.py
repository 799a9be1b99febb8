"""Versions of one key: dots, causal contexts and siblings (dotted version vectors).

What may live here: pure values and pure functions on them. No replica state, no I/O.

Every write gets a **dot** ``(node, counter)``: the coordinating node and the next
counter of that node *for this key* (Preguiça et al., "Dotted Version Vectors", 2010,
§4: one dot per update, separate from the history it overwrites). A **causal context**
is a set of dots, kept compact as a version vector (every dot up to ``vv[node]``) plus a
*cloud* of dots beyond it (Almeida, Shoker, Baquero, "Delta State Replicated Data
Types", 2018, §4.2). A key's state is its context (every dot this replica has seen for
the key) and its **siblings**: the versions no seen write overwrote.

A write with read context ``C`` and new dot ``d`` is the state ``(C ∪ {d}, [new])``: it
overwrites exactly the versions whose dots are in ``C``. Merging two states keeps a
sibling unless the other side has seen its dot and dropped it, so concurrent writes
(neither saw the other) both survive as siblings (Dynamo, SOSP 2007, §4.4), and merge is
commutative, associative and idempotent: replicas that exchanged the same states in any
order, with duplicates, hold the same state.

``resolve`` turns siblings into the one value a plain ``GET`` answers: the sibling with
the highest ``(timestamp, dot)`` (a deterministic pick, so every replica answers the
same); a tombstone there means the key is absent.
"""

from __future__ import annotations

import msgspec

Dot = tuple[int, int]
"""``(node, counter)``."""


class Context(msgspec.Struct, frozen=True, array_like=True):
    """A set of dots: ``vv`` (node -> every counter up to it) plus ``cloud`` (dots beyond
    it), both sorted, normalised so no cloud dot is covered or adjacent to ``vv``."""

    vv: tuple[tuple[int, int], ...] = ()
    cloud: tuple[Dot, ...] = ()

    def covers(self, dot: Dot) -> bool:
        node, counter = dot
        for n, top in self.vv:
            if n == node:
                if counter <= top:
                    return True
                break
        return dot in self.cloud

    def top(self, node: int) -> int:
        """The highest counter of ``node`` in this context (0 when none)."""
        best = 0
        for n, top in self.vv:
            if n == node:
                best = top
        for n, counter in self.cloud:
            if n == node:
                best = max(best, counter)
        return best

    def dots(self) -> int:
        """How many dots the context holds (for sizes in reports)."""
        return sum(top for _, top in self.vv) + len(self.cloud)


EMPTY_CONTEXT = Context()


def context_of(vv: dict[int, int], cloud: set[Dot]) -> Context:
    """The normalised ``Context`` of a vector and a cloud."""
    vv = dict(vv)
    rest = set()
    for node, counter in sorted(cloud):  # ascending per node: one pass absorbs every run
        if counter <= vv.get(node, 0):
            continue
        if counter == vv.get(node, 0) + 1:
            vv[node] = counter
        else:
            rest.add((node, counter))
    return Context(tuple(sorted((n, c) for n, c in vv.items() if c > 0)), tuple(sorted(rest)))


def join(a: Context, b: Context) -> Context:
    """The union of two contexts."""
    if a == b:
        return a
    vv = dict(a.vv)
    for node, top in b.vv:
        vv[node] = max(vv.get(node, 0), top)
    return context_of(vv, set(a.cloud) | set(b.cloud))


def add(context: Context, dot: Dot) -> Context:
    return join(context, Context(cloud=(dot,)))


REGISTER, COUNTER, SET_ELEMENT = "r", "c", "s"
"""Sibling kinds: a register value, one node's PN-counter entry, an OR-set element."""


class Sibling(msgspec.Struct, frozen=True, array_like=True):
    """One version of a key: the write's dot, its value (``None``: a delete's tombstone),
    the coordinator's clock when it wrote (to resolve siblings), and the client request
    that wrote it (``client_id``, ``seq``), so a replica's state machine can say it holds
    that request. ``kind`` says what the value is (``crdt.py``): a register value, a
    counter entry ``"P:N"`` of node ``dot[0]``, or a set element. ``context``: for a
    register value, the dots its write overwrote (its causal past: DVV §4 keeps one per
    version), so a session can tell the versions that follow one it wrote or read from
    concurrent ones (``sessions.py``); empty for counter entries and set elements."""

    dot: Dot
    value: str | None
    timestamp: float
    client_id: int
    seq: int
    kind: str = REGISTER
    context: Context = EMPTY_CONTEXT


class KeyState(msgspec.Struct, frozen=True, array_like=True):
    """What a replica knows of one key: every dot it has seen, and the live siblings."""

    context: Context = EMPTY_CONTEXT
    siblings: tuple[Sibling, ...] = ()


EMPTY = KeyState()


def merge(a: KeyState, b: KeyState) -> KeyState:
    """The join of two states (DVV sync, Preguiça et al. 2010 §4; causal dot store join,
    Almeida et al. 2018 §4.2): a sibling survives unless the other side saw its dot and
    no longer holds it."""
    if a == b:
        return a
    b_dots = {s.dot for s in b.siblings}
    a_dots = {s.dot for s in a.siblings}
    kept = [s for s in a.siblings if s.dot in b_dots or not b.context.covers(s.dot)]
    kept += [s for s in b.siblings if s.dot not in a_dots and not a.context.covers(s.dot)]
    return KeyState(join(a.context, b.context), tuple(sorted(kept, key=lambda s: s.dot)))


def write(context: Context, *siblings: Sibling, dots: tuple[Dot, ...] = ()) -> KeyState:
    """The state of a write that read ``context``: it overwrites exactly those dots and
    adds its own (the siblings' dots, and ``dots`` that carry no sibling: a removal)."""
    for dot in (*dots, *(s.dot for s in siblings)):
        context = add(context, dot)
    return KeyState(context, tuple(sorted(siblings, key=lambda s: s.dot)))


def winner(state: KeyState, kind: str | None = None) -> Sibling | None:
    """The sibling with the highest ``(timestamp, dot)`` (of ``kind``, if given)."""
    found = [s for s in state.siblings if kind is None or s.kind == kind]
    return max(found, key=lambda s: (s.timestamp, s.dot)) if found else None


def kind_of(state: KeyState) -> str | None:
    """The key's type: the newest sibling's kind (a concurrent change of type resolves
    the same way on every node); None when the key has no sibling."""
    top = winner(state)
    return top.kind if top is not None else None


def resolve(state: KeyState) -> str | None:
    """The register value of the key (None: absent, deleted, or not a register)."""
    top = winner(state)
    return top.value if top is not None and top.kind == REGISTER else None


def last_writer_wins(state: KeyState) -> KeyState:
    """The ``lww`` option: keep only the newest register value; concurrent register
    siblings are dropped (their writes are lost even though they were acknowledged: the
    data loss the chapter warns of, counted in ``Store.discarded``). Counter entries and
    set elements are CRDTs and are never dropped."""
    registers = [s for s in state.siblings if s.kind == REGISTER]
    if len(registers) < 2:
        return state
    top = winner(state, REGISTER)
    kept = tuple(s for s in state.siblings if s.kind != REGISTER or s is top)
    return KeyState(state.context, kept)


def dominated(older: KeyState, newer: KeyState) -> bool:
    """``newer`` already holds everything ``older`` says (merging adds nothing)."""
    return merge(older, newer) == newer
