"""One simulated node: a replica driven through the ``EffectPipeline``, a disk, a clock.

What may live here: the host loop of DESIGN.md ("save before send is data") for one node
in virtual time, and the node-level faults (crash, restart, pause, resume, clock drift).
Exactly what the asyncio runtime does, with the network, disk and clock simulated:

    ready = driver.handle(inp); run ready effects in order;
    Persist -> disk write (write + fsync latency); when durable:
    run driver.release(seq), then feed Persisted(seq) and run its effects the same way.

The loop itself (recovery, the pipeline, the durability check of every ack against the
durable records) is ``core.driver.NodeDriver``; this module executes effects in virtual
time and applies node faults.

A crash loses the replica object, its pipeline, undurable writes and messages in flight
to it; a restart rebuilds the replica with ``spec.create(..., recovered=<durable records>,
recovery=Recovery(lost, torn_records))``: what the last crash did to the disk (a wipe, a
torn tail), told to the incarnation right after it.

An exception raised by the replica (``create``, ``handle``, ``status``), or a message
that asserts durable state sent before its ``Persist`` was durable, is a bug of the
scheme: it is raised as ``ReplicaError`` (node, what it was doing, the exception), which
ends the run with a failed ``replica_error`` check (``sim.simulation``).
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, Any

from replikv.core.driver import DurabilityViolation, NodeDriver
from replikv.core.io import Commit, Input, Persist, Persisted, Receive, Reply, Send, Submit, Tick
from replikv.core.pipeline import EffectPipeline
from replikv.core.replica import Recovery, Replica, Status
from replikv.core.requests import Request
from replikv.core.router import ENVELOPES, Answer, Forward, ForwardReply, Route, Try, Wait
from replikv.sim.disk import COMPACTION_WRITE_FACTOR, Disk
from replikv.sim.engine import message_fields

if TYPE_CHECKING:
    from replikv.sim.simulation import Simulation



class ReplicaError(Exception):
    """A replica raised (or broke the save-before-send contract): a bug of the scheme."""

    def __init__(self, node: int, doing: str, error: BaseException) -> None:
        self.node = node
        self.doing = doing
        self.error = error
        super().__init__(f"node {node} {doing}: {type(error).__name__}: {error}{_where(error)}")


def _where(error: BaseException) -> str:
    """`` (at file.py:line)`` of the innermost frame of ``error``'s traceback."""
    tb = error.__traceback__
    if tb is None:
        return ""
    while tb.tb_next is not None:
        tb = tb.tb_next
    name = tb.tb_frame.f_code.co_filename.replace("\\", "/").rsplit("/", 1)[-1]
    return f" (at {name}:{tb.tb_lineno})"


class Host:
    def __init__(self, sim: Simulation, node: int, first_tick_ms: float) -> None:
        self.sim = sim
        self.node = node
        self.disk = Disk()
        self.driver = NodeDriver(sim.spec, node, sim.bootstrap_members, sim.config, check_durability=True)
        """The host loop of the contract (core/driver.py); this host only executes effects."""
        self.up = False
        self.paused = False
        self.refused = False
        """The disk was corrupt at restart: the node stays down (DESIGN.md "Storage")."""
        self.incarnation = 0
        self.recovery = Recovery()
        """What the current incarnation was told at start (tests, traces)."""
        self.status: Status | None = None
        self._queue: deque[tuple[str, Any]] = deque()
        self._rate = 1.0
        self._base_real = 0.0
        self._base_local = 0.0
        self._first_tick_ms = first_tick_ms
        self.inputs = 0
        self._routes: dict[Any, Route] = {}
        """Client requests this node routes (request id -> its route), ``core.router``."""
        self._served: dict[Any, list[tuple[int, int]]] = {}
        """Forwarded requests this node runs: request id -> [(forwarding node, forward id)]."""
        self._forwards: dict[int, Request] = {}
        self._forward_ids = 0
        self._held_since: dict[int, float] = {}
        """Where the network measures silences: id of a ``Send`` the pipeline holds -> when
        the replica emitted it. The silence starts there: a message that waits behind its
        sender's slow disk is late to its peer just as one slowed on the wire (Skeen's
        model bounds processing as well as delivery)."""
        if sim.network.silence_bound_ms is not None:
            self.driver.on_held = self._note_held

    @property
    def replica(self) -> Replica | None:
        return self.driver.replica

    @property
    def pipeline(self) -> EffectPipeline:
        return self.driver.pipeline

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> bool:
        """Boot (or reboot) from the durable records. False if the disk is corrupt."""
        sim = self.sim
        if self.disk.corrupt:
            self.refused = True
            sim.emit("restart-refused", node=self.node, why="corrupt record before the tail")
            return False
        self.incarnation += 1
        rng = sim.rng_factory(f"{sim.seed}:node:{self.node}:{self.incarnation}")
        lost, torn = self.disk.take_recovery()
        self.recovery = Recovery(lost=lost, torn_records=torn)
        try:
            self.driver.start(self.disk.records, rng=rng, state_machine=sim.applied.machine(self.node),
                              recovery=self.recovery)
        except Exception as exc:
            raise ReplicaError(self.node, f"could not start (incarnation {self.incarnation})", exc) from exc
        self._queue.clear()
        self.up = True
        self.paused = False
        self.status = None
        if self.incarnation > 1:
            if lost:
                sim.emit("restart", node=self.node, records=len(self.disk.records), lost=True)
            else:
                sim.emit("restart", node=self.node, records=len(self.disk.records))
        first = self._first_tick_ms if self.incarnation == 1 else self._tick_interval()
        sim.engine.after(first, self._tick, self.incarnation)
        self._note_status()
        return True

    def crash(self, torn: int = 0, bitflip: bool = False, wipe: bool = False) -> None:
        if not self.up:
            return
        self.up = False
        self.paused = False
        self.driver.crash()
        self._held_since.clear()
        self._queue.clear()
        self._routes.clear()
        self._served.clear()
        self._forwards.clear()
        self.disk.crash(torn, bitflip, wipe)
        self.status = None
        if wipe:
            self.sim.emit("crash", node=self.node, torn=torn, bitflip=bitflip, wipe=True)
        else:
            self.sim.emit("crash", node=self.node, torn=torn, bitflip=bitflip)

    def pause(self) -> None:
        if self.up and not self.paused:
            self.paused = True
            self.sim.emit("pause", node=self.node)

    def resume(self) -> None:
        if not (self.up and self.paused):
            return
        self.paused = False
        self.sim.emit("resume", node=self.node, queued=len(self._queue))
        incarnation = self.incarnation
        while self._queue and self.up and not self.paused and incarnation == self.incarnation:
            kind, item = self._queue.popleft()
            if kind == "durable":
                self._durable_now(item)
            else:
                self._feed(item)

    # -- clock -------------------------------------------------------------------------

    def local_now(self) -> float:
        return self._base_local + (self.sim.engine.now - self._base_real) * self._rate

    def set_clock_rate(self, rate: float) -> None:
        """Clock drift: from now on the node's clock runs at ``rate`` x real time."""
        self._base_local = self.local_now()
        self._base_real = self.sim.engine.now
        self._rate = rate

    def _tick_interval(self) -> float:
        return self.sim.config.tick_ms / self._rate

    def _tick(self, incarnation: int) -> None:
        if incarnation != self.incarnation or not self.up:
            return
        self.sim.engine.after(self._tick_interval(), self._tick, incarnation)
        if not self.paused:
            self._feed(self.driver.tick(round(self.local_now(), 3)))

    # -- inputs ------------------------------------------------------------------------

    def receive(self, src: int, msg: Any, incarnation: int, skip_triggers: bool = False) -> None:
        """A peer message arrives (``incarnation``: ours when it was sent)."""
        sim = self.sim
        if not self.up or incarnation != self.incarnation:
            sim.note_drop(src, self.node, type(msg).__name__, "node down")
            return
        if self.paused:
            self._queue.append(("input", Receive(src, msg)))
            return
        if sim.trace is not None:
            sim.emit("deliver", src=src, dst=self.node, msg=type(msg).__name__, **message_fields(msg))
        copies = 1
        if not skip_triggers and sim.nemesis.has_triggers:
            fired = sim.nemesis.on_message(self.node, src, "receive", msg)
            if fired is not None:
                verdict = sim.nemesis.apply_message_trigger(fired, self.node, src, msg)
                if verdict == "stop":
                    return
                if verdict == "delay":
                    sim.engine.after(fired.delay_ms, self._delayed_receive, src, msg, incarnation)
                    return
                if verdict == "duplicate":
                    copies = 2
                if not self.up or incarnation != self.incarnation:
                    return
        for _ in range(copies):
            self._feed(Receive(src, msg))

    def _delayed_receive(self, src: int, msg: Any, incarnation: int) -> None:
        self.receive(src, msg, incarnation, skip_triggers=True)

    def submit(self, request: Request, incarnation: int | None = None, route: bool = False) -> bool:
        """A client request arrives. False if the node is down (the request is lost).
        ``route``: this node routes it (forwards it to the leader, ``core.router``) and
        answers the client itself, as a real node does."""
        if not self.up or (incarnation is not None and incarnation != self.incarnation):
            return False
        if route and request.id not in self._routes:
            self._routes[request.id] = Route(node=self.node,
                                             deadline_ms=self.sim.engine.now + self.sim.config.request_timeout_ms)
        if self.paused:
            self._queue.append(("input", Submit(request)))
        else:
            self._feed(Submit(request))
        return True

    def _durable(self, incarnation: int, seq: int) -> None:
        if incarnation != self.incarnation or not self.up:
            return
        self.disk.complete(seq)
        if self.paused:
            self._queue.append(("durable", seq))
        else:
            self._durable_now(seq)

    def _durable_now(self, seq: int) -> None:
        sim = self.sim
        if sim.trace is not None:
            sim.emit("durable", node=self.node, seq=seq)
        incarnation = self.incarnation
        try:
            released = self.driver.release(seq)
        except Exception as exc:
            raise ReplicaError(self.node, "broke save-before-send", exc) from exc
        self._execute(released, incarnation)
        if self.up and incarnation == self.incarnation:
            self._feed(Persisted(seq))

    def _feed(self, inp: Input) -> None:
        if type(inp) is Receive and isinstance(inp.msg, ENVELOPES):
            self._on_envelope(inp.src, inp.msg)
            return
        if type(inp) is not Tick:
            late = self.driver.stale_clock(round(self.local_now(), 3))
            if late is not None:  # resumed from a pause: the clock first (NodeDriver.stale_clock)
                incarnation = self.incarnation
                self._feed(late)
                if not self.up or incarnation != self.incarnation:
                    return  # a trigger crashed the node on the tick's effects
        self.inputs += 1
        try:
            ready = self.driver.handle(inp)
        except DurabilityViolation as exc:
            raise ReplicaError(self.node, "broke save-before-send", exc) from exc
        except Exception as exc:
            raise ReplicaError(self.node, f"raised handling {type(inp).__name__}", exc) from exc
        self._note_status()
        if ready:
            self._execute(ready, self.incarnation)

    def _note_status(self) -> None:
        assert self.replica is not None
        try:
            status = self.replica.status()
        except Exception as exc:
            raise ReplicaError(self.node, "raised in status()", exc) from exc
        old = self.status
        self.status = status
        if old is None or old.role != status.role or old.term != status.term:
            self.sim.on_role(self.node, status)

    # -- effects -----------------------------------------------------------------------

    def _execute(self, effects: list, incarnation: int) -> None:
        sim = self.sim
        for effect in effects:
            if not self.up or incarnation != self.incarnation:
                return  # crashed by a trigger half way: the rest never ran
            kind = type(effect)
            if kind is Send:
                self._send(effect)
            elif kind is Persist:
                self._persist(effect)
            elif kind is Reply:
                self._on_reply(effect.request, effect.result)
            elif kind is Commit:
                sim.on_commit(self.node, effect)
            else:  # pragma: no cover - the contract has four effects
                raise AssertionError(f"unknown effect {effect!r}")

    def _send(self, effect: Send) -> None:
        sim = self.sim
        msg = effect.msg
        extra = 0.0
        copies = 1
        emitted = self._held_since.pop(id(effect), None) if self._held_since else None
        if sim.nemesis.has_triggers:
            fired = sim.nemesis.on_message(self.node, effect.dst, "send", msg)
            if fired is not None:
                verdict = sim.nemesis.apply_message_trigger(fired, self.node, effect.dst, msg)
                if verdict == "stop":
                    return
                if verdict == "delay":
                    extra = fired.delay_ms
                elif verdict == "duplicate":
                    copies = 2
        for _ in range(copies):
            sim.send_peer(self.node, effect.dst, msg, extra, emitted)

    def _note_held(self, effect: Send) -> None:
        self._held_since[id(effect)] = self.sim.engine.now

    def _persist(self, effect: Persist) -> None:
        sim = self.sim
        if sim.trace is not None:
            sim.emit("persist", node=self.node, seq=effect.seq, records=len(effect.records), replace=effect.replace)
        sim.activity()
        if effect.replace and sim.delivery is not None:
            sim.delivery.restated(self.node, self.incarnation)
        disk_spec = sim.scenario.disk
        latency = disk_spec.write.sample(sim.disk_rng) + disk_spec.fsync.sample(sim.disk_rng)
        latency *= sim.network.slow.get(self.node, 1.0)
        done = self.disk.write(sim.engine.now, effect.seq, effect.records, effect.replace, round(latency, 3),
                               effect.compaction)
        sim.engine.at(done, self._durable, self.incarnation, effect.seq)
        if effect.compaction:  # written beside the live log, swapped in once written
            sim.engine.at(done + round(latency * COMPACTION_WRITE_FACTOR, 3), self._swap, self.incarnation,
                          effect.seq)

    def _swap(self, incarnation: int, seq: int) -> None:
        if incarnation == self.incarnation and self.up:
            self.disk.swap(seq)

    # -- routing (core.router: the rule the runtime's nodes follow) --------------------------

    def _on_reply(self, request: Request, result: Any) -> None:
        """The replica answered ``request``: to the nodes that forwarded it here, to this
        node's own route (which may forward it on), or straight to the client."""
        served = self._served.pop(request.id, None)
        if served:
            for src, forward_id in served:
                self.sim.send_peer(self.node, src, ForwardReply(forward_id, result, request.id))
        route = self._routes.get(request.id)
        if route is not None:
            if route.target == self.node:
                self._route_step(request, route, result)
        elif not served:
            self.sim.route_reply(self.node, request, result)

    def _on_envelope(self, src: int, msg: Forward | ForwardReply) -> None:
        if type(msg) is Forward:
            self._served.setdefault(msg.request.id, []).append((src, msg.forward_id))
            self._feed(Submit(msg.request))
            return
        request = self._forwards.get(msg.forward_id)
        if request is None or request.id != tuple(msg.request_id):
            return  # not the request this forward id was given to
        del self._forwards[msg.forward_id]
        route = self._routes.get(request.id)
        if request is not None and route is not None and route.target == src:
            self._route_step(request, route, msg.result)

    def _route_step(self, request: Request, route: Route, result: Any) -> None:
        sim = self.sim
        known = tuple(n for n in sim.all_nodes() if n != self.node)
        retry_ms = getattr(sim.config, "heartbeat_ms", sim.config.tick_ms)
        match route.next(result, sim.engine.now, known, retry_ms):
            case Answer(result=answer):
                del self._routes[request.id]
                sim.route_reply(self.node, request, answer)
            case Try(node=target) if target == self.node:
                self._feed(Submit(request))
            case Try(node=target):
                self._forward_ids += 1
                self._forwards[self._forward_ids] = request
                sim.send_peer(self.node, target, Forward(self._forward_ids, request))
            case Wait(ms=ms):
                sim.engine.after(ms, self._route_again, self.incarnation, request)

    def _route_again(self, incarnation: int, request: Request) -> None:
        if incarnation != self.incarnation or not self.up or request.id not in self._routes:
            return
        if self.paused:
            self._queue.append(("input", Submit(request)))
        else:
            self._feed(Submit(request))
