"""Reading a simulator trace (``replikv sim --trace``, docs/simulator.md "Trace") for the
message-sequence diagrams and ``replikv explain``.

What may live here: parsing the JSONL trace, pairing each ``send`` with its ``deliver``
(or ``drop``), and choosing the events of one write: the after-heal probe (the one write
of a run with no other traffic, so every message in its window is about it) or a
client's operation. Heartbeats are recognised by the scheme's own message classes
(``Message.heartbeat``), never by name.
"""

from __future__ import annotations

import json
from collections import defaultdict, deque
from dataclasses import dataclass
from typing import Any

from replikv.core.replica import ProtocolSpec


def parse(trace: bytes) -> list[dict[str, Any]]:
    return [json.loads(line) for line in trace.splitlines() if line.strip()]


def heartbeat_names(spec: ProtocolSpec) -> set[str]:
    """The names of the scheme's liveness messages (``Message.heartbeat``)."""
    return {m.__name__ for m in spec.messages if getattr(m, "heartbeat", False)}


@dataclass(frozen=True)
class Arrow:
    """One message: sent at ``sent`` by ``src``, delivered at ``delivered`` (None: dropped
    or still in flight when the trace ends)."""

    src: int | str
    dst: int | str
    msg: str
    sent: float
    delivered: float | None
    fields: dict[str, Any]


def arrows(events: list[dict[str, Any]]) -> list[Arrow]:
    """Every message of ``events``, each send paired with the first later deliver (or
    drop) of the same (src, dst, msg): links deliver in order unless the scenario
    reorders, and then the pairing may swap two copies of the same message type, which
    a diagram does not show anyway."""
    pending: dict[tuple, deque[dict[str, Any]]] = defaultdict(deque)
    found: list[tuple[dict[str, Any], float | None]] = []
    index: dict[int, int] = {}
    for event in events:
        if event["ev"] == "send":
            index[id(event)] = len(found)
            found.append((event, None))
            pending[event["src"], event["dst"], event["msg"]].append(event)
        elif event["ev"] in ("deliver", "drop"):
            queue = pending.get((event.get("src"), event.get("dst"), event.get("msg")))
            if queue:
                sent = queue.popleft()
                if event["ev"] == "deliver":
                    found[index[id(sent)]] = (sent, event["t"])
    skip = {"t", "ev", "src", "dst", "msg"}
    return [Arrow(e["src"], e["dst"], e["msg"], e["t"], delivered, {k: v for k, v in e.items() if k not in skip})
            for e, delivered in found]


@dataclass(frozen=True)
class Window:
    """The events of one write: from its start to a little after its answer."""

    start: float
    answered: float | None
    end: float
    node: int | None
    """The node that answered."""
    label: str
    events: list[dict[str, Any]]


def probe_window(events: list[dict[str, Any]], spec: ProtocolSpec) -> Window | None:
    """The after-heal probe write: a single write after the run went quiet. The window
    runs to its answer plus as long again (what a scheme still sends after replying:
    2PC's commit round, a leader's commit index), heartbeats left out."""
    start = next((e["t"] for e in events if e["ev"] == "probe"), None)
    if start is None:
        return None
    done = next((e for e in events if e["ev"] == "probe-ok" and e["t"] >= start), None)
    answered = done["t"] if done is not None else None
    end = (answered + max(answered - start, 1.0)) if answered is not None else start + 50.0
    beats = heartbeat_names(spec)
    chosen = [e for e in events if start <= e["t"] <= end and e.get("msg") not in beats]
    return Window(start, answered, end, done["node"] if done else None, "the probe write after the run", chosen)


def op_window(events: list[dict[str, Any]], spec: ProtocolSpec, nth_write: int = 1) -> Window | None:
    """The ``nth_write`` acknowledged client write of the run (1: the first), from its
    invocation to its completion, with every event in between (concurrent operations
    included: a busy run interleaves them), heartbeats left out."""
    beats = heartbeat_names(spec)
    invoked: dict[int, dict[str, Any]] = {}
    count = 0
    for event in events:
        if event["ev"] == "invoke":
            invoked[event["process"]] = event
        elif event["ev"] == "complete" and event["type"] == "ok" and event["f"] != "read":
            count += 1
            if count == nth_write:
                start = invoked[event["process"]]["t"]
                chosen = [e for e in events if start <= e["t"] <= event["t"] and e.get("msg") not in beats]
                answers = [e["node"] for e in chosen if e["ev"] == "reply" and e.get("client") == event["process"]]
                what = f"{event['f']} {event.get('key')}={event.get('value')} by client process {event['process']}"
                return Window(start, event["t"], event["t"], answers[-1] if answers else None, what, chosen)
    return None
