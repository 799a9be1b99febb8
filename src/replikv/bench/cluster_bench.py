"""``replikv bench --protocol P``: a real local cluster driven through its Redis port.

A closed loop: ``clients`` asyncio connections each send one command, wait for the
reply, and send the next (GET or SET on a key drawn uniformly from ``keys``, reads with
probability ``read_ratio``). After ``warmup_s`` unrecorded seconds, every reply for
``duration_s`` is timed into an HdrHistogram (microseconds). A baseline is measured in the
same run with the same driver (a plain ``redis-server`` when installed, else a one-node
``pb-async`` with fsync never) and the figures are also given as ratios to it, because
the machine is shared and noisy: the ratios travel between machines, raw ops/s do not.
Every field of the result is documented in docs/bench.md.
"""

from __future__ import annotations

import contextlib
import os
import pathlib
import platform
import shutil
import sys
import tempfile
import time

from rich.progress import Progress

from replikv.bench import connectors, peers, profiling
from replikv.bench.cpu import CpuMeter
from replikv.bench.figures import cdf_figure
from replikv.bench.load import LoadResult, LoadShape, progress_bar, run_load
from replikv.cluster import admin, control, manager
from replikv.cluster.ports import free_base_port
from replikv.cluster.respwire import RespError


def _run_load(host: str, ports: list[int], shape: LoadShape, label: str, progress: Progress | None,
              meter: CpuMeter | None = None) -> LoadResult:
    """Drive replikv (or any RESP server) at ``ports``."""
    return run_load(connectors.resp, host, ports, shape, label, progress, meter)


def _cpu_meter(root: pathlib.Path) -> CpuMeter:
    """CPU of every node process (by node id) and of this, the driver's, process."""
    pids: dict[str, int | str] = {str(row.id): row.pid for row in control.view(root).rows if row.pid}
    return CpuMeter({**pids, "driver": "self"})


def _cpu_figures(meter: CpuMeter, ops: int) -> dict:
    """``cpu_us_per_op`` of the result (docs/bench.md): per node, their sum, the driver."""
    per_op = meter.per_op_us(ops)
    driver = per_op.pop("driver")
    measured = [v for v in per_op.values() if v is not None]
    return {"nodes": per_op, "nodes_total": round(sum(measured), 1) if measured else None, "driver": driver}


@contextlib.contextmanager
def local_cluster(protocol: str, nodes: int, fsync: str, options: dict[str, str] | None):
    """A cluster in a temporary directory, torn down (and wiped) whatever happens; the
    directory is kept, and named, when the cluster failed to start."""
    root = pathlib.Path(tempfile.mkdtemp(prefix=f"replikv-bench-{protocol}-"))
    opts = manager.UpOptions(protocol=protocol, nodes=nodes, base_port=free_base_port(nodes, attempts=200), fsync=fsync,
                             options=dict(options or {}))
    try:
        state = manager.up(root, opts)
    except BaseException:
        print(f"benchmark cluster failed to start; its logs are in {root}", file=sys.stderr)
        raise
    try:
        yield root, state
    finally:
        manager.down(root, wipe=True, timeout_s=5.0)
        shutil.rmtree(root, ignore_errors=True)


def load_targets(root_state, spread: bool) -> list[int]:
    """Client ports to drive: every node's (``spread``), else the leader's/primary's."""
    members = root_state.members()
    if spread:
        return [m.client_port for m in members]
    deadline = time.monotonic() + 10.0
    while time.monotonic() < deadline:
        for member in members:
            with contextlib.suppress(OSError, RespError, ValueError):
                status = admin.node_status(root_state.host, member.client_port)
                if status.leads:
                    return [member.client_port]
        time.sleep(0.1)
    return [members[0].client_port]  # no leader reported: node 1 forwards if it can


def _measure_baseline(kind: str, shape: LoadShape, progress: Progress | None) -> dict:
    if kind == "redis-server":
        with peers.started("redis", 1) as running:
            result = run_load(running.connect, running.host, running.ports, shape, "baseline redis-server", progress)
        return {"kind": "redis-server", **result.summary()}
    with local_cluster("pb-async", 1, "never", None) as (_, state):
        result = _run_load(state.host, load_targets(state, False), shape, "baseline pb-async x1", progress)
    return {"kind": "pb-async-1-node-fsync-never", **result.summary()}


def _baseline_kind(baseline: str) -> str | None:
    if baseline == "none":
        return None
    if baseline == "auto":
        return "redis-server" if shutil.which("redis-server") else "pb-async"
    if baseline not in ("redis-server", "pb-async"):
        raise ValueError(f"baseline must be auto, redis-server, pb-async or none, not {baseline!r}")
    if baseline == "redis-server" and not shutil.which("redis-server"):
        raise ValueError("baseline redis-server asked for, but redis-server is not installed")
    return baseline


def _ratios(measured: dict, baseline: dict) -> dict:
    def ratio(a: float | None, b: float | None) -> float | None:
        return float(f"{a / b:.4g}") if a and b else None  # 4 significant digits

    lat, base_lat = measured.get("latency_us", {}), baseline.get("latency_us", {})
    return {
        "ops_per_s": ratio(measured["ops_per_s"], baseline["ops_per_s"]),
        **{key: ratio(lat.get(key), base_lat.get(key)) for key in ("p50", "p99", "p999")},
    }


def _measure_peer(name: str, nodes: int, fsync: str, shape: LoadShape,
                  progress: Progress | None) -> tuple[dict, LoadResult]:
    with peers.started(name, nodes, fsync) as running:
        result = run_load(running.connect, running.host, running.ports, shape, name, progress)
    return {"described": running.described, **result.summary()}, result


def run_cluster_bench(
    *, protocol: str, nodes: int = 3, clients: int = 32, duration: float = 10.0, value_size: int = 16,
    fsync: str = "always", progress: bool = True, read_ratio: float = 0.5, keys: int = 1000,
    warmup: float = 1.0, baseline: str = "auto", spread: bool = False, seed: int = 1,
    options: dict[str, str] | None = None, compare: list[str] | None = None,
    profile: pathlib.Path | None = None, figure: pathlib.Path | None = None,
    curves: dict[str, LoadResult] | None = None,
) -> dict:
    """Start a local ``protocol`` cluster of ``nodes`` (fsync as given), drive it with
    ``clients`` closed-loop connections for ``duration`` seconds after ``warmup``, measure
    the baseline and every peer of ``compare`` (``bench/peers``) the same way, tear
    everything down, and return the figures (docs/bench.md). ``profile``: write a py-spy
    profile of the leader under the load there; ``figure``: a latency CDF (PNG) of every
    system measured. ``curves``: a dict this fills with every system's ``LoadResult``
    (by the figure's labels), for a caller that plots several runs on one figure
    (``scripts/bench_matrix.py --grid``)."""
    if not 0.0 <= read_ratio <= 1.0:
        raise ValueError("read_ratio must be in [0, 1]")
    if keys < 0:
        raise ValueError("keys must be 0 (a new key per write) or more")
    baseline_kind = _baseline_kind(baseline)
    wanted = peers.expand(compare or [])
    why_not = {name: peers.PEERS[name].missing() for name in wanted}
    missing = [reason for reason in why_not.values() if reason]
    runnable = [name for name, reason in why_not.items() if reason is None]
    if profile is not None:
        profiling.check_available()
    shape = LoadShape(clients=clients, duration_s=duration, warmup_s=warmup, value_size=value_size,
                      read_ratio=read_ratio, keys=keys, seed=seed)
    curves = {} if curves is None else curves
    bar = progress_bar(progress)
    with bar if bar is not None else contextlib.nullcontext():
        with local_cluster(protocol, nodes, fsync, options) as (root, state):
            targets = load_targets(state, spread)
            recorder = None
            if profile is not None:
                leader_row = control.view(root).leader()
                recorder = profiling.start((leader_row or control.view(root).rows[0]).pid,
                                           profile, warmup + duration)
            meter = _cpu_meter(root)
            loaded = _run_load(state.host, targets, shape, f"{protocol} x{nodes}", bar, meter)
            profile_result = profiling.finish(recorder) if recorder is not None else None
            measured = loaded.summary()
            measured["cpu_us_per_op"] = _cpu_figures(meter, measured["ops"])
            curves[f"replikv {protocol}"] = loaded
            leader = control.view(root).leader()
        compared: dict[str, dict] = {}
        for name in runnable:
            compared[name], curves[name] = _measure_peer(name, nodes, fsync, shape, bar)
        if baseline_kind == "redis-server" and "redis" in compared:
            # The same plain redis-server, just measured as a peer: not run twice.
            base = {"kind": "redis-server", **{k: v for k, v in compared["redis"].items() if k != "described"}}
        else:
            base = _measure_baseline(baseline_kind, shape, bar) if baseline_kind else None
    result = {
        "protocol": protocol, "nodes": nodes, "clients": clients, "duration_s": duration, "warmup_s": warmup,
        "value_size": value_size, "fsync": fsync, "read_ratio": read_ratio, "keys": keys,
        "target": "all nodes" if spread else "leader",
        "leader_at_end": leader.id if leader else None,
        **measured,
        "baseline": base,
        "ratio_to_baseline": _ratios(measured, base) if base else None,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": sys.platform},
    }
    if compare is not None:
        result["peers"] = compared
        result["ratio_to_peers"] = {name: _ratios(measured, figures) for name, figures in compared.items()}
        result["missing_peers"] = missing
    if profile_result is not None:
        result["profile"] = profile_result
    if figure is not None:
        result["figure"] = str(cdf_figure(curves, figure, title=_figure_title(result)))
    return result


def _figure_title(result: dict) -> str:
    return (f"{result['nodes']} nodes, {result['clients']} clients, {result['value_size']} B values, "
            f"{int(result['read_ratio'] * 100)}% reads, fsync {result['fsync']}")
