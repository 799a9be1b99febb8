"""Simulated clients: concurrent processes, one outstanding operation each.

What may live here: the client side of the workload (DESIGN.md "Client semantics") and
the history it records. Jepsen-style independent keys: a few keys are live at a time,
each is retired after ``ops_per_key`` operations for a fresh one, so per-key histories
stay small enough to check. Written values are unique per key (a counter).

Transactions (``txn`` in the mix, ``[workload.txn]``): Elle's list-append workload
(Kingsbury & Alvaro, VLDB 2020, §3). Each op is one ``Txn`` of appends and reads on a
few keys of their own (``t1``..``tN``); an append adds ``" <element>"`` (Redis
``APPEND``), elements unique in the run (one counter), and a read is a ``Get`` split
back into the list of elements. Recorded as ``f: "txn"`` with no key (docs/history.md).

Outcomes: ``Ok`` -> ok; a definite error -> fail; ``Timeout``/``ConnectionLost`` or no
answer within ``timeout_ms`` -> info, and the client continues as a fresh process (new
``client_id``); ``NotLeader(hint)`` -> the SAME request (same client_id, seq) is retried
at the hint (or the next node), recording nothing; ``Uncertain`` (not taken now, may
still happen) -> nothing is re-sent and the operation ends ``info`` at its timeout, as
if unanswered (so a client that keeps getting it issues one unknown operation per
``timeout_ms``, not one per round trip, and the history stays checkable).

Sessions (``sessions`` in the workload, Terry et al. 1994): each request carries the
client's ``ClientSession`` (the guarantees on, and the token of its last ``Ok``); the
token resets when the client continues as a fresh process. ``roam``: each operation goes
to a node drawn at random, so sessions move between nodes.

One copy at a time: a client re-sends only on the ``NotLeader`` answer to the copy it is
waiting on (from the node it sent it to, while no re-send is pending). Answers to
duplicated or older copies are ignored, so copies never multiply when the network
duplicates requests or replies. Re-sends are bounded: after ``backoff_after`` redirects
the pause doubles up to ``max_backoff_ms``, and after ``max_redirects`` the operation
ends ``info`` (an earlier copy may still be applied).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from replikv.check.history import CAS_MISMATCH
from replikv.core.commands import Append, Cas, Delete, Get, Incr, Set, Txn
from replikv.core.errors import NotLeader, Ok, Result, Uncertain
from replikv.core.requests import GUARANTEES, ClientSession, Request
from replikv.sim.scenario import MIX_OPS, WorkloadSpec

if TYPE_CHECKING:
    import random

    from replikv.sim.simulation import Simulation


class Op:
    __slots__ = ("request", "f", "key", "value", "invoked", "target", "attempt", "uncertain_at", "waiting")

    def __init__(self, request: Request, f: str, key: str | None, value: Any, invoked: float) -> None:
        self.request = request
        self.f = f
        self.key = key
        self.value = value
        self.invoked = invoked
        self.target = 0
        self.attempt = 0
        self.waiting = True
        """The copy sent to ``target`` is unanswered (False while a re-send is pending)."""
        self.uncertain_at: int | None = None
        """The node that answered ``Uncertain`` (the operation ends info at its timeout)."""


class Client:
    __slots__ = ("slot", "endpoint", "process", "seq", "leader", "op", "token")

    def __init__(self, slot: int, process: int, leader: int) -> None:
        self.slot = slot
        self.endpoint = -(slot + 1)
        self.process = process
        self.seq = 0
        self.leader = leader
        self.op: Op | None = None
        self.token = b""
        """The session token of the last ``Ok`` (workload ``sessions``)."""


def history_value(text: str | None) -> Any:
    """Values are stored as text; the history speaks ints where the workload wrote ints."""
    if text is None:
        return None
    return int(text) if text.lstrip("-").isdigit() else text


def txn_output(mops: list[list[Any]], results: Any) -> list[list[Any]]:
    """The ``ok`` value of a txn: its micro-ops with each read filled in from the
    ``Txn`` result (one result per op; a read's is the key's text, ``None`` when absent),
    split back into the list of elements."""
    assert isinstance(results, list) and len(results) == len(mops), (mops, results)
    output = []
    for (kind, key, arg), result in zip(mops, results, strict=True):
        if kind == "r":
            arg = [history_value(text) for text in result.split()] if result else []
        output.append([kind, key, arg])
    return output


class Workload:
    def __init__(self, sim: Simulation, spec: WorkloadSpec, rng: random.Random) -> None:
        self.sim = sim
        self.spec = spec
        self.rng = rng
        self.history: list[dict[str, Any]] = []
        homes = sim.members if spec.forward else sim.members[:1]
        self.clients = [Client(i, i + 1, homes[i % len(homes)]) for i in range(spec.clients)]
        self._by_process = {c.process: c for c in self.clients}
        self._next_process = spec.clients + 1
        self._ops: list[str] = [op for op in MIX_OPS if spec.mix.get(op, 0) > 0]
        self._weights = [spec.mix[op] for op in self._ops]
        self._keys: list[str] = []
        self._key_ops: dict[str, int] = {}
        self._key_counter = 0
        self._written: dict[str, list[int]] = {}
        self._value_counter: dict[str, int] = {}
        self._element = 0
        """The last element a transaction appended (one counter: unique in the run)."""
        self._guarantees = tuple(g for g in GUARANTEES if g in spec.sessions or "all" in spec.sessions)
        self.issued = 0
        self.stopped = False
        self.active = 0
        for _ in range(spec.keys):
            self._fresh_key()

    # -- scheduling --------------------------------------------------------------------

    def start(self) -> None:
        for client in self.clients:
            self.sim.engine.after(round(self.rng.random() * 2, 3), self._next, client.slot)

    @property
    def done(self) -> bool:
        return self.stopped and self.active == 0

    def _may_invoke(self) -> bool:
        run = self.sim.scenario.run
        if run.ops is not None and self.issued >= run.ops:
            return False
        return run.duration_ms is None or self.sim.engine.now < run.duration_ms

    def _next(self, slot: int) -> None:
        client = self.clients[slot]
        if client.op is not None or self.stopped:
            return
        if not self._may_invoke():
            self.stopped = True
            return
        self._invoke(client)

    def _after_completion(self, client: Client) -> None:
        spec = self.spec
        if spec.mode == "open":
            since = self.sim.engine.now - (client.op.invoked if client.op else self.sim.engine.now)
            wait = max(0.0, spec.interval_ms - since)
        else:
            wait = spec.think_ms * self.rng.random() * 2 if spec.think_ms else 0.0
        client.op = None
        self.active -= 1
        self.sim.engine.after(round(wait, 3), self._next, client.slot)

    # -- invoking ----------------------------------------------------------------------

    def _fresh_key(self) -> str:
        self._key_counter += 1
        key = f"k{self._key_counter}"
        self._keys.append(key)
        self._key_ops[key] = 0
        return key

    def _pick_key(self) -> str:
        key = self._keys[int(self.rng.random() * len(self._keys))]
        self._key_ops[key] += 1
        if self._key_ops[key] >= self.spec.ops_per_key:
            self._keys.remove(key)
            self._fresh_key()
        return key

    def _new_value(self, key: str) -> int:
        value = self._value_counter.get(key, 0) + 1
        self._value_counter[key] = value
        self._written.setdefault(key, []).append(value)
        return value

    def _invoke(self, client: Client) -> None:
        rng = self.rng
        f = rng.choices(self._ops, self._weights)[0]
        key: str | None = None
        if f == "txn":
            value, command = self._new_txn()
            # a read-only Txn is served as a read, at the workload's read level
            level = self.spec.read_level if all(type(op) is Get for op in command.ops) else "linearizable"
        else:
            key = self._pick_key()
            value, command, level = self._single_key(f, key)
        client.seq += 1
        if self._guarantees:
            request = Request(client.process, client.seq, command, level,
                              session=ClientSession(self._guarantees, client.token))
        else:
            request = Request(client.process, client.seq, command, level)
        now = self.sim.engine.now
        op = Op(request, f, key, value, now)
        client.op = op
        self.issued += 1
        self.active += 1
        self._record(client.process, "invoke", op, value, now)
        if level == "local" or self.spec.roam:
            members = self.sim.members
            op.target = members[int(rng.random() * len(members))]
        else:
            op.target = client.leader
        self.sim.engine.after(self.spec.timeout_ms, self._timeout, client.slot, request)
        self.sim.send_request(client.endpoint, op.target, request)

    def _single_key(self, f: str, key: str) -> tuple[Any, Any, str]:
        """(history value, command, read level) of a single-key op."""
        if f == "read":
            return None, Get(key), self.spec.read_level
        if f == "write":
            value = self._new_value(key)
            return value, Set(key, str(value)), "linearizable"
        if f == "cas":
            written = self._written.get(key, [])
            expected = written[-1 - int(self.rng.random() * min(3, len(written)))] if written else None
            new = self._new_value(key)
            command = Cas(key, None if expected is None else str(expected), str(new))
            return [expected, new], command, "linearizable"
        if f == "delete":
            return None, Delete(key), "linearizable"
        return 1, Incr(key, 1), "linearizable"

    def _new_txn(self) -> tuple[list[list[Any]], Txn]:
        """The micro-ops (reads unfilled, as the invoke records them) and the ``Txn``."""
        rng = self.rng
        shape = self.spec.txn
        low, high = shape.ops
        mops: list[list[Any]] = []
        commands: list[Any] = []
        for _ in range(low + int(rng.random() * (high - low + 1))):
            key = f"t{1 + int(rng.random() * shape.keys)}"
            if rng.random() < shape.read_share:
                mops.append(["r", key, None])
                commands.append(Get(key))
            else:
                self._element += 1
                mops.append(["append", key, self._element])
                commands.append(Append(key, f" {self._element}"))
        return mops, Txn(tuple(commands))

    # -- outcomes ----------------------------------------------------------------------

    def on_reply(self, endpoint: int, node: int, request: Request, result: Result) -> None:
        client = self.clients[-endpoint - 1]
        op = client.op
        if op is None or op.request != request:
            return  # a late or duplicated answer to something already settled
        if type(result) is NotLeader:
            if op.waiting and node == op.target:
                self._redirect(client, op, node, result.leader)
            return  # else: the answer to a duplicated or older copy
        if type(result) is Uncertain:
            op.uncertain_at = node  # up and answering: the timeout keeps it as the target
            return
        if type(result) is Ok:
            if result.session:
                client.token = result.session
            self._complete_ok(client, op, node, result.value)
        elif result.definite:
            self._complete(client, op, "fail", op.value, node, result.describe())
        else:
            self._complete_info(client, op, node, result.describe())

    def _redirect(self, client: Client, op: Op, node: int, hint: int | None) -> None:
        members = self.sim.members
        spec = self.spec
        op.attempt += 1
        if op.attempt > spec.max_redirects:
            self._complete_info(client, op, node, f"no leader found after {spec.max_redirects} redirects")
            return
        if hint is not None and hint != node and hint in members:
            target, delay = hint, 0.0
        else:
            target = members[(members.index(node) + 1) % len(members)] if node in members else members[0]
            delay = spec.redirect_ms
        if op.attempt > spec.backoff_after:
            delay = min(spec.max_backoff_ms, spec.redirect_ms * 2 ** min(op.attempt - spec.backoff_after, 30))
        client.leader = target
        op.target = target
        if delay:
            op.waiting = False
            self.sim.engine.after(delay, self._resend, client.slot, op.request)
        else:
            self.sim.send_request(client.endpoint, target, op.request)

    def _resend(self, slot: int, request: Request) -> None:
        client = self.clients[slot]
        if client.op is not None and client.op.request == request:
            client.op.waiting = True
            self.sim.send_request(client.endpoint, client.op.target, request)

    def _complete_ok(self, client: Client, op: Op, node: int, value: Any) -> None:
        if op.f == "read":
            self._complete(client, op, "ok", history_value(value), node)
        elif op.f == "cas":
            if value is True:
                self._complete(client, op, "ok", op.value, node)
            else:
                self._complete(client, op, "fail", op.value, node, CAS_MISMATCH)
        elif op.f == "incr":
            self._complete(client, op, "ok", value, node)
        elif op.f == "txn":
            self._complete(client, op, "ok", txn_output(op.value, value), node)
        else:
            self._complete(client, op, "ok", op.value, node)

    def _timeout(self, slot: int, request: Request) -> None:
        client = self.clients[slot]
        op = client.op
        if op is not None and op.request == request:
            if op.uncertain_at is not None:
                self._complete_info(client, op, op.uncertain_at, "refused, may still take effect (Uncertain)")
            else:
                self._complete_info(client, op, None, "client timeout")

    def _complete_info(self, client: Client, op: Op, node: int | None, error: str) -> None:
        self._complete(client, op, "info", op.value if op.f != "read" else None, node, error)
        # After an unknown outcome the process is done; a fresh one takes the slot.
        del self._by_process[client.process]
        client.process = self._next_process
        client.seq = 0
        client.token = b""
        self._next_process += 1
        self._by_process[client.process] = client
        members = self.sim.members
        if node is not None and node in members:
            client.leader = node  # it answered (an indefinite error): it is up; try it again
        elif client.leader in members:
            client.leader = members[(members.index(client.leader) + 1) % len(members)]
        else:
            client.leader = members[0]

    def _complete(
        self, client: Client, op: Op, kind: str, value: Any, node: int | None, error: str | None = None
    ) -> None:
        now = self.sim.engine.now
        self._record(op.request.client_id, kind, op, value, now, node, error)
        self.sim.on_complete(op, kind, now)
        self._after_completion(client)

    def _record(
        self, process: int, kind: str, op: Op, value: Any, now: float, node: int | None = None, error: str | None = None
    ) -> None:
        event: dict[str, Any] = {"process": process, "type": kind, "f": op.f}
        if op.key is not None:  # a txn names its keys in its micro-ops
            event["key"] = op.key
        event["value"] = value
        event["time"] = round(now, 3)
        if node is not None:
            event["node"] = node
        if error is not None:
            event["error"] = error
        self.history.append(event)
        if self.sim.trace is not None:
            self.sim.emit("invoke" if kind == "invoke" else "complete", process=process, type=kind, f=op.f,
                          key=op.key, value=value)

    def client_of(self, client_id: int) -> Client | None:
        return self._by_process.get(client_id)
