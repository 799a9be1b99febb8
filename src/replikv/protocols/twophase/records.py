"""What a two-phase / three-phase commit node persists, and the pure fold that rebuilds it.

Gray & Lamport 2006 §2 and Bernstein et al. §7.3 (the DT log): a participant forces
PREPARED (with the write set and the coordinator, who is ``txid[0]``) before it votes
YES; the coordinator forces its COMMIT decision before it tells anyone; a participant
forces COMMITTED before it acknowledges. Presumed abort (Mohan, Lindsay, Obermarck 1986):
nothing forces an abort, and a coordinator with no record of a transaction answers
"aborted". Skeen 1981: a 3PC node forces PRECOMMITTED before it acknowledges a PRECOMMIT.

- ``Boot``: the coordinator epoch of this incarnation (transaction ids never repeat).
- ``Prepared``: voted YES for ``txid`` on ``request``.
- ``Decided``: the node's state for ``txid`` became ``precommitted``, ``committed`` or
  ``aborted``; ``request`` is carried when the node has no ``Prepared`` for it (a
  coordinator's own transaction: its vote needs no record, presumed abort covers it).
- ``Forgotten``: the coordinator holds every participant's ack for these transactions.
- ``Snapshot``: the state machine plus what is still open; opens a ``replace=True``
  restatement.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field

import msgspec

from replikv.core.messages import Record
from replikv.core.requests import Request
from replikv.protocols.twophase.constants import ABORTED, COMMITTED, PRECOMMITTED, UNCERTAIN, Txid


class Boot(Record, frozen=True, tag="tpc.Boot"):
    epoch: int
    rejoining: bool = False
    """This incarnation lost durable state and has not caught up from a peer yet."""


class Prepared(Record, frozen=True, tag="tpc.Prepared"):
    txid: tuple[int, int, int]
    request: Request


class Decided(Record, frozen=True, tag="tpc.Decided"):
    txid: tuple[int, int, int]
    state: str
    request: Request | None = None


class Forgotten(Record, frozen=True, tag="tpc.Forgotten"):
    txids: tuple[tuple[int, int, int], ...]


class OpenTxn(msgspec.Struct, frozen=True):
    txid: tuple[int, int, int]
    request: Request
    state: str


class Snapshot(Record, frozen=True, tag="tpc.Snapshot"):
    epoch: int
    data: bytes
    open: tuple[OpenTxn, ...] = ()
    coordinating: tuple[tuple[int, int, int], ...] = ()
    finished: tuple[tuple[tuple[int, int, int], str], ...] = ()


RECORDS: tuple[type[Record], ...] = (Boot, Prepared, Decided, Forgotten, Snapshot)


@dataclass
class Recovered:
    """The fold of a node's records. ``commits``: the requests to apply, in record order
    (the order this node applied them), after ``snapshot``."""

    epoch: int = 0
    rejoining: bool = False
    snapshot: bytes | None = None
    open: dict[Txid, tuple[Request, str]] = field(default_factory=dict)
    coordinating: set[Txid] = field(default_factory=set)
    finished: OrderedDict[Txid, str] = field(default_factory=OrderedDict)
    commits: list[Request] = field(default_factory=list)


def fold(records: Sequence[Record], node: int) -> Recovered:
    state = Recovered()
    for record in records:
        match record:
            case Boot(epoch=epoch, rejoining=rejoining):
                state.epoch = max(state.epoch, epoch)
                state.rejoining = rejoining
            case Prepared(txid=txid, request=request):
                txid = tuple(txid)
                if txid not in state.finished:
                    state.open[txid] = (request, UNCERTAIN)
            case Decided(txid=txid, state=decided, request=request):
                _decide(state, tuple(txid), decided, request, node)
            case Forgotten(txids=txids):
                for txid in txids:
                    state.coordinating.discard(tuple(txid))
            case Snapshot():
                state = Recovered(epoch=max(state.epoch, record.epoch), rejoining=state.rejoining,
                                  snapshot=record.data)
                state.open = {tuple(o.txid): (o.request, o.state) for o in record.open}
                state.coordinating = {tuple(t) for t in record.coordinating}
                state.finished = OrderedDict((tuple(t), s) for t, s in record.finished)
            case _:
                raise ValueError(f"not a 2pc/3pc record: {type(record).__name__}")
    return state


def _decide(state: Recovered, txid: Txid, decided: str, request: Request | None, node: int) -> None:
    if txid in state.finished:
        return  # a decision never changes
    known = state.open.get(txid)
    request = request if request is not None else (known[0] if known else None)
    if decided == PRECOMMITTED:
        if request is not None:
            state.open[txid] = (request, PRECOMMITTED)
        return
    state.open.pop(txid, None)
    state.finished[txid] = decided
    if decided == COMMITTED and request is not None:
        state.commits.append(request)
        if txid[0] == node:
            state.coordinating.add(txid)


def decisions(records: Sequence[Record]) -> dict[str, str]:
    """``{transaction id: "committed" | "aborted"}`` as this node's durable records say
    (``ProtocolSpec.decisions``: the simulator's ``divergent`` check compares nodes)."""
    found: dict[str, str] = {}
    for record in records:
        match record:
            case Decided(txid=txid, state=state) if state in (COMMITTED, ABORTED):
                found.setdefault(_name(txid), state)
            case Snapshot(finished=finished):
                for txid, state in finished:
                    found.setdefault(_name(txid), state)
    return found


def _name(txid: Sequence[int]) -> str:
    return "/".join(str(part) for part in txid)
