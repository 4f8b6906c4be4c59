"""One monitor per shard group and event loop: reads the transaction routers and their load."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from ..._background import BackgroundService
from ._routers import ROUTERS_QUERY, Router, routers_from_rows

if TYPE_CHECKING:
    from ...drivers import DriverDialect

__all__ = ["LimitlessRouterMonitor"]

logger = logging.getLogger(__name__)

#: Opens the monitor's own connection (the owning connection's force-connect pipeline).
Connector = Callable[[], Awaitable[Any]]


class LimitlessRouterMonitor(BackgroundService):
    """Keeps the routers of one shard group fresh on a connection of its own."""

    name = "limitless_routers"

    def __init__(self, group: str, interval: float, driver: DriverDialect, connector: Connector) -> None:
        super().__init__()
        self.group = group
        self.interval = interval
        self._driver = driver
        self._connector = connector
        self.routers: tuple[Router, ...] = ()
        self.read_at: float | None = None
        self.reads = 0  # successful reads (tests, logs)
        self._conn: Any = None

    def start(self) -> None:
        """Start polling (once)."""
        if not self.task_count and not self.closed:
            self.spawn(self._run(), name=f"limitless_routers:{self.group}")

    def seed(self, routers: tuple[Router, ...]) -> None:
        """Routers a connect read itself (the monitor has not answered yet)."""
        if routers and self.read_at is None:
            self._publish(routers)

    async def _run(self) -> None:
        while True:
            try:
                if self._conn is None:
                    self._conn = await self._connector()
                self._publish(routers_from_rows(await self._driver.query(self._conn, ROUTERS_QUERY)))
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                logger.warning(
                    "shard group %s: reading its transaction routers failed (%s); the last known routers "
                    "stay in use",
                    self.group,
                    type(exc).__name__,
                )
                self._drop()
            await asyncio.sleep(self.interval)

    def _publish(self, routers: tuple[Router, ...]) -> None:
        self.read_at = time.monotonic()
        self.reads += 1
        if routers != self.routers:
            logger.debug("shard group %s: routers %s", self.group, routers)
        self.routers = routers

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            self._driver.close_now(conn)

    async def on_close(self) -> None:
        self._drop()
