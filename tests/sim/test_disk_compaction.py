"""The simulated disk models compactions as the runtime's WAL writes them (sim/disk.py):
durable with the writes before them, swapped in a write's time later, and a crash
before the swap recovers the old records with every write since."""

from __future__ import annotations

import pytest

from replikv import schemes
from replikv.core.messages import Record
from replikv.sim.disk import Disk


class R(Record, frozen=True):
    name: str


def test_a_compaction_is_durable_with_the_write_before_it_and_takes_no_disk_time() -> None:
    disk = Disk()
    assert disk.write(0.0, 1, (R("a"),), False, 2.0) == 2.0
    assert disk.write(0.0, 2, (R("snap"),), True, 5.0, compaction=True) == 2.0
    assert disk.write(0.0, 3, (R("b"),), False, 2.0) == 4.0


def test_a_crash_before_the_swap_keeps_the_old_records_and_every_later_write() -> None:
    disk = Disk()
    disk.write(0.0, 1, (R("a"),), False, 1.0)
    disk.write(0.0, 2, (R("snap"),), True, 1.0, compaction=True)
    disk.write(0.0, 3, (R("b"),), False, 1.0)
    disk.complete(3)
    assert disk.records == [R("a"), R("b")]
    disk.crash()
    disk.swap(2)  # a swap event of the crashed incarnation changes nothing
    assert disk.records == [R("a"), R("b")]


def test_the_swap_makes_the_compaction_and_the_writes_since_the_records() -> None:
    disk = Disk()
    disk.write(0.0, 1, (R("a"),), False, 1.0)
    disk.write(0.0, 2, (R("snap"),), True, 1.0, compaction=True)
    disk.write(0.0, 3, (R("b"),), False, 1.0)
    disk.complete(3)
    disk.write(0.0, 4, (R("c"),), False, 1.0)
    disk.complete(4)
    disk.swap(2)
    assert disk.records == [R("snap"), R("b"), R("c")]
    disk.write(0.0, 5, (R("d"),), False, 1.0)
    disk.complete(5)
    assert disk.records == [R("snap"), R("b"), R("c"), R("d")]


def test_a_replace_or_a_newer_compaction_abandons_one_not_yet_swapped() -> None:
    disk = Disk()
    disk.write(0.0, 1, (R("own"),), True, 1.0, compaction=True)
    disk.write(0.0, 2, (R("installed"),), True, 1.0)
    disk.complete(2)
    disk.swap(1)
    assert disk.records == [R("installed")]
    disk.write(0.0, 3, (R("older"),), True, 1.0, compaction=True)
    disk.write(0.0, 4, (R("x"),), False, 1.0)
    disk.write(0.0, 5, (R("newer"),), True, 1.0, compaction=True)
    disk.complete(5)
    disk.swap(3)
    assert disk.records == [R("installed"), R("x")]
    disk.swap(5)
    assert disk.records == [R("newer")]


@pytest.mark.parametrize("protocol", schemes.builtin())
def test_nothing_is_lost_when_nodes_crash_while_a_compaction_is_being_written(monkeypatch, protocol: str) -> None:
    """The built-in ``crash-during-compaction`` scenario really crashes nodes between a
    compaction's durability and its swap (counted here) in every scheme, each of which
    marks its own snapshots as compactions, and each keeps what it promises (no failed
    check: linearizable and nothing acknowledged lost where it promises so) and never
    acks what its disk does not hold (no durability violation)."""
    import random

    from replikv.sim import disk as disk_module
    from replikv.sim.run import SimSettings, run_simulation
    from replikv.sim.scenario import load_builtin

    inside, compactions = [], []
    crash, write = disk_module.Disk.crash, disk_module.Disk.write

    def counting_crash(self, *args, **kwargs):
        inside.append(self._compacting is not None)
        return crash(self, *args, **kwargs)

    def counting_write(self, now, seq, records, replace, latency, compaction=False):
        compactions.append(compaction)
        return write(self, now, seq, records, replace, latency, compaction)

    monkeypatch.setattr(disk_module.Disk, "crash", counting_crash)
    monkeypatch.setattr(disk_module.Disk, "write", counting_write)
    for seed in (1, 2, 3):
        settings = SimSettings(protocol=protocol, scenario=load_builtin("crash-during-compaction"), seed=seed)
        report = run_simulation(settings, random.Random).report
        where = report["reproduce"]
        assert report["failed"] == [], where
        assert report["violations"] == [], where
    assert sum(compactions) >= 10, f"{protocol} emitted {sum(compactions)} compactions"
    assert sum(inside) >= 2, f"only {sum(inside)} of {len(inside)} crashes fell inside a compaction"
