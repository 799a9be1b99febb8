"""``pytest tests/transcripts --rewrite`` writes each transcript's actual output into its
file instead of comparing (review the change with ``git diff`` before committing)."""

from __future__ import annotations


def pytest_addoption(parser) -> None:
    parser.addoption(
        "--rewrite",
        action="store_true",
        default=False,
        help="transcript tests: regenerate the expected outputs in testdata/ in place",
    )
