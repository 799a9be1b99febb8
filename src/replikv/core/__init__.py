"""The contracts every layer shares: requests, commands, results, inputs and effects,
the effect pipeline, quorum math, the replicated log, the replica protocol.

May import: stdlib (never time, os, socket, threading, asyncio, logging, module-level
random), msgspec.
"""

from replikv.core.commands import (
    AddServer,
    Cas,
    Command,
    Delete,
    Get,
    Incr,
    MGet,
    Noop,
    Promote,
    RemoveServer,
    Set,
    TransferLeader,
    Txn,
    is_admin,
    is_read,
    keys_of,
)
from replikv.core.config import NodeConfig, ReplicaConfig, load_config
from replikv.core.errors import (
    Aborted,
    BadRequest,
    ClientError,
    ConfigError,
    ConnectionLost,
    CorruptStorage,
    NotLeader,
    Ok,
    Result,
    Timeout,
    Unavailable,
    WrongType,
)
from replikv.core.io import (
    Commit,
    Effect,
    Input,
    Persist,
    Persisted,
    Receive,
    Reply,
    Send,
    Submit,
    Tick,
)
from replikv.core.log import Entry, ReplicatedLog
from replikv.core.messages import Message, Record
from replikv.core.pipeline import EffectPipeline
from replikv.core.quorum import all_index, has_quorum, majority, quorum_index
from replikv.core.replica import CreateArgs, Promises, ProtocolSpec, Replica, StateMachine, Status
from replikv.core.requests import READ_LEVELS, Request, RequestId

__all__ = [name for name in dir() if not name.startswith("_")]
