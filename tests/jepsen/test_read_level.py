"""``replikv test``'s clients name the read level asked for: zab serves sequential reads
by default, so leaving the level to the server made ``--read-level linearizable`` runs
read at the sequential level and fail the linearizable check (stale reads at followers)."""

from __future__ import annotations

from replikv.jepsen.runner import client_read_level


def test_the_level_asked_for_is_named_when_the_scheme_offers_it():
    assert client_read_level("zab", "linearizable") == "linearizable"
    assert client_read_level("raft", "linearizable") == "linearizable"
    assert client_read_level("zab", "sequential") == "sequential"


def test_a_scheme_that_does_not_offer_it_gets_its_default():
    assert client_read_level("2pc", "lease") is None
