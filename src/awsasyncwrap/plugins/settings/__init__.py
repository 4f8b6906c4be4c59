"""The connection properties of the built-in plugins, declared apart from the plugins' code.

Importing this package declares every plugin property (``properties.known_properties()`` lists them)
and imports no plugin and no optional dependency, so property names and values are validated before
any plugin is loaded. Each module holds the properties of one plugin (``gdb_regions``: those both
Global Database plugins read); the AWS authentication plugins' live in ``aws/_props.py``.
"""

from __future__ import annotations

from ...aws import _props as aws
from . import (
    blue_green,
    custom_endpoint,
    failover,
    fastest_response,
    gdb_failover,
    gdb_regions,
    gdb_rw,
    initial_connection,
    limitless,
    read_write_splitting,
    socket_timeout,
    srw,
    telemetry,
)

__all__ = [
    "aws",
    "blue_green",
    "custom_endpoint",
    "failover",
    "fastest_response",
    "gdb_failover",
    "gdb_regions",
    "gdb_rw",
    "initial_connection",
    "limitless",
    "read_write_splitting",
    "socket_timeout",
    "srw",
    "telemetry",
]
