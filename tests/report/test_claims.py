"""The chapter's claims that the primary/backup schemes and raft can show, reproduced
(``replikv compare --claim NAME``), and claims that cannot be judged yet reported as
pending rather than faked."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from replikv import schemes
from replikv.cli.main import cli
from replikv.report.claims import CLAIMS, PENDING, REPRODUCED, find, run_claims

SEEDS = 5


def _verdict(name: str, protocols: list[str]):
    specs = [schemes.get_spec(p) for p in protocols]
    [verdict] = run_claims([find(name)], specs, SEEDS, workers=2)
    return verdict


def _rows(verdict) -> dict[str, dict]:
    return {row["scheme"]: row for row in verdict.rows}


def test_async_replication_loses_acked_writes_sync_never_does() -> None:
    verdict = _verdict("async-loses-acked-writes", ["pb-async", "pb-sync"])
    assert verdict.status == REPRODUCED, verdict.summary
    rows = _rows(verdict)
    assert rows["pb-async"]["group"] == "asynchronous" and rows["pb-async"]["holds"]
    assert rows["pb-sync"]["numbers"].startswith("0 acked writes lost")
    assert "--scenario primary-crash-lagging" in rows["pb-async"]["reproduce"]


def test_n_of_n_latency_follows_the_slowest_node() -> None:
    verdict = _verdict("nofn-latency", ["pb-sync", "raft"])
    assert verdict.status == REPRODUCED, verdict.summary
    rows = _rows(verdict)
    assert rows["pb-sync"]["group"] == "N-of-N" and rows["raft"]["group"] == "majority"


def test_auto_failover_splits_the_brain() -> None:
    verdict = _verdict("split-brain-auto-failover", ["pb-async", "pb-sync"])
    assert verdict.status == REPRODUCED, verdict.summary
    assert "--option failover=auto" in _rows(verdict)["pb-async"]["reproduce"]


def test_the_minority_side_stops() -> None:
    verdict = _verdict("minority-stops", ["raft"])
    assert verdict.status == REPRODUCED, verdict.summary
    assert _rows(verdict)["raft"]["numbers"].startswith("0 writes")


def test_a_stale_leader_is_fenced() -> None:
    verdict = _verdict("stale-leader-fenced", ["raft"])
    assert verdict.status == REPRODUCED, verdict.summary


def test_a_claim_without_its_schemes_is_pending_not_judged() -> None:
    # only majority schemes: nobody is asynchronous, so nothing to show either way
    verdict = _verdict("async-loses-acked-writes", ["raft"])
    assert verdict.status == PENDING
    assert "asynchronous" in verdict.summary and not verdict.rows


@pytest.mark.parametrize("claim", [c for c in CLAIMS], ids=lambda c: c.name)
def test_a_claim_whose_scenario_is_missing_is_pending(claim, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("replikv.report.claims.builtin_names", lambda: [])
    specs = [schemes.get_spec(n) for n in ("pb-async", "pb-sync", "raft")]
    assert claim.pending_reason(specs) == f"scenario {claim.scenario} is not built yet"
    assert claim.experiments(specs, SEEDS) == []


def test_list_claims_names_the_schemes_of_each_claim() -> None:
    result = CliRunner().invoke(cli, ["compare", "--list-claims", "--json"])
    assert result.exit_code == 0, result.output
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    assert set(rows) == {c.name for c in CLAIMS}
    assert "pb-sync" in rows["nofn-latency"]["schemes"]["N-of-N"]
    assert "raft" in rows["nofn-latency"]["schemes"]["majority"]


def test_unknown_claim_is_a_usage_error() -> None:
    result = CliRunner().invoke(cli, ["compare", "--claim", "no-such-claim"])
    assert result.exit_code == 2
    assert "unknown claim 'no-such-claim'" in result.output


def test_2pc_blocks_where_3pc_terminates_and_3pc_diverges_under_a_partition() -> None:
    blocked = _verdict("2pc-blocks", ["2pc", "3pc"])
    assert blocked.status == REPRODUCED, blocked.summary
    assert _rows(blocked)["2pc"]["group"].startswith("two-phase")
    split = _verdict("3pc-diverges", ["2pc", "3pc"])
    assert split.status == REPRODUCED, split.summary
    assert _rows(split)["2pc"]["numbers"].startswith("conflicting decisions on 0/")
