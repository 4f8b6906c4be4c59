"""Properties of the ``initial_connection`` plugin."""

from __future__ import annotations

from ...host_selectors import PLUGINLESS_STRATEGIES
from ...properties import WrapperProperty, _parse_int, _parse_str, register_property

__all__ = [
    "OPEN_CONNECTION_RETRY_INTERVAL_MS",
    "OPEN_CONNECTION_RETRY_TIMEOUT_MS",
    "READER_INITIAL_CONNECTION_HOST_SELECTOR_STRATEGY",
    "VERIFY_OPENED_CONNECTION_TYPE",
    "WAIT_FOR_INITIAL_TOPOLOGY_MS",
]

VERIFY_OPENED_CONNECTION_TYPE = register_property(
    WrapperProperty(
        "verify_opened_connection_type",
        "writer or reader: the role the initial connection must have (default: the endpoint's role).",
        None,
        _parse_str,
        ("writer", "reader"),
    )
)
OPEN_CONNECTION_RETRY_TIMEOUT_MS = register_property(
    WrapperProperty(
        "open_connection_retry_timeout_ms",
        "How long the initial_connection plugin looks for an instance of the right role.",
        30_000,
        _parse_int,
        min_value=0,
    )
)

OPEN_CONNECTION_RETRY_INTERVAL_MS = register_property(
    WrapperProperty(
        "open_connection_retry_interval_ms",
        "Pause between two rounds of looking for an instance of the right role.",
        50,
        _parse_int,
        min_value=0,
    )
)
WAIT_FOR_INITIAL_TOPOLOGY_MS = register_property(
    WrapperProperty(
        "wait_for_initial_topology_ms",
        "How long a first connection through a cluster endpoint waits for the cluster's topology when no "
        "monitor knows it yet, to connect straight to an instance (0: go through the endpoint meanwhile).",
        0,
        _parse_int,
        min_value=0,
    )
)
READER_INITIAL_CONNECTION_HOST_SELECTOR_STRATEGY = register_property(
    WrapperProperty(
        "reader_initial_connection_host_selector_strategy",
        "How a first connection through the reader endpoint picks its reader from the topology.",
        "random",
        _parse_str,
        tuple(sorted(PLUGINLESS_STRATEGIES)),
    )
)
