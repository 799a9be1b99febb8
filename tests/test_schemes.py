"""The scheme registry: built-in schemes, and the one door for schemes from outside."""

from __future__ import annotations

import pathlib
import tomllib
from importlib.metadata import entry_points

from replikv import schemes

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_the_product_registers_no_scheme_through_entry_points():
    """Planted bugs are one install away, never one environment variable away: the
    product's own metadata declares no scheme, only the test kit does."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert schemes.ENTRY_POINT_GROUP not in project.get("entry-points", {})
    for ep in entry_points(group=schemes.ENTRY_POINT_GROUP):
        assert ep.dist is not None and ep.dist.name == "replikv-testkit", ep


def test_builtin_schemes_carry_no_planted_bug():
    assert schemes.builtin() == ["backup", "pb-async", "pb-sync", "raft", "paxos", "multipaxos", "zab", "2pc", "3pc",
                                 "quorum"]
    for name in schemes.builtin():
        assert "PLANTED" not in schemes.get_spec(name).summary


def test_a_scheme_with_acks_of_durable_state_supplies_a_durable_view():
    """The node driver judges such acks against the durable records (issue 9.1)."""
    for name in schemes.names():
        spec = schemes.get_spec(name)
        if any(m.asserts_durable for m in spec.messages):
            assert spec.durable_view is not None, name
