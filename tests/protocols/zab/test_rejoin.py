"""A peer that lost its disk rejoins (``rejoin.py``): counted in no quorum until it knows an
accepted epoch above any it could have acknowledged and synchronized with an established
leader."""

from __future__ import annotations

from replikv.core import Receive, Tick
from replikv.core.replica import Recovery
from replikv.protocols.zab import messages as m
from replikv.protocols.zab.records import EpochRecord

from .steps import durable, make, records, sends, vote_for, write

LOST = Recovery(lost=True)


def test_a_lost_disk_is_recorded_before_anything_else_and_every_peer_is_asked():
    replica = make(2, recovery=LOST)
    assert replica.persistent.rejoining and replica.status().role == "rejoining"
    effects = replica.handle(Tick(200.0))
    assert sorted(s.dst for s in sends(effects, m.RejoinQuery)) == [1, 3]
    assert all(n.msg.rejoining for n in sends(effects, m.Notification))


def test_a_rejoining_peer_votes_for_nobody_and_its_votes_are_not_counted():
    replica = make(1)
    replica.handle(Receive(2, m.Notification(replica.election.round, 1, 0, (0, 0), "looking", rejoining=True)))
    replica.handle(Tick(100.0))
    assert replica.peer.state == "looking"  # node 2 is rejoining: no quorum
    rejoining = make(2, recovery=LOST)
    rejoining.handle(Receive(1, vote_for(rejoining, 2)))
    rejoining.handle(Receive(3, vote_for(rejoining, 2)))
    rejoining.handle(Tick(200.0))
    assert rejoining.peer.state == "looking"  # it never decides by votes


def test_the_floor_is_the_highest_accepted_epoch_and_only_an_established_leader_is_joined():
    replica = make(2, recovery=LOST)
    replica.handle(Tick(10.0))
    replica.handle(Receive(1, m.RejoinInfo(4)))
    effects = replica.handle(Receive(3, m.RejoinInfo(6)))
    assert records(effects) == [EpochRecord(6, 0, 0, True)]
    replica.handle(Receive(1, m.Notification(1, 1, 3, (3, 2), "leading")))
    assert replica.peer.state == "looking"  # itself is not counted while rejoining
    replica.handle(Receive(3, m.Notification(1, 1, 3, (3, 2), "following")))
    assert replica.peer.state == "following"
    attempt = replica.peer.attempt
    assert sends(replica.handle(Receive(1, m.NewEpoch(3, False, attempt))), m.AckEpoch) == []
    effects = replica.handle(Receive(1, m.NewEpoch(3, True, attempt)))
    (ack,) = sends(effects, m.AckEpoch)
    assert ack.msg.rejoining and replica.persistent.accepted_epoch == 6  # the floor stays
    durable(replica, effects)
    proposals = (m.Proposal(1, (3, 1), write(1, "x")),)
    effects = replica.handle(Receive(1, m.NewLeader(3, proposals, commit=1, attempt=attempt)))
    assert records(effects)[-1] == EpochRecord(6, 0, 3, False)  # cleared after the history
    assert not replica.persistent.rejoining and replica.peer.delivered == 1
