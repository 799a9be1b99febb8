"""``replikv bench calls``: function calls per request on a node's request path.

This machine's speed moves by up to 2x within minutes (docs/bench.md), so a change that
saves 3% of a write's CPU cannot be seen in ops/s or in CPU per operation. The number
of Python and C function calls a request costs can: it hardly depends on timing. This
bench runs a cluster of ``nodes`` nodes of a scheme on one event loop in this process
(memory WALs, real loopback sockets between them), sends the leader (node 1 for a
scheme without one) ``requests`` writes of new keys from ``clients`` concurrent callers
(with ``read_ratio``, that fraction of them are instead reads, at the scheme's default
read level, of the caller's last key; each caller draws from its own seeded generator,
so the mix is the same every run) through ``Node.execute`` (the ``NodeService`` the
Redis front end calls), and counts the calls every node makes on the loop's thread while
they run (``sys.setprofile``): the whole cluster's calls per request. It also times an uncounted run of the same load for the
CPU per request (of the whole cluster, on this one process).

What it leaves out: the RESP front end (parsing, replies) and the WAL writer threads
(the profile hook sees one thread). What it covers: ``Node``, ``NodeHost``, the effect
pipeline, the scheme's core on every node, and the peer transport's framing.
"""

from __future__ import annotations

import asyncio
import collections
import random
import sys
import time
from typing import Any

from replikv.cluster.ports import free_base_port
from replikv.cluster.state import peer_port
from replikv.core.commands import Get, Set
from replikv.core.errors import Ok
from replikv.core.requests import Request
from replikv.runtime.node import Node
from replikv.schemes import get_spec
from replikv.storage import MemoryWAL

READY_TIMEOUT_S = 10.0
"""How long the node may take to accept its first write (an election, for raft)."""


def run_calls_bench(protocol: str = "raft", nodes: int = 3, requests: int = 6400, clients: int = 32,
                    top: int = 15, read_ratio: float = 0.0, spread: bool = False) -> dict:
    """Count the calls of ``requests`` requests (writes, and reads with ``read_ratio``);
    returns JSON-ready figures. ``spread``: caller ``c`` sends to node ``c mod nodes``
    (followers forward), as ``replikv bench --spread`` does."""
    if not 0.0 <= read_ratio <= 1.0:
        raise ValueError(f"read_ratio must be in [0, 1], not {read_ratio}")
    try:
        import uvloop

        runner: Any = uvloop.run
    except ImportError:  # pragma: no cover - uvloop is a dependency on POSIX
        runner = asyncio.run
    timed = runner(_drive(protocol, nodes, requests, clients, read_ratio, spread, counter=None))
    counts: collections.Counter = collections.Counter()
    counted = runner(_drive(protocol, nodes, requests, clients, read_ratio, spread, counter=counts))
    python = sum(n for (kind, _), n in counts.items() if kind == "py")
    native = sum(n for (kind, _), n in counts.items() if kind == "c")
    n = counted["requests"]
    return {
        "protocol": protocol,
        "nodes": nodes,
        "requests": n,
        "answers": counted["answers"],
        "clients": clients,
        "read_ratio": read_ratio,
        "spread": spread,
        "reads": counted["reads"],
        "python_calls_per_request": round(python / n, 2),
        "c_calls_per_request": round(native / n, 2),
        "cpu_us_per_request": round(timed["cpu_s"] / timed["requests"] * 1e6, 2),
        "top": [[f"{where}", round(count / n, 2)] for (_, where), count in counts.most_common(top)],
    }


async def _drive(protocol: str, nodes: int, requests: int, clients: int, read_ratio: float, spread: bool,
                 counter: collections.Counter | None) -> dict:
    spec = get_spec(protocol)
    config = spec.make_config({})
    base = free_base_port(nodes)
    addresses = {i: ("127.0.0.1", peer_port(base, i)) for i in range(1, nodes + 1)}
    cluster = []
    for i in addresses:
        node = Node(node=i, spec=spec, replica_config=config, wal=MemoryWAL(), peers=addresses,
                    listen=addresses[i])
        node.recover()
        cluster.append(node)
    try:
        for node in cluster:
            await node.start()
        target = await _until_ready(cluster)
        per_client = max(1, requests // clients)
        answers: collections.Counter = collections.Counter()
        reads = 0

        async def client(client_id: int) -> None:
            nonlocal reads
            node = cluster[client_id % len(cluster)] if spread else target
            choose = random.Random(client_id)
            last = "ready"
            for seq in range(1, per_client + 1):
                if read_ratio and choose.random() < read_ratio:
                    reads += 1
                    command: Get | Set = Get(last)
                else:
                    last = f"key:{client_id}:{seq}"
                    command = Set(last, "v" * 16)
                result = await node.execute(Request(client_id, seq, command))
                answers[type(result).__name__] += 1

        hook = _hook(counter) if counter is not None else None
        started = time.process_time()
        if hook is not None:
            sys.setprofile(hook)
        try:
            await asyncio.gather(*(client(100 + c) for c in range(clients)))
        finally:
            sys.setprofile(None)
        return {"requests": per_client * clients, "cpu_s": time.process_time() - started, "answers": dict(answers),
                "reads": reads}
    finally:
        for node in cluster:
            await node.stop()


async def _until_ready(cluster: list[Node]) -> Node:
    """Write through node 1 until a write succeeds; then the node that leads (node 1 for
    a scheme without a leader), so that the measured writes are not forwarded."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    seq = 0
    while True:
        seq += 1
        result = await cluster[0].execute(Request(1, seq, Set("ready", str(seq))))
        if type(result) is Ok:
            break
        if time.monotonic() > deadline:
            raise RuntimeError(f"the cluster did not accept a write within {READY_TIMEOUT_S:.0f} s: {result!r}")
        await asyncio.sleep(0.01)
    leader = cluster[0].status().leader
    return next((node for node in cluster if node.node_id == leader), cluster[0])


def _hook(counter: collections.Counter) -> Any:
    def profile(frame: Any, event: str, arg: Any) -> None:
        if event == "call":
            code = frame.f_code
            counter["py", f"{_short(code.co_filename)}:{code.co_name}"] += 1
        elif event == "c_call":
            counter["c", getattr(arg, "__qualname__", repr(arg))] += 1

    return profile


def _short(filename: str) -> str:
    for marker in ("/replikv/", "/lib/python3"):
        at = filename.rfind(marker)
        if at >= 0:
            return filename[at + 1:]
    return filename

