"""Linearizable histories from a simulated register, for benchmarks and tests.

What may live here: a small discrete-event simulation of clients driving an atomic
key-value register with overlapping, randomly timed operations. Every operation takes
effect at one instant inside its interval (or, for an unknown outcome, at any instant
after its invoke, or never), so every history generated here is linearizable by
construction. Chance comes only from the ``random.Random`` passed in.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

import msgspec

from replikv.check.clientloop import ClientLoop
from replikv.check.history import CAS_MISMATCH, HistoryEvent
from replikv.check.register import as_int, canon


class Mix(msgspec.Struct, frozen=True):
    """Relative weights of the operations a client issues, and outcome rates."""

    read: float = 0.45
    write: float = 0.3
    cas: float = 0.1
    delete: float = 0.05
    incr: float = 0.1
    info_rate: float = 0.01   # outcome unknown (then the client takes a new process id)
    fail_rate: float = 0.01   # definitely not applied (e.g. NotLeader)


def generate_history(rng: random.Random, *, ops: int, clients: int, keys: Sequence[str],
                     mix: Mix | None = None, latency_ms: float = 10.0) -> list[HistoryEvent]:
    """``ops`` operations by ``clients`` concurrent clients over ``keys``."""
    return _Simulation(rng, clients, keys, mix or Mix(), latency_ms).run(ops)


class _Simulation(ClientLoop):
    def __init__(self, rng: random.Random, clients: int, keys: Sequence[str], mix: Mix,
                 latency_ms: float) -> None:
        super().__init__(rng, clients, keys, latency_ms)
        self.mix = mix
        self.register: dict[str, str | None] = {}
        self.next_value = 1

    def _choose(self, key: str) -> tuple[str, object]:
        m = self.mix
        f = self.rng.choices(["read", "write", "cas", "delete", "incr"],
                             [m.read, m.write, m.cas, m.delete, m.incr])[0]
        if f == "write":
            self.next_value += 1
            return f, self.next_value
        if f == "cas":
            self.next_value += 1
            current = self.register.get(key)
            if current is not None and _is_int(current):
                current = int(current)  # type: ignore[assignment]
            expected = current if self.rng.random() < 0.6 else self.next_value - 2
            return f, [expected, self.next_value]
        if f == "incr":
            return f, self.rng.randint(1, 5)
        return f, None

    def _invoke(self, now: float, client: int) -> None:
        key = self.rng.choice(self.keys)
        f, value = self._choose(key)
        self.recorder.invoke(self.process[client], f, key, value, now)  # type: ignore[arg-type]
        roll = self.rng.random()
        outcome = ("info" if roll < self.mix.info_rate else
                   "fail" if roll < self.mix.info_rate + self.mix.fail_rate else "ok")
        report = now + self.rng.expovariate(1 / self.latency)
        if outcome == "fail":
            self._push(report, "complete", client, ("fail", None, "not leader"))
        elif outcome == "info":
            if self.rng.random() < 0.5:  # it does take effect, maybe after the timeout
                effect = now + self.rng.uniform(0, 3 * self.latency)
                self._push(effect, "apply", client, (key, f, value, -1.0))
            self._push(report, "complete", client, ("info", None, "timeout"))
        else:
            effect = self.rng.uniform(now, report)
            self._push(effect, "apply", client, (key, f, value, report))

    def _apply(self, now: float, client: int, key: str, f: str, value, report: float) -> None:
        current = self.register.get(key)
        output: object = None
        outcome, error = "ok", None
        if f == "read":
            output = int(current) if current is not None and _is_int(current) else current
        elif f == "write":
            self.register[key] = canon(value)
        elif f == "delete":
            self.register[key] = None
        elif f == "cas":
            if current == canon(value[0]):
                self.register[key] = canon(value[1])
            else:
                outcome, error = "fail", CAS_MISMATCH  # not swapped: it saw another value
        elif f == "incr":
            number = as_int(current)
            if number is None:
                outcome = "fail"
            else:
                output = number + value
                self.register[key] = str(output)
        if report >= 0:  # -1: an info op's late effect, already reported
            self._push(report, "complete", client, (outcome, output, error))

    def _complete(self, now: float, client: int, outcome: str, output, error) -> None:
        self.recorder.complete(self.process[client], outcome, output, now, error)  # type: ignore[arg-type]
        if outcome == "info":
            self.process[client] = self.next_process
            self.next_process += 1
        self._push(now + self.rng.uniform(0, self.latency / 2), "invoke", client)


def _is_int(text: str) -> bool:
    return as_int(text) is not None
