"""``--option KEY=VALUE`` (repeatable): scheme options given on a command line.

What may live here: the flag's values as the text the nodes are started with (``cluster
up``, ``bench``, ``test`` pass them on to ``replikv serve --option``), checked for the
``KEY=VALUE`` shape by ``core.options`` (which also types them where a command needs the
values themselves). Whether a key is an option of the scheme is the scheme's
configuration's to say when the nodes start (``ConfigError``)."""

from __future__ import annotations

import click

from replikv.core.errors import ConfigError
from replikv.core.options import parse_options as typed_options


def parse_options(values: tuple[str, ...] | list[str]) -> dict[str, str]:
    """``("a=1", "b = x")`` -> ``{"a": "1", "b": "x"}``; a malformed item is a usage error
    naming it."""
    options: dict[str, str] = {}
    for item in values:
        try:
            typed_options([item], "--option")
        except ConfigError:
            raise click.BadParameter(f"{item!r}: expected KEY=VALUE", param_hint="--option") from None
        key, _, value = item.strip().partition("=")
        if key.strip():
            options[key.strip()] = value.strip()
    return options
