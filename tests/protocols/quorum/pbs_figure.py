"""Draws docs/img/quorum-pbs.png: PBS's predicted staleness next to the checker's count.

    .venv/bin/python -m tests.protocols.quorum.pbs_figure [seeds]

Left: for the reads of ``quorum-pbs`` (seeds 1..N) grouped by how long after their key's
last acknowledged write they began, the fraction the checker found stale and the
fraction PBS predicts from the latencies measured in the same runs (the replay of
``check.pbs.predict_certainly_stale``). Middle: per seed, the stale reads the checker
counted against the predicted ~95% band. Right: t-visibility for R, W in {1, 2} from
seed 1's latencies (N = 3).
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from tests.protocols.quorum.test_pbs import measured_and_predicted  # noqa: E402

from replikv.check.grouping import by_key  # noqa: E402
from replikv.check.pbs import consistent_probability  # noqa: E402
from replikv.check.staleness import certainly_stale  # noqa: E402

BINS = [0, 2, 5, 10, 20, 1e9]


def main(seeds: int = 5) -> Path:
    measured = [[0, 0] for _ in BINS[:-1]]  # stale, reads
    predicted = [0.0 for _ in BINS[:-1]]
    first_wars = None
    per_seed = []
    for seed in range(1, seeds + 1):
        _, stale, prediction, wars, run_ops = measured_and_predicted(seed)
        first_wars = first_wars or wars
        per_seed.append((stale, prediction))
        for ops in by_key(run_ops).values():
            stale_ids = {read.index for read, _ in certainly_stale(ops)}
            writes = sorted(o.complete_time for o in ops if o.f == "write" and o.type == "ok")
            for op in ops:
                prior = [c for c in writes if c < op.invoke_time]
                if op.f != "read" or op.type != "ok" or not prior:
                    continue
                gap = op.invoke_time - prior[-1]
                b = next(i for i in range(len(BINS) - 1) if BINS[i] <= gap < BINS[i + 1])
                measured[b][0] += op.index in stale_ids
                measured[b][1] += 1
                predicted[b] += prediction.per_read[op.index]
    labels = [f"{BINS[i]:g}-{BINS[i + 1]:g}" if BINS[i + 1] < 1e9 else f">{BINS[i]:g}" for i in range(len(BINS) - 1)]
    fig, (left, middle, right) = plt.subplots(1, 3, figsize=(16, 4))
    xs = range(len(labels))
    left.bar([x - 0.2 for x in xs], [s / n if n else 0 for s, n in measured], 0.4, label="measured (checker)")
    left.bar([x + 0.2 for x in xs], [p / n if n else 0 for p, (_, n) in zip(predicted, measured, strict=True)], 0.4,
             label="predicted (PBS, WARS)")
    left.set_xticks(list(xs), labels)
    left.set_xlabel("read began this many ms after its key's last acknowledged write")
    left.set_ylabel("fraction of reads stale")
    left.set_title(f"quorum-pbs, R = W = 1, N = 3, seeds 1-{seeds}")
    left.legend()
    seeds_axis = range(1, len(per_seed) + 1)
    middle.errorbar(list(seeds_axis), [p.expected_stale for _, p in per_seed],
                    yerr=[[p.expected_stale - p.low for _, p in per_seed], [p.high - p.expected_stale for _, p in per_seed]],
                    fmt="none", ecolor="tab:orange", capsize=2, label="predicted ~95% band")
    middle.scatter(list(seeds_axis), [stale for stale, _ in per_seed], s=10, color="tab:blue", zorder=3,
                   label="stale reads (checker)")
    inside = sum(p.low <= stale <= p.high for stale, p in per_seed)
    middle.set_xlabel("seed")
    middle.set_ylabel("stale reads in the run")
    middle.set_title(f"per run: {inside} of {len(per_seed)} inside the band")
    middle.legend()
    ts = [0, 1, 2, 5, 10, 20, 30, 50, 80, 120]
    assert first_wars is not None
    for r, w in ((1, 1), (1, 2), (2, 1), (2, 2)):
        right.plot(ts, [consistent_probability(first_wars, 3, r, w, t, 2000, random.Random(7)) for t in ts],
                   marker="o", label=f"R={r}, W={w}")
    right.set_xlabel("t: ms after the write returned")
    right.set_ylabel("P(read sees the write)")
    right.set_title("t-visibility from measured latencies (seed 1)")
    right.legend()
    fig.tight_layout()
    out = Path(__file__).resolve().parents[3] / "docs" / "img" / "quorum-pbs.png"
    fig.savefig(out, dpi=90)
    for label, (s, n), p in zip(labels, measured, predicted, strict=True):
        print(f"{label:>8} ms: {n:5d} reads, measured {s / max(n, 1):.3f}, predicted {p / max(n, 1):.3f}")
    return out


if __name__ == "__main__":
    print(main(int(sys.argv[1]) if len(sys.argv) > 1 else 5))
