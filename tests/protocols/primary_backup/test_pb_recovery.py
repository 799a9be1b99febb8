"""Recovery is a pure fold of the persisted records."""

from __future__ import annotations

import random

import pytest

from replikv.core import CreateArgs, Request, Set
from replikv.kv import KVStateMachine
from replikv.protocols.primary_backup import PB_ASYNC, PB_SYNC
from replikv.protocols.primary_backup.records import EpochRecord

from .harness import Cluster


def write(seq: int, key: str = "k") -> Request:
    return Request(client_id=7, seq=seq, command=Set(key, str(seq)))


def recover(spec, node: int, records, config):
    args = CreateArgs(node, (1, 2, 3), config, random.Random(0), KVStateMachine(), tuple(records))
    return spec.create(args)


@pytest.mark.parametrize("scheme", ["pb-async", "pb-sync"])
@pytest.mark.parametrize("threshold", [0, 4])
def test_recovery_from_records_rebuilds_the_same_durable_state(scheme: str, threshold: int) -> None:
    cluster = Cluster(scheme, snapshot_threshold=threshold)
    cluster.tick()
    cluster.partition((1,), (2, 3))
    cluster.submit(1, write(1))
    cluster.submit(2, Request(99, 1, __import__("replikv.core", fromlist=["Promote"]).Promote()))
    for seq in range(2, 12):
        cluster.submit(2, write(seq, key=f"k{seq % 3}"))
    cluster.heal()
    cluster.tick(cluster.config.heartbeat_ms * 2)  # node 1 steps down and truncates
    spec = cluster.spec
    for node in (1, 2, 3):
        rebuilt = recover(spec, node, cluster.nodes[node].durable, cluster.config)
        before = cluster.replica(node)
        if before.status().role == "backup":
            assert rebuilt.durable_state() == before.durable_state(), node
            if scheme == "pb-async":
                assert rebuilt.state_machine().items() == before.state_machine().items()
        else:  # a primary resumes in a fresh epoch: same log, newer epoch
            assert rebuilt.durable_state()[1:] == before.durable_state()[1:]


def test_no_records_is_the_initial_state() -> None:
    config = PB_SYNC.make_config({})
    fresh = recover(PB_SYNC, 1, [], config).status()
    assert (fresh.role, fresh.term, fresh.leader, fresh.last_index) == ("primary", 1, 1, 0)
    backup = recover(PB_SYNC, 3, [], config).status()
    assert (backup.role, backup.term, backup.leader) == ("backup", 1, 1)


def test_a_backup_recovers_the_epoch_it_adopted() -> None:
    config = PB_ASYNC.make_config({})
    replica = recover(PB_ASYNC, 3, [EpochRecord(2, 2)], config)
    assert (replica.status().term, replica.status().leader, replica.status().role) == (2, 2, "backup")


def test_unknown_records_are_refused_with_a_clear_error() -> None:
    config = PB_ASYNC.make_config({})
    from replikv.core.messages import Record

    class Alien(Record, frozen=True):
        pass

    with pytest.raises(ValueError, match="cannot recover from Alien"):
        recover(PB_ASYNC, 2, [Alien()], config)


def test_config_rejects_an_unknown_failover_mode_and_unknown_fields() -> None:
    from replikv.core import ConfigError

    with pytest.raises(ConfigError, match="failover"):
        PB_SYNC.make_config({"failover": "sometimes"})
    with pytest.raises(ConfigError):
        PB_SYNC.make_config({"no_such_option": 1})
