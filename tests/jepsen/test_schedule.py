"""The nemesis schedule: seeded, printed, the same seed gives the same schedule."""

from __future__ import annotations

import pytest

from replikv.jepsen.schedule import (
    KINDS,
    LEAD_IN_S,
    TAIL_S,
    describe_schedule,
    make_schedule,
    parse_kinds,
)


def test_same_seed_same_schedule_other_seed_other_schedule() -> None:
    first = make_schedule(7, KINDS, 60.0, 3)
    assert first == make_schedule(7, KINDS, 60.0, 3)
    assert describe_schedule(7, first) == describe_schedule(7, make_schedule(7, KINDS, 60.0, 3))
    others = [make_schedule(seed, KINDS, 60.0, 3) for seed in range(8, 13)]
    assert all(other != first for other in others)


@pytest.mark.parametrize("seed", range(20))
def test_windows_fit_in_the_run_do_not_overlap_and_name_real_nodes(seed: int) -> None:
    windows = make_schedule(seed, ("kill", "pause", "partition", "restart-all"), 30.0, 5)
    assert windows, "a 30 s run has room for faults"
    assert windows[0].start_s >= LEAD_IN_S
    assert windows[-1].end_s <= 30.0 - TAIL_S
    for before, after in zip(windows, windows[1:], strict=False):
        assert before.end_s <= after.start_s
    for window in windows:
        assert window.end_s > window.start_s
        assert window.kind in KINDS
        if window.kind == "restart-all":
            assert window.node == 0 and not window.prefer_leader
        else:
            assert 1 <= window.node <= 5


def test_only_the_asked_kinds_and_every_kind_eventually() -> None:
    seen = {w.kind for seed in range(30) for w in make_schedule(seed, ("pause", "partition"), 30.0, 3)}
    assert seen == {"pause", "partition"}


def test_no_faults_and_runs_too_short_for_one() -> None:
    assert make_schedule(1, (), 30.0, 3) == []
    assert make_schedule(1, ("kill",), 3.0, 3) == []
    assert "no faults" in describe_schedule(1, [])


def test_printed_schedule_names_the_seed_and_each_window() -> None:
    windows = make_schedule(4, ("kill",), 20.0, 3)
    text = describe_schedule(4, windows)
    assert text.splitlines()[0] == f"nemesis schedule (seed 4): {len(windows)} fault(s)"
    assert len(text.splitlines()) == len(windows) + 1
    assert all("kill" in line for line in text.splitlines()[1:])


def test_parse_kinds() -> None:
    assert parse_kinds("kill,pause") == ("kill", "pause")
    assert parse_kinds(" Partition , kill,kill") == ("partition", "kill")
    assert parse_kinds("none") == ()
    with pytest.raises(ValueError, match="unknown nemesis crash"):
        parse_kinds("kill,crash")
    with pytest.raises(ValueError, match="none alone"):
        parse_kinds("none,kill")
    with pytest.raises(ValueError, match="at least one"):
        parse_kinds(" , ")
