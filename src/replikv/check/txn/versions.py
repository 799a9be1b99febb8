"""Each key's version order, and the anomalies that need no dependency graph.

What may live here: who appended each element, what each committed transaction read,
the version order of each key, and the anomalies visible from the reads alone. The
graph is built in ``graph``.

In a list-append history every element is appended once per key, so a read names the
whole sequence of versions it saw: reading ``[1, 2, 3]`` means the key went through
``[1]``, ``[1, 2]``, ``[1, 2, 3]``. Hence the version order of a key is its **longest
read**, and every other read must be a prefix of it (Kingsbury & Alvaro, "Elle", VLDB
2020, §4: "traceability" and "recoverability"). Found here:

* ``incompatible-order``: two reads of a key that are not prefixes of one another;
* ``duplicate-elements``: a read that holds an element twice (every append is unique);
* ``unwritten-element``: a read holds an element no transaction appended;
* ``G1a`` (aborted read, Adya 1999 §4.1.2): a committed transaction read an element
  appended by a transaction that failed (definitely aborted);
* ``G1b`` (intermediate read, Adya §4.1.2): a committed transaction's read ends at an
  element after which the appending transaction appended more to that key (it saw a
  state the writer never committed);
* ``internal`` (Elle §4.1): a transaction's read does not agree with its own earlier
  read and appends of the same key.
"""

from __future__ import annotations

from collections.abc import Sequence

from replikv.check.history import HistoryError
from replikv.check.txn.ops import APPEND, READ, Element
from replikv.check.txn.words import Anomaly, Txn, describe, show_list

EXAMPLES = 3
"""Anomalies of one kind described in full (the rest are counted)."""


class Read:
    """A committed transaction's read of ``key``: the list it saw (``elements``) and
    ``external``, the same list without the transaction's own appends at its end (what
    the others had written)."""

    __slots__ = ("txn", "key", "elements", "external")

    def __init__(self, txn: int, key: str, elements: tuple[Element, ...],
                 external: tuple[Element, ...]) -> None:
        self.txn, self.key, self.elements, self.external = txn, key, elements, external


class Versions:
    """What the reads say about each key (see the module docstring)."""

    def __init__(self) -> None:
        self.appender: dict[str, dict[Element, int]] = {}   # key -> element -> txn id
        self.last_append: dict[tuple[int, str], Element] = {}  # (txn, key) -> its last element
        self.reads: list[Read] = []
        self.order: dict[str, tuple[Element, ...]] = {}         # keys whose order is consistent
        self.position: dict[str, dict[Element, int]] = {}   # key -> element -> index in order
        self.unseen: dict[str, list[tuple[Element, int]]] = {}  # (element, txn) never read
        self.anomalies: list[Anomaly] = []
        self.counts: dict[str, int] = {}

    def report(self, anomaly: Anomaly) -> None:
        self.counts[anomaly.name] = self.counts.get(anomaly.name, 0) + 1
        if self.counts[anomaly.name] <= EXAMPLES:
            self.anomalies.append(anomaly)


def analyse(txns: Sequence[Txn]) -> Versions:
    """Version orders and read anomalies of the transactions (``txns[i].id == i``)."""
    found = Versions()
    _appends(txns, found)
    for txn in txns:
        if txn.committed:
            _reads_of(txn, found)
    keys = sorted(set(found.appender) | {r.key for r in found.reads})
    by_key: dict[str, list[Read]] = {k: [] for k in keys}
    for read in found.reads:
        by_key[read.key].append(read)
    for key in keys:
        _order_of(key, by_key[key], txns, found)
    _aborted_and_intermediate(txns, found)
    return found


def _appends(txns: Sequence[Txn], found: Versions) -> None:
    for txn in txns:
        for kind, key, element in txn.mops:
            if kind != APPEND:
                continue
            owners = found.appender.setdefault(key, {})
            if element in owners:
                other = txns[owners[element]]
                raise HistoryError(
                    f"element {element} is appended to key {key!r} twice ({other.name} and "
                    f"{txn.name}): a list-append history needs every element unique per key")
            owners[element] = txn.id
            found.last_append[(txn.id, key)] = element


def _reads_of(txn: Txn, found: Versions) -> None:
    """Record each read, and check it against the transaction's own earlier micro-ops
    on the key (``internal``)."""
    known: dict[str, tuple[Element, ...]] = {}   # key -> the list as this txn must see it
    own: dict[str, list[Element]] = {}           # key -> this txn's appends so far
    for kind, key, arg in txn.mops:
        mine = own.setdefault(key, [])
        if kind == APPEND:
            mine.append(arg)
            if key in known:
                known[key] = known[key] + (arg,)
            continue
        assert kind == READ and arg is not None
        expected = known.get(key)
        if (expected is not None and arg != expected) or (
                expected is None and mine and arg[len(arg) - len(mine):] != tuple(mine)):
            want = (show_list(expected) if expected is not None
                    else f"a list ending with its own appends {show_list(tuple(mine))}")
            found.report(Anomaly(
                name="internal", txns=(txn.id,), keys=(key,),
                lines=(f"{txn.name} read {key} = {show_list(arg)} after its own micro-ops "
                       f"on {key}, which leave {want}:", f"  {describe(txn)}")))
        known[key] = arg
        external = arg
        while external and external[-1] in mine:
            external = external[:-1]
        found.reads.append(Read(txn.id, key, arg, external))


def _order_of(key: str, reads: list[Read], txns: Sequence[Txn], found: Versions) -> None:
    owners = found.appender.get(key, {})
    consistent = True
    for read in reads:
        reader = txns[read.txn]
        if len(set(read.elements)) != len(read.elements):
            seen: set[Element] = set()
            twice = sorted({e for e in read.elements if e in seen or seen.add(e)},  # type: ignore[func-returns-value]
                           key=str)
            consistent = False
            found.report(Anomaly(
                name="duplicate-elements", txns=(read.txn,), keys=(key,),
                lines=(f"{reader.name} read {key} = {show_list(read.elements, 12)}, which holds "
                       f"{', '.join(map(str, twice))} more than once (each element is appended once):",
                       f"  {describe(reader)}")))
        if not owners.keys() >= set(read.elements):
            consistent = False  # an order with an element nobody appended: none
            element = next(e for e in read.elements if e not in owners)
            found.report(Anomaly(
                name="unwritten-element", txns=(read.txn,), keys=(key,),
                lines=(f"{reader.name} read {element} in {key}, which no transaction "
                       "appended:", f"  {describe(reader)}")))
    longest: Read | None = max(reads, key=lambda r: len(r.elements), default=None)
    if longest is not None:
        for read in reads:
            if longest.elements[:len(read.elements)] != read.elements:
                consistent = False
                found.report(_incompatible(key, read, longest, txns))
                break
    if not consistent:
        return
    order = longest.elements if longest is not None else ()
    found.order[key] = order
    found.position[key] = {e: i for i, e in enumerate(order)}
    found.unseen[key] = sorted(((e, t) for e, t in owners.items()
                                if e not in found.position[key] and not txns[t].failed),
                               key=lambda item: item[1])


def _incompatible(key: str, read: Read, longest: Read, txns: Sequence[Txn]) -> Anomaly:
    common = 0
    while (common < len(read.elements) and common < len(longest.elements)
           and read.elements[common] == longest.elements[common]):
        common += 1
    a, b = txns[read.txn], txns[longest.txn]
    return Anomaly(
        name="incompatible-order", txns=(a.id, b.id), keys=(key,),
        lines=(f"two reads of {key} disagree on its order (each read is the list of "
               f"versions the key went through, so one must be a prefix of the other); they "
               f"part after {common} element(s):",
               f"  {a.name} read {key} = {show_list(read.elements[:common + 3], 12)}"
               f"{' ...' if len(read.elements) > common + 3 else ''}",
               f"  {b.name} read {key} = {show_list(longest.elements[:common + 3], 12)}"
               f"{' ...' if len(longest.elements) > common + 3 else ''}",
               f"  {describe(a)}", f"  {describe(b)}"))


def _aborted_and_intermediate(txns: Sequence[Txn], found: Versions) -> None:
    aborted: dict[str, set[Element]] = {}  # key -> elements appended by failed transactions
    for key, owners in found.appender.items():
        aborted[key] = {e for e, t in owners.items() if txns[t].failed}
    for read in found.reads:
        reader = txns[read.txn]
        owners = found.appender.get(read.key, {})
        failed = aborted.get(read.key)
        if failed and not failed.isdisjoint(read.elements):
            element = next(e for e in read.elements if e in failed)
            writer = txns[owners[element]]
            found.report(Anomaly(
                name="G1a", txns=(writer.id, reader.id), keys=(read.key,),
                lines=(f"aborted read: {reader.name} read {read.key} = "
                       f"{show_list(read.elements)}, with {element}, appended by "
                       f"{writer.name}, which failed (definitely did not commit):",
                       f"  {describe(writer)}", f"  {describe(reader)}")))
        if not read.external:
            continue
        element = read.external[-1]
        writer_id = owners.get(element)
        if writer_id is None or writer_id == reader.id or txns[writer_id].failed:
            continue
        final = found.last_append[(writer_id, read.key)]
        if final != element:
            writer = txns[writer_id]
            found.report(Anomaly(
                name="G1b", txns=(writer.id, reader.id), keys=(read.key,),
                lines=(f"intermediate read: {reader.name} read {read.key} = "
                       f"{show_list(read.external)}, ending at {element}, but {writer.name} "
                       f"appended {final} to {read.key} after {element}: {reader.name} saw "
                       f"a state {writer.name} never committed:",
                       f"  {describe(writer)}", f"  {describe(reader)}")))
