"""The property of the ``socket_timeout`` plugin (aws-advanced-python-wrapper's name and meaning)."""

from __future__ import annotations

from ...properties import WrapperProperty, _parse_float, register_property

__all__ = ["SOCKET_TIMEOUT"]

SOCKET_TIMEOUT = register_property(
    WrapperProperty(
        "socket_timeout",
        "Seconds a network call may take; then its connection is aborted (a network error: failover "
        "applies), as a socket timeout of a sync driver would.",
        None,
        _parse_float,
        min_value=0,
    )
)
