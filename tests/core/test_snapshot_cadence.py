"""The snapshot cadence every scheme shares (``core.config.compaction_due``, Raft thesis
§5.1.3): a threshold, and a log grown as large as the last snapshot."""

from __future__ import annotations

import pytest

from replikv.core import Ok, Request, Set
from replikv.core.config import NodeConfig, compaction_due
from replikv.core.errors import ConfigError
from replikv.kv import KVStateMachine


@pytest.mark.parametrize(
    ("since", "every", "last_size", "growth", "due"),
    [
        (9, 10, 0, 1.0, False),  # below the threshold
        (10, 10, 0, 1.0, True),  # no snapshot yet: the threshold alone
        (10, 10, 25, 1.0, False),  # the last snapshot held 25 items: the log must reach 25
        (25, 10, 25, 1.0, True),
        (13, 10, 25, 0.5, True),  # growth 0.5: half the snapshot (12.5)
        (12, 10, 25, 0.5, False),
        (10, 10, 10**6, 0.0, True),  # growth 0: the threshold alone, whatever the state
        (10**6, 0, 0, 1.0, False),  # threshold 0: never
    ],
)
def test_compaction_due(since: int, every: int, last_size: int, growth: float, due: bool) -> None:
    assert compaction_due(since, every, last_size, growth) is due


def test_config_rule_uses_both_settings_and_refuses_negative_growth() -> None:
    config = NodeConfig(snapshot_threshold=100, snapshot_growth=2.0)
    assert not config.snapshot_due(150, 100) and config.snapshot_due(200, 100)
    assert NodeConfig().snapshot_due(10_000, 100_000)  # defaults: 10,000 and growth 0.1
    assert not NodeConfig().snapshot_due(10_000, 100_010)
    with pytest.raises(ConfigError, match="snapshot_growth"):
        NodeConfig(snapshot_growth=-1.0).validate()


def test_state_machine_reports_the_size_of_its_last_snapshot() -> None:
    machine = KVStateMachine()
    assert machine.snapshot_size == 0
    for seq in range(1, 4):
        assert machine.apply(Request(7, seq, Set(f"k{seq}", "v"))) == Ok(True)
    data = machine.snapshot()
    assert machine.snapshot_size == 3 + 1  # three keys, one client session
    machine.apply(Request(8, 1, Set("k9", "v")))
    assert machine.snapshot_size == 4  # until the next snapshot
    restored = KVStateMachine()
    restored.restore(data)
    assert restored.snapshot_size == 4
