"""``host_monitoring`` (alias ``host_monitoring_v2``): enhanced failure monitoring.

A call that hangs on a host that stopped answering is ended within
``failure_detection_time_ms + failure_detection_interval_ms * failure_detection_count``
instead of after the OS gives up. One monitor task per host and event loop serves
every connection; see ``docs/host_monitoring.md``.
"""

from __future__ import annotations

from ._calls import InFlightCalls, MonitoredCall
from ._monitor import TASK_PREFIX, HostMonitor, MonitorSettings
from ._plugin import HostMonitoringPlugin, HostMonitoringPluginFactory, host_monitors, monitor_key

__all__ = [
    "TASK_PREFIX",
    "HostMonitor",
    "HostMonitoringPlugin",
    "HostMonitoringPluginFactory",
    "InFlightCalls",
    "MonitorSettings",
    "MonitoredCall",
    "host_monitors",
    "monitor_key",
]
