"""Properties of the ``initial_connection`` plugin."""

from __future__ import annotations

from dataclasses import dataclass

from ...host_selectors import PLUGINLESS_STRATEGIES
from ...properties import Properties, WrapperProperty, _parse_int, _parse_str, register_property

__all__ = [
    "OPEN_CONNECTION_RETRY_INTERVAL_MS",
    "OPEN_CONNECTION_RETRY_TIMEOUT_MS",
    "READER_INITIAL_CONNECTION_HOST_SELECTOR_STRATEGY",
    "VERIFY_OPENED_CONNECTION_TYPE",
    "WAIT_FOR_INITIAL_TOPOLOGY_MS",
    "InitialConnectionSettings",
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


@dataclass(frozen=True, slots=True)
class InitialConnectionSettings:
    """The ``initial_connection`` plugin's settings, parsed once per connection (durations in seconds)."""

    retry_timeout: float
    retry_interval: float
    forced_role: str | None  # "writer", "reader" or None: the endpoint's role
    wait_for_topology: float
    reader_strategy: str

    @classmethod
    def from_props(cls, props: Properties) -> InitialConnectionSettings:
        return cls(
            retry_timeout=OPEN_CONNECTION_RETRY_TIMEOUT_MS.seconds(props),
            retry_interval=OPEN_CONNECTION_RETRY_INTERVAL_MS.seconds(props),
            forced_role=VERIFY_OPENED_CONNECTION_TYPE.get(props),
            wait_for_topology=WAIT_FOR_INITIAL_TOPOLOGY_MS.seconds(props),
            reader_strategy=READER_INITIAL_CONNECTION_HOST_SELECTOR_STRATEGY.value(props),
        )
