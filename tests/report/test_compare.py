"""``replikv compare``: every scheme of the registry gets a full row, and each cell's
number is what its reproduce line prints (``replikv sim ... --seeds N --json``)."""

from __future__ import annotations

import json
import shlex

import pytest
from click.testing import CliRunner

from replikv import schemes
from replikv.cli.main import cli
from replikv.report.cells import COLUMNS
from replikv.report.comparison import Comparison, choose_schemes, compare
from replikv.report.jsonout import comparison_json

SEEDS = 3


@pytest.fixture(scope="module")
def small() -> Comparison:
    return compare("pb-async,pb-sync,raft", seeds=SEEDS, workers=2)


def _sim_summary(reproduce: str) -> dict:
    argv = shlex.split(reproduce)
    assert argv[:2] == ["replikv", "sim"], reproduce
    result = CliRunner().invoke(cli, [*argv[1:], "--json"])
    assert result.exit_code in (0, 1), result.output
    return json.loads(result.stdout)["summary"]


@pytest.mark.parametrize(("scheme", "column", "read"), [
    ("pb-async", "lost_writes", lambda s: s["lost_acked_writes_total"]),
    ("pb-sync", "one_down", lambda s: s["write_availability_p50"]),
    ("raft", "latency", lambda s: s["steady_latency_ms"]),
    ("raft", "messages", lambda s: s["messages_per_write"]),
    ("pb-sync", "failover", lambda s: s["failover_ms"]["p50"]),
    ("pb-async", "throughput", lambda s: s["throughput_ops_s"]),
    ("pb-sync", "consistency", lambda s: s["linearizable_fraction"]),
])
def test_cell_number_is_what_its_reproduce_line_prints(small: Comparison, scheme: str, column: str, read) -> None:
    cell = small.cells[scheme][column]
    assert cell.reproduce is not None and "--seeds" in cell.reproduce
    assert cell.value == read(_sim_summary(cell.reproduce))


def test_every_cell_says_something(small: Comparison) -> None:
    for scheme, row in small.cells.items():
        assert set(row) == {c.name for c in COLUMNS}
        for name, cell in row.items():
            assert cell.text.strip(), f"{scheme} {name} is empty"
            assert cell.na or cell.reproduce, f"{scheme} {name} has no reproduce line"


def test_the_table_shows_the_chapter_on_the_three_first_schemes(small: Comparison) -> None:
    # pb-sync is N-of-N: writes stop with one backup down; the others go on
    assert small.cells["pb-sync"]["one_down"].value == 0
    assert small.cells["pb-async"]["one_down"].value >= 0.9
    assert small.cells["raft"]["one_down"].value >= 0.9
    # messages per write: pb-async 1 x (N-1), pb-sync 2 x (N-1), next to the chapter's figure
    assert small.cells["pb-async"]["messages"].value == 2.0
    assert "chapter: 1n" in small.cells["pb-async"]["messages"].text
    assert small.cells["pb-sync"]["messages"].value == 4.0
    assert "elected" in small.cells["raft"]["failover"].text
    # with replication lag before the crash, pb-async loses acknowledged writes; the others none
    assert small.cells["pb-async"]["lost_writes"].value > 0 and small.cells["pb-async"]["lost_writes"].bad
    assert small.cells["pb-sync"]["lost_writes"].value == 0
    assert small.cells["raft"]["lost_writes"].value == 0


def test_json_holds_cells_and_sweeps(small: Comparison) -> None:
    data = json.loads(json.dumps(comparison_json(small)))
    cell = data["schemes"]["raft"]["cells"]["lost_writes"]
    assert cell["sweep"] in data["sweeps"]
    assert data["sweeps"][cell["sweep"]]["reproduce"] == cell["reproduce"]
    assert len(data["sweeps"][cell["sweep"]]["runs"]) == SEEDS


def test_all_means_every_builtin_scheme_that_imports() -> None:
    chosen = [s.name for s in choose_schemes("all")]
    assert chosen == [n for n in schemes.builtin() if n in chosen]
    assert {"pb-async", "pb-sync", "raft"} <= set(chosen)


def test_every_registered_scheme_gets_a_full_row() -> None:
    # one seed each: a scheme joins through its declarations; where a column does not
    # apply, the cell says why
    comparison = compare("all", seeds=1, workers=2)
    for spec in comparison.specs:
        for name, cell in comparison.cells[spec.name].items():
            assert cell.text.strip(), f"{spec.name} {name} is empty"
            if cell.na:
                assert cell.text.startswith(("n/a", "not offered")), cell.text


def test_unknown_scheme_is_a_usage_error() -> None:
    result = CliRunner().invoke(cli, ["compare", "--protocols", "pb-sync,nope"])
    assert result.exit_code == 2
    assert "unknown protocol 'nope'" in result.output


def test_the_table_does_not_depend_on_the_number_of_workers() -> None:
    one = compare("pb-async", seeds=2, workers=1)
    two = compare("pb-async", seeds=2, workers=2)
    assert one.cells == two.cells
