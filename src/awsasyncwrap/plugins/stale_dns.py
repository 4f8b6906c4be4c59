"""The ``stale_dns`` plugin: a writer endpoint whose DNS still leads to the old writer.

After a failover the cluster (writer) endpoint keeps resolving to the old writer for a while. When
a connection opened through a writer endpoint lands on a reader, this plugin closes it and connects
to the writer the cluster's topology monitor verified instead. Writer endpoints are RDS cluster
endpoints (``<cluster>.cluster-<id>.<region>.rds.amazonaws.com``) and the hosts named in
``cluster_writer_endpoint``.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from ..hostinfo import HostInfo, HostRole
from ..plugin import ConnectFunc, Plugin, PluginFactory
from ..properties import Properties, WrapperProperties
from ..topology._reroute import connect_by_role, endpoint_role, exchange

if TYPE_CHECKING:
    from ..drivers import DriverDialect
    from ..plugin_service import PluginService

__all__ = ["StaleDnsPlugin", "StaleDnsPluginFactory"]

logger = logging.getLogger(__name__)


class StaleDnsPlugin(Plugin):
    """Replaces a writer-endpoint connection that landed on a reader by one to the real writer."""

    subscribed_methods = frozenset({"connect"})

    def __init__(self, service: PluginService, props: Properties) -> None:
        self._service = service
        self._timeout = WrapperProperties.FAILOVER_TIMEOUT_SEC.value(props)

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
        service = self._service
        if endpoint_role(host_info, props) is not HostRole.WRITER:
            return conn
        if service.topology_provider is None:
            return conn
        try:
            role = await service.get_host_role(conn)
        except BaseException:
            await service.dispose(conn)
            raise
        if role is not HostRole.READER:
            return conn
        logger.info("writer endpoint %s led to a reader (stale DNS); connecting to the writer", host_info.url)
        found = await connect_by_role(service, self, HostRole.WRITER, self._timeout)
        if found is None:
            logger.warning("no verified writer found; keeping the connection %s gave", host_info.url)
            return conn
        return await exchange(service, conn, found[0])


class StaleDnsPluginFactory(PluginFactory):
    """Creates :class:`StaleDnsPlugin`."""

    def get_instance(self, plugin_service: PluginService, props: Properties) -> Plugin:
        return StaleDnsPlugin(plugin_service, props)
