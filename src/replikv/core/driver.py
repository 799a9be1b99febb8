"""``NodeDriver``: one replica behind its effect pipeline, with no I/O (the host loop of
DESIGN.md, written once).

What may live here: what every host does between a replica and the world, so that the
simulator host, the asyncio runtime host and the step-test harnesses only *execute*
effects:

- recovery: build the replica from its durable records (``spec.create``, a pure fold),
  telling it what the host knows it lost (``Recovery``);
- feeding inputs and pushing the effects through ``EffectPipeline`` (save before send);
- durable notifications: ``release(seq)`` returns what the barrier held back; the host
  runs it, then feeds ``Persisted(seq)``;
- crash/reset, status;
- the replica's clock kept fresh (``stale_clock``): an input reaches the replica at most
  one tick after its last ``Tick``, or a ``Tick`` of the host's time goes first;
- the durability check: a ``Send`` whose message asserts durable state
  (``Message.asserts_durable``) may leave only when the state it asserts is durable,
  judged against what the durable records say (the scheme's ``DurableView``), not only
  against the pipeline's order. An ack emitted *ahead* of its own ``Persist`` in the same
  step is caught here; the pipeline alone cannot see it. A ``Send`` whose message
  overtakes pending Persists (``Message.overtakes_persist``) is judged by the same view
  when it leaves: what it still claims (a Raft leader's term) must be durable already.

The driver never touches clocks, sockets, files or threads: the host passes every input,
and performs every effect.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from replikv.core.io import Effect, Input, Persist, Send, Tick
from replikv.core.pipeline import EffectPipeline
from replikv.core.replica import CreateArgs, ProtocolSpec, Recovery, Replica, StateMachine, Status

if TYPE_CHECKING:
    import random

    from replikv.core.messages import Record


CLOCK_SLACK = 1.01
"""``stale_clock`` lets the replica's last ``Tick`` be this many ticks old: one tick,
plus room for the rounding of simulated clocks (a node whose ticks run on time never
gets an extra one)."""


class DurabilityViolation(AssertionError):
    """A message asserting durable state left before that state was durable (a scheme bug)."""


class NodeDriver:
    """Recover, feed, release, crash: the host loop for one node, sans-I/O.

    ``check_durability``: judge every asserting ``Send`` against the durable records
    (always on in the simulator; ``--debug-durability`` in the runtime). Needs the
    scheme's ``ProtocolSpec.durable_view``; a scheme without one is judged by the
    pipeline's order only (its asserting sends must come after the last ``Persist``
    emitted before them).
    """

    __slots__ = (
        "spec",
        "node",
        "members",
        "config",
        "check_durability",
        "replica",
        "pipeline",
        "recovery",
        "_view",
        "_unapplied",
        "_last_emitted_seq",
        "_requires",
        "_clock_ms",
        "stale_after_ms",
        "on_held",
    )

    def __init__(
        self,
        spec: ProtocolSpec,
        node: int,
        members: tuple[int, ...],
        config: Any,
        *,
        check_durability: bool = True,
    ) -> None:
        self.spec = spec
        self.node = node
        self.members = tuple(members)
        self.config = config
        self.check_durability = check_durability
        self.replica: Replica | None = None
        self.pipeline = EffectPipeline()
        self.recovery = Recovery()
        self._view: Any = None
        self._unapplied: deque[Persist] = deque()
        self._last_emitted_seq = 0
        self._requires: dict[int, int] = {}
        self._clock_ms: float | None = None
        """The time of the last ``Tick`` fed to this replica object (None: none yet)."""
        self.stale_after_ms = float("inf")
        """The host time after which ``stale_clock`` returns a ``Tick`` (a host on a hot
        path compares its clock with this instead of calling it)."""
        self.on_held: Callable[[Send], None] | None = None
        """Told of every ``Send`` the pipeline holds behind a pending Persist, when it is
        emitted: a host that measures how long a message took from the replica to its
        peer (the simulator's link silences, ``sim/network.py``) starts the clock here,
        not when the barrier releases the message. None (the default): nobody asks."""

    # -- lifecycle ---------------------------------------------------------------------

    def start(
        self,
        records: Sequence[Record],
        *,
        rng: random.Random,
        state_machine: StateMachine,
        recovery: Recovery | None = None,
        members: tuple[int, ...] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> Replica:
        """(Re)build the replica from ``records``, with a fresh pipeline."""
        recovery = recovery or Recovery()
        self.recovery = recovery
        self.replica = self.spec.create(
            CreateArgs(
                node=self.node,
                members=self.members if members is None else tuple(members),
                config=self.config,
                rng=rng,
                state_machine=state_machine,
                recovered=tuple(records),
                recovery=recovery,
                extra=dict(extra or {}),
            )
        )
        self.pipeline = EffectPipeline()
        self._unapplied.clear()
        self._last_emitted_seq = 0
        self._requires = {}
        self._clock_ms = None
        self.stale_after_ms = float("inf")
        self._view = None
        if self.check_durability and self.spec.durable_view is not None:
            self._view = self.spec.durable_view()
            self._view.apply(tuple(records), True)
        return self.replica

    def crash(self) -> None:
        """The node is gone: its replica, its pipeline and every write not yet durable."""
        self.replica = None
        self.pipeline.reset()
        self._unapplied.clear()
        self._requires = {}
        self._clock_ms = None
        self.stale_after_ms = float("inf")
        self._view = None

    @property
    def up(self) -> bool:
        return self.replica is not None

    def status(self) -> Status:
        assert self.replica is not None, "node is down"
        return self.replica.status()

    # -- the loop of the contract --------------------------------------------------------

    @property
    def clock_ms(self) -> float | None:
        """The time of the last ``Tick`` the replica got (None before its first)."""
        return self._clock_ms

    def stale_clock(self, now_ms: float) -> Tick | None:
        """The ``Tick`` the host feeds before its next input, if the replica's clock (its
        last ``Tick``) is more than a tick behind the host's ``now_ms``; else None.

        A replica learns the time only from ``Tick``s, and judges by it every promise
        that time ends: a lease (Raft thesis §6.4.1; Paxos Made Live §5.2), a follower's
        refusal to elect another leader for an election timeout after hearing from one
        (thesis §4.2.3). A process that was paused (a stop signal, a long GC, a stalled
        VM) or whose loop was starved resumes with inputs queued in its sockets, and
        without this would handle them by the time it stopped: a leader whose lease ran
        out while it was stopped would still serve a read from it (simulator seed
        930758, raft swarm, issue 14's notes). With it, an input reaches the replica at
        most ``CLOCK_SLACK`` ticks after its last ``Tick``: the bound the lease rules
        assume. Before the first ``Tick`` of a replica object nothing is injected (a
        scheme starts its timers on its first tick)."""
        return Tick(now_ms, stalled=True) if now_ms > self.stale_after_ms else None

    def tick(self, now_ms: float) -> Tick:
        """The host's regular ``Tick`` at ``now_ms``, marked ``stalled`` when it comes more
        than a tick after the last one: the node did not run meanwhile (a stop signal, a
        held-up loop, a simulated pause), whatever input comes first after it."""
        return Tick(now_ms, stalled=now_ms > self.stale_after_ms)

    def handle(self, inp: Input) -> list[Effect]:
        """Feed one input; returns the effects that may run now, in order. A host that
        keeps a clock asks ``stale_clock`` first."""
        assert self.replica is not None, "node is down"
        if type(inp) is Tick:
            self._clock_ms = inp.now_ms
            self.stale_after_ms = inp.now_ms + self.config.tick_ms * CLOCK_SLACK
        effects = self.replica.handle(inp)
        if not effects:
            return effects
        if self.check_durability:
            self._note_emitted(effects)
        ready = self.pipeline.push(effects)
        if self.check_durability:
            self._check_released(ready)
        if self.on_held is not None and len(ready) < len(effects):
            self._note_held(effects, ready)
        return ready

    def release(self, seq: int) -> list[Effect]:
        """Persists up to ``seq`` are durable: returns what the barrier releases. The host
        runs it, then feeds ``Persisted(seq)`` through ``handle`` (unless it crashed)."""
        if self.check_durability:
            while self._unapplied and self._unapplied[0].seq <= seq:
                persist = self._unapplied.popleft()
                if self._view is not None:
                    self._view.apply(persist.records, persist.replace)
        released = self.pipeline.durable(seq)
        if self.check_durability:
            self._check_released(released)
        return released

    def _note_held(self, effects: list[Effect], ready: list[Effect]) -> None:
        assert self.on_held is not None
        ran = {id(effect) for effect in ready}
        for effect in effects:
            if type(effect) is Send and id(effect) not in ran:
                self.on_held(effect)

    # -- the durability check ------------------------------------------------------------

    def _note_emitted(self, effects: list[Effect]) -> None:
        for effect in effects:
            if type(effect) is Persist:
                self._last_emitted_seq = effect.seq
                self._unapplied.append(effect)
            elif type(effect) is Send and effect.msg.asserts_durable and self._last_emitted_seq:
                self._requires[id(effect)] = self._last_emitted_seq

    def _check_released(self, effects: list[Effect]) -> None:
        for effect in effects:
            if type(effect) is not Send:
                continue
            msg = effect.msg
            if msg.overtakes_persist:
                if self._view is not None and not self._view.holds(effect.dst, msg):
                    raise DurabilityViolation(
                        f"node {self.node} sent {msg!r} ahead of its pending Persists, but it claims "
                        f"state its durable records do not hold ({self._view.describe()})"
                    )
                continue
            if not msg.asserts_durable:
                continue
            required = self._requires.pop(id(effect), 0)
            if required > self.pipeline.durable_seq:
                raise DurabilityViolation(
                    f"node {self.node} sent {type(msg).__name__} (asserts durable state) before "
                    f"persist {required} was durable (durable up to {self.pipeline.durable_seq})"
                )
            if self._view is not None and not self._view.holds(effect.dst, msg):
                raise DurabilityViolation(
                    f"node {self.node} sent {msg!r}, which asserts state its durable records do "
                    f"not hold ({self._view.describe()})"
                )


DurableViewFactory = Callable[[], Any]
"""A scheme's ``ProtocolSpec.durable_view``: makes an object with
``apply(records, replace)`` (fold durable records in), ``holds(dst, msg) -> bool`` (is what this
asserting or overtaking message claims durable on disk?) and ``describe() -> str``."""
