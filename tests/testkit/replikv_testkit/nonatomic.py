"""Planted bug ``raft+non-atomic-txn``: Raft that applies a transaction one op at a time.

A ``Txn`` promises that every op applies or none does, at one point in the order
(``core.commands.Txn``; strict serializability, Adya 1999 §3-4, checked Elle-style,
Kingsbury & Alvaro, VLDB 2020). This wrapper keeps Raft's log and state machine but
breaks the transaction in the replica's front door: a ``Txn`` of two or more ops is
split into its ops, each submitted as a request of its own, the next one only when the
previous one was answered. Other clients' requests commit in between, so a transaction's
writes become visible one by one, interleaved with other transactions: the simulator's
``txn`` scenario must name the anomaly (G-single, G2, G1c, ...) and show its cycle
(tests/sim/test_planted_bugs.py).

The client still gets one answer, shaped as an atomic ``Txn``'s (``Ok`` with one
result per op). Once an op has applied, a failure of a later one is answered
``Timeout`` (the outcome is unknown to the client: part of it applied).
"""

from __future__ import annotations

from dataclasses import replace

from replikv.core.commands import Txn
from replikv.core.errors import Ok, Result, Timeout
from replikv.core.io import Effect, Input, Reply, Submit
from replikv.core.replica import CreateArgs, Replica
from replikv.core.requests import Request
from replikv.protocols.raft import RAFT
from replikv.protocols.raft import create as create_raft
from replikv_testkit.planted import Wrapper

_SUB_BASE = 1 << 40
"""Client ids of the split ops: far above the simulator's processes, operator and probe."""


def _sub_client(request: Request) -> int:
    """One session per split transaction: its ops are that session's seqs 1, 2, ..., so
    a re-submitted transaction's ops are deduplicated by the session table."""
    assert request.client_id < 1 << 20 and request.seq < 1 << 20, request.id
    return _SUB_BASE + (request.client_id << 20) + request.seq


class _Split:
    __slots__ = ("request", "results")

    def __init__(self, request: Request) -> None:
        self.request = request
        self.results: list[object] = []


class NonAtomicTxn(Wrapper):
    """Submits a transaction's ops one by one (``raft+non-atomic-txn``)."""

    def __init__(self, inner: Replica) -> None:
        super().__init__(inner)
        self._splits: dict[int, _Split] = {}

    def handle(self, inp: Input) -> list[Effect]:
        if isinstance(inp, Submit) and isinstance(inp.request.command, Txn) and len(inp.request.command.ops) > 1:
            return self._start(inp.request)
        return self._intercept(self._inner.handle(inp))

    def _start(self, request: Request) -> list[Effect]:
        sub = _sub_client(request)
        if sub in self._splits:
            return []  # a copy of a transaction already under way
        self._splits[sub] = _Split(request)
        return self._submit_next(sub)

    def _submit_next(self, sub: int) -> list[Effect]:
        split = self._splits[sub]
        command = split.request.command
        assert isinstance(command, Txn)
        op = command.ops[len(split.results)]
        request = Request(sub, len(split.results) + 1, op, "linearizable")
        return self._intercept(self._inner.handle(Submit(request)))

    def _intercept(self, effects: list[Effect]) -> list[Effect]:
        """Replies to split ops drive the split; every other effect passes through."""
        out: list[Effect] = []
        for effect in effects:
            if isinstance(effect, Reply) and effect.request.client_id in self._splits:
                out.extend(self._on_op_reply(effect.request, effect.result))
            elif isinstance(effect, Reply) and effect.request.client_id >= _SUB_BASE:
                continue  # an answer to a split this replica no longer follows
            else:
                out.append(effect)
        return out

    def _on_op_reply(self, request: Request, result: Result) -> list[Effect]:
        split = self._splits[request.client_id]
        if request.seq != len(split.results) + 1:
            return []  # an answer to an op already answered
        command = split.request.command
        assert isinstance(command, Txn)
        if isinstance(result, Ok):
            split.results.append(result.value)
            if len(split.results) < len(command.ops):
                return self._submit_next(request.client_id)
            del self._splits[request.client_id]
            return [Reply(split.request, Ok(list(split.results)))]
        del self._splits[request.client_id]
        if not split.results and result.definite:
            return [Reply(split.request, result)]  # nothing applied: the refusal stands
        return [Reply(split.request, Timeout())]


def _create(args: CreateArgs) -> Replica:
    return NonAtomicTxn(create_raft(args))


RAFT_NON_ATOMIC_TXN = replace(
    RAFT, name="raft+non-atomic-txn", create=_create,
    summary="PLANTED BUG: Raft that applies a transaction's ops one by one, interleaved with others",
)
