"""A Paxos ballot ``(round, node)`` is shown readably as ``round.node`` in ``replikv
cluster status``'s term column and in INFO's ``term`` line (it used to be ``-`` and
``(3, 2)``); integer terms are shown as before."""

from __future__ import annotations

from replikv.cli.cluster_cmd import _term_cell
from replikv.cluster.admin import _from_mapping
from replikv.core.replica import Status
from replikv.resp.info import FrontEndFacts, info

from .steps import elect, make


def _status_json(term) -> dict:
    """What ``RKVADMIN status`` carries (JSON: a ballot tuple becomes a list)."""
    return {"status": {"node": 1, "role": "leader", "term": term, "leader": 1, "commit_index": 4,
                       "applied_index": 4, "last_index": 4, "members": [1, 2, 3]}}


def test_status_table_shows_a_ballot_as_round_dot_node():
    assert _term_cell(_from_mapping(_status_json([3, 2]))) == "3.2"


def test_status_table_shows_an_integer_term_and_a_missing_one_as_before():
    assert _term_cell(_from_mapping(_status_json(7))) == "7"
    assert _term_cell(None) == "-"


def _info_lines(status: Status) -> list[str]:
    facts = FrontEndFacts(node_id=1, scheme="multipaxos", port=7001, connected_clients=1, max_clients=10,
                          max_bulk=1 << 20, idle_timeout_s=0.0)
    return info(["replication"], status, facts).data.decode().split("\r\n")


def test_info_term_line_shows_the_leaders_ballot():
    leader = make(2)
    elect(leader)
    assert leader.status().term == (1, 2)
    assert "term:1.2" in _info_lines(leader.status())


def test_info_term_line_keeps_an_integer_term():
    status = Status(node=1, role="leader", term=5, leader=1, commit_index=0, applied_index=0, last_index=0,
                    members=(1, 2, 3))
    assert "term:5" in _info_lines(status)
