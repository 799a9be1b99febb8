"""What a Paxos node persists, and the pure fold that rebuilds it.

An acceptor's durable state (Paxos Made Simple §2.2: "an acceptor must remember this
information even if it fails and then restarts"): the highest ballot promised and, per
slot, the highest-ballot proposal accepted. A proposer's ballots come from the promised
ballot (it promises its own ballot, durably, before its Prepare leaves), so a restarted
proposer never reuses one (Paxos Made Live §4).

- ``PromiseRecord``: the promised ballot, and ``rejoining`` (``rejoin.py``).
- ``AcceptRecord``: proposals accepted (a later one for the same slot replaces it).
- ``ChosenRecord``: values learned as chosen through catch-up (``Learn``).
- ``SnapshotRecord``: the state machine after every slot up to ``last_slot``, and the
  configuration then; it opens a ``Persist(replace=True)`` restatement.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from replikv.core.messages import Record
from replikv.core.requests import Request
from replikv.protocols.paxos.constants import ZERO, Ballot
from replikv.protocols.paxos.messages import Proposal, Value


class PromiseRecord(Record, frozen=True):
    ballot: tuple[int, int]
    rejoining: bool = False


class AcceptRecord(Record, frozen=True):
    proposals: tuple[Proposal, ...]


class ChosenRecord(Record, frozen=True):
    values: tuple[Value, ...]


class SnapshotRecord(Record, frozen=True):
    last_slot: int
    data: bytes
    members: tuple[int, ...] = ()
    """The configuration after ``last_slot`` (``membership.py``); empty: the bootstrap one."""


RECORDS: tuple[type[Record], ...] = (PromiseRecord, AcceptRecord, ChosenRecord, SnapshotRecord)


@dataclass
class Recovered:
    promised: Ballot = ZERO
    rejoining: bool = False
    snapshot: SnapshotRecord | None = None
    accepted: dict[int, tuple[Ballot, Request]] = field(default_factory=dict)
    chosen: dict[int, Request] = field(default_factory=dict)


def fold(records: Sequence[Record]) -> Recovered:
    state = Recovered()
    for record in records:
        match record:
            case PromiseRecord(ballot=ballot, rejoining=rejoining):
                state.promised, state.rejoining = tuple(ballot), rejoining
            case AcceptRecord(proposals=proposals):
                for p in proposals:
                    state.accepted[p.slot] = (tuple(p.ballot), p.request)
            case ChosenRecord(values=values):
                for v in values:
                    state.chosen[v.slot] = v.request
            case SnapshotRecord(last_slot=last):
                state.snapshot = record
                state.accepted = {s: a for s, a in state.accepted.items() if s > last}
                state.chosen = {s: r for s, r in state.chosen.items() if s > last}
            case _:
                raise ValueError(f"not a paxos record: {type(record).__name__}")
    return state
