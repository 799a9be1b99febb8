"""The nemesis: faults on a timetable and faults triggered by events.

What may live here: turning scenario ``[[faults]]`` and ``[[triggers]]`` into actions on
the simulated nodes and network, resolving role selectors ("primary", "backup:1") at the
moment a fault fires. Every action is written to the trace.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from replikv.core.commands import AddServer, Promote, RemoveServer
from replikv.sim.scenario import (
    AddNode,
    ClockDrift,
    Crash,
    Fault,
    Heal,
    Isolate,
    LinkLatency,
    OneWay,
    Partition,
    Pause,
    PromoteNode,
    RemoveNode,
    Restart,
    Resume,
    SetNetwork,
    Slow,
    Trigger,
)

if TYPE_CHECKING:
    from replikv.sim.simulation import Simulation


class Nemesis:
    def __init__(self, sim: Simulation, triggers: list[Trigger]) -> None:
        self.sim = sim
        self.triggers = list(triggers)
        self.has_triggers = bool(triggers)
        self._counts = [0] * len(triggers)
        self._fired = [False] * len(triggers)
        self.fired: list[dict[str, Any]] = []
        self.first_fault_ms: float | None = None
        self.partitioned = False
        """A partition happened in this run (schemes that are not partition tolerant
        promise nothing under one)."""

    # -- timetable ---------------------------------------------------------------------

    def schedule(self, faults: list[Fault], offset: float = 0.0) -> None:
        engine = self.sim.engine
        for fault in faults:
            engine.at(max(engine.now, offset + fault.at_ms), self.apply, fault)

    def apply(self, fault: Fault) -> None:
        """Run one fault now.

        A fault aimed at the "primary"/"leader" while no node leads (a consensus scheme
        still electing its first leader) waits for one, tick by tick, until the fault
        window ends: so `primary-crash` crashes a leader for every scheme and the
        comparisons line up."""
        sim = self.sim
        if self._waits_for_a_leader(fault):
            sim.emit("defer", action=type(fault).__name__, why="no leader yet")
            sim.engine.at(sim.engine.now + sim.config.tick_ms, self.apply, fault)
            return
        if self.first_fault_ms is None:
            self.first_fault_ms = sim.engine.now
        match fault:
            case Crash(node=sel, torn=torn, bitflip=bitflip, wipe=wipe):
                for node in sim.resolve(sel):
                    sim.hosts[node].crash(torn, bitflip, wipe)
            case Restart(node=sel):
                for node in sim.resolve(sel, down=True):
                    if not sim.hosts[node].up and not sim.hosts[node].refused:
                        sim.hosts[node].start()
            case Pause(node=sel):
                for node in sim.resolve(sel):
                    sim.hosts[node].pause()
            case Resume(node=sel):
                for node in sim.resolve(sel):
                    sim.hosts[node].resume()
            case Partition(groups=groups, clients=clients, stranded_clients=stranded):
                self._partition([sorted({n for s in g for n in sim.resolve(s)}) for g in groups], clients, stranded)
            case Isolate(node=sel, clients=clients, stranded_clients=stranded):
                for node in sim.resolve(sel):
                    self._partition([[node]], clients, stranded)
            case OneWay(src=src, dst=dst):
                senders = sorted({n for s in src for n in sim.resolve(s)})
                receivers = sorted({n for s in dst for n in sim.resolve(s)})
                for a in senders:
                    for b in receivers:
                        sim.network.block(a, b)
                self.partitioned = True
                sim.emit("partition", oneway=True, src=senders, dst=receivers)
            case Heal():
                sim.heal_network()
            case SetNetwork(loss=loss, dup=dup, reorder=reorder, latency=latency):
                net = sim.network
                net.loss = net.loss if loss is None else loss
                net.dup = net.dup if dup is None else dup
                net.reorder = net.reorder if reorder is None else reorder
                net.latency = net.latency if latency is None else latency
                sim.emit("network", loss=net.loss, dup=net.dup, reorder=net.reorder)
            case LinkLatency(src=src, dst=dst, latency=latency, symmetric=symmetric):
                for a in sim.resolve(src):
                    for b in sim.resolve(dst):
                        sim.network.link_latency[(a, b)] = latency
                        if symmetric:
                            sim.network.link_latency[(b, a)] = latency
                sim.emit("link-latency", src=str(src), dst=str(dst))
            case Slow(node=sel, factor=factor):
                for node in sim.resolve(sel):
                    sim.network.slow[node] = factor
                    sim.emit("slow", node=node, factor=factor)
            case ClockDrift(node=sel, rate=rate):
                for node in sim.resolve(sel):
                    sim.hosts[node].set_clock_rate(rate)
                    sim.emit("clock-drift", node=node, rate=rate)
            case PromoteNode(node=sel, unless_leader=unless_leader):
                self._promote(sel, unless_leader)
            case AddNode(node=node, learner=learner):
                new = sim.add_node(node)
                sim.operator_submit_to_leader(AddServer(new, learner))
            case RemoveNode(node=sel):
                for node in sim.resolve(sel):
                    sim.operator_submit_to_leader(RemoveServer(node))
            case _:  # pragma: no cover - the union is closed
                raise AssertionError(f"unknown fault {fault!r}")

    def _waits_for_a_leader(self, fault: Fault) -> bool:
        sim = self.sim
        if getattr(fault, "node", None) not in ("primary", "leader") or isinstance(fault, Restart | PromoteNode):
            return False
        if sim.spec.leadership != "leader":
            return False  # nothing to wait for: the selector names a node at once
        if sim.current_leader() is not None:
            return False
        return sim.fault_end is None or sim.engine.now + sim.config.tick_ms < sim.fault_end

    def _partition(self, groups: list[list[int]], clients: int | str, stranded: int = 0) -> None:
        sim = self.sim
        placed = {n for g in groups for n in g}
        rest = [n for n in sim.all_nodes() if n not in placed]
        if rest:
            groups = [*groups, rest]
        for i, group in enumerate(groups):
            for j, other in enumerate(groups):
                if i != j:
                    for a in group:
                        for b in other:
                            sim.network.block(a, b)
        if clients == "majority":
            client_group = max(range(len(groups)), key=lambda i: (len(groups[i]), -i))
        elif clients in ("all", "none"):
            client_group = -1
        elif isinstance(clients, int) and 0 <= clients < len(groups):
            client_group = clients
        else:
            raise ValueError(f"partition clients: bad value {clients!r}")
        endpoints = sim.client_endpoints()
        split = max(0, len(endpoints) - stranded)
        placements = [(endpoints[:split], client_group), (endpoints[split:], 0)]
        for members, group in placements:
            if clients == "all" and group == client_group:
                continue
            reachable = set(groups[group]) if group >= 0 else set()
            for node in sim.all_nodes():
                if node not in reachable:
                    for client in members:
                        sim.network.block(client, node)
                        sim.network.block(node, client)
        self.partitioned = True
        sim.emit("partition", groups=groups, clients=clients if isinstance(clients, str) else groups[clients],
                 stranded=[-c for c in endpoints[split:]])

    def _promote(self, sel: int | str, unless_leader: bool) -> None:
        sim = self.sim
        if unless_leader and sim.current_leader() is not None:
            sim.emit("skip", action="promote", why=f"node {sim.current_leader()} already leads")
            return
        for node in sim.resolve(sel):
            sim.operator_submit(node, Promote())

    # -- triggers ----------------------------------------------------------------------

    def on_message(self, node: int, peer: int, direction: str, msg: Any) -> Trigger | None:
        """Count a send/receive against every trigger; return the one that fires, if any."""
        sim = self.sim
        now = sim.engine.now
        name = type(msg).__name__
        for i, trig in enumerate(self.triggers):
            if self._fired[i] or trig.dir != direction:
                continue
            start = trig.after_ms if trig.after_ms is not None else sim.fault_start
            if now < start or (sim.fault_end is not None and now > sim.fault_end):
                continue
            if trig.msg is not None and name not in ([trig.msg] if isinstance(trig.msg, str) else trig.msg):
                continue
            flag = trig.msg_flag
            if flag is not None and not _flag_matches(flag, msg):
                continue
            if trig.node != "any" and node not in sim.resolve(trig.node):
                continue
            if trig.peer != "any" and peer not in sim.resolve(trig.peer):
                continue
            self._counts[i] += 1
            if self._counts[i] == trig.nth:
                self._fired[i] = True
                if self.first_fault_ms is None:
                    self.first_fault_ms = now
                self.fired.append({"t": now, "trigger": i, "node": node, "peer": peer, "msg": name})
                sim.emit("trigger", index=i, node=node, peer=peer, dir=direction, msg=name, action=trig.action)
                if trig.then:
                    self.schedule(trig.then, offset=now)
                return trig
        return None

    def apply_message_trigger(self, trig: Trigger, node: int, peer: int, msg: Any) -> str:
        """Carry out a fired trigger. Returns ``stop`` (the input/message must not go on),
        ``delay``, ``duplicate`` or ``go``."""
        sim = self.sim
        if trig.action == "drop":
            sim.note_drop(node if trig.dir == "send" else peer, peer if trig.dir == "send" else node,
                          type(msg).__name__, "trigger")
            return "stop"
        if trig.action in ("delay", "duplicate"):
            return trig.action
        if trig.target == "self":
            targets = [node]
        elif trig.target == "peer":
            targets = [peer]
        else:
            targets = sim.resolve(trig.target)
        for target in targets:
            sim.hosts[target].crash(trig.torn, trig.bitflip)
        return "stop" if node in targets else "go"


def _flag_matches(flag: str, msg: Any) -> bool:
    if flag == "asserts_durable":
        return bool(msg.asserts_durable)
    if flag == "heartbeat":
        return bool(msg.heartbeat)
    return not msg.heartbeat
