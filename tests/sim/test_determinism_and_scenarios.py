"""Same seed, same bytes; scenario files give clear errors; built-ins all load."""

from __future__ import annotations

import random

import pytest

from replikv.sim.run import SimSettings, run_simulation
from replikv.sim.scenario import ScenarioError, builtin_names, load_builtin, parse_scenario


def _run(protocol: str, scenario: str, seed: int):
    settings = SimSettings(protocol=protocol, scenario=load_builtin(scenario), seed=seed, trace=True)
    return run_simulation(settings, random.Random)


@pytest.mark.parametrize("protocol,scenario", [("pb-sync", "primary-crash"), ("pb-async", "lossy")])
def test_same_seed_same_history_and_trace_bytes(protocol: str, scenario: str) -> None:
    a, b = _run(protocol, scenario, 5), _run(protocol, scenario, 5)
    assert a.history_jsonl() == b.history_jsonl()
    assert a.trace_jsonl() == b.trace_jsonl() and len(a.trace_jsonl()) > 10_000
    assert a.report == b.report
    c = _run(protocol, scenario, 6)
    assert c.history_jsonl() != a.history_jsonl() and c.trace_jsonl() != a.trace_jsonl()


def test_every_builtin_scenario_loads_and_the_alias_names_itself() -> None:
    names = builtin_names()
    for required in ("steady", "primary-crash", "leader-crash", "primary-crash-before-reply", "backup-crash",
                     "partition-primary", "slow-backup", "lossy"):
        assert required in names
    for name in names:
        assert load_builtin(name).name == name


@pytest.mark.parametrize("text,needle", [
    ("[run]\nnodez = 3\n", "unknown field `nodez` - at `$.run`"),
    ('[[faults]]\naction = "crash"\nnode = "primry"\n', "faults[0].node: bad node 'primry'"),
    ('[[faults]]\naction = "explode"\n', "$.faults[0].action"),
    ("[workload]\nmix = { reed = 1.0 }\n", "unknown op 'reed'"),
    ('[network]\nlatency = { dist = "uniform", min = 3, max = 1 }\n', "network.latency: need 0 <= min <= max"),
    ("[network]\nloss = 1.5\n", "network.loss"),
    ("[run\n", "not valid TOML"),
    ('[[triggers]]\naction = "crash"\nnth = 0\n', "triggers[0].nth"),
    ("[run]\nops = 10\nfault_start_ms = 5\n", "fault_start_ms and fault_end_ms go together"),
])
def test_scenario_errors_name_the_file_and_the_key(text: str, needle: str) -> None:
    with pytest.raises(ScenarioError) as info:
        parse_scenario(text, "mine.toml")
    assert str(info.value).startswith("mine.toml: ")
    assert needle in str(info.value)


def test_unknown_builtin_lists_the_choices() -> None:
    with pytest.raises(ScenarioError, match="built-in: .*steady"):
        load_builtin("nope")


def test_protocol_options_are_per_scheme() -> None:
    from replikv.sim.scenario import protocol_options

    scenario = parse_scenario('[protocol]\nheartbeat_ms = 40\n[protocol.pb-sync]\nfailover = "auto"\n')
    assert protocol_options(scenario, "pb-sync") == {"heartbeat_ms": 40, "failover": "auto"}
    assert protocol_options(scenario, "raft") == {"heartbeat_ms": 40}
