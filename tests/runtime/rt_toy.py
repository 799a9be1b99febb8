"""A tiny replication scheme for runtime tests: fixed leader (lowest id), every follower
persists and acks each entry, the leader replies once all acks are in (N-of-N).

Just enough protocol to exercise the host, the pipeline, the transport and forwarding
without depending on a real scheme. Not a replication algorithm to learn from: no
failover, no catch-up.
"""

from __future__ import annotations

from typing import ClassVar

from replikv.core.commands import is_read
from replikv.core.config import ReplicaConfig
from replikv.core.errors import NotLeader, Timeout
from replikv.core.io import Commit, Persist, Persisted, Receive, Reply, Send, Submit, Tick
from replikv.core.messages import Message, Record
from replikv.core.replica import CreateArgs, Promises, ProtocolSpec, Status
from replikv.core.requests import Request


class ToyEntry(Record, frozen=True):
    index: int
    request: Request


class ToyAppend(Message, frozen=True):
    index: int
    request: Request
    commit: int


class ToyCommit(Message, frozen=True):
    commit: int


class ToyAck(Message, frozen=True):
    asserts_durable: ClassVar[bool] = True
    index: int


class ToyReplica:
    def __init__(self, args: CreateArgs) -> None:
        self.node = args.node
        self.members = args.members
        self.leader = min(args.members)
        self.config = args.config
        self.sm = args.state_machine
        self.log: list[Request] = [r.request for r in args.recovered if isinstance(r, ToyEntry)]
        self.applied = 0
        self.commit = 0
        self.acks: dict[int, set[int]] = {}
        self.submitted_at: dict[int, float] = {}
        self.now = 0.0
        self.seq = 0
        self.out: list = []
        if self.node == self.leader:
            self._advance(len(self.log))  # the leader's own log is committed (N-of-N acked)

    def handle(self, inp):
        match inp:
            case Tick(now_ms=now):
                if not self.now:  # first tick: start the clocks of earlier requests here
                    self.submitted_at = dict.fromkeys(self.submitted_at, now)
                self.now = now
                self._expire()
            case Submit(request=r):
                self._submit(r)
            case Receive(src=src, msg=ToyAppend() as m):
                self._append(src, m)
            case Receive(msg=ToyCommit(commit=c)):
                self._advance(min(c, len(self.log)))
            case Receive(src=src, msg=ToyAck(index=i)):
                self.acks.setdefault(i, set()).add(src)
                self._leader_commit()
            case Persisted(seq=seq):
                self.durable = seq
        out, self.out = self.out, []
        return out

    def _submit(self, r: Request) -> None:
        if self.node != self.leader:
            if is_read(r.command) and r.read_level == "local":
                self.out.append(Reply(r, self.sm.read(r)))
            else:
                self.out.append(Reply(r, NotLeader(self.leader)))
            return
        if is_read(r.command):
            self.out.append(Reply(r, self.sm.read(r)))
            return
        self.log.append(r)
        index = len(self.log)
        self.submitted_at[index] = self.now
        for peer in self.members:
            if peer != self.node:
                self.out.append(Send(peer, ToyAppend(index, r, self.commit)))
        self.seq += 1
        self.out.append(Persist(self.seq, (ToyEntry(index, r),)))
        self.acks.setdefault(index, set()).add(self.node)
        self.out.append(Send(self.node, ToyAck(index)))

    def _append(self, src: int, m: ToyAppend) -> None:
        if m.index == len(self.log) + 1:
            self.log.append(m.request)
            self.seq += 1
            self.out.append(Persist(self.seq, (ToyEntry(m.index, m.request),)))
            self.out.append(Send(src, ToyAck(m.index)))
        self._advance(min(m.commit, len(self.log)))

    def _leader_commit(self) -> None:
        index = self.commit
        while index + 1 in self.acks and len(self.acks[index + 1]) == len(self.members):
            index += 1
        if index > self.commit:
            self._advance(index, reply=True)
            for peer in self.members:
                if peer != self.node:
                    self.out.append(Send(peer, ToyCommit(index)))

    def _advance(self, index: int, reply: bool = False) -> None:
        while self.applied < index:
            self.applied += 1
            request = self.log[self.applied - 1]
            result = self.sm.apply(request)
            self.out.append(Commit(self.applied, request))
            if reply and self.applied in self.submitted_at:
                del self.submitted_at[self.applied]
                self.out.append(Reply(request, result))
        self.commit = max(self.commit, index)

    def _expire(self) -> None:
        for index, at in sorted(self.submitted_at.items()):
            if self.now - at > self.config.request_timeout_ms and index > self.commit:
                del self.submitted_at[index]
                self.out.append(Reply(self.log[index - 1], Timeout()))

    def status(self) -> Status:
        peers = {}
        if self.node == self.leader:
            for peer in self.members:
                if peer != self.node:
                    peers[peer] = max((i for i, s in self.acks.items() if peer in s), default=0)
        return Status(node=self.node, role="leader" if self.node == self.leader else "follower",
                      term=1, leader=self.leader, commit_index=self.commit, applied_index=self.applied,
                      last_index=len(self.log), members=self.members, peers=peers)

    def durable_state(self):
        return tuple((i + 1, r.client_id, r.seq) for i, r in enumerate(self.log))

    def state_machine(self):
        return self.sm


TOY = ProtocolSpec(
    name="toy",
    summary="test double: fixed leader, N-of-N acks",
    config_type=ReplicaConfig,
    messages=(ToyAppend, ToyAck, ToyCommit),
    records=(ToyEntry,),
    create=ToyReplica,
    promises=Promises(True, True, True, False),
)
