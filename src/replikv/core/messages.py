"""Base classes for peer messages and durable records.

Each protocol declares its messages and records as frozen, tagged msgspec structs
in its own ``messages.py`` / ``records.py``: one declaration is the type and the wire
format. Never pickle.

``Message.heartbeat`` marks liveness traffic, counted apart from the messages that
carry writes (the report's ``messages_per_write`` vs ``heartbeats_per_s``).
``Message.asserts_durable`` marks acknowledgements of durable state (vote granted,
append ack, promise, ...): the simulator checks they never overtake their Persist.
"""

from __future__ import annotations

from typing import ClassVar

import msgspec


class Message(msgspec.Struct, frozen=True, tag=True):
    heartbeat: ClassVar[bool] = False
    asserts_durable: ClassVar[bool] = False


class Record(msgspec.Struct, frozen=True, tag=True):
    """Something a replica persists. Recovery folds the list of records back into a replica."""
