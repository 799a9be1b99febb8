"""The clients of a test run: concurrent asyncio workers that record a history.

What may live here: running planned operations through ``replikv.client.Client`` and
recording each as invoke + ok/fail/info (docs/history.md). Outcomes:

* ``ok``: the cluster answered (a cas that did not swap is ``fail`` with the words
  ``cas: value differed``: it was ordered and certainly changed nothing);
* ``fail``: a definite error (``NotLeader``, ``Unavailable``, ``BadRequest``, ...);
* ``info``: an indefinite error (``Timeout``, ``ConnectionLost``), the overall operation
  deadline, or anything unexpected: the operation may or may not have happened. After an
  ``info`` the worker goes on as a fresh process with a fresh client (the history rule),
  so a request of unknown fate is never confused with a later one.

Each worker is bound to "its" node (worker ``i`` to node ``i mod N + 1``), as Jepsen binds
clients to nodes: the nodes forward writes and non-local reads to the leader/primary
themselves, and ``local`` reads are answered by the node the worker talks to. When the
client had to fail over to another node for one operation (its node down, paused or cut
off), the worker comes back to its own node for the next one with a fresh client, so a
partitioned or deposed node keeps being asked for the whole fault window.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from replikv.check.history import CAS_MISMATCH, HistoryRecorder
from replikv.client import Client, DefiniteError, IndefiniteError
from replikv.jepsen.txn import TxnKeys, run_txn
from replikv.jepsen.workload import KeySpace, PlannedOp, as_history_value

ATTEMPT_TIMEOUT_S = 1.5
"""Per attempt; a node answers ``Timeout`` itself after its request timeout (1 s)."""
RETRIES = 2
OP_DEADLINE_S = 6.0
"""Hard bound on one operation, retries included (then it is recorded ``info``)."""


class Clock:
    """Monotonic milliseconds since the run started: the history's time axis."""

    def __init__(self) -> None:
        self.t0 = time.monotonic()

    def ms(self) -> float:
        return round((time.monotonic() - self.t0) * 1000.0, 3)

    def seconds(self) -> float:
        return time.monotonic() - self.t0


@dataclass
class Recording:
    """The shared history and the process-id allocator."""

    recorder: HistoryRecorder = field(default_factory=HistoryRecorder)
    _next_process: int = 0

    def new_process(self) -> int:
        self._next_process += 1
        return self._next_process - 1


def rotated(addresses: Sequence[str], start: int) -> list[str]:
    start %= len(addresses)
    return [*addresses[start:], *addresses[:start]]


async def run_op(client: Client, op: PlannedOp) -> tuple[str, object, str | None]:
    """Run one planned operation: (type, value for the history, error text)."""
    match op.f:
        case "read":
            assert op.key is not None
            return "ok", as_history_value(await client.get(op.key)), None
        case "write":
            assert isinstance(op.value, int)
            assert op.key is not None
            await client.set(op.key, str(op.value))
            return "ok", op.value, None
        case "cas":
            assert isinstance(op.value, list)
            expected, new = op.value
            assert op.key is not None
            swapped = await client.cas(op.key, None if expected is None else str(expected), str(new))
            return ("ok", op.value, None) if swapped else ("fail", op.value, CAS_MISMATCH)
        case "txn":
            return "ok", await run_txn(client, op.value), None
    raise ValueError(f"unknown operation {op.f!r}")


async def perform(client: Client, op: PlannedOp) -> tuple[str, object, str | None]:
    """``run_op`` with every failure mapped to fail (definite) or info (anything else)."""
    try:
        return await asyncio.wait_for(run_op(client, op), OP_DEADLINE_S)
    except DefiniteError as exc:
        return "fail", op.value, str(exc)
    except IndefiniteError as exc:
        return "info", op.value, str(exc)
    except TimeoutError:
        return "info", op.value, f"no answer within {OP_DEADLINE_S:g} s"
    except (OSError, ValueError) as exc:
        return "info", op.value, f"{type(exc).__name__}: {exc}"


@dataclass
class WorkerSettings:
    addresses: list[str]
    read_level: str | None
    seed: int
    stop_at_s: float


async def worker(index: int, settings: WorkerSettings, keys: KeySpace | TxnKeys, recording: Recording,
                 clock: Clock) -> None:
    """Closed loop until ``stop_at_s``: plan, invoke, perform, complete."""
    rng = random.Random(f"replikv-test-client:{settings.seed}:{index}")
    process = recording.new_process()
    client = harness_client(settings, index, rng)
    home = client.address
    try:
        while clock.seconds() < settings.stop_at_s:
            op = keys.next_op(rng)
            recording.recorder.invoke(process, op.f, op.key, op.value, clock.ms())  # type: ignore[arg-type]
            outcome, value, error = await perform(client, op)
            if outcome == "ok" and op.f == "read":
                keys.observe(op.key, value if isinstance(value, int) else None)  # type: ignore[arg-type]
            recording.recorder.complete(process, outcome, value if outcome == "ok" else op.value,  # type: ignore[arg-type]
                                        clock.ms(), error)
            if outcome == "info" or client.address != home:
                # back to the home node with a fresh client (a client bound to its node,
                # as in Jepsen); after info also as a fresh process (the history rule)
                await client.close()
                if outcome == "info":
                    process = recording.new_process()
                client = harness_client(settings, index, rng)
            elif outcome == "fail" and error != CAS_MISMATCH:
                await asyncio.sleep(0.02 + rng.random() * 0.03)  # back off while the cluster recovers
    finally:
        with contextlib.suppress(Exception):
            await client.close()


def harness_client(settings: WorkerSettings, index: int, rng: random.Random) -> Client:
    return Client(rotated(settings.addresses, index), client_id=rng.randrange(1, 2**62),
                  timeout_s=ATTEMPT_TIMEOUT_S, retries=RETRIES, backoff_s=0.05,
                  read_level=settings.read_level, rng=random.Random(rng.random()))


async def final_reads(addresses: list[str], keys: Sequence[str], recording: Recording, clock: Clock,
                      seed: int, attempts: int = 5) -> tuple[dict[str, object], list[str]]:
    """Read every key at the ``linearizable`` level (through the leader/primary), each
    recorded in the history. Returns (final values, keys that could not be read)."""
    planned = [(PlannedOp("read", key, None), [key]) for key in keys]
    answers, unread = await _run_to_an_answer(addresses, planned, recording, clock, seed, attempts)
    return {op.key: value for op, value in answers}, unread  # type: ignore[misc]


async def final_txn_reads(addresses: list[str], keys: TxnKeys, recording: Recording, clock: Clock,
                          seed: int, attempts: int = 5) -> tuple[dict[str, object], list[str]]:
    """The transaction workload's final reads: read-only transactions over every key
    touched (``TxnKeys.final_txns``), at the ``linearizable`` level, recorded as ``txn``
    operations. Returns (final list of each key read, keys that could not be read)."""
    planned = [(PlannedOp("txn", None, mops), [key for _, key, _ in mops]) for mops in keys.final_txns()]
    answers, unread = await _run_to_an_answer(addresses, planned, recording, clock, seed, attempts)
    values: dict[str, object] = {}
    for _, value in answers:
        values.update({key: read for _, key, read in value})  # type: ignore[union-attr]
    return values, unread


async def _run_to_an_answer(addresses: list[str], planned: Sequence[tuple[PlannedOp, Sequence[str]]],
                            recording: Recording, clock: Clock, seed: int,
                            attempts: int) -> tuple[list[tuple[PlannedOp, object]], list[str]]:
    """Run each planned read until it is answered ``ok`` (at most ``attempts`` times),
    recording every try; an unknown outcome moves on to a fresh process and client (as a
    Jepsen process that crashed). Returns ((op, value) of each answered read, the keys of
    those never answered)."""
    rng = random.Random(f"replikv-test-final:{seed}")
    settings = WorkerSettings(addresses=addresses, read_level="linearizable", seed=seed, stop_at_s=0.0)
    answers: list[tuple[PlannedOp, object]] = []
    unread: list[str] = []
    process = recording.new_process()
    client = harness_client(settings, 0, rng)
    try:
        for op, keys in planned:
            for attempt in range(attempts):
                recording.recorder.invoke(process, op.f, op.key, op.value, clock.ms())
                outcome, value, error = await perform(client, op)
                recording.recorder.complete(process, outcome, value if outcome == "ok" else None,
                                            clock.ms(), error)
                if outcome == "ok":
                    answers.append((op, value))
                    break
                if outcome == "info":
                    await client.close()
                    process = recording.new_process()
                    client = harness_client(settings, attempt + 1, rng)
                await asyncio.sleep(0.2)
            else:
                unread += list(keys)
    finally:
        with contextlib.suppress(Exception):
            await client.close()
    return answers, unread
