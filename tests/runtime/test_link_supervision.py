"""Peer links are supervised (issue 8, item 3): an unexpected exception in a link -- uvloop's
``RuntimeError`` on a write to a transport whose read side just closed -- is logged and the
link reconnects; a link task that ends anyway is restarted with its queue; the link's
state (up/down, since, connects) is visible, and INFO shows it per peer."""

from __future__ import annotations

import asyncio
import logging

import pytest
from rt_helpers import run, until
from rt_toy import ToyAppend
from test_transport import _append, _pair

from replikv.core.replica import Status
from replikv.resp.info import FrontEndFacts, info
from replikv.runtime.transport import LinkState


class _Fault:
    """Make the next ``StreamWriter.write`` of a link's batch raise, as uvloop does."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, exc: BaseException) -> None:
        self.armed = False
        self.fired = 0
        original = asyncio.StreamWriter.write

        def write(writer: asyncio.StreamWriter, data: bytes) -> None:
            if self.armed:
                self.armed = False
                self.fired += 1
                raise exc
            original(writer, data)

        monkeypatch.setattr(asyncio.StreamWriter, "write", write)


async def _delivered(inbox: asyncio.Queue, index: int, timeout: float = 5.0) -> None:
    while True:
        src, msg = await asyncio.wait_for(inbox.get(), timeout)
        if isinstance(msg, ToyAppend) and msg.index == index:
            return


def test_a_runtime_error_on_write_is_logged_and_the_link_reconnects(monkeypatch, caplog) -> None:
    fault = _Fault(monkeypatch, RuntimeError("unable to perform operation on <TCPTransport closed=True>"))

    async def scenario() -> None:
        a, b, _, inbox_b = await _pair()
        a.send(2, _append(1))
        await _delivered(inbox_b, 1)
        assert a.link_states()[0].up and a.link_states()[0].connects == 1
        for round_ in range(1, 4):
            fault.armed = True
            a.send(2, _append(100 + round_))  # this batch meets the fault and is lost
            await until(lambda r=round_: fault.fired == r, what="the fault")
            a.send(2, _append(200 + round_))
            await _delivered(inbox_b, 200 + round_)  # the link came back by itself
        state = a.link_states()[0]
        assert state.up and state.connects == 4 and state.failures >= 3
        assert "RuntimeError" in state.last_error
        await a.close()
        await b.close()

    with caplog.at_level(logging.WARNING, logger="replikv.transport"):
        run(scenario())
    assert sum("RuntimeError" in r.getMessage() for r in caplog.records) == 3


def test_a_link_task_that_ends_is_restarted_with_its_queue(monkeypatch, caplog) -> None:
    async def scenario() -> None:
        a, b, _, inbox_b = await _pair()
        a.send(2, _append(1))
        await _delivered(inbox_b, 1)
        link = a._links[2]
        original = type(link).went_down
        calls = {"n": 0}

        def failing(self, error: str) -> None:  # a bug in the link's own bookkeeping
            original(self, error)
            calls["n"] += 1
            if calls["n"] == 1:
                raise ValueError("bookkeeping bug")

        monkeypatch.setattr(type(link), "went_down", failing)
        fault = _Fault(monkeypatch, OSError("connection reset"))
        fault.armed = True
        a.send(2, _append(2))
        await until(lambda: link.restarts == 1, what="the supervisor to restart the link")
        a.send(2, _append(3))
        await _delivered(inbox_b, 3)
        assert a.link_states()[0].up
        await a.close()
        await b.close()

    with caplog.at_level(logging.ERROR, logger="replikv.transport"):
        run(scenario())
    assert any("ended unexpectedly" in r.getMessage() for r in caplog.records)


def test_a_down_link_shows_in_info_and_the_queue_stays_bounded() -> None:
    async def scenario() -> None:
        a, b, _, inbox_b = await _pair(send_queue_frames=50)
        a.send(2, _append(1))
        await _delivered(inbox_b, 1)
        await b.close()
        await until(lambda: not a.link_states()[0].up, what="the link to go down")
        for i in range(1000):
            a.send(2, _append(10 + i))
        state = a.link_states()[0]
        assert state.queued <= 50 and state.dropped >= 950
        await a.close()
        return state

    state = run(scenario())
    status = Status(node=1, role="leader", term=1, leader=1, commit_index=0, applied_index=0, last_index=0,
                    members=(1, 2))
    facts = FrontEndFacts(node_id=1, scheme="raft", port=1, connected_clients=0, max_clients=1, max_bulk=1,
                          idle_timeout_s=0, links=(state, LinkState(3, True, 1.5, 2, 1, 0, 0, "")))
    text = info(["replication"], status, facts).data.decode()
    assert "link_2:down\r\n" in text and "link_3:up\r\n" in text
    assert "link_3_detail:since_s=1.500,connects=2,failures=1,queued=0,dropped=0\r\n" in text
