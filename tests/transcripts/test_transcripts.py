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


def run_transcript(path: Path) -> tuple[str, str]:
    """(text as written, text with the actual outputs) of one transcript file."""
    text = path.read_text()
    transcript = datadriven.parse(text, str(path))
    cluster = Cluster(path.parent.name)
    outputs = []
    for block in transcript.blocks:
        try:
            outputs.append(cluster.run(block.command))
        except HarnessError as exc:
            raise HarnessError(f"{path}:{block.line}: {exc}") from None
    return text, datadriven.render(transcript, outputs)


@pytest.mark.parametrize("path", FILES, ids=[f"{p.parent.name}/{p.stem}" for p in FILES])
def test_transcript(path: Path, request: pytest.FixtureRequest) -> None:
    expected, actual = run_transcript(path)
    if actual == expected:
        return
    if request.config.getoption("--rewrite", default=False):
        path.write_text(actual)
        return
    diff = "".join(
        difflib.unified_diff(
            expected.splitlines(keepends=True),
            actual.splitlines(keepends=True),
            fromfile=f"{path.name} (expected)",
            tofile=f"{path.name} (actual)",
        )
    )
    pytest.fail(
        f"{path} does not match (rerun with --rewrite to accept the new output):\n{diff}",
        pytrace=False,
    )


def test_every_scheme_folder_names_a_scheme() -> None:
    from replikv.schemes import names

    folders = sorted(p.name for p in TESTDATA.iterdir() if p.is_dir())
    assert folders, "no transcript folders"
    assert set(folders) <= set(names()), f"folders {folders}, schemes {names()}"
