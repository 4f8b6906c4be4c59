"""Properties of the ``srw`` plugin (simple read/write splitting)."""

from __future__ import annotations

from dataclasses import dataclass

from ...errors import ConfigurationError
from ...properties import Properties, WrapperProperty, _parse_bool, _parse_int, _parse_str, register_property

__all__ = [
    "SRW_CONNECT_RETRY_INTERVAL_MS",
    "SRW_CONNECT_RETRY_TIMEOUT_MS",
    "SRW_READ_ENDPOINT",
    "SRW_VERIFY_INITIAL_CONNECTION_TYPE",
    "SRW_VERIFY_NEW_CONNECTIONS",
    "SRW_WRITE_ENDPOINT",
    "SrwSettings",
]

SRW_WRITE_ENDPOINT: WrapperProperty[str] = register_property(
    WrapperProperty(
        "srw_write_endpoint", "srw: 'host' or 'host:port' used on set_read_only(False).", None, _parse_str
    )
)
SRW_READ_ENDPOINT: WrapperProperty[str] = register_property(
    WrapperProperty(
        "srw_read_endpoint", "srw: 'host' or 'host:port' used on set_read_only(True).", None, _parse_str
    )
)
SRW_VERIFY_NEW_CONNECTIONS: WrapperProperty[bool] = register_property(
    WrapperProperty(
        "srw_verify_new_connections",
        "srw: check the role of every new connection and reconnect until it is right.",
        True,
        _parse_bool,
    )
)
SRW_VERIFY_INITIAL_CONNECTION_TYPE: WrapperProperty[str] = register_property(
    WrapperProperty(
        "srw_verify_initial_connection_type",
        "srw: role the initial connection must have (writer or reader); RDS cluster endpoints are "
        "checked without it.",
        None,
        _parse_str,
        ("writer", "reader"),
    )
)
SRW_CONNECT_RETRY_TIMEOUT_MS: WrapperProperty[int] = register_property(
    WrapperProperty(
        "srw_connect_retry_timeout_ms",
        "srw: how long to keep reconnecting until a new connection has the right role.",
        6_000,
        _parse_int,
        min_value=0,
    )
)
SRW_CONNECT_RETRY_INTERVAL_MS: WrapperProperty[int] = register_property(
    WrapperProperty(
        "srw_connect_retry_interval_ms",
        "srw: pause between two connection attempts while verifying roles.",
        100,
        _parse_int,
        min_value=0,
    )
)


@dataclass(frozen=True, slots=True)
class SrwSettings:
    """The ``srw`` plugin's settings, parsed once per connection (durations in seconds)."""

    write_endpoint: str
    read_endpoint: str
    verify_new_connections: bool
    retry_timeout: float
    retry_interval: float
    initial_role: str | None  # "writer", "reader" or None: not checked

    @classmethod
    def from_props(cls, props: Properties) -> SrwSettings:
        """Raises ConfigurationError when an endpoint is missing."""
        write = SRW_WRITE_ENDPOINT.get(props)
        read = SRW_READ_ENDPOINT.get(props)
        if not write or not read:
            missing = [p.name for p, v in ((SRW_WRITE_ENDPOINT, write), (SRW_READ_ENDPOINT, read)) if not v]
            raise ConfigurationError(
                f"The srw plugin needs {' and '.join(missing)} ('host' or 'host:port' of the endpoint "
                "to use for writes and for reads)."
            )
        return cls(
            write_endpoint=write,
            read_endpoint=read,
            verify_new_connections=SRW_VERIFY_NEW_CONNECTIONS.value(props),
            retry_timeout=SRW_CONNECT_RETRY_TIMEOUT_MS.seconds(props),
            retry_interval=SRW_CONNECT_RETRY_INTERVAL_MS.seconds(props),
            initial_role=SRW_VERIFY_INITIAL_CONNECTION_TYPE.get(props),
        )
