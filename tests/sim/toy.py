"""A tiny single-leader scheme for exercising the simulator itself (not a real protocol).

Node 1 leads forever (term 1). A write is sent to every follower, persisted by the leader,
and answered once the leader's copy is durable. Followers persist each entry and then ack
it (``Ack.asserts_durable``); ``BuggyToy`` acks BEFORE persisting, which the simulator must
catch. Every replica records the Tick times it saw (clock drift tests).
"""

from __future__ import annotations

from typing import ClassVar

from replikv.core.commands import is_read
from replikv.core.config import ReplicaConfig
from replikv.core.errors import NotLeader
from replikv.core.io import Commit, Persist, Persisted, Receive, Reply, Send, Submit, Tick
from replikv.core.log import Entry
from replikv.core.messages import Message
from replikv.core.replica import CreateArgs, Promises, ProtocolSpec, Status


class Replicate(Message, frozen=True, tag="toy.Replicate"):
    entry: Entry


class Ack(Message, frozen=True, tag="toy.Ack"):
    asserts_durable: ClassVar[bool] = True
    index: int


class Beat(Message, frozen=True, tag="toy.Beat"):
    heartbeat: ClassVar[bool] = True
    term: int


class Toy:
    ack_before_persist = False

    def __init__(self, args: CreateArgs) -> None:
        self.node = args.node
        self.members = args.members
        self.config = args.config
        self.sm = args.state_machine
        self.ticks: list[float] = []
        self.received: list[tuple[int, str]] = []
        self._seq = 0
        self._last_index = 0
        self._waiting: dict[int, list] = {}
        self._last_beat = -1e9
        for record in args.recovered:
            assert isinstance(record, Entry)
            self._last_index = record.index
            self.sm.apply(record.request)

    def handle(self, inp):
        out: list = []
        match inp:
            case Tick(now_ms=now):
                self.ticks.append(now)
                if self.node == 1 and now - self._last_beat >= self.config.heartbeat_ms:
                    self._last_beat = now
                    out += [Send(p, Beat(1)) for p in self.members if p != 1]
            case Submit(request=r):
                if is_read(r.command):
                    out.append(Reply(r, self.sm.read(r)))
                elif self.node != 1:
                    out.append(Reply(r, NotLeader(1)))
                else:
                    self._last_index += 1
                    entry = Entry(self._last_index, 1, r)
                    out += [Send(p, Replicate(entry)) for p in self.members if p != 1]
                    self._seq += 1
                    out.append(Persist(self._seq, (entry,)))
                    self._waiting[self._seq] = [entry]
            case Receive(src=src, msg=msg):
                self.received.append((src, type(msg).__name__))
                if isinstance(msg, Replicate):
                    self._seq += 1
                    ack = Send(src, Ack(msg.entry.index))
                    persist = Persist(self._seq, (msg.entry,))
                    out += [ack, persist] if self.ack_before_persist else [persist, ack]
                    self._waiting[self._seq] = [msg.entry]
            case Persisted(seq=seq):
                for s in sorted(k for k in self._waiting if k <= seq):
                    for entry in self._waiting.pop(s):
                        result = self.sm.apply(entry.request)
                        out.append(Commit(entry.index, entry.request))
                        if self.node == 1:
                            out.append(Reply(entry.request, result))
        return out

    def status(self) -> Status:
        return Status(node=self.node, role="leader" if self.node == 1 else "follower", term=1, leader=1,
                      commit_index=self._last_index, applied_index=self._last_index,
                      last_index=self._last_index, members=self.members)

    def durable_state(self):
        return self._last_index

    def state_machine(self):
        return self.sm


class BuggyToy(Toy):
    ack_before_persist = True


class ToyDurableView:
    """The toy's durable log, as the node driver folds it (an ``Ack(i)`` needs entry i)."""

    def __init__(self) -> None:
        self.last = 0

    def apply(self, records, replace):
        if replace:
            self.last = 0
        for record in records:
            self.last = max(self.last, record.index)

    def holds(self, dst, msg) -> bool:
        return not isinstance(msg, Ack) or msg.index <= self.last

    def describe(self) -> str:
        return f"durable up to {self.last}"


def _spec(name: str, cls: type, promises_writes: bool = False) -> ProtocolSpec:
    return ProtocolSpec(name=name, summary="test scheme", config_type=ReplicaConfig,
                        messages=(Replicate, Ack, Beat), records=(Entry,), create=cls,
                        promises=Promises(linearizable_writes=promises_writes, linearizable_reads=False,
                                          partition_tolerant=False, available_with_one_down=True),
                        durable_view=ToyDurableView)


TOY = _spec("toy", Toy)
BUGGY = _spec("buggy", BuggyToy)
PROMISING = _spec("toy-promising", Toy, promises_writes=True)
