"""A follower that lost the tail of its log after acknowledging it (a torn tail at a
crash: outside Raft's fault model, see docs/protocols/raft.md "Torn tails") is caught up
again: the leader lowers its matchIndex/nextIndex for that follower (Raft §5.3) and never
its own commit index."""

from __future__ import annotations

from replikv.core import Persist, Receive, Request, Set, Submit, Tick
from replikv.protocols.raft import messages as m
from replikv.protocols.raft.records import LogAppend

from .steps import elect, make, sends, sync


def deliver(dst, effects: list, src: int, durable: list | None = None) -> list:
    """Feed every Send of ``effects`` addressed to ``dst.node`` into ``dst``; its Persists
    are made durable at once (their records appended to ``durable``) before its effects
    are returned, as the pipeline would release the acks."""
    out = []
    for send in sends(effects):
        if send.dst != dst.node:
            continue
        got = dst.handle(Receive(src, send.msg))
        if durable is not None:
            durable += [r for e in got if isinstance(e, Persist) for r in e.records]
        out += got + sync(dst, got)
    return out


def leader_and_acked_follower():
    """Leader 1 (term 1) with entries 1 (no-op) and 2 (a write), both acknowledged by
    follower 2 and committed; returns (leader, follower's durable records)."""
    leader = make(node=1, batch=False)  # the write ships at once
    effects = elect(leader, voters=(2, 3))
    effects += sync(leader, effects)
    follower = make(node=2)
    follower.handle(Tick(0.0))
    records: list = []
    for reply in sends(deliver(follower, effects, 1, records)):
        leader.handle(Receive(2, reply.msg))
    effects = leader.handle(Submit(Request(5, 1, Set("a", "1"))))
    effects += sync(leader, effects)
    for reply in sends(deliver(follower, effects, 1, records)):
        leader.handle(Receive(2, reply.msg))
    assert leader.status().peers[2] == 2 and leader.commit_index == 2
    assert follower.log.last_index == 2
    return leader, records


def test_5_3_follower_that_lost_its_tail_after_acking_is_caught_up() -> None:
    leader, records = leader_and_acked_follower()
    assert isinstance(records[-1], LogAppend) and records[-1].entries[-1].index == 2
    # node 2 crashes; its disk drops the last durable record (entry 2, already acked)
    follower = make(node=2, records=tuple(records[:-1]))
    follower.handle(Tick(0.0))
    assert follower.log.last_index == 1
    # the leader is idle (match == its last index): the heartbeat reply reveals the loss
    beat = leader.handle(Tick(leader.timers.now + 100.0))
    assert sends(beat, m.Heartbeat)
    reply = sends(deliver(follower, beat, 1), m.HeartbeatReply)[-1].msg
    # it vouches for nothing of this leader's log yet (no AppendEntries since it restarted)
    assert reply.last_index == 0
    probe = leader.handle(Receive(2, reply))
    assert sends(probe, m.AppendEntries)[-1].msg.prev_index == 2
    rejection = sends(deliver(follower, probe, 1), m.AppendReply)[-1].msg
    assert not rejection.success and rejection.reject_index == 2
    # the rejection answers the probe at match: match drops, entry 2 is sent again
    resend = leader.handle(Receive(2, rejection))
    assert leader.status().peers[2] == 1 and leader.commit_index == 2
    append = sends(resend, m.AppendEntries)[-1].msg
    assert append.prev_index == 1 and [e.index for e in append.entries] == [2]
    ack = sends(deliver(follower, resend, 1), m.AppendReply)[-1].msg
    assert ack.success and ack.match_index == 2
    leader.handle(Receive(2, ack))
    assert leader.status().peers[2] == 2 and leader.commit_index == 2
    assert follower.log.last_index == 2 and follower.durable_state()[2] == ((1, 1), (2, 1))


def test_5_3_late_rejection_below_match_is_ignored() -> None:
    """A rejection that does not answer the outstanding probe at ``match`` is a late reply
    to an older message (reordering): it must not move match back."""
    leader, _records = leader_and_acked_follower()
    effects = leader.handle(Receive(2, m.AppendReply(1, False, reject_index=1, conflict_index=1)))
    assert leader.status().peers[2] == 2 and sends(effects, m.AppendEntries) == []
    # no probe outstanding: even a rejection at match itself is stale
    effects = leader.handle(Receive(2, m.AppendReply(1, False, reject_index=2, conflict_index=2)))
    assert leader.status().peers[2] == 2 and sends(effects, m.AppendEntries) == []


def test_5_3_restarted_follower_is_probed_at_once_despite_appends_in_flight() -> None:
    """A heartbeat reply vouching for less than ``match`` (the follower restarted, what
    was in flight to it is lost) turns a pipelining peer into a probe at once, not after
    the retransmit timeout: a rejoining node needs the catch-up to vote again."""
    leader, _records = leader_and_acked_follower()
    effects = leader.handle(Submit(Request(5, 2, Set("b", "2"))))
    sync(leader, effects)
    pr = leader.progress[2]
    assert pr.state == "replicate" and pr.inflight  # appends to 2 in flight, never answered
    beat = leader.handle(Tick(leader.timers.now + 30.0))
    assert sends(beat, m.Heartbeat)
    round_ = sends(beat, m.Heartbeat)[-1].msg.round
    effects = leader.handle(Receive(2, m.HeartbeatReply(1, round_, 0)))
    probe = sends(effects, m.AppendEntries)[-1].msg
    assert probe.prev_index == 2 and leader.progress[2].state == "probe"
