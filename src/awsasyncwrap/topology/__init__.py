"""Cluster topology: dialect base, host list provider and the shared cluster topology monitor."""

from __future__ import annotations

from ..dialects._topology import TopologyAwareDialect, TopologyEntry
from ._model import HostMapper, Topology
from ._monitor import ClusterTopologyMonitor
from ._provider import RdsHostListProvider, cluster_id_for, existing_monitor, monitor_key

__all__ = [
    "ClusterTopologyMonitor",
    "HostMapper",
    "RdsHostListProvider",
    "Topology",
    "TopologyAwareDialect",
    "TopologyEntry",
    "cluster_id_for",
    "existing_monitor",
    "monitor_key",
]
