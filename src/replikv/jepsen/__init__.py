"""``replikv test``: fault-injection testing of a real local cluster (Jepsen-style).

Modules: ``schedule`` (the seeded nemesis schedule), ``workload`` (independent keys,
unique values), ``clients`` (asyncio workers recording the history), ``nemesis``
(acting out faults with the cluster tooling), ``cluster`` (start/teardown), ``judge``
(checks and words), ``report`` and ``figures`` (the results folder), ``runner`` (one
run). A top layer: it may import anything; only ``cli/`` imports it.

    from replikv.jepsen.runner import TestSettings, run_test
    report = run_test(TestSettings(protocol="raft", out=pathlib.Path("out"), nemesis=("partition",)))
    report["pass"]
"""
