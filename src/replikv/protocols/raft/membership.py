"""Cluster configuration as a fold over the log (Raft §6, thesis ch. 4).

A configuration is (voters, learners), both sorted tuples of node ids. It changes one
server at a time (thesis §4.1) through ``AddServer``/``RemoveServer`` entries, and a
server uses the latest configuration *in its log*, committed or not (thesis §4.1: "a
server always uses the latest configuration in its log"). A truncated suffix therefore
also rolls the configuration back.

- ``AddServer(n, learner=True)``: ``n`` becomes a learner (receives the log, never votes
  and never counts toward a quorum); no effect on a voter.
- ``AddServer(n, learner=False)``: ``n`` becomes a voter (a learner is promoted).
- ``RemoveServer(n)``: ``n`` leaves both sets.
"""

from __future__ import annotations

from replikv.core.commands import AddServer, Command, RemoveServer

Configuration = tuple[tuple[int, ...], tuple[int, ...]]


_CONFIG_COMMANDS = (AddServer, RemoveServer)


def is_config_command(command: Command) -> bool:
    # a tuple built once: ``AddServer | RemoveServer`` built a new union on every call,
    # and this runs for every entry appended and applied (issue 14)
    return isinstance(command, _CONFIG_COMMANDS)


def apply_change(config: Configuration, command: Command) -> Configuration:
    """The configuration after one change entry."""
    voters, learners = set(config[0]), set(config[1])
    match command:
        case AddServer(node=node, learner=True):
            if node not in voters:
                learners.add(node)
        case AddServer(node=node, learner=False):
            voters.add(node)
            learners.discard(node)
        case RemoveServer(node=node):
            voters.discard(node)
            learners.discard(node)
        case _:
            raise ValueError(f"not a configuration change: {type(command).__name__}")
    return tuple(sorted(voters)), tuple(sorted(learners - voters))


class ConfigHistory:
    """The base configuration (as of the snapshot) and the change entries after it."""

    __slots__ = ("base", "_changes")

    def __init__(self, base: Configuration) -> None:
        self.base = base
        self._changes: list[tuple[int, Configuration]] = []

    @property
    def current(self) -> Configuration:
        return self._changes[-1][1] if self._changes else self.base

    @property
    def last_change_index(self) -> int:
        """Index of the newest change entry (0 if none after the snapshot)."""
        return self._changes[-1][0] if self._changes else 0

    def appended(self, index: int, command: Command) -> None:
        assert not self._changes or index > self._changes[-1][0]
        self._changes.append((index, apply_change(self.current, command)))

    def truncated_after(self, index: int) -> None:
        while self._changes and self._changes[-1][0] > index:
            self._changes.pop()

    def at(self, index: int) -> Configuration:
        """The configuration in force once the log holds exactly up to ``index``."""
        config = self.base
        for at_index, changed in self._changes:
            if at_index > index:
                break
            config = changed
        return config

    def compacted(self, index: int) -> None:
        """A snapshot now covers up to ``index``: fold older changes into the base."""
        self.base = self.at(index)
        self._changes = [(i, c) for i, c in self._changes if i > index]

    def reset(self, base: Configuration) -> None:
        self.base = base
        self._changes = []
