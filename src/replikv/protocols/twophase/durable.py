"""What a 2PC/3PC node's durable records say, to judge the acks it sends (the node
driver's ``DurableView``).

Gray & Lamport 2006 §2: a participant's YES is a promise to commit if told to, so
PREPARED must be on disk before the vote leaves; Skeen 1981: PRECOMMITTED before the
PRECOMMIT ack; COMMITTED before the commit ack; ABORTED before the ack of a confirmed
abort. A state report claims what it reports:
an outcome, or an in-doubt state (a coordinator's presumed abort needs no record); a
state query claims the asker's in-doubt state.
"""

from __future__ import annotations

from collections.abc import Sequence

from replikv.core.messages import Message, Record
from replikv.protocols.twophase.constants import (
    ABORTED,
    COMMITTED,
    PRECOMMITTED,
    UNCERTAIN,
    Txid,
)
from replikv.protocols.twophase.messages import (
    AbortAck,
    Ack,
    PreCommitAck,
    StateQuery,
    StateReport,
    VoteYes,
)
from replikv.protocols.twophase.records import Decided, Prepared, Snapshot

_RANK = {UNCERTAIN: 1, PRECOMMITTED: 2, COMMITTED: 3}


class TwoPhaseDurableView:
    __slots__ = ("states",)

    def __init__(self) -> None:
        self.states: dict[Txid, str] = {}

    def apply(self, records: Sequence[Record], replace: bool) -> None:
        if replace:
            self.states = {}
        for record in records:
            match record:
                case Prepared(txid=txid):
                    self.states.setdefault(tuple(txid), UNCERTAIN)
                case Decided(txid=txid, state=state):
                    txid = tuple(txid)
                    if self.states.get(txid) not in (COMMITTED, ABORTED):
                        self.states[txid] = state
                case Snapshot(open=open_txns, finished=finished):
                    for o in open_txns:
                        self.states[tuple(o.txid)] = o.state
                    for txid, state in finished:
                        self.states[tuple(txid)] = state

    def holds(self, dst: int, msg: Message) -> bool:
        match msg:
            case VoteYes(txid=txid):
                return self._at_least(txid, UNCERTAIN)
            case PreCommitAck(txid=txid):
                return self._at_least(txid, PRECOMMITTED)
            case Ack(txid=txid):
                return self.states.get(tuple(txid)) == COMMITTED
            case AbortAck(txid=txid):
                return self.states.get(tuple(txid)) == ABORTED
            case StateReport(txid=txid, state=state, presumed=presumed):
                if state == ABORTED:
                    return presumed or self.states.get(tuple(txid)) == ABORTED
                if state in _RANK:
                    return self._at_least(txid, state)
            case StateQuery(txid=txid, state=state) if state in _RANK:
                return self._at_least(txid, state)
        return True

    def _at_least(self, txid: Sequence[int], state: str) -> bool:
        return _RANK.get(self.states.get(tuple(txid), ""), 0) >= _RANK[state]

    def describe(self) -> str:
        return f"{len(self.states)} transactions on disk"
