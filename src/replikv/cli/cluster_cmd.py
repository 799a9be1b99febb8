"""``replikv cluster``: run a local cluster of ``replikv serve`` processes.

    replikv cluster up --protocol pb-sync --nodes 3      start (clients on 7001.., peers on 7101..)
    replikv cluster status [--json]                      role, term, commit index, lag, up/down
    replikv cluster wait                                 until every node caught up (same digest)
    replikv cluster kill 1 / restart 1 / pause 2 / resume 2
    replikv cluster restart --rejoin 1                   after node 1's data directory was lost
    replikv cluster partition 1 [--from 2,3] / heal
    replikv cluster promote 2 / transfer-leader 3 / add-node / remove-node 4
    replikv cluster down [--wipe]

Every command finds the cluster through the state file in ``--data-dir`` (default
``./replikv-data``, or ``$REPLIKV_CLUSTER_DIR``). See docs/cluster.md.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable

import click
from rich.console import Console
from rich.table import Table

from replikv import schemes
from replikv.cli.options import parse_options
from replikv.cluster import control, manager
from replikv.cluster.state import DEFAULT_BASE_PORT, DEFAULT_DATA_DIR, ClusterError


def _data_dir_option(func: Callable) -> Callable:
    return click.option(
        "--data-dir", default=DEFAULT_DATA_DIR, show_default=True, envvar="REPLIKV_CLUSTER_DIR",
        type=click.Path(file_okay=False), help="Directory holding the cluster's state file, data and logs.",
    )(func)


def _operator_errors(func: Callable) -> Callable:
    """Turn ``ClusterError`` into a clean ``Error: ...`` and exit code 1."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except ClusterError as exc:
            raise click.ClickException(str(exc)) from None

    return wrapper


def _id_list(value: str | None) -> list[int]:
    if value is None:
        return []
    try:
        ids = [int(part) for part in value.split(",") if part.strip()]
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a comma-separated list of node ids") from None
    if not ids:
        raise click.BadParameter("give at least one node id")
    return ids


@click.group()
def cluster() -> None:
    """Run a local cluster of replikv nodes (docs/cluster.md)."""


@cluster.command()
@click.option("--protocol", required=True, type=click.Choice(schemes.names()), help="Replication scheme.")
@click.option("--nodes", default=3, show_default=True, type=click.IntRange(1, 9))
@click.option("--base-port", default=DEFAULT_BASE_PORT, show_default=True, type=click.IntRange(1, 65000),
              help="Node i serves clients on base+i and peers on base+100+i.")
@click.option("--fsync", type=click.Choice(["always", "batch", "never"]), default="always", show_default=True)
@click.option("--option", "options", multiple=True, metavar="KEY=VALUE", help="Scheme option (repeatable).")
@click.option("--secret/--insecure", default=True, show_default=True,
              help="Generate a random cluster secret (mode 0600, beside the state file) so peers "
                   "authenticate with HMAC (the default); --insecure starts without one, with a warning.")
@click.option("--timeout", default=manager.READY_TIMEOUT_S, show_default=True, type=float,
              help="Seconds to wait for every node to answer PING, and again for their links to come up.")
@_data_dir_option
@_operator_errors
def up(protocol, nodes, base_port, fsync, options, secret, timeout, data_dir) -> None:
    """Start NODES local node processes in the background."""
    opts = manager.UpOptions(
        protocol=protocol, nodes=nodes, base_port=base_port, fsync=fsync,
        options=parse_options(options), secret=secret, ready_timeout_s=timeout,
    )
    state = manager.up(data_dir, opts, report=_report)
    ports = ",".join(str(n.client_port) for n in state.members())
    click.echo(f"{protocol} cluster of {nodes} up (data in {data_dir}); try: redis-cli -p {state.members()[0].client_port} PING"
               f"  (client ports {ports})")


def _report(line: str) -> None:
    """Progress on stdout, warnings on stderr."""
    click.echo(line, err=line.startswith("warning:"))


def _cell(value: object) -> str:
    """A table cell: ``-`` for nothing; a Paxos ballot ``(round, node)`` as ``round.node``."""
    if value is None:
        return "-"
    if isinstance(value, (tuple, list)) and len(value) == 2 and all(type(x) is int for x in value):
        return f"{value[0]}.{value[1]}"
    return str(value)


def _term_cell(status) -> str:
    """The term column: a term or epoch, or a Paxos ballot shown as ``round.node``."""
    return "-" if status is None else _cell(status.term)


@cluster.command()
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@_data_dir_option
@_operator_errors
def status(as_json, data_dir) -> None:
    """Each node: pid, role, term/epoch, commit index, lag, up/down."""
    current = control.view(data_dir)
    if as_json:
        click.echo(json.dumps(current.as_dict(), indent=2, sort_keys=True))
        return
    table = Table(title=f"replikv {current.state.protocol} cluster ({data_dir})")
    for column in ("node", "pid", "port", "state", "role", "term", "commit", "last", "lag"):
        table.add_column(column, justify="right" if column not in ("state", "role") else "left")
    table.add_column("links", no_wrap=True)
    for row in current.rows:
        st = row.status
        colour = {"up": "green", "down": "red", "paused": "yellow"}.get(row.state, "magenta")
        table.add_row(
            str(row.id), _cell(row.pid), str(row.client_port), f"[{colour}]{row.state}[/{colour}]",
            _cell(st and st.role), _term_cell(st), _cell(st and st.commit_index),
            _cell(st and st.last_index), _cell(row.lag), _links_cell(st),
        )
    Console().print(table)


def _links_cell(status) -> str:
    """``up`` when every peer link of the node is up, else ``down:`` and the peers it has
    no link to; then ``suspects:`` and the peers its failure detector counts as down."""
    if status is None or not status.links:
        return "-"
    down = status.down_links()
    cell = "up" if not down else "[red]down:" + ",".join(map(str, down)) + "[/red]"
    if status.suspects:
        cell += " [yellow]suspects:" + ",".join(map(str, status.suspects)) + "[/yellow]"
    return cell


@cluster.command()
@click.option("--timeout", default=30.0, show_default=True, type=float)
@_data_dir_option
@_operator_errors
def wait(timeout, data_dir) -> None:
    """Wait until every node is up and at the leader's applied index (same digest)."""
    current = control.wait_converged(data_dir, timeout_s=timeout)
    leader = current.leader()
    applied = current.rows[0].status.applied_index if current.rows and current.rows[0].status else None
    click.echo(f"converged: leader node {leader.id if leader else '-'}, applied index {applied} on every node")


@cluster.command()
@click.option("--wipe", is_flag=True, help="Also delete the state file, node data and logs.")
@click.option("--timeout", default=manager.STOP_TIMEOUT_S, show_default=True, type=float,
              help="Seconds between SIGTERM and SIGKILL.")
@_data_dir_option
@_operator_errors
def down(wipe, timeout, data_dir) -> None:
    """Stop every node (SIGTERM, then SIGKILL after --timeout)."""
    outcome = manager.down(data_dir, wipe=wipe, timeout_s=timeout)
    for node_id, how in sorted(outcome.items()):
        click.echo(f"node {node_id}: {how}")
    click.echo("wiped " + str(data_dir) if wipe else f"data kept in {data_dir} (`cluster down --wipe` removes it)")


@cluster.command()
@click.argument("node_id", type=int)
@_data_dir_option
@_operator_errors
def kill(node_id, data_dir) -> None:
    """SIGKILL one node (a crash)."""
    pid = manager.kill(data_dir, node_id)
    click.echo(f"node {node_id} (pid {pid}) killed")


@cluster.command()
@click.argument("node_id", type=int)
@click.option("--rejoin", is_flag=True,
              help="The node's data directory was lost or moved away: start it empty as a "
                   "rejoining node (replikv serve --rejoin), which catches up before it votes.")
@click.option("--timeout", default=manager.READY_TIMEOUT_S, show_default=True, type=float)
@_data_dir_option
@_operator_errors
def restart(node_id, rejoin, timeout, data_dir) -> None:
    """Start a node again from its data (stopping it first if it runs)."""
    entry = manager.restart(data_dir, node_id, ready_timeout_s=timeout, rejoin=rejoin, report=_report)
    how = " to rejoin (it catches up before it votes)" if rejoin else ""
    click.echo(f"node {node_id} restarted{how} (pid {entry.pid})")


@cluster.command()
@click.argument("node_id", type=int)
@_data_dir_option
@_operator_errors
def pause(node_id, data_dir) -> None:
    """Freeze a node (SIGSTOP); its connections stay open."""
    manager.pause(data_dir, node_id)
    click.echo(f"node {node_id} paused")


@cluster.command()
@click.argument("node_id", type=int)
@_data_dir_option
@_operator_errors
def resume(node_id, data_dir) -> None:
    """Unfreeze a paused node (SIGCONT)."""
    manager.resume(data_dir, node_id)
    click.echo(f"node {node_id} resumed")


def _print_answers(answers: dict[int, str]) -> None:
    for node_id, answer in sorted(answers.items()):
        click.echo(f"node {node_id}: {answer}")


@cluster.command()
@click.argument("ids")
@click.option("--from", "from_ids", default=None, metavar="ID,...", help="One way: lose messages from these nodes to IDS (default: IDS cut off from all others, both ways).")
@_data_dir_option
@_operator_errors
def partition(ids, from_ids, data_dir) -> None:
    """Cut nodes IDS (comma-separated) off from the others (both ways), or lose what --from sends them (one way)."""
    _print_answers(control.partition(data_dir, _id_list(ids), _id_list(from_ids) if from_ids else None))


@cluster.command()
@_data_dir_option
@_operator_errors
def heal(data_dir) -> None:
    """Remove every partition."""
    _print_answers(control.heal(data_dir))


@cluster.command()
@click.argument("node_id", type=int)
@_data_dir_option
@_operator_errors
def promote(node_id, data_dir) -> None:
    """Manual failover: make NODE_ID the primary (primary/backup)."""
    click.echo(f"node {node_id}: {control.promote(data_dir, node_id)}")


@cluster.command("transfer-leader")
@click.argument("node_id", type=int)
@_data_dir_option
@_operator_errors
def transfer_leader(node_id, data_dir) -> None:
    """Ask the leader to hand leadership to NODE_ID (Raft)."""
    click.echo(control.transfer_leader(data_dir, node_id))


@cluster.command("add-node")
@click.option("--id", "node_id", type=int, default=None, help="Id of the new node (default: next free).")
@click.option("--learner", is_flag=True, help="Join as a non-voting learner.")
@click.option("--timeout", default=manager.READY_TIMEOUT_S, show_default=True, type=float)
@_data_dir_option
@_operator_errors
def add_node(node_id, learner, timeout, data_dir) -> None:
    """Start a new node and ask the leader to add it to the membership."""
    entry, answer = control.add_node(data_dir, node_id, learner=learner, ready_timeout_s=timeout)
    click.echo(f"node {entry.id} started (pid {entry.pid}, clients :{entry.client_port}); leader: {answer}")


@cluster.command("remove-node")
@click.argument("node_id", type=int)
@click.option("--keep-running", is_flag=True, help="Do not stop the removed node's process.")
@_data_dir_option
@_operator_errors
def remove_node(node_id, keep_running, data_dir) -> None:
    """Ask the leader to remove NODE_ID from the membership, then stop it."""
    answer = control.remove_node(data_dir, node_id, stop=not keep_running)
    click.echo(f"node {node_id} removed; leader: {answer}")


COMMANDS = [cluster]
