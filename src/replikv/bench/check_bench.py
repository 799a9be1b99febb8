"""``replikv bench check``: how fast the linearizability checker is on a realistic
history (10 concurrent clients, overlapping operations, a few unknown outcomes)."""

from __future__ import annotations

import random
import time

from replikv.check.generate import Mix, generate_history
from replikv.check.history import pair_operations
from replikv.check.linearizability import DEFAULT_MAX_STEPS, check_linearizable


def run_check_bench(ops: int = 10_000, clients: int = 10, keys: int = 10, seed: int = 1,
                    max_steps: int = DEFAULT_MAX_STEPS) -> dict:
    """Generate a linearizable history of ``ops`` operations over ``keys`` keys (one
    partition each), check it, and return JSON-ready figures. ``valid`` should be True:
    the history is linearizable by construction."""
    rng = random.Random(seed)
    names = [f"k{i}" for i in range(keys)]
    events = generate_history(rng, ops=ops, clients=clients, keys=names, mix=Mix())
    operations = pair_operations(events)
    started = time.perf_counter()
    result = check_linearizable(operations, max_steps=max_steps)
    seconds = time.perf_counter() - started
    return {
        "ops": len(operations),
        "clients": clients,
        "keys": keys,
        "seed": seed,
        "info_ops": sum(1 for op in operations if op.type == "info"),
        "seconds": round(seconds, 4),
        "ops_per_s": round(len(operations) / seconds) if seconds > 0 else None,
        "search_steps": result.steps,
        "valid": result.valid,
    }
