"""replikv: a replicated key-value store in which every replication scheme is a mode."""

__version__ = "0.1.0"
