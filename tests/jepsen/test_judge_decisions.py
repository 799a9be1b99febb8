"""``replikv test``'s ``no_divergent_decisions`` (2PC/3PC): the judge compares what each
node's records say it decided; promised unless a partition ran and the scheme is not
partition tolerant (3PC)."""

from __future__ import annotations

from replikv.check.decisions import divergent_decisions
from replikv.jepsen.judge import judge_txn
from replikv.schemes import get_spec

SPLIT = {1: {"1/1/4": "committed"}, 2: {"1/1/4": "committed"}, 3: {"1/1/4": "aborted", "2/1/1": "aborted"}}


def test_divergent_decisions_names_the_transaction_and_the_nodes() -> None:
    count, detail = divergent_decisions(SPLIT)
    assert count == 1
    assert detail == "transaction 1/1/4: aborted on nodes [3], committed on nodes [1, 2]"
    assert divergent_decisions({1: {"a": "committed"}, 2: {}})[0] == 0


def _check(scheme: str, partitioned: bool, decisions) -> dict:
    verdict = judge_txn([], digests={1: "d", 2: "d", 3: "d"}, promises=get_spec(scheme).promises,
                        read_level="linearizable", partitioned=partitioned, decisions=decisions)
    return next(c.as_dict() for c in verdict.checks if c.name == "no_divergent_decisions")


def test_judge_fails_divergent_decisions_where_promised() -> None:
    assert _check("2pc", partitioned=True, decisions=SPLIT) | {"detail": ""} == {
        "name": "no_divergent_decisions", "passed": False, "promised": True, "detail": ""}
    assert _check("3pc", partitioned=False, decisions=SPLIT)["promised"] is True
    assert _check("3pc", partitioned=True, decisions=SPLIT)["promised"] is False


def test_schemes_without_decisions_get_no_such_check() -> None:
    verdict = judge_txn([], digests={1: "d"}, promises=get_spec("raft").promises, read_level="linearizable",
                        partitioned=False)
    assert "no_divergent_decisions" not in [c.name for c in verdict.checks]
