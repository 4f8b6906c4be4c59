"""The topology monitor's settings, parsed once when the cluster's monitor is made (durations in seconds)."""

from __future__ import annotations

from dataclasses import dataclass

from ..properties import Properties, WrapperProperties

__all__ = ["TopologySettings"]


@dataclass(frozen=True, slots=True)
class TopologySettings:
    """How often a cluster's topology monitor looks, and how long its I/O may take."""

    refresh_rate: float
    high_rate: float
    high_rate_hold: float
    io_timeout: float
    connect_timeout: float | None  # None: the monitor's own default
    stuck_call_check_period: float

    @classmethod
    def from_props(cls, props: Properties) -> TopologySettings:
        w = WrapperProperties
        return cls(
            refresh_rate=w.CLUSTER_TOPOLOGY_REFRESH_RATE_MS.seconds(props),
            high_rate=w.CLUSTER_TOPOLOGY_HIGH_REFRESH_RATE_MS.seconds(props),
            high_rate_hold=w.CLUSTER_TOPOLOGY_HIGH_RATE_HOLD_MS.seconds(props),
            io_timeout=w.CLUSTER_TOPOLOGY_QUERY_TIMEOUT_MS.seconds(props),
            connect_timeout=w.CONNECT_TIMEOUT_SEC.get(props),
            stuck_call_check_period=w.STUCK_CALL_TOPOLOGY_CHECK_MS.seconds(props),
        )
