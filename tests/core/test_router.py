"""The routing rule both hosts follow (core.router.Route)."""

from __future__ import annotations

from replikv.core.errors import NotLeader, Ok, Timeout
from replikv.core.router import Answer, Route, Try, Wait


def test_a_hint_to_a_known_node_is_followed_and_counted_as_a_hop():
    route = Route(node=1, deadline_ms=1000)
    assert route.next(NotLeader(2), 0, (2, 3), 50) == Try(2)
    assert route.target == 2 and route.hops == 1
    assert route.next(Ok(True), 1, (2, 3), 50) == Answer(Ok(True))


def test_no_hint_or_a_hint_back_to_the_refusing_node_waits_and_asks_locally_again():
    route = Route(node=1, deadline_ms=1000)
    assert route.next(NotLeader(None), 0, (2, 3), 50) == Wait(50)
    route.next(NotLeader(2), 0, (2, 3), 50)
    assert route.next(NotLeader(2), 0, (2, 3), 50) == Wait(50) and route.target == 1


def test_a_hint_to_an_unknown_node_past_the_deadline_or_too_many_hops_is_answered():
    assert Route(node=1, deadline_ms=1000).next(NotLeader(9), 0, (2, 3), 50) == Answer(NotLeader(9))
    assert Route(node=1, deadline_ms=10).next(NotLeader(2), 10, (2, 3), 50) == Answer(NotLeader(2))
    route = Route(node=1, deadline_ms=1000, max_hops=1)
    assert route.next(NotLeader(2), 0, (2, 3), 50) == Try(2)
    assert route.next(NotLeader(3), 0, (2, 3), 50) == Answer(NotLeader(3))


def test_any_other_answer_goes_to_the_client_as_it_is():
    assert Route(node=1, deadline_ms=1000).next(Timeout(), 0, (2,), 50) == Answer(Timeout())


def test_an_unreachable_target_is_no_hop_and_the_route_waits_then_asks_locally():
    """A dead leader still named by the local replica: each forward that could not be sent
    costs no hop, so the route keeps waiting for the election until its deadline, and then
    answers a definite NotLeader (nothing was ever sent)."""
    route = Route(node=1, deadline_ms=1000, max_hops=2)
    for now in range(0, 1000, 100):
        assert route.next(NotLeader(2), now, (2, 3), 50) == Try(2)
        assert route.next(route.unreachable(), now, (2, 3), 50) == Wait(50)
        assert route.hops == 0 and route.target == 1
    assert route.next(NotLeader(2), 1000, (2, 3), 50) == Answer(NotLeader(2))
