"""The node driver: recovery, save-before-send, and the durability check against the
durable records (issue 9: an ack emitted ahead of its own Persist must be caught)."""

from __future__ import annotations

import random
from typing import ClassVar

import pytest

from replikv.core.config import ReplicaConfig
from replikv.core.driver import DurabilityViolation, NodeDriver
from replikv.core.io import Persist, Persisted, Receive, Send, Tick
from replikv.core.messages import Message, Record
from replikv.core.replica import CreateArgs, Promises, ProtocolSpec, Recovery, Status
from replikv.kv.state_machine import KVStateMachine


class Item(Record, frozen=True, tag="drv.Item"):
    index: int


class Put(Message, frozen=True, tag="drv.Put"):
    index: int


class Acked(Message, frozen=True, tag="drv.Acked"):
    asserts_durable: ClassVar[bool] = True
    index: int


class Ahead(Message, frozen=True, tag="drv.Ahead"):
    """Overtakes pending Persists; claims its ``index`` is already durable."""

    overtakes_persist: ClassVar[bool] = True
    index: int


class Follower:
    """Persists each Put and acks it; ``order`` says where the ack goes in the step."""

    order = "persist-then-ack"

    def __init__(self, args: CreateArgs) -> None:
        self.args = args
        self.last = max((r.index for r in args.recovered), default=0)
        self.seq = 0

    def handle(self, inp):
        match inp:
            case Receive(src=src, msg=Put(index=i)):
                self.seq += 1
                self.last = i
                persist, ack = Persist(self.seq, (Item(i),)), Send(src, Acked(i))
                if self.order == "persist-then-ack":
                    return [persist, ack]
                if self.order == "ack-then-persist":
                    return [ack, persist]
                if self.order == "persist-then-ahead-of-durable":
                    return [persist, Send(src, Ahead(i - 1))]
                if self.order == "persist-then-ahead-of-pending":
                    return [persist, Send(src, Ahead(i))]
                return [ack]  # "ack-never-persist"
        return []

    def status(self) -> Status:
        return Status(node=self.args.node, role="follower", term=1, leader=None, commit_index=0,
                      applied_index=0, last_index=self.last, members=self.args.members)

    def durable_state(self):
        return self.last

    def state_machine(self):
        return self.args.state_machine


class LastIndexView:
    def __init__(self) -> None:
        self.last = 0

    def apply(self, records, replace):
        if replace:
            self.last = 0
        for r in records:
            self.last = max(self.last, r.index)

    def holds(self, dst, msg) -> bool:
        return msg.index <= self.last

    def describe(self) -> str:
        return f"durable up to {self.last}"


def _driver(order: str, view: bool = True) -> NodeDriver:
    cls = type(f"Follower_{order}", (Follower,), {"order": order})
    spec = ProtocolSpec(name="drv", summary="driver test", config_type=ReplicaConfig, messages=(Put, Acked, Ahead),
                        records=(Item,), create=cls,
                        promises=Promises(False, False, False, True),
                        durable_view=LastIndexView if view else None)
    driver = NodeDriver(spec, 2, (1, 2), ReplicaConfig())
    driver.start((), rng=random.Random(1), state_machine=KVStateMachine())
    return driver


def test_ack_after_its_persist_waits_for_durability():
    d = _driver("persist-then-ack")
    ready = d.handle(Receive(1, Put(1)))
    assert [type(e) for e in ready] == [Persist]  # the ack waits behind the barrier
    released = d.release(1)
    assert released == [Send(1, Acked(1))]
    assert d.handle(Persisted(1)) == []


def test_ack_ahead_of_its_own_persist_is_caught():
    d = _driver("ack-then-persist")
    with pytest.raises(DurabilityViolation, match="Acked.*durable up to 0"):
        d.handle(Receive(1, Put(1)))


def test_ack_of_state_never_persisted_is_caught_even_after_other_persists():
    d = _driver("ack-never-persist")
    with pytest.raises(DurabilityViolation):
        d.handle(Receive(1, Put(1)))


def test_an_overtaking_send_leaves_at_once_when_what_it_claims_is_durable():
    d = _driver("persist-then-ahead-of-durable")
    assert d.handle(Receive(1, Put(1))) == [Persist(1, (Item(1),)), Send(1, Ahead(0))]
    assert d.release(1) == [] and d.handle(Persisted(1)) == []
    assert d.handle(Receive(1, Put(2))) == [Persist(2, (Item(2),)), Send(1, Ahead(1))]
    assert d.pipeline.durable_seq == 1  # it left while persist 2 is pending


def test_an_overtaking_send_that_claims_pending_state_is_caught():
    """Overtaking is allowed only for what a pending Persist cannot change: the driver
    judges such a Send against the durable records as it leaves."""
    d = _driver("persist-then-ahead-of-pending")
    with pytest.raises(DurabilityViolation, match=r"Ahead\(index=1\) ahead of its pending Persists.*durable up to 0"):
        d.handle(Receive(1, Put(1)))


def test_a_host_that_asks_is_told_of_every_send_the_pipeline_holds_when_it_is_emitted():
    """``on_held``: the simulator starts a link silence when the replica emitted a message,
    not when its disk let it go (sim/network.py); only held Sends are reported."""
    held: list[Send] = []
    d = _driver("persist-then-ack")
    d.on_held = held.append
    d.handle(Receive(1, Put(1)))
    assert held == [Send(1, Acked(1))]  # held behind Persist(1)
    assert d.release(1) == held and d.handle(Persisted(1)) == []
    ahead = _driver("persist-then-ahead-of-durable")
    ahead.on_held = held.append
    ahead.handle(Receive(1, Put(1)))
    assert held == [Send(1, Acked(1))]  # the overtaking Send left at once: nothing reported


def test_without_a_view_only_the_pipeline_order_is_judged():
    # The pipeline alone cannot see an ack placed ahead of its Persist: that is why
    # every scheme with asserting messages must supply a view (tests/test_schemes.py).
    d = _driver("ack-then-persist", view=False)
    ready = d.handle(Receive(1, Put(1)))
    assert Send(1, Acked(1)) in ready


def test_recovery_folds_records_and_passes_what_was_lost():
    d = _driver("persist-then-ack")
    replica = d.start((Item(1), Item(2)), rng=random.Random(1), state_machine=KVStateMachine(),
                      recovery=Recovery(torn_records=1))
    assert replica.last == 2 and replica.args.recovery.torn_records == 1
    # The view starts from the recovered records: an ack of index 2 holds at once.
    assert d._view.holds(1, Acked(2)) and not d._view.holds(1, Acked(3))


def test_crash_forgets_the_pipeline_and_writes_in_flight():
    d = _driver("persist-then-ack")
    d.handle(Receive(1, Put(1)))
    d.crash()
    assert not d.up and d.pipeline.waiting == 0


def test_stale_clock_asks_for_a_tick_only_when_the_last_one_is_more_than_a_tick_old():
    """A replica judges leases by its last Tick: after a pause the host feeds the time
    first (NodeDriver.stale_clock; raft swarm seed 930758 served a lease read by the clock
    of the moment it was paused)."""
    d = _driver("persist-then-ack")
    tick_ms = d.config.tick_ms
    assert d.stale_clock(1e6) is None  # no Tick yet: the scheme starts its timers on its first
    d.handle(Tick(100.0))
    assert d.stale_clock(100.0 + tick_ms) is None  # a tick on time
    assert d.stale_clock(100.0 + tick_ms + 0.05) is None  # within the rounding slack
    assert d.stale_clock(100.0 + 2 * tick_ms) == Tick(100.0 + 2 * tick_ms, stalled=True)
    d.handle(Tick(900.0))
    assert d.stale_clock(905.0) is None
    assert d.stale_clock(1500.0) == Tick(1500.0, stalled=True)  # says so (Tick.stalled)
    d.crash()
    d.start((), rng=random.Random(1), state_machine=KVStateMachine())
    assert d.stale_clock(5000.0) is None  # a new replica object: no Tick yet again
