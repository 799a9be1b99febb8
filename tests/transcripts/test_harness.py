"""The transcript harness itself: the format round-trips, a wrong expectation fails with
a diff and ``--rewrite`` fixes it, commands parse back from how they print, and the
transcripts of the real schemes fail against the planted bugs of the test kit (so they
can see: an ack ahead of its Persist, a vote forgotten across a restart, pb-sync
acknowledging before every backup has the write)."""

from __future__ import annotations

import shlex
import shutil
from pathlib import Path

import pytest

from replikv.core.commands import Cas, Get, Promote, Set, TransferLeader
from replikv.schemes import get_spec

from . import datadriven, render
from .commands import parse_command
from .harness import Cluster, HarnessError
from .test_transcripts import FILES, TESTDATA, check_file, run_transcript


@pytest.mark.parametrize("path", FILES, ids=[f"{p.parent.name}/{p.stem}" for p in FILES])
def test_format_round_trips(path: Path) -> None:
    text = path.read_text()
    transcript = datadriven.parse(text)
    assert datadriven.render(transcript, [b.expected for b in transcript.blocks]) == text


def test_a_wrong_expectation_fails_with_a_diff_and_rewrite_fixes_it(tmp_path: Path) -> None:
    original = TESTDATA / "raft" / "election.txt"
    path = tmp_path / "raft" / "election.txt"
    path.parent.mkdir()
    shutil.copy(original, path)
    wrong = "2 -> 1 PreVoteReply(term=1, granted=True)"
    path.write_text(path.read_text().replace(wrong, wrong.replace("True", "False"), 1))
    failure = check_file(path)
    assert failure is not None
    assert "-  2 -> 1 PreVoteReply(term=1, granted=False)" in failure
    assert "+  2 -> 1 PreVoteReply(term=1, granted=True)" in failure
    assert check_file(path, rewrite=True) is None
    assert path.read_text() == original.read_text()
    assert check_file(path) is None


@pytest.mark.parametrize(
    ("planted", "transcript", "sign"),
    [
        ("raft+ack-before-persist", "raft/election.txt", "DurabilityViolation"),
        ("raft+forget-vote", "raft/vote_survives_restart.txt", "2 role=follower term=0"),
        ("pb-sync+ack-before-persist", "pb-sync/write_path.txt", "DurabilityViolation"),
        ("pb-sync+early-ack", "pb-sync/write_path.txt", "1 commit 1 7/1 set k v"),
    ],
)
def test_transcripts_catch_planted_bugs(planted: str, transcript: str, sign: str) -> None:
    """The first line that differs is the bug showing (``sign``)."""
    expected, actual = run_transcript(TESTDATA / transcript, scheme=planted)
    assert actual != expected
    first = next(
        i for i, (a, b) in enumerate(zip(expected.splitlines(), actual.splitlines(), strict=False))
        if a != b
    )
    assert sign in actual.splitlines()[first], actual.splitlines()[first]


@pytest.mark.parametrize(
    "command",
    [Set("k", "v"), Set("k", "a b", only_if="nx"), Get("k"), Cas("k", None, "v2"), Promote(),
     TransferLeader(2)],
)
def test_commands_parse_back_from_how_they_print(command) -> None:
    words = render.command(command)
    assert parse_command(shlex.split(words), get_spec("raft")) == command


def test_usage_errors_name_the_problem() -> None:
    cluster = Cluster("raft")
    with pytest.raises(HarnessError, match="first command must be start"):
        cluster.run("tick")
    cluster.run("start nodes=1,2,3")
    with pytest.raises(HarnessError, match="unknown command 'jump'"):
        cluster.run("jump node=1")
    with pytest.raises(HarnessError, match="unknown options: bogus=1"):
        cluster.run("tick node=1 bogus=1")
    with pytest.raises(HarnessError, match="unknown command 'frobnicate'"):
        cluster.run("submit node=1 frobnicate k")


def test_a_scheme_folder_needs_no_code(tmp_path: Path) -> None:
    """A transcript for another registered scheme runs as is (here pb-async's folder name
    picks the scheme; nothing in the harness names it)."""
    path = tmp_path / "pb-async" / "t.txt"
    path.parent.mkdir()
    path.write_text("start nodes=1,2\n----\n\nsubmit node=2 set k v\n----\n")
    check_file(path, rewrite=True)
    assert path.read_text().endswith("submit node=2 set k v\n----\n2 reply 1/1 NotLeader(leader=1)\n")
