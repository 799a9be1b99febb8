"""A definite error is never followed by the same (client_id, seq) being applied
(DESIGN.md "Client semantics"; issue 8, item 10). Found with duplicated requests: a copy
of a write already in the leader's log arrived while the queue was full, was refused
``Unavailable("too many pending requests")``, and the first copy committed.

Rules checked here: a copy of a request the leader is already handling (proposed,
appended, an admin request under way) gets no answer of its own, the first copy's answer
is its answer; a copy of an uncommitted entry of an earlier term is waited for, not
appended again and not refused; a write refused for a full queue is answered ``Uncertain``
(indefinite), since a later copy may still reach a leader with room (thesis §6.3: only
the session table, i.e. the applied log, can say a request will never apply)."""

from __future__ import annotations

from replikv.core import Ok, Receive, Reply, Request, Set, Submit, Timeout
from replikv.protocols.raft import messages as m

from .harness import Cluster
from .steps import elect, make, sync, with_log


def replies(effects, request: Request) -> list:
    return [e.result for e in effects if isinstance(e, Reply) and e.request.id == request.id]


def full_leader():
    """Leader 1 of term 1, max_pending 2, two writes in flight (the queue is full)."""
    leader = make(node=1, max_pending=2, batch=False)
    sync(leader, elect(leader, voters=(2, 3)))
    leader.handle(Receive(2, m.AppendReply(1, True, match_index=1)))
    first, second = Request(5, 1, Set("a", "1")), Request(6, 1, Set("b", "1"))
    for request in (first, second):
        sync(leader, leader.handle(Submit(request)))
    assert len(leader.leadership.pending) == 2 and leader.commit_index == 1
    return leader, first, second


def test_6_3_copy_of_a_pending_write_is_not_refused_when_the_queue_is_full() -> None:
    leader, first, _second = full_leader()
    effects = leader.handle(Submit(first))  # a duplicated request message
    assert replies(effects, first) == []
    effects = leader.handle(Receive(2, m.AppendReply(1, True, match_index=3)))
    assert replies(effects, first) == [Ok(True)]
    assert leader.log.last_index == 3  # not appended twice


def test_6_3_write_refused_for_a_full_queue_is_indefinite() -> None:
    leader, _first, _second = full_leader()
    third = Request(7, 1, Set("c", "1"))
    (result,) = replies(leader.handle(Submit(third)), third)
    assert not result.definite


def test_6_3_copy_of_an_earlier_terms_entry_is_waited_for() -> None:
    """Entry 2 (client 9, seq 2) came from the previous leader and is uncommitted: a copy
    submitted to the new leader (a client retry, a forwarded request) is answered when
    entry 2 commits, even with the queue full, and is not appended again."""
    leader = with_log([1, 1], term=1, node=1, max_pending=1, batch=False)
    sync(leader, elect(leader, voters=(2, 3)))
    assert leader.log.last_index == 3 and leader.commit_index == 0
    sync(leader, leader.handle(Submit(Request(5, 1, Set("a", "1")))))  # queue now full
    retry = leader.log.entry(2).request
    effects = leader.handle(Submit(retry))
    assert replies(effects, retry) == []
    effects = leader.handle(Receive(2, m.AppendReply(2, True, match_index=4)))
    assert replies(effects, retry) == [Ok(True)]
    assert sum(e.request.id == retry.id for e in leader.log.entries()) == 1


def test_8_copy_of_a_pending_write_never_gets_not_leader() -> None:
    """Copies sent to an isolated leader, before and after it steps down: every answer
    is indefinite (``Timeout`` for the appended copy, ``Uncertain`` from the ex-leader
    that holds it uncommitted), never ``NotLeader`` (it may commit under the next
    leader)."""
    cluster = Cluster(3, seed=3, batch=False)
    leader = cluster.elect()
    cluster.isolate(leader)
    write = Request(7, 1, Set("k", "v"))
    answers = []
    for _ in range(3):
        effects = cluster.input(leader, Submit(write))
        answers += replies(effects, write)
        cluster.run(150)
    assert answers == [] or all(not r.definite for r in answers)
    assert any(isinstance(e.result, Timeout) for e in cluster.reply_log if e.request.id == write.id)
    assert all(not e.result.definite for e in cluster.reply_log if e.request.id == write.id)
