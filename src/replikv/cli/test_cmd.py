"""``replikv test``: run a local cluster under faults and check what the clients saw
(docs/testing.md). Exit status: 0 pass, 1 a promised check failed, 2 bad usage or the
cluster could not be started, 3 undecided: a promised check could not be decided (e.g. the
linearizability search ran out of budget; the summary says how to recheck)."""

from __future__ import annotations

import datetime
import faulthandler
import pathlib
import signal
import sys

import click

from replikv import schemes
from replikv.check.models import MODELS
from replikv.cli.options import parse_options
from replikv.cluster.state import ClusterError
from replikv.core.errors import ConfigError
from replikv.core.requests import READ_LEVELS


def _protocols() -> list[str]:
    """The schemes a user may test: the built-in ones and those of installed distributions
    (the test kit's planted bugs, where it is installed: never by the product's install)."""
    return schemes.names()


def _default_out(protocol: str, seed: int) -> pathlib.Path:
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    return pathlib.Path("replikv-test-results") / f"{protocol}-seed{seed}-{stamp}"


def _on_sigterm(signum, frame) -> None:  # noqa: ARG001
    raise KeyboardInterrupt  # unwinds through every cleanup, like Ctrl-C


@click.command("test")
@click.option("--protocol", "-p", required=True, help="Replication scheme (pb-async, pb-sync, raft, ...).")
@click.option("--nodes", type=click.IntRange(min=1, max=9), default=3, show_default=True)
@click.option("--clients", type=click.IntRange(min=1, max=256), default=8, show_default=True)
@click.option("--time", "time_s", type=click.FloatRange(min=2.0, max=3600.0), default=30.0, show_default=True,
              help="Seconds of workload (faults happen inside it).")
@click.option("--nemesis", default="kill", show_default=True,
              help="Comma-separated faults: kill, pause, partition, restart-all, kill-leader, kill-follower, crash-after-votes "
                   "(2pc/3pc: a coordinator dies right after PREPARE); or none.")
@click.option("--read-level", type=click.Choice(list(READ_LEVELS)), default="linearizable",
              show_default=True)
@click.option("--model", type=click.Choice(MODELS), default=None,
              help="Check against this model (default: linearizable, or read-your-writes for local reads).")
@click.option("--seed", type=click.IntRange(min=0), default=None, help="Default: drawn and printed.")
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="Results folder (default replikv-test-results/<protocol>-seed<N>-<time>).")
@click.option("--keys", type=click.IntRange(min=1, max=1000), default=5, show_default=True,
              help="Keys in use at a time.")
@click.option("--ops-per-key", type=click.IntRange(min=1), default=100, show_default=True,
              help="Operations on a key before a fresh key replaces it.")
@click.option("--option", "options", multiple=True, metavar="KEY=VALUE",
              help="Scheme option for every node (e.g. compact_every=50), repeatable; in the reproduce line.")
@click.option("--keep-data", is_flag=True, help="Keep the nodes' data directories even when the test passes.")
@click.option("--workload", type=click.Choice(["register", "txn"]), default="register", show_default=True,
              help="register: read/write/cas on independent keys, checked for linearizability; txn: "
                   "list-append transactions (MULTI-like Txn of APPEND and GET), checked for strict "
                   "serializability (anomalies by name). With txn, --ops-per-key counts appends.")
def test(protocol: str, nodes: int, clients: int, time_s: float, nemesis: str, read_level: str,
         model: str | None, seed: int | None, out: str | None, keys: int, ops_per_key: int,
         options: tuple[str, ...], keep_data: bool, workload: str) -> None:
    """Start a local PROTOCOL cluster, run concurrent clients while a seeded nemesis kills,
    pauses and partitions nodes, heal, and check the history: linearizability (or the
    model the scheme promises), acknowledged writes lost, replicas converged."""
    from replikv.jepsen.runner import TestSettings, run_test
    from replikv.jepsen.schedule import check_declared, parse_kinds

    if protocol not in _protocols():
        raise click.BadParameter(f"unknown protocol {protocol!r}; choose one of: {', '.join(schemes.names())}",
                                 param_hint="--protocol")
    if workload == "txn":
        if model is not None:
            raise click.BadParameter("the txn workload is checked for strict serializability; "
                                     "--model is for the register workload", param_hint="--model")
        if not schemes.get_spec(protocol).transactions:
            raise click.BadParameter(f"{protocol} does not offer multi-key transactions",
                                     param_hint="--workload")
    try:
        kinds = parse_kinds(nemesis)
        check_declared(kinds, schemes.get_spec(protocol))
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--nemesis") from None
    if seed is None:
        seed = int.from_bytes(__import__("os").urandom(4), "big") % 1_000_000
    folder = pathlib.Path(out) if out else _default_out(protocol, seed)
    if folder.is_dir() and any(folder.iterdir()):
        raise click.BadParameter(f"results folder {folder} is not empty (a previous run's results?): choose a "
                                 "new folder, or remove this one", param_hint="--out")
    settings = TestSettings(protocol=protocol, out=folder, nodes=nodes, clients=clients, time_s=time_s,
                            nemesis=kinds, read_level=read_level, seed=seed, keys=keys, ops_per_key=ops_per_key,
                            model=model, keep_data=keep_data, workload=workload,
                            options=parse_options(options))
    click.echo(f"replikv test: protocol {protocol}, workload {workload}, {nodes} nodes, {clients} clients, {time_s:g} s, "
               f"nemesis {','.join(kinds) or 'none'}, read level {read_level}, seed {seed}; results in {folder}")
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    faulthandler.register(signal.SIGUSR1, all_threads=True)  # `kill -USR1 <pid>` shows where a run hangs
    try:
        report = run_test(settings, say=lambda text: click.echo(text))
    except KeyboardInterrupt:
        click.echo("interrupted: the cluster was stopped", err=True)
        sys.exit(130)
    except (ClusterError, ConfigError) as exc:
        click.echo(f"replikv test: {exc}", err=True)
        sys.exit(2)
    finally:
        signal.signal(signal.SIGTERM, previous)
    click.echo(f"results: {folder}")
    sys.exit(exit_status(report))


def exit_status(report: dict) -> int:
    """0 pass, 1 a promised check failed, 3 undecided (``judge.EXIT_STATUS``)."""
    from replikv.jepsen.judge import EXIT_STATUS

    if report["pass"]:
        return EXIT_STATUS["pass"]
    return EXIT_STATUS["fail" if report["failed"] else "undecided"]


COMMANDS = [test]
