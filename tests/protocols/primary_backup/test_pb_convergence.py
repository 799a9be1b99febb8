"""End to end on the in-test network: seeded faults, then heal and require convergence."""

from __future__ import annotations

import random

import pytest

from replikv.core import Ok, Promote, Request, Set

from .harness import Cluster


def run_faulty(scheme: str, seed: int, failover: str) -> Cluster:
    rng = random.Random(seed)
    cluster = Cluster(scheme, failover=failover, snapshot_threshold=rng.choice([0, 7]))
    cluster.tick()
    seq = 0
    for _ in range(60):
        action = rng.random()
        up = [m for m in cluster.members if m not in cluster.down]
        if action < 0.08 and len(up) > 1:
            cluster.crash(rng.choice(up))
        elif action < 0.16 and cluster.down:
            cluster.restart(rng.choice(sorted(cluster.down)))
        elif action < 0.22:
            node = rng.choice(cluster.members)
            cluster.partition((node,), tuple(m for m in cluster.members if m != node))
        elif action < 0.28:
            cluster.heal()
        elif action < 0.31 and failover == "manual":
            cluster.submit(rng.choice(up), Request(1000 + seq, 1, Promote()))
        else:
            seq += 1
            primaries = [m for m in up if cluster.status(m).role == "primary"]
            target = rng.choice(primaries or up)
            cluster.submit(target, Request(1, seq, Set(f"k{seq % 5}", str(seq))))
        cluster.tick(rng.choice([10.0, 50.0, 200.0]))
    for node in sorted(cluster.down):
        cluster.restart(node)
    cluster.heal()
    primaries = [m for m in cluster.members if cluster.status(m).role == "primary"]
    if not primaries:  # manual mode with nobody primary: the operator promotes one
        cluster.submit(1, Request(9999, 1, Promote()))
    cluster.tick(cluster.config.failover_timeout_ms * 4)
    return cluster


@pytest.mark.parametrize("scheme", ["pb-async", "pb-sync"])
@pytest.mark.parametrize("failover", ["manual", "auto"])
def test_replicas_converge_after_faults_heal(scheme: str, failover: str) -> None:
    for seed in range(12):
        cluster = run_faulty(scheme, seed, failover)
        roles = [cluster.status(m).role for m in cluster.members]
        assert roles.count("primary") == 1, (seed, roles)
        logs = {cluster.replica(m).durable_state()[1:] for m in cluster.members}
        statuses = [cluster.status(m) for m in cluster.members]
        assert len({s.last_index for s in statuses}) == 1, (seed, statuses)
        assert len({s.term for s in statuses}) == 1, (seed, statuses)
        digests = {cluster.replica(m).state_machine().digest() for m in cluster.members}
        assert len(digests) == 1, (seed, logs, [cluster.data(m) for m in cluster.members])


def test_sync_never_loses_an_acknowledged_write_with_manual_failover() -> None:
    for seed in range(12):
        cluster = run_faulty("pb-sync", seed, "manual")
        final = cluster.data(1)
        acked: dict[str, int] = {}
        for _, reply in cluster.replies:
            command = reply.request.command
            if isinstance(command, Set) and reply.result == Ok(True):
                acked[command.key] = max(acked.get(command.key, 0), reply.request.seq)
        for key, seq in acked.items():
            assert int(final[key]) >= seq, (seed, key, seq, final)
