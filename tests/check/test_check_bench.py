"""The checker benchmark returns honest, JSON-ready figures."""

from __future__ import annotations

import json

from replikv.bench.check_bench import run_check_bench


def test_bench_checks_a_generated_history() -> None:
    figures = run_check_bench(ops=1500, clients=10, keys=3, seed=5)
    json.dumps(figures)
    assert figures["ops"] == 1500 and figures["keys"] == 3 and figures["clients"] == 10
    assert figures["valid"] is True  # linearizable by construction
    assert figures["info_ops"] > 0 and figures["search_steps"] >= 1500
    assert figures["seconds"] > 0 and figures["ops_per_s"] > 0


def test_bench_is_deterministic_in_what_it_checks() -> None:
    one, two = run_check_bench(ops=500, seed=9), run_check_bench(ops=500, seed=9)
    assert one["search_steps"] == two["search_steps"] and one["info_ops"] == two["info_ops"]
