"""Properties of the failover plugin beyond the core ``failover_*`` ones."""

from __future__ import annotations

from ...properties import WrapperProperty, _parse_bool, _parse_float, register_property

__all__ = ["ENABLE_CONNECT_FAILOVER", "FAILOVER_CONNECT_TIMEOUT_SEC"]

FAILOVER_CONNECT_TIMEOUT_SEC = register_property(
    WrapperProperty(
        "failover_connect_timeout_sec",
        "Upper bound for one connection attempt to a failover candidate (and its role check).",
        5.0,
        _parse_float,
        min_value=0.001,
    )
)
ENABLE_CONNECT_FAILOVER = register_property(
    WrapperProperty(
        "enable_connect_failover",
        "A first connect that fails with a network error fails over, when another connection already knows "
        "the cluster's topology (aws-advanced-python-wrapper's name; its default there is false).",
        True,
        _parse_bool,
    )
)
