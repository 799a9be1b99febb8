"""One package per replication scheme. A scheme imports only ``replikv.core``."""
