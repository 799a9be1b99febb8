"""The cluster tooling against stand-in nodes (tests/cluster/fake_node.py): process
management, the state file, error paths and the CLI, without any replication."""

from __future__ import annotations

import json
import pathlib
import socket
import sys

import pytest
from click.testing import CliRunner
from cluster_helpers import FAKE_NODE, free_base_port

from replikv.cli.cluster_cmd import cluster
from replikv.cluster import admin, control, manager, processes
from replikv.cluster.admin import NodeStatus
from replikv.cluster.state import ClusterError, ClusterState, load_state

pytestmark = pytest.mark.timeout(60)


def _up(root, nodes=3, **extra):
    opts = manager.UpOptions(protocol="pb-sync", nodes=nodes, base_port=free_base_port(nodes),
                             serve_prefix=FAKE_NODE, ready_timeout_s=15.0, **extra)
    return manager.up(root, opts)


def _cli(*args: str):
    return CliRunner().invoke(cluster, list(args), catch_exceptions=False)


def test_up_records_ports_pids_and_argv(cluster_dir) -> None:
    state = _up(cluster_dir)
    saved = load_state(cluster_dir)
    assert [n.id for n in saved.nodes] == [1, 2, 3]
    for node in saved.nodes:
        assert node.client_port == state.base_port + node.id
        assert node.peer_port == state.base_port + 100 + node.id
        assert processes.is_alive(node.pid, node.data_dir)
        assert admin.ping("127.0.0.1", node.client_port)
        peers = node.argv[node.argv.index("--peers") + 1]
        assert peers == ",".join(f"{m}=127.0.0.1:{state.base_port + 100 + m}" for m in (1, 2, 3) if m != node.id)


def test_secret_is_private_random_and_given_to_every_node(cluster_dir) -> None:
    _up(cluster_dir, nodes=2, secret=True)
    secret = cluster_dir / "secret"
    assert secret.stat().st_mode & 0o777 == 0o600
    assert len(secret.read_text().strip()) == 64
    for node in load_state(cluster_dir).nodes:
        assert node.argv[node.argv.index("--secret-file") + 1] == str(secret)


def test_a_secret_is_generated_by_default_and_insecure_opts_out_with_a_warning(cluster_dir, tmp_path) -> None:
    """Issue 8.7: `cluster up` started without a secret unless asked, so any local process
    could pose as a peer. Now a secret is the default; --insecure opts out, loudly."""
    _up(cluster_dir, nodes=2)
    secret = cluster_dir / "secret"
    assert secret.stat().st_mode & 0o777 == 0o600
    state = load_state(cluster_dir)
    assert state.secret_file == str(secret)
    assert all(n.argv[n.argv.index("--secret-file") + 1] == str(secret) for n in state.nodes)
    manager.down(cluster_dir)

    other = tmp_path / "insecure"
    said: list[str] = []
    opts = manager.UpOptions(protocol="pb-sync", nodes=1, base_port=free_base_port(1), secret=False,
                             serve_prefix=FAKE_NODE, ready_timeout_s=15.0)
    try:
        manager.up(other, opts, report=said.append)
        assert said[0].startswith("warning: this cluster has no secret (--insecure)")
        assert load_state(other).secret_file is None
        assert all("--secret-file" not in n.argv for n in load_state(other).nodes)
    finally:
        manager.down(other, timeout_s=3.0)
    assert "--insecure" in _cli("up", "--help").output


def test_refuses_to_start_over_a_running_cluster(cluster_dir) -> None:
    _up(cluster_dir)
    with pytest.raises(ClusterError, match="already running"):
        _up(cluster_dir)


def test_stopped_cluster_of_another_protocol_is_not_reused(cluster_dir) -> None:
    _up(cluster_dir)
    manager.down(cluster_dir)
    opts = manager.UpOptions(protocol="raft", nodes=3, base_port=free_base_port(), serve_prefix=FAKE_NODE)
    with pytest.raises(ClusterError, match="stopped pb-sync cluster"):
        manager.up(cluster_dir, opts)


def test_node_that_exits_at_start_is_reported_with_its_log(cluster_dir) -> None:
    with pytest.raises(ClusterError) as caught:
        _up(cluster_dir, options={"fake": "exit"})
    message = str(caught.value)
    assert "exited during start-up (exit code 3)" in message
    assert "refusing to start (asked to)" in message
    assert not any(manager.node_alive(n) for n in load_state(cluster_dir).nodes)


def test_a_child_that_has_not_exited_is_still_running(tmp_path) -> None:
    """The start-up check does not call a node dead while its process runs (it may not
    carry its command line yet, or no longer while exiting): only an exit is reported,
    with its code."""
    pid = processes.spawn([sys.executable, "-c", "import time, sys; time.sleep(0.3); sys.exit(3)"],
                          str(tmp_path / "child.log"))
    assert processes.still_running(pid) and processes.exit_code(pid) is None
    assert processes.wait_until(lambda: not processes.still_running(pid), 10.0)
    assert processes.exit_code(pid) == 3
    assert not processes.still_running(12345678)  # not a child of ours


def test_node_that_never_answers_times_out_and_everything_is_stopped(cluster_dir) -> None:
    opts = manager.UpOptions(protocol="pb-sync", nodes=2, base_port=free_base_port(2), serve_prefix=FAKE_NODE,
                             options={"fake": "silent"}, ready_timeout_s=1.0)
    with pytest.raises(ClusterError, match="did not answer PING .* within 1s"):
        manager.up(cluster_dir, opts)
    assert not any(manager.node_alive(n) for n in load_state(cluster_dir).nodes)


def test_port_in_use_is_refused_before_anything_starts(cluster_dir) -> None:
    base = free_base_port(3)
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", base + 2))
        holder.listen()
        opts = manager.UpOptions(protocol="pb-sync", nodes=3, base_port=base, serve_prefix=FAKE_NODE)
        with pytest.raises(ClusterError, match=f"client port {base + 2} .* already in use"):
            manager.up(cluster_dir, opts)
    assert not cluster_dir.exists()  # nothing recorded, nothing written, nothing started


def test_kill_restart_pause_resume_round_trip(cluster_dir) -> None:
    _up(cluster_dir)
    old_pid = load_state(cluster_dir).node(2).pid
    assert manager.kill(cluster_dir, 2) == old_pid
    states = {row.id: row.state for row in control.view(cluster_dir).rows}
    assert states == {1: "up", 2: "down", 3: "up"}
    with pytest.raises(ClusterError, match="node 2 is down"):
        manager.kill(cluster_dir, 2)
    entry = manager.restart(cluster_dir, 2)
    assert entry.pid != old_pid and admin.ping("127.0.0.1", entry.client_port)
    manager.pause(cluster_dir, 3)
    assert {row.id: row.state for row in control.view(cluster_dir).rows}[3] == "paused"
    manager.resume(cluster_dir, 3)
    assert processes.wait_until(lambda: {r.id: r.state for r in control.view(cluster_dir).rows}[3] == "up", 5.0)


def test_down_stops_everything_and_wipe_removes_only_what_it_wrote(cluster_dir) -> None:
    _up(cluster_dir)
    (cluster_dir / "notes.txt").write_text("mine")
    entries = load_state(cluster_dir).nodes
    outcome = manager.down(cluster_dir, wipe=True)
    assert outcome == {1: "stopped", 2: "stopped", 3: "stopped"}
    assert not any(processes.is_alive(e.pid, e.data_dir) for e in entries)
    assert sorted(p.name for p in cluster_dir.iterdir()) == ["notes.txt"]


def test_cli_status_partition_heal_kill_down(cluster_dir) -> None:
    _up(cluster_dir)
    where = ["--data-dir", str(cluster_dir)]
    status = json.loads(_cli("status", "--json", *where).output)
    assert status["leader"] == 1
    assert [(n["id"], n["state"], n["role"]) for n in status["nodes"]] == [
        (1, "up", "primary"), (2, "up", "backup"), (3, "up", "backup")]
    table = _cli("status", *where).output
    assert "primary" in table and "backup" in table
    assert _cli("partition", "1", "--from", "2,3", *where).exit_code == 0
    reported = admin.node_status("127.0.0.1", load_state(cluster_dir).node(2).client_port).raw["blocked"]
    assert reported == "1 from 2,3"
    assert _cli("heal", *where).exit_code == 0
    assert admin.node_status("127.0.0.1", load_state(cluster_dir).node(2).client_port).raw["blocked"] == ""
    assert _cli("kill", "3", *where).output.startswith("node 3 (pid ")
    result = _cli("down", *where)
    assert "node 3: not running" in result.output and "node 1: stopped" in result.output


def test_cli_errors_are_clear(tmp_path) -> None:
    missing = _cli("status", "--data-dir", str(tmp_path / "none"))
    assert missing.exit_code == 1 and "no cluster in" in missing.output
    bad = _cli("partition", "1,x", "--data-dir", str(tmp_path))
    assert bad.exit_code == 2 and "not a comma-separated list of node ids" in bad.output


def test_cli_unknown_and_down_ids(cluster_dir) -> None:
    _up(cluster_dir, nodes=2)
    where = ["--data-dir", str(cluster_dir)]
    unknown = _cli("kill", "7", *where)
    assert unknown.exit_code == 1 and "unknown node id 7" in unknown.output
    manager.kill(cluster_dir, 2)
    down = _cli("promote", "2", *where)
    assert down.exit_code == 1 and "node 2 is down" in down.output
    assert "node 1: OK" in _cli("heal", *where).output


def _view(*rows: tuple[str, str | None, int, str | None]) -> control.ClusterView:
    """(state, role, applied index, digest) per node 1, 2, ..."""
    current = control.ClusterView(state=ClusterState(protocol="raft", base_port=7000))
    for node_id, (state, role, applied, digest) in enumerate(rows, start=1):
        status = None if state != "up" else NodeStatus(
            role=role, term=3, commit_index=applied, applied_index=applied, last_index=applied, digest=digest)
        current.rows.append(control.NodeRow(id=node_id, pid=100 + node_id, client_port=7000 + node_id,
                                            state=state, status=status))
    control._fill_lag(current)
    return current


def test_converged_needs_everyone_up_caught_up_and_equal() -> None:
    assert control.converged(_view(("up", "leader", 5, "d"), ("up", "follower", 5, "d"), ("up", "follower", 5, "d")))
    assert not control.converged(_view(("up", "leader", 5, "d"), ("up", "follower", 4, "d"), ("up", "follower", 5, "d")))
    assert not control.converged(_view(("up", "leader", 5, "d"), ("up", "follower", 5, "x"), ("up", "follower", 5, "d")))
    assert not control.converged(_view(("up", "leader", 5, "d"), ("down", None, 0, None), ("up", "follower", 5, "d")))
    assert not control.converged(_view(("up", "follower", 5, "d"), ("up", "follower", 5, "d")))


def test_lag_comes_from_the_leaders_own_progress_when_reported() -> None:
    current = _view(("up", "primary", 5, "d"), ("up", "backup", 5, "d"), ("up", "backup", 5, "d"))
    current.rows[0].status.peers = {2: 5, 3: 0}  # the primary has not taken node 3 back yet
    control._fill_lag(current)
    assert [r.lag for r in current.rows] == [0, 0, 5]
    assert not control.converged(current)


def test_add_node_on_a_scheme_without_membership_change_starts_nothing(cluster_dir) -> None:
    """Issue 8.9: a refused `cluster add-node` on pb-sync left node 4 running and listed as
    a backup. The scheme's spec says it cannot change members: refused before any start."""
    _up(cluster_dir)
    with pytest.raises(ClusterError, match="pb-sync cannot change its membership"):
        control.add_node(cluster_dir)
    with pytest.raises(ClusterError, match="pb-sync cannot change its membership"):
        control.remove_node(cluster_dir, 3)
    state = load_state(cluster_dir)
    assert [n.id for n in state.nodes] == [1, 2, 3] and not any(n.removed for n in state.nodes)
    assert not (cluster_dir / "node-4").exists()


def test_add_node_refused_by_the_leader_is_rolled_back(cluster_dir) -> None:
    """A scheme that changes members, whose leader refuses the new node (here: a stand-in
    that knows no add-node verb): the new process is stopped and forgotten."""
    opts = manager.UpOptions(protocol="raft", nodes=3, base_port=free_base_port(4),
                             serve_prefix=FAKE_NODE, ready_timeout_s=15.0)
    manager.up(cluster_dir, opts)
    with pytest.raises(ClusterError, match="unknown admin verb") as refused:
        control.add_node(cluster_dir, ready_timeout_s=15.0)
    assert "add-peer" in str(refused.value) or "add-node" in str(refused.value)
    state = load_state(cluster_dir)
    assert [n.id for n in state.nodes] == [1, 2, 3]
    assert not (cluster_dir / "node-4").exists()
    assert not admin.ping("127.0.0.1", opts.base_port + 4, timeout_s=0.3)
    assert _command_lines_naming(str(cluster_dir / "node-4")) == []


def _command_lines_naming(text: str) -> list[str]:
    """Command lines of live processes that contain ``text``."""
    found = []
    for path in pathlib.Path("/proc").glob("[0-9]*/cmdline"):
        try:
            line = path.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in line:
            found.append(line)
    return found


def test_leader_moves_are_refused_with_the_verb_that_applies(cluster_dir, tmp_path) -> None:
    """Issue 8.9: `transfer-leader` on pb-sync answered "membership changes"; `promote` on
    raft answered "not the leader". Each now says what the scheme does instead."""
    _up(cluster_dir, nodes=2)
    where = ["--data-dir", str(cluster_dir)]
    moved = _cli("transfer-leader", "2", *where)
    assert moved.exit_code == 1
    assert "pb-sync has no leadership transfer" in moved.output
    assert "replikv cluster promote ID" in moved.output
    assert load_state(cluster_dir).node(1).pid  # nothing else happened

    raft_dir = tmp_path / "raft"
    opts = manager.UpOptions(protocol="raft", nodes=2, base_port=free_base_port(2),
                             serve_prefix=FAKE_NODE, ready_timeout_s=15.0)
    try:
        manager.up(raft_dir, opts)
        promoted = _cli("promote", "2", "--data-dir", str(raft_dir))
        assert promoted.exit_code == 1
        assert "raft elects its leader" in promoted.output
        assert "replikv cluster transfer-leader ID" in promoted.output
        status = json.loads(_cli("status", "--json", "--data-dir", str(raft_dir)).output)
        assert [n["role"] for n in status["nodes"]] == ["primary", "backup"]  # the stand-in's words
    finally:
        manager.down(raft_dir, timeout_s=3.0)


def test_a_partition_with_an_empty_side_is_refused(cluster_dir) -> None:
    """Issue 8.9: `cluster partition 1,2,3` on a 3-node cluster was a silent no-op."""
    _up(cluster_dir)
    where = ["--data-dir", str(cluster_dir)]
    for ids in ("1,2,3", "3,2,1,2"):
        result = _cli("partition", ids, *where)
        assert result.exit_code == 1 and "puts every member (1,2,3) on one side" in result.output
    port = load_state(cluster_dir).node(2).client_port
    assert admin.node_status("127.0.0.1", port).raw["blocked"] == ""  # nothing was sent
    assert _cli("partition", "1,2", *where).exit_code == 0


def test_restart_rejoin_passes_rejoin_to_that_start_only(cluster_dir) -> None:
    """Issue 8.1: a node whose data directory was lost restarts with `replikv serve
    --rejoin`; the flag is for that start, not recorded for every later restart."""
    _up(cluster_dir)
    assert all("--bootstrap" in n.argv for n in load_state(cluster_dir).nodes)  # a new cluster
    manager.kill(cluster_dir, 2)
    result = _cli("restart", "--rejoin", "2", "--data-dir", str(cluster_dir))
    assert result.exit_code == 0 and "node 2 restarted to rejoin" in result.output
    argv = load_state(cluster_dir).node(2).argv
    assert argv[argv.index("serve"):].count("--rejoin") == 1 and "--bootstrap" not in argv
    manager.restart(cluster_dir, 2)
    argv = load_state(cluster_dir).node(2).argv
    assert "--rejoin" not in argv and "--bootstrap" not in argv


def test_link_states_are_read_from_status_json_and_from_info() -> None:
    """Issue 8.3: `cluster status` shows a peer link that is down, from either source."""
    from_json = admin._from_mapping({
        "status": {"role": "leader", "term": 2},
        "transport": {"links": {"2": {"connected": True}, "3": {"connected": False}}},
    })
    assert from_json.links == {2: "up", 3: "down"} and from_json.down_links() == [3]
    from_info = admin._from_mapping(admin.parse_info(
        "# Replication\r\nrole:slave\r\nlink_1:up\r\nlink_1_detail:since_s=1.0\r\nlink_3:down\r\n"))
    assert from_info.links == {1: "up", 3: "down"}
    assert from_info.down_links(among={1, 2}) == []


def test_converged_needs_every_link_between_members_up() -> None:
    """A peer link that never came back (issue 8.3) leaves the cluster unconverged even
    when every index and digest agree; a link to a non-member does not count."""
    current = _view(("up", "leader", 5, "d"), ("up", "follower", 5, "d"), ("up", "follower", 5, "d"))
    for row in current.rows:
        row.status.links = {p: "up" for p in (1, 2, 3, 9) if p != row.id}
    current.rows[2].status.links[9] = "down"  # node 9 is not a member
    assert control.converged(current)
    current.rows[0].status.links[3] = "down"
    assert not control.converged(current)
    assert current.rows[0].as_dict()["down_links"] == [3]


def test_restart_rejoin_of_a_node_that_still_has_its_wal_is_refused_before_stopping_it(cluster_dir) -> None:
    """`replikv serve --rejoin` refuses a directory that holds a WAL; the tooling checks
    first, so the running node is not stopped for nothing and left down."""
    _up(cluster_dir)
    entry = load_state(cluster_dir).node(2)
    (pathlib.Path(entry.data_dir) / "wal-0000000000000001.log").write_bytes(b"")
    with pytest.raises(ClusterError, match="still holds its WAL; --rejoin is for a node that lost its data"):
        manager.restart(cluster_dir, 2, rejoin=True)
    assert load_state(cluster_dir).node(2).pid == entry.pid and manager.node_alive(entry)


def test_leader_choice_orders_paxos_ballots_not_as_zero() -> None:
    """Two nodes both say they lead (a deposed Paxos leader has not heard of the new
    ballot yet): the one with the higher ballot is the leader. Ballots used to be read as
    no term at all, so the lower node id won whatever the ballots were."""
    current = control.ClusterView(state=ClusterState(protocol="multipaxos", base_port=7000))
    for node_id, ballot in ((1, [1, 1]), (3, [2, 3])):
        status = admin._from_mapping({"status": {"role": "leader", "term": ballot, "leader": node_id}})
        current.rows.append(control.NodeRow(id=node_id, pid=100 + node_id, client_port=7000 + node_id,
                                            state="up", status=status))
    assert current.rows[1].status.term == (2, 3)
    assert current.leader().id == 3
    assert current.as_dict()["leader"] == 3
    assert current.as_dict()["nodes"][1]["term"] == [2, 3]


def test_suspected_peers_are_read_from_status_json_and_from_info() -> None:
    """A pb-sync primary that has not heard a backup refuses writes: `cluster status`
    shows the backup it suspects, from either source."""
    from_json = admin._from_mapping({"status": {"role": "primary", "term": 1, "suspects": [3]}})
    assert from_json.suspects == (3,)
    from_info = admin._from_mapping(admin.parse_info("# Replication\r\nrole:master\r\nsuspects:3,2\r\n"))
    assert from_info.suspects == (2, 3)
    assert admin._from_mapping(admin.parse_info("# Replication\r\nsuspects:\r\n")).suspects == ()
    assert admin._from_mapping({"suspects": 7}).suspects == ()  # not a list: ignored


def test_converged_waits_until_no_member_is_suspected() -> None:
    current = _view(("up", "primary", 5, "d"), ("up", "backup", 5, "d"), ("up", "backup", 5, "d"))
    assert control.converged(current)
    current.rows[0].status.suspects = (3,)
    assert not control.converged(current)
    assert current.rows[0].as_dict()["suspects"] == [3]
    current.rows[0].status.suspects = (9,)  # not a member
    assert control.converged(current)


def _stub_state(nodes: int) -> ClusterState:
    """A pb-sync cluster's state file of ``nodes`` entries on ports 7001.. (nothing runs)."""
    state = ClusterState(protocol="pb-sync", base_port=7000)
    state.nodes = [manager.NodeEntry(id=i, client_port=7000 + i, peer_port=7100 + i, data_dir=f"/d{i}",
                                     log_file=f"/d{i}.log", argv=[]) for i in range(1, nodes + 1)]
    return state


def test_wait_serving_polls_until_every_link_is_up_and_nobody_is_suspected(monkeypatch) -> None:
    """`cluster up` returns once PING answers, but a node dials its peers with a backoff
    (up to 2 s) and a pb-sync primary refuses writes until it has heard every backup (CI
    failure: `SET` right after `up` got `TIMEOUT backup 3 is down`)."""
    state = _stub_state(3)
    others = lambda node: {p: "up" for p in (1, 2, 3) if p != node}  # noqa: E731
    rounds = [
        {1: NodeStatus(role="primary", links={2: "up", 3: "down"}), 2: NodeStatus(links=others(2)),
         3: NodeStatus(links=others(3))},
        {1: NodeStatus(role="primary", links=others(1), suspects=(3,)), 2: NodeStatus(links=others(2)),
         3: NodeStatus(links=others(3))},
        {1: NodeStatus(role="primary", links=others(1)), 2: NodeStatus(links=others(2)),
         3: NodeStatus(links=others(3))},
    ]
    asked: list[int] = []

    def node_status(host: str, port: int) -> NodeStatus:
        asked.append(port)
        return rounds[min(asked.count(7001), len(rounds)) - 1][port - 7000]  # a round per poll

    monkeypatch.setattr(manager.admin, "node_status", node_status)
    monkeypatch.setattr(manager.time, "sleep", lambda s: None)
    assert manager.wait_serving(state, state.members(), 0.0) == "node 1 has no link yet to node(s) 3"
    asked.clear()
    assert manager.wait_serving(state, state.members(), 60.0) is None
    assert asked.count(7001) == 3 and asked[-3:] == [7001, 7002, 7003]


def test_wait_serving_about_a_restarted_node_looks_at_its_links_only(monkeypatch) -> None:
    """`cluster restart N` waits until N is back in: its links to the live nodes, theirs
    to it, nobody suspecting it. A link between two other nodes that is down, or a node
    that does not answer, is not what the restart waits for."""
    state = _stub_state(4)
    statuses = {
        1: NodeStatus(role="primary", links={2: "down", 3: "up", 4: "up"}, suspects=(2, 3)),
        3: NodeStatus(links={1: "up", 2: "up", 4: "up"}),
        4: NodeStatus(links={1: "up", 2: "down", 3: "up"}),
    }

    def node_status(host: str, port: int) -> NodeStatus:
        if port - 7000 == 2:
            raise OSError("connection refused")
        return statuses[port - 7000]

    monkeypatch.setattr(manager.admin, "node_status", node_status)
    monkeypatch.setattr(manager.time, "sleep", lambda s: None)
    assert manager.wait_serving(state, state.members(), 0.0, node=3) == "node 1 counts node(s) 3 as down"
    statuses[1] = NodeStatus(role="primary", links={2: "down", 3: "up", 4: "up"}, suspects=(2,))
    assert manager.wait_serving(state, state.members(), 0.0, node=3) is None
    # about node 2 itself: the others' links to it come first, then its own silence
    assert manager.wait_serving(state, state.members(), 0.0, node=2) == "node 1 has no link yet to node(s) 2"
    statuses[1] = NodeStatus(role="primary", links={2: "up", 3: "up", 4: "up"})
    statuses[4] = NodeStatus(links={1: "up", 2: "up", 3: "up"})
    assert manager.wait_serving(state, state.members(), 0.0, node=2) == "node 2 does not report its status (connection refused)"


def test_cluster_wait_names_a_suspected_member_when_it_gives_up(monkeypatch) -> None:
    current = _view(("up", "primary", 5, "d"), ("up", "backup", 5, "d"), ("up", "backup", 5, "d"))
    current.rows[0].status.suspects = (3,)
    monkeypatch.setattr(control, "view", lambda data_dir: current)
    with pytest.raises(ClusterError, match="node 1: up applied 5 suspects 3 down"):
        control.wait_converged("/nowhere", timeout_s=0.0)
