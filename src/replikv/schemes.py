"""The registry of replication schemes: name -> ``ProtocolSpec``.

Built-in schemes are one line each in ``_LOCATIONS`` (``"module:attribute"``), imported
lazily so one scheme's import cost never touches another. A scheme from outside the
package (the test kit's toy and planted-bug schemes) comes through exactly one door: the
Python entry-point group ``replikv.schemes`` of an installed distribution. Nothing else
(no environment variable) adds a scheme. Hosts (sim, runtime, CLI) look schemes up here;
protocols never import each other.
"""

from __future__ import annotations

import importlib
from functools import cache
from importlib.metadata import entry_points

from replikv.core.errors import ConfigError
from replikv.core.replica import ProtocolSpec

ENTRY_POINT_GROUP = "replikv.schemes"

_LOCATIONS: dict[str, str] = {
    "backup": "replikv.protocols.backup:BACKUP_SPEC",
    "pb-async": "replikv.protocols.primary_backup:PB_ASYNC",
    "pb-sync": "replikv.protocols.primary_backup:PB_SYNC",
    "raft": "replikv.protocols.raft:RAFT",
    "paxos": "replikv.protocols.paxos:PAXOS_SPEC",
    "multipaxos": "replikv.protocols.paxos:MULTIPAXOS_SPEC",
    "zab": "replikv.protocols.zab:ZAB",
    "2pc": "replikv.protocols.twophase:TWO_PC_SPEC",
    "3pc": "replikv.protocols.twophase:THREE_PC_SPEC",
    "quorum": "replikv.protocols.quorum:QUORUM_SPEC",
}


@cache
def _installed() -> dict[str, str]:
    """Schemes of installed distributions (``[project.entry-points."replikv.schemes"]``)."""
    return {ep.name: ep.value for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.name not in _LOCATIONS}


def _all() -> dict[str, str]:
    return {**_LOCATIONS, **_installed()}


def names() -> list[str]:
    """Every scheme name: the built-in ones in the order the chapter introduces them, then
    installed ones."""
    return list(_all())


def builtin() -> list[str]:
    return list(_LOCATIONS)


def available() -> list[str]:
    """The schemes whose module imports here."""
    found = []
    for name in _all():
        try:
            get_spec(name)
        except (ImportError, AttributeError):
            continue
        found.append(name)
    return found


def get_spec(name: str) -> ProtocolSpec:
    locations = _all()
    try:
        location = locations[name]
    except KeyError:
        raise ConfigError(f"unknown protocol {name!r}; choose one of: {', '.join(locations)}") from None
    module_name, attribute = location.split(":")
    spec = getattr(importlib.import_module(module_name), attribute)
    if spec.name != name:
        raise ConfigError(f"scheme {name!r} at {location} calls itself {spec.name!r}")
    return spec
