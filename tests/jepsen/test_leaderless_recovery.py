"""``replikv test`` waits after the heal until the cluster has recovered: every node up
and, for a scheme with a leader, one leading. A leaderless scheme (2pc, 3pc) never has
one, so it recovered once every node is up (it used to wait the whole 30 s and report
"the cluster did not recover")."""

from __future__ import annotations

import pathlib
from dataclasses import dataclass

from replikv.jepsen import nemesis as nemesis_module
from replikv.jepsen.nemesis import Nemesis


@dataclass
class _Row:
    id: int
    state: str = "up"
    status: object = None


@dataclass
class _View:
    rows: list

    def leader(self):
        return None


def _nemesis(monkeypatch, leaderless: bool) -> Nemesis:
    monkeypatch.setattr(nemesis_module.control, "view", lambda root: _View([_Row(1), _Row(2), _Row(3)]))
    return Nemesis(pathlib.Path("/nonexistent"), manual_failover=False, leaderless=leaderless,
                   seconds=lambda: 0.0, say=lambda _: None)


def test_a_leaderless_cluster_has_recovered_once_every_node_is_up(monkeypatch) -> None:
    recovered, notes = _nemesis(monkeypatch, leaderless=True).await_recovery(timeout_s=0.5)
    assert recovered and notes == []


def test_a_cluster_with_a_leader_is_not_recovered_while_none_leads(monkeypatch) -> None:
    recovered, _ = _nemesis(monkeypatch, leaderless=False).await_recovery(timeout_s=0.3)
    assert not recovered
