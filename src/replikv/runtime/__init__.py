"""The node runtime: an asyncio host for one replica, the TCP peer transport, the WAL
writer thread, forwarding and operator verbs, and the process around them
(docs/runtime.md).

May import: core, kv, protocols, storage, check, schemes (never sim, never resp); may use
asyncio, sockets, threads, time, os and logging. Kept import-light on purpose: the RESP
front end imports ``runtime.service`` only. Entry points: ``runtime.node.Node``,
``runtime.config.load_node_config``, ``runtime.process.run_node``.
"""
