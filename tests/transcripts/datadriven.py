"""The transcript file format (the etcd-io/raft "datadriven" style): read it, write it back.

What may live here: parsing and rendering of the text format, nothing about schemes.

A transcript is a sequence of blocks; each block is one command line, a ``----`` line,
and the output the command must produce, ended by a blank line (or the end of the file)::

    # comments (and blank lines) between blocks are kept as they are
    tick node=1 ms=250          # a trailing comment on a command line is kept too
    ----
    1 -> 2 PreVote(term=1, last_log_index=0, last_log_term=0)

Outputs never contain a blank line, so a blank line always ends a block. ``render`` of
what ``parse`` read, with the same outputs, gives the same text back (a rewrite changes
only outputs).
"""

from __future__ import annotations

from dataclasses import dataclass, field

SEPARATOR = "----"


class TranscriptSyntaxError(ValueError):
    """The file does not follow the format; the message names the line."""


@dataclass
class Block:
    line: int
    """1-based line number of the command (for error messages)."""
    command: str
    """The command line as written (trailing comment included)."""
    expected: list[str]
    leading: list[str] = field(default_factory=list)
    """Comment and blank lines before the command."""


@dataclass
class Transcript:
    blocks: list[Block]
    trailing: list[str]
    """Comment and blank lines after the last block."""


def parse(text: str, name: str = "<transcript>") -> Transcript:
    lines = text.splitlines()
    blocks: list[Block] = []
    pending: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if not line.strip() or line.lstrip().startswith("#"):
            pending.append(line)
            i += 1
            continue
        if i + 1 >= len(lines) or lines[i + 1].strip() != SEPARATOR:
            raise TranscriptSyntaxError(
                f"{name}:{i + 1}: a command must be followed by a {SEPARATOR!r} line: {line!r}"
            )
        command_line = i + 1
        i += 2
        expected = []
        while i < len(lines) and lines[i].strip():
            expected.append(lines[i])
            i += 1
        i += 1  # the blank line that ends the block
        blocks.append(Block(command_line, line, expected, pending))
        pending = []
    while pending and not pending[-1].strip():
        pending.pop()
    return Transcript(blocks, pending)


def render(transcript: Transcript, outputs: list[list[str]]) -> str:
    """The transcript text with ``outputs[i]`` as the output of block ``i``."""
    assert len(outputs) == len(transcript.blocks)
    out: list[str] = []
    for block, output in zip(transcript.blocks, outputs, strict=True):
        assert all(line.strip() for line in output), "an output line is blank"
        out += block.leading
        out += [block.command, SEPARATOR, *output, ""]
    out += transcript.trailing
    while out and not out[-1].strip():
        out.pop()
    return "\n".join(out) + "\n"
