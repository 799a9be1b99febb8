"""Base classes for peer messages and durable records.

Each protocol declares its messages and records as frozen, tagged msgspec structs
in its own ``messages.py`` / ``records.py``: one declaration is the type and the wire
format. Never pickle.

Three class-level flags say what a message is to the hosts (``docs/design.md``):

- ``Message.heartbeat`` marks liveness traffic, counted apart from the messages that
  carry writes (the report's ``messages_per_write`` vs ``heartbeats_per_s``).
- ``Message.asserts_durable`` marks acknowledgements of durable state (vote granted,
  append ack, promise, ...): the effect pipeline holds them behind every pending
  ``Persist`` and the node driver checks them against the durable records.
- ``Message.overtakes_persist`` marks a message that carries no promise about its
  sender's durable state that a pending ``Persist`` could still make true: the effect
  pipeline lets it leave at once, ahead of Persists not yet durable (Raft thesis
  §10.2.1: a leader writes its log in parallel with replicating it). Whatever such a
  message still claims must already be durable when it is emitted; the node driver
  checks that against the durable records too. A message cannot be both: declaring a
  type that asserts durable state and overtakes raises ``TypeError`` when the class is
  created.
"""

from __future__ import annotations

from typing import Any, ClassVar

import msgspec


class Message(msgspec.Struct, frozen=True, tag=True):
    heartbeat: ClassVar[bool] = False
    asserts_durable: ClassVar[bool] = False
    overtakes_persist: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.asserts_durable and cls.overtakes_persist:
            raise TypeError(
                f"{cls.__name__} both asserts durable state and overtakes pending Persists: "
                "an acknowledgement of durable state must wait for the Persist that makes it true"
            )


class Record(msgspec.Struct, frozen=True, tag=True):
    """Something a replica persists. Recovery folds the list of records back into a replica."""
