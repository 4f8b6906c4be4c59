"""Internal per-host pools of raw driver connections for read/write splitting.

One :class:`HostPool` per (driver, host, user, database, connection settings) and event loop, kept
in the loop's service registry: every wrapped connection of the loop that switches to that host
shares it. A pool holds only idle connections (a stack: the last returned is reused first); opening
is left to the caller, which goes through the connect pipeline. No background task: expired
connections are closed when the pool is next looked at. The pool closes its idle connections when
its last user released it and the idle timeout passed, or at ``release_resources()``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Hashable
from typing import TYPE_CHECKING, Any

import anyio

from ..._background import BackgroundService
from ..._deadline import close_quietly
from ...properties import Properties, is_secret_name

if TYPE_CHECKING:
    from ...drivers import DriverDialect
    from ...hostinfo import HostInfo

__all__ = ["HostPool", "pool_key"]

logger = logging.getLogger(__name__)

_CLOSE_TIMEOUT = 2.0


def pool_key(driver: DriverDialect, host: HostInfo, props: Properties) -> Hashable:
    """Who may share a pool: same driver, host, user, database and (non-secret) connection settings."""
    kwargs = driver.connect_kwargs(host, props)
    settings = tuple(sorted((k, repr(v)) for k, v in kwargs.items() if not is_secret_name(k)))
    return ("rw-pool", driver.code, host.url, props.get("user"), props.get("database"), hash(settings))


class HostPool(BackgroundService):
    """Idle raw connections to one host, shared by the wrapped connections of one event loop."""

    name = "rw-pool"

    def __init__(self, url: str, driver: DriverDialect, size: int, idle_timeout: float) -> None:
        super().__init__()
        self.url = url
        self._driver = driver
        self._size = size
        self._idle_timeout = idle_timeout
        self._idle: list[tuple[Any, float]] = []
        #: connections opened for this pool by its users / handed out again from idle
        self.opened = 0
        self.reused = 0

    @property
    def idle_count(self) -> int:
        """Connections waiting in the pool."""
        return len(self._idle)

    def __repr__(self) -> str:
        return f"<HostPool {self.url} idle={len(self._idle)} opened={self.opened} reused={self.reused}>"

    async def take(self) -> Any | None:
        """A reusable idle connection (most recently returned first), or None: open one yourself."""
        now = time.monotonic()
        expired: list[Any] = []
        found = None
        while self._idle and found is None:
            conn, since = self._idle.pop()
            if self._driver.is_closed(conn):
                continue
            if now - since > self._idle_timeout:
                expired.append(conn)
                continue
            found = conn
        for conn in expired:
            await close_quietly(self._driver, conn)
        if found is not None:
            self.reused += 1
        return found

    async def give_back(self, conn: Any) -> None:
        """Return a connection taken from (or opened for) this pool; closed if it cannot be kept."""
        driver = self._driver
        if driver.is_closed(conn):
            return
        if self.closed or len(self._idle) >= self._size:
            await close_quietly(driver, conn)
            return
        if driver.is_in_transaction(conn):
            try:
                with anyio.fail_after(_CLOSE_TIMEOUT):
                    await conn.rollback()
            except Exception as exc:
                logger.debug("pooled connection to %s not reusable: %s", self.url, type(exc).__name__)
                await close_quietly(driver, conn)
                return
            except BaseException:
                driver.abort(conn)
                raise
        self._idle.append((conn, time.monotonic()))

    async def clear(self) -> None:
        """Close every idle connection (its host changed role or went away)."""
        idle, self._idle = self._idle, []
        for conn, _ in idle:
            await close_quietly(self._driver, conn)

    async def on_close(self) -> None:
        await self.clear()  # never raises: close_quietly
