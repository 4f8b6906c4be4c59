"""``connect_time``: measure how long opening connections takes."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, ClassVar

from ..plugin import ConnectFunc, Plugin, PluginFactory

if TYPE_CHECKING:
    from ..drivers import DriverDialect
    from ..hostinfo import HostInfo
    from ..plugin_service import PluginService
    from ..properties import Properties

__all__ = ["ConnectTimePlugin", "ConnectTimePluginFactory"]

logger = logging.getLogger(__name__)


class ConnectTimePlugin(Plugin):
    """Adds the time of every connection attempt to a process-wide total, logged at DEBUG."""

    subscribed_methods = {"connect", "force_connect"}
    _total_ns: ClassVar[int] = 0
    _connects: ClassVar[int] = 0

    async def connect(
        self,
        target_driver_func: Callable[..., Awaitable[Any]],
        driver_dialect: DriverDialect,
        host_info: HostInfo,
        props: Properties,
        is_initial_connection: bool,
        connect_func: ConnectFunc,
    ) -> Any:
        start = time.perf_counter_ns()
        try:
            return await connect_func()
        finally:
            elapsed = time.perf_counter_ns() - start
            ConnectTimePlugin._total_ns += elapsed
            ConnectTimePlugin._connects += 1
            logger.debug("connect to %s took %.3f ms", host_info.url, elapsed / 1e6)

    force_connect = connect

    @classmethod
    def total_seconds(cls) -> float:
        """Time spent connecting since the last reset."""
        return cls._total_ns / 1e9

    @classmethod
    def connect_count(cls) -> int:
        """Connection attempts since the last reset."""
        return cls._connects

    @classmethod
    def reset(cls) -> None:
        """Start measuring from zero."""
        cls._total_ns = 0
        cls._connects = 0


class ConnectTimePluginFactory(PluginFactory):
    """Creates :class:`ConnectTimePlugin`."""

    def get_instance(self, plugin_service: PluginService, props: Properties) -> Plugin:
        return ConnectTimePlugin()
