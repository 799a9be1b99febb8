"""``replikv test --option KEY=VALUE``: scheme options reach every node, the reproduce line
and the report; a malformed one is refused before anything starts."""

from __future__ import annotations

import pathlib

import pytest
from click.testing import CliRunner

from replikv.cli.main import cli
from replikv.cli.options import parse_options
from replikv.jepsen.runner import TestSettings as Settings
from replikv.jepsen.runner import cut_off_windows
from replikv.jepsen.schedule import FaultWindow
from replikv.schemes import get_spec


def test_the_reproduce_line_carries_every_option_in_order(tmp_path: pathlib.Path) -> None:
    settings = Settings(protocol="quorum", out=tmp_path, seed=4,
                            options={"compact_every": "50", "anti_entropy_ms": "100"})
    line = settings.reproduce()
    assert line.endswith("--option anti_entropy_ms=100 --option compact_every=50")
    assert "--option" not in Settings(protocol="raft", out=tmp_path).reproduce()


def test_options_are_parsed_and_a_malformed_one_is_named() -> None:
    assert parse_options(("a=1", " b = x ")) == {"a": "1", "b": "x"}
    with pytest.raises(Exception, match="'nokey': expected KEY=VALUE"):
        parse_options(("nokey",))
    result = CliRunner().invoke(cli, ["test", "--protocol", "raft", "--option", "=3", "--time", "2"])
    assert result.exit_code == 2 and "'=3': expected KEY=VALUE" in result.output


def test_the_synchrony_bound_is_the_configured_one() -> None:
    """3PC's bound is half its termination_ms (a round hears a peer through a round trip):
    a pause judged against the run's own setting."""
    spec = get_spec("3pc")
    pause = FaultWindow(start_s=1.0, end_s=1.5, kind="pause", node=2)
    assert cut_off_windows(spec, [pause], {"termination_ms": "100"}) == [pause]
    assert cut_off_windows(spec, [pause], {"termination_ms": "800"}) == [pause]
    assert cut_off_windows(spec, [pause], {"termination_ms": "1200"}) == []
