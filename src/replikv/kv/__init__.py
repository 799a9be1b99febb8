"""The key-value state machine and its exactly-once session table.

May import: core.
"""

from replikv.kv.sessions import SessionTable
from replikv.kv.state_machine import KVStateMachine

__all__ = ["KVStateMachine", "SessionTable"]
