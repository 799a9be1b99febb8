"""At most once across coordinators (``claims.py``): two copies of one request at two
coordinators at once never both write (with 2R > N)."""

from __future__ import annotations

from replikv.core import Request
from replikv.core.commands import Incr
from replikv.core.errors import Ok, Uncertain
from replikv.protocols.quorum import messages as m

from .steps import Cluster

INCR = Request(9, 1, Incr("n", 1))


def _results(cluster: Cluster) -> list:
    return [r.result for r in cluster.replies if r.request == INCR]


def test_a_copy_started_while_another_is_in_its_read_phase_does_not_write():
    """The first copy (node 1) has sent its Reads; the client's retry at node 2 runs its
    whole read phase before node 1 hears back. Nodes 1 and 3 answer node 2 that the
    request is claimed, so only node 1's copy writes: one increment counted."""
    cluster = Cluster(3, counters="crdt")
    cluster.submit(1, INCR)
    cluster.deliver(only=lambda src, send: isinstance(send.msg, m.Read) and src == 1 and send.dst == 3)
    cluster.submit(2, INCR)
    cluster.deliver(only=lambda src, send: src == 2 or (send.dst == 2 and src != 1))
    cluster.deliver()
    results = _results(cluster)
    assert sorted(type(r).__name__ for r in results) == ["Ok", "Uncertain"], results
    assert {cluster.value(n, "n") for n in cluster.members} == {"1"}


def test_two_copies_in_their_read_phases_at_once_never_both_write():
    cluster = Cluster(3, counters="crdt")
    cluster.submit(1, INCR)
    cluster.submit(2, INCR)
    cluster.deliver()
    results = _results(cluster)
    assert len(results) == 2 and sum(type(r) is Ok for r in results) <= 1, results
    assert all(type(r) in (Ok, Uncertain) for r in results)
    assert {cluster.value(n, "n") for n in cluster.members} <= {None, "1"}


def test_a_claim_expires_so_a_later_retry_of_a_dead_copy_can_run():
    cluster = Cluster(3, counters="crdt", request_timeout_ms=200.0)
    cluster.submit(1, INCR)
    cluster.deliver(only=lambda src, send: isinstance(send.msg, m.Read) and src == 1)
    cluster.inflight.clear()  # node 1's copy never finishes (its replies are lost)
    for _ in range(3):
        cluster.tick(100.0)
    results = _results(cluster)
    retry_at_2 = len(results)
    cluster.submit(2, INCR)
    cluster.deliver()
    assert [type(r) for r in _results(cluster)[retry_at_2:]] == [Ok]
