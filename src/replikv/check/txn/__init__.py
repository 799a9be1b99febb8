"""Transactions over lists (Elle's list-append workload; Kingsbury & Alvaro, VLDB 2020):
the micro-op format, the dependency graph, its cycles, and a history generator.

Modules, one job each: ``ops`` (the micro-op format, used by ``check.history``),
``versions`` (each key's version order and the anomalies found without a graph),
``graph`` (ww/wr/rw/real-time edges), ``cycles`` (strongly connected components and
shortest cycles, named), ``words`` (explanations), ``check`` (``check_txn``),
``generate`` (histories from an atomic or a deliberately non-atomic execution).
"""
