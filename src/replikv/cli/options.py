"""``--option KEY=VALUE`` (repeatable): scheme options given on a command line.

What may live here: the flag's values as the text the nodes are started with (``cluster
up``, ``bench``, ``test`` pass them on to ``replikv serve --option``), checked for the
``KEY=VALUE`` shape by ``core.options.split_option`` (``core.options.typed`` types them
where a command needs the values themselves). Whether a key is an option of the scheme is the scheme's
configuration's to say when the nodes start (``ConfigError``)."""

from __future__ import annotations

import click

from replikv.core.errors import ConfigError
from replikv.core.options import split_option


def parse_options(values: tuple[str, ...] | list[str]) -> dict[str, str]:
    """``("a=1", "b = x")`` -> ``{"a": "1", "b": "x"}``; a malformed item is a usage error
    naming it."""
    options: dict[str, str] = {}
    for item in values:
        if not item.strip():
            continue  # a blank item names nothing (as core.options.parse_options)
        try:
            key, text = split_option(item, "--option")
        except ConfigError:
            raise click.BadParameter(f"{item!r}: expected KEY=VALUE", param_hint="--option") from None
        options[key] = text
    return options
