"""List-append transaction histories from a model execution, atomic or not.

What may live here: a small discrete-event simulation of clients running transactions
of ``append``/``r`` micro-ops (``ops``) against in-memory lists, recorded as a history
(docs/history.md, "Transactions"). Chance comes only from the ``random.Random`` passed
in. Two executions:

* ``atomic=True``: each transaction takes effect at one instant inside its interval
  (an unknown outcome: at an instant after its invoke, or never; a failed one: never),
  so every history is strictly serializable by construction;
* ``atomic=False``: each micro-op of a transaction takes effect at its own instant
  inside the interval, interleaved with other transactions' micro-ops: what a scheme
  that applies a transaction's writes one by one does. Such histories usually show an
  anomaly (G1b, G-single, G0 ...) once transactions contend for keys.

Elements are unique per key (one counter for the whole history).
"""

from __future__ import annotations

import random
from collections.abc import Sequence

import msgspec

from replikv.check.clientloop import ClientLoop
from replikv.check.history import HistoryEvent
from replikv.check.txn.ops import APPEND, READ


class TxnMix(msgspec.Struct, frozen=True):
    """The shape of transactions and outcome rates."""

    min_ops: int = 1
    max_ops: int = 4
    read_share: float = 0.5   # of micro-ops
    info_rate: float = 0.02   # outcome unknown (the client then takes a new process id)
    fail_rate: float = 0.02   # definitely aborted


def generate_txn_history(rng: random.Random, *, txns: int, clients: int, keys: Sequence[str],
                         mix: TxnMix | None = None, latency_ms: float = 10.0,
                         atomic: bool = True) -> list[HistoryEvent]:
    """``txns`` transactions by ``clients`` concurrent clients over ``keys``."""
    return _Simulation(rng, clients, keys, mix or TxnMix(), latency_ms, atomic).run(txns)


class _Simulation(ClientLoop):
    def __init__(self, rng: random.Random, clients: int, keys: Sequence[str], mix: TxnMix,
                 latency_ms: float, atomic: bool) -> None:
        super().__init__(rng, clients, keys, latency_ms)
        self.mix = mix
        self.atomic = atomic
        self.lists: dict[str, list[int]] = {}
        self.next_element = 0
        self.results: dict[int, list] = {}  # client -> micro-ops, reads filled in

    def _micro_ops(self) -> list[list]:
        mops: list[list] = []
        for _ in range(self.rng.randint(self.mix.min_ops, self.mix.max_ops)):
            key = self.rng.choice(self.keys)
            if self.rng.random() < self.mix.read_share:
                mops.append([READ, key, None])
            else:
                self.next_element += 1
                mops.append([APPEND, key, self.next_element])
        return mops

    def _invoke(self, now: float, client: int) -> None:
        mops = self._micro_ops()
        self.recorder.invoke(self.process[client], "txn", None, mops, now)
        roll = self.rng.random()
        outcome = ("info" if roll < self.mix.info_rate else
                   "fail" if roll < self.mix.info_rate + self.mix.fail_rate else "ok")
        report = now + self.rng.expovariate(1 / self.latency)
        result = [list(mop) for mop in mops]
        if outcome == "fail":
            self._push(report, "complete", client, ("fail", None, "aborted"))
            return
        if outcome == "info":
            if self.rng.random() < 0.5:  # it does take effect, maybe after the timeout
                self._schedule(now, now + 3 * self.latency, -1, result)
            self._push(report, "complete", client, ("info", None, "timeout"))
            return
        self.results[client] = result
        self._schedule(now, report, client, result)
        self._push(report, "complete", client, ("ok", None, None))

    def _schedule(self, start: float, end: float, client: int, result: list) -> None:
        """One instant for the whole transaction, or one per micro-op (non-atomic)."""
        if self.atomic:
            self._push(self.rng.uniform(start, end), "apply", client, (result, range(len(result))))
            return
        instants = sorted(self.rng.uniform(start, end) for _ in result)
        for at, when in enumerate(instants):
            self._push(when, "apply", client, (result, range(at, at + 1)))

    def _apply(self, _now: float, client: int, result: list, which: range) -> None:
        for at in which:
            kind, key, arg = result[at]
            if kind == APPEND:
                self.lists.setdefault(key, []).append(arg)
            else:
                result[at] = [READ, key, list(self.lists.get(key, []))]

    def _complete(self, now: float, client: int, outcome: str, _: object, error) -> None:
        output = self.results.pop(client) if outcome == "ok" else None
        self.recorder.complete(self.process[client], outcome, output, now, error)  # type: ignore[arg-type]
        if outcome == "info":
            self.process[client] = self.next_process
            self.next_process += 1
        self._push(now + self.rng.uniform(0, self.latency / 2), "invoke", client)
