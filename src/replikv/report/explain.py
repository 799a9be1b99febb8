"""``replikv explain``: one simulated run told step by step in words, from its trace.

What may live here: turning trace events (docs/simulator.md "Trace") into sentences
(who sent what to whom, who persisted and when it was durable, who committed, where the
client's answer came from) and a closing summary of one write. It reads only the trace
and the scheme's declarations (``leader_word``, heartbeat message classes).
"""

from __future__ import annotations

from typing import Any

from replikv.core.replica import ProtocolSpec
from replikv.report.trace import Window, heartbeat_names

_SKIP = {"t", "ev", "src", "dst", "msg", "node"}


def _who(endpoint: Any) -> str:
    if isinstance(endpoint, str) and endpoint.startswith("c"):
        return f"client {endpoint[1:]}"
    return f"node {endpoint}"


def _fields(event: dict[str, Any], skip: set[str] = _SKIP) -> str:
    rest = {k: v for k, v in event.items() if k not in skip and v is not None}
    return f" ({', '.join(f'{k}={v}' for k, v in rest.items())})" if rest else ""


def sentence(event: dict[str, Any], spec: ProtocolSpec) -> str | None:
    """One event in words (None: nothing to say)."""
    ev = event["ev"]
    node = event.get("node")
    match ev:
        case "role":
            return f"node {node} is now {event['role']} (generation {event['term']})"
        case "invoke":
            return f"client process {event['process']} starts {event['f']} {event.get('key')} {event.get('value')!r}"
        case "complete":
            return (f"client process {event['process']} hears back: {event['type']} for {event['f']} "
                    f"{event.get('key')} (value {event.get('value')!r})")
        case "send":
            return f"{_who(event['src'])} sends {event['msg']} to {_who(event['dst'])}{_fields(event)}"
        case "deliver":
            return f"{_who(event['dst'])} receives {event['msg']} from {_who(event['src'])}"
        case "drop":
            return f"the network drops {event.get('msg')} from {_who(event.get('src'))} to {_who(event.get('dst'))}" \
                   f" ({event.get('why', 'no reason given')})"
        case "persist":
            records = event.get("records", 0)
            how = "replaces its durable state with" if event.get("replace") else "writes"
            return f"node {node} {how} {records} record{'s' if records != 1 else ''} to its disk (write #{event['seq']})"
        case "durable":
            return f"node {node}'s disk write #{event['seq']} is durable (fsynced): what follows it may now leave"
        case "commit":
            who = f" from client {event['client']} #{event['seq']}" if "client" in event else ""
            return f"node {node} decides (commits) index {event.get('index')}: {event.get('op')}{who}"
        case "reply":
            return f"node {node} answers client {event['client']} #{event['seq']}: {event['result']}"
        case "probe":
            return "the run is quiet: the simulator sends one probe write to check the cluster still commits"
        case "probe-ok":
            return f"the probe write is acknowledged by node {node} after {event.get('ms')} ms"
        case _:
            return f"{ev}{_fields(event, {'t', 'ev'})}"


def narrate(events: list[dict[str, Any]], spec: ProtocolSpec, heartbeats: bool = False,
            limit: int | None = None) -> list[str]:
    """``[t ms] sentence`` per event, heartbeats left out unless asked for."""
    beats = set() if heartbeats else heartbeat_names(spec)
    lines = []
    for event in events:
        if event.get("msg") in beats:
            continue
        text = sentence(event, spec)
        if text is None:
            continue
        lines.append(f"[{event['t']:>10.3f} ms] {text}")
        if limit is not None and len(lines) >= limit:
            lines.append(f"... (stopped after {limit} steps; --limit N for more)")
            break
    return lines


def summary(window: Window, spec: ProtocolSpec) -> list[str]:
    """Who persisted, who decided, where the answer came from, how many peer messages."""
    beats = heartbeat_names(spec)
    durable = sorted({e["node"] for e in window.events if e["ev"] == "durable"})
    decided = sorted({e["node"] for e in window.events if e["ev"] == "commit"})
    peer = [e for e in window.events if e["ev"] == "send" and isinstance(e["src"], int)
            and isinstance(e["dst"], int) and e.get("msg") not in beats]
    replies = [e for e in window.events if e["ev"] == "reply"]
    answer = window.node if window.node is not None else (replies[-1]["node"] if replies else None)
    took = f" {window.answered - window.start:.3f} ms after it started" if window.answered is not None else ""
    lines = [f"In short ({window.label}):",
             f"- {len(peer)} peer messages (heartbeats left out; the chapter says {spec.messages_per_write or '?'} "
             "for one write)",
             f"- durable on: {', '.join(f'node {n}' for n in durable) or 'no node'}",
             f"- decided (committed) by: {', '.join(f'node {n}' for n in decided) or 'no node in this window'}",
             f"- the client's answer came from {f'node {answer}' if answer is not None else 'no node'}{took}"]
    return lines
