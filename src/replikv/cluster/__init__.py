"""Local cluster tooling: start, inspect, disturb and stop ``replikv serve`` processes.

What may live here: process management (``processes``), the JSON state file that lets
every ``replikv cluster`` command find the cluster from any shell (``state``), a tiny
RESP client for operator and benchmark traffic (``respwire``, over the shared codec of
``replikv.resp.protocol``), node queries and the
``RKVADMIN`` verbs (``admin``), and the operations themselves (``manager``).
This is a top layer like ``cli/``: it may import anything, and nothing imports it
except ``cli/`` and ``bench/``.
"""

from __future__ import annotations

from replikv.cluster.state import ClusterError, ClusterState, NodeEntry

__all__ = ["ClusterError", "ClusterState", "NodeEntry"]
