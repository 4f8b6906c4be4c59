"""The ``aurora_connection_tracker`` plugin: abort connections left on a demoted writer.

Every connection it opens is tracked by the instance it landed on (a connection to a cluster
endpoint is identified with one query; one to an instance the topology lists needs none). When the
writer changes (seen by the cluster's topology monitor, or in the host list after a failover), every
tracked connection still on the old writer is aborted at once: its next call fails fast and the
failover plugin moves it, instead of it
silently running on a host that is now a reader (or hanging on a dead one).
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from ..events import HostEvent
from ..hostinfo import HostInfo
from ..plugin import ConnectFunc, Plugin, PluginFactory
from ..properties import Properties

if TYPE_CHECKING:
    from ..drivers import DriverDialect
    from ..plugin_service import PluginService

__all__ = ["AuroraConnectionTrackerPlugin", "AuroraConnectionTrackerPluginFactory", "tracked_connections"]

logger = logging.getLogger(__name__)

#: event loop -> instance url -> open driver connections on it (weak: a collected connection or a closed
#: loop drops out); each loop's topology monitors act on that loop's connections only
_tracked: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, weakref.WeakSet[Any]]] = (
    weakref.WeakKeyDictionary()
)
#: id of each monitor the tracker listens to
_listening: weakref.WeakSet[Any] = weakref.WeakSet()


def _tracked_here() -> dict[str, weakref.WeakSet[Any]]:
    loop = asyncio.get_running_loop()
    found = _tracked.get(loop)
    if found is None:
        found = _tracked[loop] = {}
    return found


def tracked_connections(url: str) -> list[Any]:
    """Open connections of the running event loop tracked on the instance ``url`` (tests, diagnostics)."""
    return list(_tracked_here().get(url, ()))


def _abort_on(host: HostInfo, driver: DriverDialect, keep: Any = None) -> int:
    count = 0
    tracked = _tracked_here()
    for url in host.all_aliases:
        conns = tracked.pop(url, None)
        for conn in list(conns or ()):
            if conn is keep or driver.is_closed(conn):
                continue
            driver.abort(conn)
            count += 1
    if count:
        logger.info("aborted %d connection(s) left on the old writer %s", count, host.url)
    return count


def _on_writer_change(old: HostInfo, driver: DriverDialect) -> None:
    _abort_on(old, driver)


class AuroraConnectionTrackerPlugin(Plugin):
    """Tracks connections per instance; aborts those on a writer that was demoted."""

    subscribed_methods = frozenset({"connect", "force_connect", "notify_host_list_changed"})

    def __init__(self, service: PluginService) -> None:
        self._service = service

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
        await self._track(conn, host_info)
        return conn

    force_connect = connect

    async def _track(self, conn: Any, host_info: HostInfo) -> None:
        service = self._service
        provider = service.topology_provider
        host = host_info
        if provider is not None:
            monitor = provider.monitor()
            if monitor not in _listening:
                _listening.add(monitor)
                driver = service.driver_dialect
                monitor.add_writer_listener(lambda old, new: _on_writer_change(old, driver))
            topo = monitor.topology
            listed = topo.find(url=host.url) if topo is not None and host.host_id is None else None
            if listed is not None:  # an instance the topology lists: no query needed
                host = listed
            elif host.host_id is None:  # an endpoint: which instance is it?
                try:
                    host = await provider.identify_connection(conn) or host
                except Exception as exc:
                    if not service.driver_dialect.is_driver_error(exc):
                        raise
                    logger.debug("could not identify a new connection: %s", type(exc).__name__)
        tracked = _tracked_here()
        conns = tracked.get(host.url)
        if conns is None:  # not setdefault: that would make a WeakSet on every connect
            conns = tracked[host.url] = weakref.WeakSet()
        conns.add(conn)

    async def notify_host_list_changed(self, changes: dict[str, set[HostEvent]]) -> None:
        driver = self._service.driver_dialect
        for url, events in changes.items():
            if HostEvent.CONVERTED_TO_READER in events or HostEvent.HOST_DELETED in events:
                _abort_on(HostInfo(url.rsplit(":", 1)[0], _port(url)), driver)


def _port(url: str) -> int | None:
    _, _, port = url.rpartition(":")
    return int(port) if port.isdigit() else None


class AuroraConnectionTrackerPluginFactory(PluginFactory):
    """Creates :class:`AuroraConnectionTrackerPlugin`."""

    def get_instance(self, plugin_service: PluginService, props: Properties) -> Plugin:
        return AuroraConnectionTrackerPlugin(plugin_service)
