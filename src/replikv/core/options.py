"""Scheme options written as ``key=value`` text (``--option``, ``REPLIKV_OPTIONS``).

What may live here: turning that text into typed values, one rule for every command and
host: the value is read as a TOML value when it parses (``10``, ``2.5``, ``true``,
``"text"``), else taken as the plain string. Whether a key is an option of the scheme,
and whether its value fits, is the scheme's configuration's to say (``make_config``)."""

from __future__ import annotations

import tomllib
from typing import Any

from replikv.core.errors import ConfigError


def parse_value(text: str) -> Any:
    """``"10"`` -> 10, ``"true"`` -> True, ``"fast"`` -> "fast"."""
    try:
        return tomllib.loads(f"v = {text.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        return text.strip()


def split_option(item: str, where: str) -> tuple[str, str]:
    """``" key = text "`` -> ``("key", "text")``; an item without ``=`` or with an empty
    key is a ``ConfigError`` naming ``where`` and the item."""
    key, sep, text = item.strip().partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"{where} {item.strip()!r}: expected key=value")
    return key.strip(), text.strip()


def typed(options: dict[str, str]) -> dict[str, Any]:
    """Text values (as ``--option`` gave them) -> typed values (:func:`parse_value`)."""
    return {key: parse_value(text) for key, text in options.items()}


def parse_options(items: list[str] | tuple[str, ...], where: str) -> dict[str, Any]:
    """``key=value`` strings -> typed values; blank items are skipped; a malformed one is
    a ``ConfigError`` (:func:`split_option`)."""
    return typed(dict(split_option(item, where) for item in items if item.strip()))
