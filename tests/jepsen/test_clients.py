"""The harness's clients (jepsen/clients.py) against a fake node behind a real RESP
server: what a retried operation is recorded as."""

from __future__ import annotations

import ast
import asyncio
import itertools
import pathlib
import random

import pytest

import replikv.jepsen
from replikv.client import Client
from replikv.core.errors import BadRequest, ClientError, Unavailable
from replikv.jepsen.clients import WorkerSettings, harness_client, perform
from replikv.jepsen.workload import PlannedOp
from replikv.resp.server import close_resp, serve_resp
from replikv.resp.testing import FakeCluster

LIMIT_S = 20


def run_one(steps: list[str | ClientError], op: PlannedOp) -> tuple[tuple, FakeCluster]:
    """``perform`` one operation with the harness's client; the node answers ``steps``."""
    cluster = FakeCluster(1)
    cluster.nodes[1].script.steps.extend(steps)

    async def main() -> tuple:
        ids = itertools.count(1)
        server = await serve_resp(cluster.nodes[1], port=0, client_ids=lambda: next(ids))
        address = f"127.0.0.1:{server.sockets[0].getsockname()[1]}"
        settings = WorkerSettings([address], read_level=None, seed=1, stop_at_s=0.0)
        client = harness_client(settings, 0, random.Random(1))
        try:
            assert isinstance(client, Client)
            return await asyncio.wait_for(perform(client, op), LIMIT_S)
        finally:
            await client.close()
            await asyncio.wait_for(close_resp(server), LIMIT_S)

    return asyncio.run(main()), cluster


@pytest.mark.parametrize(
    "refusal", [BadRequest("over the node's request budget"), Unavailable("backup 2 is down")]
)
def test_an_applied_write_refused_on_retry_is_recorded_info_not_fail(refusal) -> None:
    """Issue 8.6: the first attempt is applied and its reply lost, the retry is refused
    with a definite error. The harness must record ``info`` (may have happened): a
    ``fail`` would tell the checker the write never happened, and the read of it that
    follows would look like a bug of the scheme."""
    (outcome, value, error), cluster = run_one(
        ["apply-lose-reply", refusal, refusal, refusal], PlannedOp("write", "k", 7)
    )
    assert cluster.state_machine.get("k") == "7"
    assert outcome == "info", (outcome, error)


def test_retries_of_the_harness_client_apply_a_write_once() -> None:
    (outcome, _, _), cluster = run_one(["apply-lose-reply"], PlannedOp("write", "k", 3))
    assert outcome == "ok"
    assert len(cluster.applied) == 2  # the first copy and the retry ...
    assert len({(r.client_id, r.seq) for r in cluster.applied}) == 1  # ... of one identity


def test_the_harness_does_not_use_redis_py() -> None:
    """redis-py retries a timed-out command up to 10 times by default, without a request
    identity (docs/redis.md); the harness's clients are replikv's own."""
    root = pathlib.Path(replikv.jepsen.__file__).parent
    for path in sorted(root.glob("*.py")):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = (
                [a.name for a in node.names] if isinstance(node, ast.Import)
                else [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            )
            assert not any(n == "redis" or n.startswith("redis.") for n in names), path
