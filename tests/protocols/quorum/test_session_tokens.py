"""Session guarantees carried by the client (Terry et al., PDIS 1994, §3): step tests of
the coordinator at R = W = one, where nothing else keeps them. The session's token comes
back in each ``Ok`` and goes with the next request, to whatever node."""

from __future__ import annotations

from replikv.core import Request, Tick
from replikv.core.commands import Get, Set
from replikv.core.errors import BadRequest, Ok, Unavailable
from replikv.core.requests import GUARANTEES, ClientSession
from replikv.protocols.quorum import messages as m
from replikv.protocols.quorum import sessions

from .steps import Cluster

ALL = ClientSession(GUARANTEES)
ONE = {"read_level": "one", "write_level": "one"}


def _request(seq: int, command, session: ClientSession | None, client: int = 7) -> Request:
    if session is None:
        return Request(client, seq, command)
    return Request(client, seq, command, session=session)


def _with(session: ClientSession, result) -> ClientSession:
    assert type(result) is Ok and result.session, result
    return ClientSession(session.guarantees, result.session)


def _involves(node: int):
    return lambda src, send: src == node or send.dst == node


def _write_alone(cluster: Cluster, node: int, request: Request):
    """``request`` runs at ``node`` and nothing it sends arrives anywhere (yet)."""
    before = len(cluster.inflight)
    cluster.submit(node, request)
    cluster.inflight[before:] = []
    return cluster.result(request)


def test_read_your_writes_follows_the_client_to_another_node_terry_3_1():
    """The session wrote at node 1; its read at node 2 waits until a replica that holds
    the write answers (node 2 asks again every session_retry_ms), never the stale None a
    read without the session gets."""
    cluster = Cluster(3, **ONE)
    wrote = _write_alone(cluster, 1, _request(1, Set("k", "mine"), ALL))
    session = _with(ALL, wrote)
    plain = Request(8, 1, Get("k"))
    cluster.submit(2, plain)
    assert cluster.result(plain) == Ok(None)  # without a session: stale at once
    read = _request(2, Get("k"), session)
    cluster.submit(2, read)
    cluster.deliver(drop=_involves(1))
    assert cluster.result(read) is None  # nodes 2 and 3 do not hold it: no answer yet
    cluster.tick(30)  # asks again
    assert any(isinstance(send.msg, m.Read) for _, send in cluster.inflight)
    cluster.deliver()
    result = cluster.result(read)
    assert result.value == "mine" and result.session


def test_a_session_read_that_never_meets_its_write_is_unavailable_not_stale():
    cluster = Cluster(3, **ONE)
    session = _with(ALL, _write_alone(cluster, 1, _request(1, Set("k", "mine"), ALL)))
    read = _request(2, Get("k"), session)
    cluster.submit(3, read)
    for _ in range(70):  # past request_timeout_ms (1,000 ms by default)
        cluster.deliver(drop=_involves(1))
        cluster.tick(20)
    result = cluster.result(read)
    assert isinstance(result, Unavailable) and result.definite and "session" in result.reason


def test_monotonic_reads_after_moving_node_terry_3_2():
    """Another client's write reached node 1 only; the session read it there; at node 3
    it is never shown the older None."""
    cluster = Cluster(3, **ONE)
    _write_alone(cluster, 1, Request(8, 1, Set("k", "theirs")))
    first = _request(1, Get("k"), ClientSession(("monotonic-reads",)))
    cluster.submit(1, first)
    cluster.inflight.clear()
    assert cluster.result(first).value == "theirs"
    second = _request(2, Get("k"), _with(ClientSession(("monotonic-reads",)), cluster.result(first)))
    cluster.submit(3, second)
    cluster.deliver(drop=_involves(1))
    assert cluster.result(second) is None
    cluster.tick(30)
    cluster.deliver()
    assert cluster.result(second).value == "theirs"


def _clock(cluster: Cluster, node: int, now: float) -> None:
    cluster.feed(node, Tick(now))


def test_a_concurrent_sibling_with_a_later_clock_is_not_shown_to_the_writer():
    """Node 2's clock runs ahead: another client's write there (finished first, in real
    time) and the session's later write at node 1 become siblings, and the plain
    resolution shows the older one (a read-your-writes violation). The session's read
    shows only siblings that follow its own write."""
    cluster = Cluster(3, **ONE)
    _clock(cluster, 2, 500.0)
    _write_alone(cluster, 2, Request(8, 1, Set("k", "older")))
    session = _with(ALL, _write_alone(cluster, 1, _request(1, Set("k", "mine"), ALL)))
    assert _final(cluster) == {"older"}  # anti-entropy: both siblings everywhere
    plain = Request(9, 1, Get("k"))
    cluster.submit(3, plain)
    assert cluster.result(plain) == Ok("older")
    read = _request(2, Get("k"), session)
    cluster.submit(3, read)
    assert cluster.result(read).value == "mine"


def _final(cluster: Cluster) -> set:
    cluster.deliver()
    for _ in cluster.members:
        cluster.tick(250)  # anti-entropy rounds
        cluster.deliver()
    return {cluster.value(node) for node in cluster.members}


def _two_writes(guarantees: tuple[str, ...]) -> set:
    """The session writes 1 at node 1 (clock ahead), then 2 at node 2 that never heard
    of 1."""
    session = ClientSession(guarantees)
    cluster = Cluster(3, **ONE)
    _clock(cluster, 1, 500.0)
    first = _write_alone(cluster, 1, _request(1, Set("k", "1"), session))
    _write_alone(cluster, 2, _request(2, Set("k", "2"), _with(session, first)))
    return _final(cluster)


def test_monotonic_writes_a_later_write_overwrites_the_earlier_one_unseen_terry_3_3():
    assert _two_writes(("monotonic-writes",)) == {"2"}
    assert _two_writes(("read-your-writes",)) == {"1"}  # off: the earlier write wins by its clock


def _read_then_write(guarantees: tuple[str, ...]) -> set:
    session = ClientSession(guarantees)
    cluster = Cluster(3, **ONE)
    _clock(cluster, 1, 500.0)
    _write_alone(cluster, 1, Request(8, 1, Set("k", "read")))
    read = _request(1, Get("k"), session)
    cluster.submit(1, read)
    cluster.inflight.clear()
    assert cluster.result(read).value == "read"
    _write_alone(cluster, 2, _request(2, Set("k", "written"), _with(session, cluster.result(read))))
    return _final(cluster)


def test_writes_follow_reads_a_write_overwrites_what_the_session_read_terry_3_4():
    assert _read_then_write(("writes-follow-reads",)) == {"written"}
    assert _read_then_write(("monotonic-reads",)) == {"read"}  # off: what was read outlives the write


def test_the_token_names_what_the_session_wrote_per_key():
    cluster = Cluster(3, **ONE)
    result = _write_alone(cluster, 1, _request(1, Set("k", "v"), ALL))
    (entry,) = sessions.decode(result.session).keys
    assert entry.key == "k" and entry.last_write == (1, 1) and entry.written.covers((1, 1))


def test_bad_sessions_are_refused_definitely():
    cluster = Cluster(3, **ONE)
    unknown = _request(1, Get("k"), ClientSession(("linearizable",)))
    cluster.submit(1, unknown)
    assert isinstance(cluster.result(unknown), BadRequest) and "unknown session guarantee" in cluster.result(
        unknown).reason
    garbage = _request(2, Get("k"), ClientSession(GUARANTEES, b"\xff\x00"))
    cluster.submit(1, garbage)
    assert "not one this scheme issued" in cluster.result(garbage).reason
    lww = Cluster(3, resolution="lww", **ONE)
    request = _request(3, Get("k"), ALL)
    lww.submit(1, request)
    assert "resolution = siblings" in lww.result(request).reason


def test_a_forwarded_request_and_its_answer_carry_the_session_over_the_wire():
    from replikv.core.router import ENVELOPES, Forward, ForwardReply
    from replikv.protocols.quorum import QUORUM_SPEC
    from replikv.runtime.wire import HEADER, WireCodec

    codec = WireCodec(tuple(QUORUM_SPEC.messages) + ENVELOPES)
    forward = Forward(1, _request(1, Get("k"), ClientSession(("read-your-writes",), b"token")))
    answer = ForwardReply(1, Ok("v", session=b"new token"), (7, 1))
    for message in (forward, answer):
        assert codec.decode(codec.frame(message)[HEADER.size:]) == message
    plain = Forward(2, Request(7, 2, Get("k")))
    assert b"session" not in codec.frame(plain)  # no session: encoded as before the field existed
