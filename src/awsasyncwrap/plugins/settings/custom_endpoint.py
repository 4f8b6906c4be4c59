"""Properties of the ``custom_endpoint`` plugin (names and defaults as in the AWS wrappers)."""

from __future__ import annotations

from ...properties import WrapperProperty, _parse_bool, _parse_int, _parse_str, register_property

__all__ = [
    "CUSTOM_ENDPOINT_IDLE_MONITOR_EXPIRATION_MS",
    "CUSTOM_ENDPOINT_INFO_REFRESH_RATE_MS",
    "CUSTOM_ENDPOINT_RDS_ENDPOINT",
    "CUSTOM_ENDPOINT_REGION",
    "WAIT_FOR_CUSTOM_ENDPOINT_INFO",
    "WAIT_FOR_CUSTOM_ENDPOINT_INFO_TIMEOUT_MS",
]

CUSTOM_ENDPOINT_INFO_REFRESH_RATE_MS = register_property(
    WrapperProperty(
        "custom_endpoint_info_refresh_rate_ms",
        "How often the custom endpoint's members are read from the RDS API.",
        30_000,
        _parse_int,
        min_value=1,
    )
)
CUSTOM_ENDPOINT_IDLE_MONITOR_EXPIRATION_MS = register_property(
    WrapperProperty(
        "custom_endpoint_idle_monitor_expiration_ms",
        "How long a custom endpoint's monitor keeps running once no connection uses it.",
        900_000,
        _parse_int,
        min_value=0,
    )
)
WAIT_FOR_CUSTOM_ENDPOINT_INFO = register_property(
    WrapperProperty(
        "wait_for_custom_endpoint_info",
        "A connect waits for the endpoint's members when they are not known yet.",
        True,
        _parse_bool,
    )
)
WAIT_FOR_CUSTOM_ENDPOINT_INFO_TIMEOUT_MS = register_property(
    WrapperProperty(
        "wait_for_custom_endpoint_info_timeout_ms",
        "How long a connect waits for the endpoint's members.",
        5_000,
        _parse_int,
        min_value=1,
    )
)
CUSTOM_ENDPOINT_REGION = register_property(
    WrapperProperty(
        "custom_endpoint_region",
        "The AWS region of the custom endpoint (default: the one in its host name).",
        None,
        _parse_str,
    )
)
CUSTOM_ENDPOINT_RDS_ENDPOINT = register_property(
    WrapperProperty(
        "custom_endpoint_rds_endpoint",
        "RDS API endpoint URL override (e.g. a VPC endpoint) for reading custom endpoints.",
        None,
        _parse_str,
    )
)
