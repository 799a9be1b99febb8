"""The planted stale-read bug (test kit): registered only by the test kit, and it does
what it says."""

from __future__ import annotations

from replikv_testkit.planted import RAFT_STALE_READS, LeaderLocalReads

from replikv import schemes
from replikv.core.commands import Get, Set
from replikv.core.errors import Ok
from replikv.core.io import Reply, Submit, Tick
from replikv.core.replica import Status
from replikv.core.requests import Request


class FakeRaft:
    """Answers every read: at once when ``local``, else not yet (a read index round)."""

    def __init__(self, role: str) -> None:
        self.role = role
        self.seen: list = []

    def handle(self, inp):
        self.seen.append(inp)
        if isinstance(inp, Submit) and inp.request.read_level == "local":
            return [Reply(inp.request, Ok("v"))]
        return []

    def status(self) -> Status:
        return Status(node=1, role=self.role, term=1, leader=1, commit_index=0, applied_index=0,
                      last_index=0, members=(1, 2, 3))


def test_registered_by_the_test_kit_entry_point_not_built_in() -> None:
    assert "raft+stale-reads" not in schemes.builtin()
    assert schemes.get_spec("raft+stale-reads") is RAFT_STALE_READS


def test_a_leader_answers_a_linearizable_read_locally_as_the_request_it_was_sent() -> None:
    inner = FakeRaft("leader")
    replica = LeaderLocalReads(inner)
    read = Request(client_id=5, seq=1, command=Get("k"))
    effects = replica.handle(Submit(read))
    assert effects == [Reply(read, Ok("v"))]  # the host sees its own request back
    assert inner.seen[0].request.read_level == "local"


def test_followers_writes_and_ticks_pass_through_untouched() -> None:
    follower = FakeRaft("follower")
    read = Request(client_id=5, seq=1, command=Get("k"))
    assert LeaderLocalReads(follower).handle(Submit(read)) == []
    assert follower.seen == [Submit(read)]
    leader = FakeRaft("leader")
    write = Request(client_id=5, seq=2, command=Set("k", "v"))
    wrapped = LeaderLocalReads(leader)
    wrapped.handle(Submit(write))
    wrapped.handle(Tick(10.0))
    assert leader.seen == [Submit(write), Tick(10.0)]


def test_the_planted_spec_turns_off_check_quorum_and_lease_reads() -> None:
    config = RAFT_STALE_READS.make_config({})
    assert not config.check_quorum and not config.lease_reads
    assert RAFT_STALE_READS.name == "raft+stale-reads"
    assert "PLANTED" in RAFT_STALE_READS.summary
