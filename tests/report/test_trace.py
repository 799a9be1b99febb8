"""Reading traces for the sequence diagrams and ``explain``: the probe write of a quiet
run shows exactly the messages of one write, the chapter's 1n and 2n for primary/backup."""

from __future__ import annotations

import random

import pytest

from replikv import schemes
from replikv.report.trace import arrows, heartbeat_names, parse, probe_window
from replikv.sim.run import SimSettings, run_simulation
from replikv.sim.scenario import load_builtin


def _events(protocol: str, nodes: int = 3) -> list[dict]:
    settings = SimSettings(protocol=protocol, scenario=load_builtin("steady"), seed=1, nodes=nodes, trace=True)
    return parse(run_simulation(settings, random.Random).trace_jsonl())


@pytest.mark.parametrize(("protocol", "nodes", "messages"), [
    ("pb-async", 3, 2), ("pb-async", 5, 4),   # 1n: one Append per backup
    ("pb-sync", 3, 4), ("pb-sync", 5, 8),     # 2n: Append and its ack per backup
])
def test_probe_write_shows_the_chapters_message_count(protocol: str, nodes: int, messages: int) -> None:
    spec = schemes.get_spec(protocol)
    window = probe_window(_events(protocol, nodes), spec)
    assert window is not None and window.answered is not None
    peer = [a for a in arrows(window.events) if isinstance(a.src, int) and isinstance(a.dst, int)]
    assert len(peer) == messages
    assert all(a.delivered is not None and a.delivered >= a.sent for a in peer)
    assert not {a.msg for a in peer} & heartbeat_names(spec)


def test_heartbeats_are_named_by_the_schemes_message_flags() -> None:
    assert "Heartbeat" in heartbeat_names(schemes.get_spec("pb-sync"))
    assert "Append" not in heartbeat_names(schemes.get_spec("pb-sync"))
