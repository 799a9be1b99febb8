"""replikv.resp: the Redis (RESP2) front end of a node (docs/redis.md).

May import: core, kv, runtime (only ``runtime.service``). ``protocol``, ``commands`` and
``info`` are sans-I/O (the client reuses them); ``session`` and ``server`` are asyncio.
"""
