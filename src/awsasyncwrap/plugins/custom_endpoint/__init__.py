"""``custom_endpoint``: Aurora custom endpoints.

One monitor per custom endpoint and event loop reads the endpoint's members from the RDS API
(``DescribeDBClusterEndpoints``) every ``custom_endpoint_info_refresh_rate_ms``; each connection through
the endpoint may then use only those instances (failover, read/write splitting, host selection). See
``docs/custom_endpoint.md``.
"""

from __future__ import annotations

from ._monitor import CustomEndpointInfo, CustomEndpointMonitor
from ._plugin import (
    CustomEndpointInfoTimeoutError,
    CustomEndpointPlugin,
    CustomEndpointPluginFactory,
    custom_endpoint_monitors,
)

__all__ = [
    "CustomEndpointInfo",
    "CustomEndpointInfoTimeoutError",
    "CustomEndpointMonitor",
    "CustomEndpointPlugin",
    "CustomEndpointPluginFactory",
    "custom_endpoint_monitors",
]
