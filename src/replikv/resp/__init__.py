"""replikv.resp: the Redis (RESP2 and RESP3) front end of a node (docs/redis.md).

May import: core, kv, runtime (only ``runtime.service``). ``protocol``, ``inline``,
``commands`` and ``info`` are sans-I/O (the client reuses them); ``session`` and
``server`` are asyncio.
"""
