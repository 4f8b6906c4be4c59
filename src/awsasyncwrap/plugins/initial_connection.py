"""The ``initial_connection`` plugin: the first connection lands on an instance of the role asked for.

A connection opened through the writer endpoint must be on the writer, one through the reader
endpoint on a reader (the writer is accepted when the cluster has no reader). The role is checked
with one query; if the endpoint led elsewhere (stale DNS), the plugin connects to a verified
instance of the right role through the cluster's topology monitor, for up to
``open_connection_retry_timeout_ms``. ``verify_opened_connection_type`` forces the role to check.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from ..hostinfo import HostInfo, HostRole
from ..plugin import ConnectFunc, Plugin, PluginFactory
from ..properties import Properties, WrapperProperty, _parse_int, _parse_str, register_property
from ..topology import RdsHostListProvider
from ..topology._reroute import connect_by_role, endpoint_role

if TYPE_CHECKING:
    from ..drivers import DriverDialect
    from ..plugin_service import PluginService

__all__ = [
    "OPEN_CONNECTION_RETRY_INTERVAL_MS",
    "OPEN_CONNECTION_RETRY_TIMEOUT_MS",
    "VERIFY_OPENED_CONNECTION_TYPE",
    "InitialConnectionPlugin",
    "InitialConnectionPluginFactory",
]

logger = logging.getLogger(__name__)

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


class InitialConnectionPlugin(Plugin):
    """Checks the role of the initial connection; reconnects to the right instance if needed."""

    subscribed_methods = frozenset({"connect"})  # type: ignore[assignment]

    def __init__(self, service: PluginService, props: Properties) -> None:
        self._service = service
        self._timeout = OPEN_CONNECTION_RETRY_TIMEOUT_MS.get_or(props, 30_000) / 1000
        self._interval = OPEN_CONNECTION_RETRY_INTERVAL_MS.get_or(props, 50) / 1000
        forced = VERIFY_OPENED_CONNECTION_TYPE.get(props)
        self._forced = None if forced is None else HostRole(forced)

    async def connect(
        self,
        target_driver_func: Callable[..., Awaitable[Any]],
        driver_dialect: DriverDialect,
        host_info: HostInfo,
        props: Properties,
        is_initial_connection: bool,
        connect_func: ConnectFunc,
    ) -> Any:
        conn = await connect_func()
        want = self._forced or endpoint_role(host_info, props)
        service = self._service
        if not is_initial_connection or want is None:
            return conn
        provider = service.host_list_provider
        if not (isinstance(provider, RdsHostListProvider) and provider.supports_topology):
            return conn
        try:
            role = await service.get_host_role(conn)
            if role is want:
                return conn
            if want is HostRole.READER:
                hosts = await provider.refresh(conn)
                if not any(h.role is HostRole.READER for h in hosts):
                    return conn  # no reader in the cluster: the writer serves reads
        except BaseException:
            await service.dispose(conn)
            raise
        logger.info("%s led to a %s, not a %s; reconnecting", host_info.url, role.value, want.value)
        found = await connect_by_role(service, self, want, self._timeout, interval=self._interval)
        if found is None:
            logger.warning(
                "no %s found within %.0f s; keeping the connection to %s",
                want.value,
                self._timeout,
                host_info.url,
            )
            return conn
        await service.dispose(conn)
        return found[0]


class InitialConnectionPluginFactory(PluginFactory):
    """Creates :class:`InitialConnectionPlugin`."""

    def get_instance(self, plugin_service: PluginService, props: Properties) -> Plugin:
        return InitialConnectionPlugin(plugin_service, props)
