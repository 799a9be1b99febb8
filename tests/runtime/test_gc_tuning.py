"""A serving node's collector: start-up objects frozen, a young threshold for its load."""

from __future__ import annotations

import gc

from replikv.runtime.gc_tuning import GEN0_THRESHOLD, tune_gc


def test_tune_gc_freezes_start_up_objects_and_raises_the_young_threshold() -> None:
    saved = gc.get_threshold()
    try:
        kept = [[i] for i in range(100)]  # tracked objects alive at start-up
        tune_gc()
        assert gc.get_freeze_count() >= len(kept)
        assert gc.get_threshold() == (GEN0_THRESHOLD, saved[1], saved[2])
        assert GEN0_THRESHOLD > 700  # CPython's default, which the node's load outgrows
        cycle: list = []
        cycle.append(cycle)  # created after the freeze: still collected
        del cycle
        assert gc.collect() >= 1
    finally:
        gc.unfreeze()
        gc.set_threshold(*saved)
