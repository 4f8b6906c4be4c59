"""``limitless``: spread connections over an Aurora PostgreSQL Limitless shard group's routers by load."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from ..._background import registry
from ...errors import ConfigurationError
from ...hostinfo import HostInfo
from ...plugin import ConnectFunc, Plugin, PluginFactory
from ...properties import WrapperProperties
from ..settings.limitless import LimitlessSettings
from ._monitor import LimitlessRouterMonitor
from ._routers import ROUTERS_QUERY, Router, highest_weight, pick_weighted, routers_from_rows

if TYPE_CHECKING:
    from ...drivers import DriverDialect
    from ...plugin_service import PluginService
    from ...properties import Properties

__all__ = ["LimitlessPlugin", "LimitlessPluginFactory", "limitless_monitors"]

logger = logging.getLogger(__name__)

#: router host -> when a connect to it failed; such a router is skipped for one monitor interval
_failed_at: dict[str, float] = {}


def limitless_monitors() -> list[LimitlessRouterMonitor]:
    """Every live shard group monitor of the running event loop."""
    return [s for s in registry().services() if isinstance(s, LimitlessRouterMonitor) and not s.closed]


class LimitlessPlugin(Plugin):
    """Connects to a transaction router chosen by load (see ``docs/limitless.md``); connects only."""

    subscribed_methods = frozenset({"connect"})

    def __init__(self, service: PluginService, props: Properties) -> None:
        if service.driver_dialect.engine != "pg":
            raise ConfigurationError(
                "The limitless plugin is for Aurora PostgreSQL Limitless Database (psycopg); "
                f"this connection uses {service.driver_dialect.code}."
            )
        self._service = service
        self._settings = LimitlessSettings.from_props(props)
        self._key: tuple[str, str] | None = None
        self._monitor: LimitlessRouterMonitor | None = None

    async def connect(
        self,
        target_driver_func: Callable[..., Awaitable[Any]],
        driver_dialect: DriverDialect,
        host_info: HostInfo,
        props: Properties,
        is_initial_connection: bool,
        connect_func: ConnectFunc,
    ) -> Any:
        monitor = self._acquire(host_info, props)
        routers = monitor.routers
        if not routers:
            if not self._settings.wait_for_router_info:
                return await connect_func()
            conn = await connect_func()  # through the shard group endpoint: it reaches some router
            try:
                routers = await self._read_routers(conn)
            except BaseException:
                await self._service.dispose(conn)
                raise
            if not routers:
                logger.warning(
                    "shard group %s: no transaction router listed; using the endpoint's connection",
                    host_info.url,
                )
                return conn
            monitor.seed(routers)
            if any(r.host == host_info.host for r in routers):
                return conn
            await self._service.dispose(conn)
        first = next((r for r in routers if r.host == host_info.host), None)
        return await self._to_router(routers, first, host_info, target_driver_func, driver_dialect, props)

    async def _to_router(
        self,
        routers: tuple[Router, ...],
        first: Router | None,
        endpoint: HostInfo,
        target_driver_func: Callable[..., Awaitable[Any]],
        driver_dialect: DriverDialect,
        props: Properties,
    ) -> Any:
        """A connection to ``first`` (else a router picked by weight); on failure the least loaded others."""
        now = time.monotonic()
        usable = [
            r for r in routers if now - _failed_at.get(r.host, -1e9) > self._settings.monitor_interval
        ] or list(routers)
        choice = first or pick_weighted(usable)
        tried: set[str] = set()
        service = self._service
        while True:
            host = HostInfo(choice.host, endpoint.port)
            try:
                return await service.manager.connect(
                    target_driver_func, driver_dialect, host, props, True, self
                )
            except Exception as exc:
                if service.is_login_error(exc):
                    raise
                _failed_at[choice.host] = time.monotonic()
                tried.add(choice.host)
                left = [r for r in usable if r.host not in tried]
                if not left or len(tried) > self._settings.max_retries:
                    raise
                logger.info("router %s failed (%s); trying another", choice.host, type(exc).__name__)
                choice = highest_weight(left)

    async def _read_routers(self, conn: Any) -> tuple[Router, ...]:
        """The routers as ``conn`` lists them, read again (with a pause) while it lists none."""
        service = self._service
        driver = service.driver_dialect
        for attempt in range(self._settings.router_read_retries + 1):
            try:
                rows = await driver.query(conn, ROUTERS_QUERY)
            except Exception as exc:
                if service.is_network_error(exc, conn):
                    raise
                raise ConfigurationError(
                    "The limitless plugin found no transaction routers: the server is not an Aurora "
                    f"PostgreSQL Limitless shard group ({ROUTERS_QUERY!r} failed: {type(exc).__name__})."
                ) from exc
            routers = routers_from_rows(rows)
            if routers or attempt == self._settings.router_read_retries:
                return routers
            await asyncio.sleep(self._settings.router_read_pause)
        return ()

    def _acquire(self, endpoint: HostInfo, props: Properties) -> LimitlessRouterMonitor:
        monitor = self._monitor
        if monitor is not None and not monitor.closed:
            return monitor
        group = WrapperProperties.CLUSTER_ID.get(props) or endpoint.url
        service = self._service
        skip = self

        def connector() -> Awaitable[Any]:
            return service.force_connect(endpoint, service.props, skip)

        self._key = ("limitless", group)
        monitor = registry().acquire(
            self._key,
            lambda: LimitlessRouterMonitor(
                group, self._settings.monitor_interval, service.driver_dialect, connector
            ),
            LimitlessRouterMonitor,
        )
        self._monitor = monitor
        monitor.start()
        return monitor

    async def release_resources(self) -> None:
        if self._key is not None:
            key, self._key, self._monitor = self._key, None, None
            registry().release(key, self._settings.monitor_disposal)


class LimitlessPluginFactory(PluginFactory):
    def get_instance(self, plugin_service: PluginService, props: Properties) -> Plugin:
        return LimitlessPlugin(plugin_service, props)
