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


def test_sequential_reads_are_judged_by_sequential_consistency_and_it_is_promised():
    from replikv.jepsen.judge import default_model, model_promised
    from replikv.schemes import get_spec

    assert default_model("sequential") == "sequential"  # was linearizable
    assert model_promised(get_spec("zab").promises, "sequential", partitioned=True, override=False)
    assert default_model("local") == "read-your-writes" and default_model("linearizable") == "linearizable"
