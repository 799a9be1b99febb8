"""Checks a replica makes before accepting a request: bad input is a definite error
and changes nothing."""

from __future__ import annotations

from replikv.core.commands import Command, Txn, value_bytes
from replikv.core.config import NodeConfig
from replikv.core.errors import BadRequest
from replikv.core.requests import READ_LEVELS, Request


def admit(request: Request, config: NodeConfig) -> BadRequest | None:
    """``None`` when the request may proceed, else the error to reply with."""
    if request.read_level not in READ_LEVELS:
        return BadRequest(f"unknown read level {request.read_level!r}")
    size = value_bytes(request.command)
    if size > config.max_value_bytes:
        return BadRequest(f"value of {size} bytes exceeds max_value_bytes={config.max_value_bytes}")
    if isinstance(request.command, Txn) and len(request.command.ops) > config.max_batch * 16:
        return BadRequest("transaction has too many operations")
    if not isinstance(request.command, Command):
        return BadRequest("not a command")
    return None
