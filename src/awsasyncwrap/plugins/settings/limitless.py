"""Properties of the ``limitless`` plugin (names and defaults as in the AWS wrappers)."""

from __future__ import annotations

from dataclasses import dataclass

from ...properties import Properties, WrapperProperty, _parse_bool, _parse_int, register_property

__all__ = [
    "LIMITLESS_GET_TRANSACTION_ROUTER_MAX_RETRIES",
    "LIMITLESS_GET_TRANSACTION_ROUTER_RETRY_INTERVAL_MS",
    "LIMITLESS_MAX_RETRIES",
    "LIMITLESS_MONITOR_DISPOSAL_TIME_MS",
    "LIMITLESS_MONITOR_INTERVAL_MS",
    "LIMITLESS_WAIT_FOR_TRANSACTION_ROUTER_INFO",
    "LimitlessSettings",
]


def _int(name: str, default: int, description: str, minimum: int = 0) -> WrapperProperty[int]:
    return register_property(WrapperProperty(name, description, default, _parse_int, min_value=minimum))


LIMITLESS_MONITOR_INTERVAL_MS = _int(
    "limitless_transaction_router_monitor_interval_ms",
    7_500,
    "How often the shard group's transaction routers and their load are read.",
    1,
)
LIMITLESS_MONITOR_DISPOSAL_TIME_MS = _int(
    "limitless_transaction_router_monitor_disposal_time_ms",
    600_000,
    "How long a shard group's router monitor keeps running once no connection uses it.",
)
LIMITLESS_MAX_RETRIES = _int(
    "limitless_max_retries",
    5,
    "How many other routers a connect tries after the chosen one failed.",
)
LIMITLESS_WAIT_FOR_TRANSACTION_ROUTER_INFO = register_property(
    WrapperProperty(
        "limitless_wait_for_transaction_router_info",
        "The first connect to a shard group reads its routers before choosing one (else it goes through "
        "the endpoint while the monitor reads them).",
        True,
        _parse_bool,
    )
)
LIMITLESS_GET_TRANSACTION_ROUTER_MAX_RETRIES = _int(
    "limitless_get_transaction_router_max_retries",
    5,
    "How many times the first connect reads the routers again when none were returned.",
)
LIMITLESS_GET_TRANSACTION_ROUTER_RETRY_INTERVAL_MS = _int(
    "limitless_get_transaction_router_retry_interval_ms",
    300,
    "Pause between two of those reads.",
)


@dataclass(frozen=True, slots=True)
class LimitlessSettings:
    """The ``limitless`` plugin's settings, parsed once per connection (durations in seconds)."""

    monitor_interval: float
    monitor_disposal: float
    max_retries: int
    wait_for_router_info: bool
    router_read_retries: int
    router_read_pause: float

    @classmethod
    def from_props(cls, props: Properties) -> LimitlessSettings:
        return cls(
            monitor_interval=LIMITLESS_MONITOR_INTERVAL_MS.seconds(props),
            monitor_disposal=LIMITLESS_MONITOR_DISPOSAL_TIME_MS.seconds(props),
            max_retries=LIMITLESS_MAX_RETRIES.value(props),
            wait_for_router_info=LIMITLESS_WAIT_FOR_TRANSACTION_ROUTER_INFO.value(props),
            router_read_retries=LIMITLESS_GET_TRANSACTION_ROUTER_MAX_RETRIES.value(props),
            router_read_pause=LIMITLESS_GET_TRANSACTION_ROUTER_RETRY_INTERVAL_MS.seconds(props),
        )
