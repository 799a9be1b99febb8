"""A follower takes AppendEntries, heartbeats and snapshots only from the leader it knows
for the term (Election Safety, Raft §5.2: at most one leader per term, so a second
sender claiming the same term is not a leader). Issue 8, item 7: any local process could
connect to a peer port as the leader and have a follower apply a forged entry."""

from __future__ import annotations

from replikv.core import Entry, Receive, Request, Set, Tick
from replikv.kv.state_machine import KVStateMachine
from replikv.protocols.raft import messages as m

from .steps import elect, entry, make, sends, sync


def following_leader_1():
    follower = make(node=2)
    follower.handle(Tick(0.0))
    effects = follower.handle(Receive(1, m.AppendEntries(1, 0, 0, (entry(1, 1),), 1, 1)))
    sync(follower, effects)
    assert follower.leader == 1 and follower.commit_index == 1
    return follower


def forged(index: int, term: int = 1) -> Entry:
    return Entry(index, term, Request(666, 1, Set("k", "forged")))


def test_5_2_forged_append_of_the_current_term_is_not_applied() -> None:
    follower = following_leader_1()
    msg = m.AppendEntries(1, 1, 1, (forged(2),), 2, 2)
    effects = follower.handle(Receive(3, msg))
    assert follower.log.last_index == 1 and follower.commit_index == 1
    assert follower.leader == 1 and sends(effects) == []
    assert follower.state_machine().items() == {"k": "v1"}
    assert follower.foreign_leader_messages == 1
    # the real leader is still followed
    effects = follower.handle(Receive(1, m.AppendEntries(1, 1, 1, (entry(2, 1),), 2, 2)))
    assert follower.log.last_index == 2


def test_5_2_forged_heartbeat_and_snapshot_are_refused() -> None:
    follower = following_leader_1()
    effects = follower.handle(Receive(3, m.Heartbeat(1, 1, 9, 1)))
    assert sends(effects) == [] and follower.leader == 1
    other = KVStateMachine()
    other.apply(Request(666, 1, Set("k", "forged")))
    snap = m.InstallSnapshot(1, 5, 1, (1, 2, 3), (), 0, other.snapshot(), True)
    effects = follower.handle(Receive(3, snap))
    assert sends(effects) == [] and follower.commit_index == 1
    assert follower.state_machine().items() == {"k": "v1"}
    assert follower.foreign_leader_messages == 2


def test_5_2_leader_ignores_an_append_of_its_own_term() -> None:
    """It used to assert "two leaders in one term" (a peer's message must never make a
    leader exit)."""
    leader = make(node=1)
    sync(leader, elect(leader, voters=(2, 3)))
    effects = leader.handle(Receive(3, m.AppendEntries(leader.term, 0, 0, (forged(1),), 1, 1)))
    assert leader.role == "leader" and sends(effects) == []
    assert leader.log.entry(1).request.client_id == -1


def test_3_10_timeout_now_only_from_the_known_leader() -> None:
    follower = following_leader_1()
    follower.handle(Receive(3, m.TimeoutNow(1)))
    assert follower.role == "follower" and follower.term == 1
