"""Transcript step tests (tier 2 of STYLE.md, the etcd-io/raft "datadriven" style).

Every ``testdata/<scheme>/*.txt`` is run against the scheme named by its folder
(``replikv.schemes.get_spec``): each command's output must equal the text under its
``----`` line. ``pytest tests/transcripts --rewrite`` regenerates the outputs in place.
A new scheme gets transcripts by adding a folder named after it; no code here changes.
"""

from __future__ import annotations

import difflib
from pathlib import Path

import pytest

from . import datadriven
from .harness import Cluster, HarnessError

TESTDATA = Path(__file__).parent / "testdata"
FILES = sorted(TESTDATA.glob("*/*.txt"))


def run_transcript(path: Path, scheme: str | None = None) -> tuple[str, str]:
    """(text as written, text with the actual outputs) of one transcript file, run
    against ``scheme`` (default: the scheme its folder is named after)."""
    text = path.read_text()
    transcript = datadriven.parse(text, str(path))
    cluster = Cluster(scheme or path.parent.name)
    outputs = []
    for block in transcript.blocks:
        try:
            outputs.append(cluster.run(block.command))
        except HarnessError as exc:
            raise HarnessError(f"{path}:{block.line}: {exc}") from None
    return text, datadriven.render(transcript, outputs)


def check_file(path: Path, rewrite: bool = False) -> str | None:
    """None when ``path`` matches what its commands produce; else a readable diff (and,
    with ``rewrite``, the file now holds the actual output)."""
    expected, actual = run_transcript(path)
    if actual == expected:
        return None
    if rewrite:
        path.write_text(actual)
        return None
    return diff(path, expected, actual)


def diff(path: Path, expected: str, actual: str) -> str:
    lines = difflib.unified_diff(
        expected.splitlines(keepends=True),
        actual.splitlines(keepends=True),
        fromfile=f"{path.name} (expected)",
        tofile=f"{path.name} (actual)",
    )
    return f"{path} does not match (rerun with --rewrite to accept the new output):\n" + "".join(lines)


@pytest.mark.parametrize("path", FILES, ids=[f"{p.parent.name}/{p.stem}" for p in FILES])
def test_transcript(path: Path, request: pytest.FixtureRequest) -> None:
    failure = check_file(path, rewrite=request.config.getoption("--rewrite", default=False))
    if failure is not None:
        pytest.fail(failure, pytrace=False)


def test_every_scheme_folder_names_a_scheme() -> None:
    from replikv.schemes import names

    folders = sorted(p.name for p in TESTDATA.iterdir() if p.is_dir())
    assert folders, "no transcript folders"
    assert set(folders) <= set(names()), f"folders {folders}, schemes {names()}"
