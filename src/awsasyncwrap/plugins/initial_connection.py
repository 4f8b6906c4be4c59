"""The ``initial_connection`` plugin: the first connection lands on an instance of the role asked for.

A connection opened through the writer endpoint must be on the writer, one through the reader
endpoint on a reader (the writer is accepted when the cluster has no reader). When the cluster's
topology is already known (another connection's topology monitor, or after waiting
``wait_for_initial_topology_ms`` for this one's), the plugin does not trust DNS at all: it connects
straight to the topology's writer, or to a reader picked by
``reader_initial_connection_host_selector_strategy``, and checks the role with one query. Otherwise it
connects through the endpoint and checks the role; if the endpoint led elsewhere (stale DNS), it
connects to a verified instance of the right role through the cluster's topology monitor, for up to
``open_connection_retry_timeout_ms``. ``verify_opened_connection_type`` forces the role to check.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from ..host_selectors import selector_for
from ..hostinfo import HostInfo, HostRole
from ..plugin import ConnectFunc, Plugin, PluginFactory
from ..properties import Properties
from ..topology._model import Topology
from ..topology._provider import cluster_id_for, existing_monitor
from ..topology._reroute import connect_by_role, endpoint_role, exchange
from .settings.initial_connection import InitialConnectionSettings

if TYPE_CHECKING:
    from ..drivers import DriverDialect
    from ..plugin_service import PluginService

__all__ = [
    "InitialConnectionPlugin",
    "InitialConnectionPluginFactory",
]

logger = logging.getLogger(__name__)


class InitialConnectionPlugin(Plugin):
    """Checks the role of the initial connection; reconnects to the right instance if needed."""

    subscribed_methods = frozenset({"connect"})

    def __init__(self, service: PluginService, props: Properties) -> None:
        self._service = service
        settings = InitialConnectionSettings.from_props(props)
        self._timeout = settings.retry_timeout
        self._interval = settings.retry_interval
        self._forced = None if settings.forced_role is None else HostRole(settings.forced_role)
        self._wait_for_topology = settings.wait_for_topology
        self._reader_selector = selector_for(settings.reader_strategy)

    async def connect(
        self,
        target_driver_func: Callable[..., Awaitable[Any]],
        driver_dialect: DriverDialect,
        host_info: HostInfo,
        props: Properties,
        is_initial_connection: bool,
        connect_func: ConnectFunc,
    ) -> Any:
        want = self._forced or endpoint_role(host_info, props)
        service = self._service
        if not is_initial_connection or want is None:
            return await connect_func()
        routed = await self._by_topology(target_driver_func, driver_dialect, host_info, props, want)
        if routed is not None:
            return routed
        conn = await connect_func()
        provider = service.topology_provider
        if provider is None:
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
        return await exchange(service, conn, found[0])

    async def _by_topology(
        self,
        target_driver_func: Callable[..., Awaitable[Any]],
        driver_dialect: DriverDialect,
        endpoint: HostInfo,
        props: Properties,
        want: HostRole,
    ) -> Any:
        """A connection opened straight to an instance of role ``want`` the topology names, verified;
        None when the topology is not known or the instance did not answer as that role."""
        topology = await self._topology(endpoint, props)
        if topology is None:
            return None
        readers = topology.readers
        if want is HostRole.READER and readers:
            target: HostInfo | None = self._reader_selector.get_host(readers, HostRole.READER, props)
        else:  # the writer, also for reads when the cluster has no reader
            target = topology.writer
        if target is None:
            return None
        service = self._service
        try:
            conn = await service.manager.connect(
                target_driver_func, driver_dialect, target, props, True, self
            )
        except Exception as exc:
            if service.is_login_error(exc):
                raise
            logger.debug("%s (from the topology) did not answer: %s", target.url, type(exc).__name__)
            return None
        try:
            role = await service.get_host_role(conn)
        except BaseException:
            await service.dispose(conn)
            raise
        if role is want or (want is HostRole.READER and not readers):
            return conn
        logger.debug("%s is a %s now, not a %s: the topology was behind", target.url, role.value, want.value)
        await service.dispose(conn)
        return None

    async def _topology(self, endpoint: HostInfo, props: Properties) -> Topology | None:
        """The cluster's topology as a running monitor knows it; else, if ``wait_for_initial_topology_ms``
        allows, this connection's own monitor's first one (its host list provider must already know the
        cluster: ``wrapper_dialect`` set, as the dialect is otherwise detected on the connection itself)."""
        monitor = existing_monitor(cluster_id_for(props, endpoint))
        if monitor is not None and monitor.topology is not None:
            return monitor.topology
        provider = self._service.topology_provider
        if self._wait_for_topology <= 0 or provider is None:
            return None
        return await provider.monitor().wait_for_topology(0.0, self._wait_for_topology)


class InitialConnectionPluginFactory(PluginFactory):
    """Creates :class:`InitialConnectionPlugin`."""

    def get_instance(self, plugin_service: PluginService, props: Properties) -> Plugin:
        return InitialConnectionPlugin(plugin_service, props)
