"""The simulated network: latency, loss, duplication, reordering, partitions, slow nodes.

What may live here: link state and the decision of when (and whether) a payload sent
from one endpoint arrives at another. Endpoints are ints: nodes are ``1..N``, clients
are negative (``-1`` is client slot 0). Partitions are checked when a message is sent
and again when it would arrive, so a partitioned link delivers nothing, including what
was in flight when the partition began. Links are FIFO by default (``fifo``); with ``fifo = false``
jitter in the latency distribution reorders messages, and ``reorder`` adds an extra
random delay to a fraction of them.

For a scheme that declares a ``ProtocolSpec.synchrony_bound`` it also keeps every
*silence* longer than that bound of a link between two nodes that were up throughout:
from a message's send until something sent on that link at or after it arrives (a lost
message stays unheard until a later one gets through). ``sim.cutoff`` finds in them the
nodes cut off from every peer, which a timeout-based failure detector (3PC's
termination protocol) cannot tell from a partition.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from replikv.sim.distributions import Distribution
from replikv.sim.engine import Engine, Trace
from replikv.sim.scenario import NetworkSpec

if TYPE_CHECKING:
    import random

Deliver = Callable[[int, int, Any, int], None]
Alive = Callable[[int, int], bool]
"""``alive(node, incarnation)``: that incarnation of the node has not crashed."""
"""``deliver(src, dst, payload, dst_incarnation_at_send)``"""


def endpoint_name(endpoint: int) -> int | str:
    """How an endpoint appears in traces: node ids as ints, clients as ``"c1"``..."""
    return endpoint if endpoint > 0 else f"c{-endpoint}"


class Network:
    def __init__(
        self,
        engine: Engine,
        spec: NetworkSpec,
        rng: random.Random,
        trace: Trace | None,
        deliver: Deliver,
        incarnation: Callable[[int], int],
        alive: Alive,
    ) -> None:
        self._engine = engine
        self._spec = spec
        self._rng = rng
        self._trace = trace
        self._deliver = deliver
        self._incarnation = incarnation
        self._alive = alive
        self.blocked: set[tuple[int, int]] = set()
        """Directed links that deliver nothing: ``(src, dst)``."""
        self.slow: dict[int, float] = {}
        self.link_latency: dict[tuple[int, int], Distribution] = {}
        self.link_loss: dict[tuple[int, int], float] = {}
        self.link_dup: dict[tuple[int, int], float] = {}
        self.reset_rates()
        self.dropped = 0
        self.duplicated = 0
        self._last_arrival: dict[tuple[int, int], float] = {}
        self.data_in_flight_until = 0.0
        """When the last peer message that is no heartbeat, sent so far, is due to arrive
        (``send(..., data=True)``): the run is not quiet before (``Simulation._quiet``)."""
        self.silence_bound_ms: float | None = None
        """The scheme's ``synchrony_bound``, if it declares one: longer silences are kept."""
        self.silences: list[tuple[float, float, int, int]] = []
        """Every silence longer than ``silence_bound_ms``: (from, to, src, dst)."""
        self._unheard: dict[tuple[int, int], list[tuple[float, int, int]]] = {}
        """Per link, the messages nothing sent as late has yet followed: (sent at, the
        sender's and the receiver's incarnations then), oldest first. "Sent" is when the
        replica emitted the message: a message its pipeline held behind a pending
        Persist was sent when emitted, not when released (``send``'s ``emitted_ms``)."""
        self._heard_upto: dict[tuple[int, int], float] = {}
        """Per link, the latest sending time of a message heard: a message sent no later
        (one released late, after one that overtook it was heard) opens no silence."""

    def reset_rates(self) -> None:
        """Back to the scenario's ``[network]`` defaults (end of the fault window)."""
        spec = self._spec
        self.latency: Distribution = spec.latency
        self.client_latency: Distribution = spec.client_latency or spec.latency
        self.loss = spec.loss
        self.dup = spec.dup
        self.reorder = spec.reorder

    def heal(self) -> None:
        self.blocked.clear()

    def block(self, src: int, dst: int) -> None:
        if src != dst:
            self.blocked.add((src, dst))

    def send(self, src: int, dst: int, payload: Any, label: str, extra_delay: float = 0.0,
             emitted_ms: float | None = None, data: bool = False) -> None:
        """Send ``payload``; it is delivered, dropped, or duplicated per the link's state.
        ``emitted_ms``: when the sender's replica emitted it, if its effect pipeline held it
        until now; a silence on the link is measured from then. ``data``: a peer message
        that is no heartbeat, whose arrival ``data_in_flight_until`` waits for."""
        link = (src, dst)
        if link in self.blocked:
            self._drop(src, dst, label, "partition")
            return
        rng = self._rng
        loss = self.link_loss.get(link, self.loss)
        since = self._engine.now if emitted_ms is None else emitted_ms
        if loss and rng.random() < loss:
            self._sent(src, dst, since)
            self._drop(src, dst, label, "loss")
            return
        copies = 1
        dup = self.link_dup.get(link, self.dup)
        if dup and rng.random() < dup:
            copies = 2
            self.duplicated += 1
        incarnation = self._incarnation(dst)
        sender = self._incarnation(src) if self._spec.crash_drops_sent and src > 0 else 0
        engine = self._engine
        self._sent(src, dst, since)
        for _ in range(copies):
            arrival = engine.now + self.delay(src, dst) + extra_delay
            if self._spec.fifo:
                arrival = max(arrival, self._last_arrival.get(link, 0.0))
                self._last_arrival[link] = arrival
            if data and arrival > self.data_in_flight_until:
                self.data_in_flight_until = arrival
            engine.at(arrival, self._arrive, src, dst, payload, label, incarnation, sender, since)

    def delay(self, src: int, dst: int) -> float:
        dist = self.link_latency.get((src, dst))
        if dist is None:
            dist = self.latency if src > 0 and dst > 0 else self.client_latency
        delay = dist.sample(self._rng)
        if self.reorder and self._rng.random() < self.reorder:
            delay += self._spec.reorder_ms * self._rng.random()
        if self.slow:
            delay *= self.slow.get(src, 1.0) * self.slow.get(dst, 1.0)
        return round(delay, 3)

    def _arrive(self, src: int, dst: int, payload: Any, label: str, incarnation: int, sender: int,
                sent_ms: float) -> None:
        if (src, dst) in self.blocked:
            self._drop(src, dst, label, "partition")
            return
        if sender and not self._alive(src, sender):
            self._drop(src, dst, label, "sender crashed")
            return
        if src > 0 and dst > 0:
            self._heard(src, dst, sent_ms)
        self._deliver(src, dst, payload, incarnation)

    def _sent(self, src: int, dst: int, since: float) -> None:
        if self.silence_bound_ms is None or src <= 0 or dst <= 0:
            return
        link = (src, dst)
        if since <= self._heard_upto.get(link, -1.0):
            return  # a message sent after it was heard already: the link was not silent
        entry = (since, self._incarnation(src), self._incarnation(dst))
        waiting = self._unheard.setdefault(link, [])
        if waiting and waiting[-1][0] > since:
            bisect.insort(waiting, entry)  # held behind a Persist while a later one overtook it
        else:
            waiting.append(entry)

    def _heard(self, src: int, dst: int, sent_ms: float) -> None:
        """A message sent at ``sent_ms`` arrives: every message sent on the link no later
        is heard of now. The oldest of them was unheard since it was sent: a silence,
        kept if longer than the bound and both ends stayed up (a crash is no silence
        of a live node)."""
        link = (src, dst)
        if sent_ms > self._heard_upto.get(link, -1.0):
            self._heard_upto[link] = sent_ms
        waiting = self._unheard.get(link)
        if not waiting or waiting[0][0] > sent_ms:
            return
        since, src_incarnation, dst_incarnation = waiting[0]
        while waiting and waiting[0][0] <= sent_ms:
            waiting.pop(0)
        silence = self._engine.now - since
        assert self.silence_bound_ms is not None
        if silence > self.silence_bound_ms and self._alive(src, src_incarnation) and self._alive(dst, dst_incarnation):
            self.silences.append((round(since, 3), round(self._engine.now, 3), src, dst))

    def _drop(self, src: int, dst: int, label: str, why: str) -> None:
        self.dropped += 1
        if self._trace is not None:
            self._trace.emit(
                self._engine.now, "drop", src=endpoint_name(src), dst=endpoint_name(dst), msg=label, why=why
            )
