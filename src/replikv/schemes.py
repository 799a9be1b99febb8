"""The registry of replication schemes: name -> ``ProtocolSpec``.

Schemes are imported lazily, so one scheme's import cost (or absence while it is being
built) never touches another. Hosts (sim, runtime, CLI) look schemes up here; protocols
never import each other.
"""

from __future__ import annotations

import importlib
import os

from replikv.core.errors import ConfigError
from replikv.core.replica import ProtocolSpec

_LOCATIONS: dict[str, str] = {
    "pb-async": "replikv.protocols.primary_backup:PB_ASYNC",
    "pb-sync": "replikv.protocols.primary_backup:PB_SYNC",
    "raft": "replikv.protocols.raft:RAFT",
}


if os.environ.get("REPLIKV_PLANTED_BUGS") == "1":
    # Deliberately broken schemes that prove the checkers catch real bugs (docs/testing.md);
    # never registered unless asked for.
    from replikv.testing.planted import register_planted

    register_planted(_LOCATIONS)


def names() -> list[str]:
    """Every scheme name, in the order the chapter introduces them."""
    return list(_LOCATIONS)


def available() -> list[str]:
    """The schemes whose module imports here."""
    found = []
    for name in _LOCATIONS:
        try:
            get_spec(name)
        except (ImportError, AttributeError):
            continue
        found.append(name)
    return found


def get_spec(name: str) -> ProtocolSpec:
    try:
        location = _LOCATIONS[name]
    except KeyError:
        raise ConfigError(f"unknown protocol {name!r}; choose one of: {', '.join(_LOCATIONS)}") from None
    module_name, attribute = location.split(":")
    return getattr(importlib.import_module(module_name), attribute)
