"""PBS against the checker over many seeds (docs/protocols/quorum.md, "200 seeds"):
``python -m tests.protocols.quorum.pbs_sweep NODES FIRST LAST`` prints one JSON line per
seed (reads after a write, stale reads the checker found, the prediction and its band),
then a summary line."""

from __future__ import annotations

import json
import sys

from tests.protocols.quorum.test_pbs import measured_and_predicted


def main(nodes: int, first: int, last: int) -> None:
    rows = []
    for seed in range(first, last + 1):
        report, stale, prediction, _, _ = measured_and_predicted(seed, nodes)
        row = {"seed": seed, "nodes": nodes, "reads": prediction.reads, "stale": stale,
               "predicted": round(prediction.expected_stale, 1), "low": round(prediction.low, 1),
               "high": round(prediction.high, 1), "inside": prediction.low <= stale <= prediction.high,
               "failed": report["failed"]}
        rows.append(row)
        print(json.dumps(row), flush=True)
    stale, predicted = sum(r["stale"] for r in rows), sum(r["predicted"] for r in rows)
    print(json.dumps({"seeds": len(rows), "reads": sum(r["reads"] for r in rows), "stale": stale,
                      "predicted": round(predicted), "ratio": round(stale / predicted, 3),
                      "inside": sum(r["inside"] for r in rows),
                      "below": sum(r["stale"] < r["low"] for r in rows),
                      "above": sum(r["stale"] > r["high"] for r in rows),
                      "failing": sum(bool(r["failed"]) for r in rows)}))


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]))
