"""The ``srw`` plugin: simple read/write splitting between two endpoints, no topology needed.

``set_read_only(True)`` moves the connection to ``srw_read_endpoint``, ``set_read_only(False)`` to
``srw_write_endpoint``; works with any PostgreSQL / MySQL / MariaDB. With
``srw_verify_new_connections`` (the default) every connection it opens is asked for its role and
reopened (every ``srw_connect_retry_interval_ms``, up to ``srw_connect_retry_timeout_ms``) until the
role is right: after a failover an endpoint's DNS may still name the old instance.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from .._deadline import close_quietly
from ..hostinfo import HostInfo, HostRole
from ..plugin import ConnectFunc, Plugin, PluginFactory
from ..properties import Properties
from ..rds_utils import RdsUtils
from .read_write_splitting._switcher import Held, SwitchingPlugin
from .read_write_splitting.errors import ReadWriteSplittingError
from .settings.srw import SrwSettings

if TYPE_CHECKING:
    from ..drivers import DriverDialect
    from ..plugin_service import PluginService

__all__ = [
    "SimpleReadWriteSplittingPlugin",
    "SimpleReadWriteSplittingPluginFactory",
]

logger = logging.getLogger(__name__)


_rds = RdsUtils()


def _endpoint(value: str, default_port: int | None, role: HostRole) -> HostInfo:
    host, sep, port = value.strip().rpartition(":")
    if sep and port.isdigit() and host and not host.endswith(":"):
        return HostInfo(host, int(port), role)
    return HostInfo(value.strip(), default_port, role)


class SimpleReadWriteSplittingPlugin(SwitchingPlugin):
    """Switches between a write endpoint and a read endpoint."""

    subscribed_methods = SwitchingPlugin.subscribed_methods | {"connect"}

    def __init__(self, service: PluginService, props: Properties) -> None:
        super().__init__(service, props)
        settings = SrwSettings.from_props(props)
        port = service.initial_connection_host_info.port
        self._write = _endpoint(settings.write_endpoint, port, HostRole.WRITER)
        self._read = _endpoint(settings.read_endpoint, port, HostRole.READER)
        self._verify = settings.verify_new_connections
        self._retry_timeout = settings.retry_timeout
        self._retry_interval = settings.retry_interval
        self._initial_role = None if settings.initial_role is None else HostRole(settings.initial_role)

    @property
    def write_endpoint(self) -> HostInfo:
        """Where writes go."""
        return self._write

    @property
    def read_endpoint(self) -> HostInfo:
        """Where reads go."""
        return self._read

    # --- the initial connection ----------------------------------------------------------------

    async def connect(
        self,
        target_driver_func: Callable[..., Awaitable[Any]],
        driver_dialect: DriverDialect,
        host_info: HostInfo,
        props: Properties,
        is_initial_connection: bool,
        connect_func: ConnectFunc,
    ) -> Any:
        role = self._expected_initial_role(host_info) if is_initial_connection and self._verify else None
        if role is None:
            return await connect_func()
        deadline = time.monotonic() + self._retry_timeout
        while True:
            conn = await connect_func()
            try:
                actual = await self._service.get_host_role(conn)
            except BaseException:
                await close_quietly(driver_dialect, conn)
                raise
            if actual is role:
                return conn
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                logger.warning(
                    "srw: the initial connection to %s is a %s, not a %s, after %.1f s of retries; using it",
                    host_info.url,
                    actual.value,
                    role.value,
                    self._retry_timeout,
                )
                return conn
            await close_quietly(driver_dialect, conn)
            await asyncio.sleep(min(self._retry_interval, remaining))

    def _expected_initial_role(self, host: HostInfo) -> HostRole | None:
        if self._initial_role is not None:
            return self._initial_role
        if _rds.is_writer_cluster_dns(host.host):
            return HostRole.WRITER
        if _rds.is_reader_cluster_dns(host.host):
            return HostRole.READER
        return None

    # --- switching -----------------------------------------------------------------------------

    async def _classify(self, conn: Any, may_query: bool) -> tuple[HostRole, HostInfo]:
        current = self._service.current_host_info or self._service.initial_connection_host_info
        if current.url in self._read.all_aliases:
            return HostRole.READER, self._read
        if current.url in self._write.all_aliases:
            return HostRole.WRITER, self._write
        if self._initial_role is HostRole.READER:
            return HostRole.READER, current
        return HostRole.WRITER, current

    async def _open_writer(self) -> Held:
        held = await self._open_verified(self._write, HostRole.WRITER)
        if held is None:
            raise ReadWriteSplittingError(
                f"set_read_only(False): no connection to {self._write.url} was a writer within "
                f"{self._retry_timeout:g} s (srw_connect_retry_timeout_ms)."
            ) from self._reader_error
        return held

    async def _open_reader(self) -> Held | None:
        return await self._open_verified(self._read, HostRole.READER)

    async def _open_verified(self, endpoint: HostInfo, role: HostRole) -> Held | None:
        """A connection to ``endpoint`` whose role is ``role`` (if verifying), or None."""
        self._reader_error = None
        if not self._verify:
            try:
                return await self._open(endpoint)
            except Exception as exc:
                if role is HostRole.WRITER:
                    raise
                self._reader_error = exc
                return None
        deadline = time.monotonic() + self._retry_timeout
        while True:
            try:
                held = await self._open(endpoint)
            except Exception as exc:
                logger.debug("srw: connecting to %s failed: %s", endpoint.url, type(exc).__name__)
                self._reader_error = exc
            else:
                if await self._has_role(held, role):
                    return held
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            await asyncio.sleep(min(self._retry_interval, remaining))

    async def _has_role(self, held: Held, role: HostRole) -> bool:
        service = self._service
        try:
            actual = await service.get_host_role(held.conn)
        except Exception as exc:
            logger.debug("srw: role check on %s failed: %s", held.host.url, type(exc).__name__)
            self._reader_error = exc
            actual = None
        except BaseException:
            await close_quietly(service.driver_dialect, held.conn)
            raise
        if actual is role:
            return True
        logger.debug("srw: %s gave a %s connection, not a %s", held.host.url, actual, role.value)
        await close_quietly(service.driver_dialect, held.conn)  # never back into a pool
        self._forget(held)
        return False


class SimpleReadWriteSplittingPluginFactory(PluginFactory):
    """Creates :class:`SimpleReadWriteSplittingPlugin`."""

    def get_instance(self, plugin_service: PluginService, props: Properties) -> Plugin:
        return SimpleReadWriteSplittingPlugin(plugin_service, props)
