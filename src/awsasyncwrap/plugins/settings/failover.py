"""Properties of the failover plugin beyond the core ``failover_*`` ones."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ...properties import (
    WrapperProperties,
    WrapperProperty,
    _parse_bool,
    _parse_float,
    parsed_once,
    register_property,
)

__all__ = ["ENABLE_CONNECT_FAILOVER", "FAILOVER_CONNECT_TIMEOUT_SEC", "FailoverSettings"]

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


@dataclass(frozen=True, slots=True)
class FailoverSettings:
    """The failover plugin's settings, parsed once per connection (durations in seconds)."""

    enabled: bool
    timeout: float
    connect_timeout: float
    connect_failover: bool
    reader_strategy: str
    mode: str | None  # None: from the connection URL (reader_or_writer for a reader endpoint)

    @staticmethod
    @parsed_once(
        WrapperProperties.ENABLE_FAILOVER,
        WrapperProperties.FAILOVER_TIMEOUT_SEC,
        FAILOVER_CONNECT_TIMEOUT_SEC,
        ENABLE_CONNECT_FAILOVER,
        WrapperProperties.FAILOVER_READER_HOST_SELECTOR_STRATEGY,
        WrapperProperties.FAILOVER_MODE,
    )
    def from_props(props: Mapping[str, Any]) -> FailoverSettings:
        return FailoverSettings(
            enabled=bool(WrapperProperties.ENABLE_FAILOVER.get(props)),
            timeout=WrapperProperties.FAILOVER_TIMEOUT_SEC.value(props),
            connect_timeout=FAILOVER_CONNECT_TIMEOUT_SEC.value(props),
            connect_failover=ENABLE_CONNECT_FAILOVER.value(props),
            reader_strategy=WrapperProperties.FAILOVER_READER_HOST_SELECTOR_STRATEGY.value(props),
            mode=WrapperProperties.FAILOVER_MODE.get(props),
        )
