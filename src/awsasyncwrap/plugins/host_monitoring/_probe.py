"""The monitor's own connection to its host: :class:`ProbeConnection`."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import TYPE_CHECKING, Any

from ..._deadline import run_bounded

if TYPE_CHECKING:
    from ...drivers import DriverDialect
    from ...hostinfo import HostInfo
    from ...properties import Properties

__all__ = ["PROBE_SQL", "Connector", "ProbeConnection", "describe_error"]

#: Opens a connection to a host with the given properties (a connection's force-connect pipeline).
Connector = Callable[["HostInfo", "Properties"], Coroutine[Any, Any, Any]]

logger = logging.getLogger(__name__)

PROBE_SQL = "SELECT 1"
#: A monitoring connection unused for this long (or two probe intervals) is replaced before the next probe.
MAX_IDLE = 10.0
_CLOSE_TIMEOUT = 1.0


def describe_error(exc: BaseException) -> str:
    """A one-line description of a probe failure, safe to log (drivers never echo passwords)."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text and text[0] else type(exc).__name__


class ProbeConnection:
    """Opens (lazily) and probes one monitoring connection; every step is bounded.

    Opened with the ``monitoring-`` properties through the force-connect pipeline of a
    connection that uses the monitor (the last of ``connectors``: auth plugins such as ``iam``
    apply), or directly with the driver dialect when no connector is attached. A probe that
    fails or runs out of time discards the connection, so the next probe starts from a fresh
    one; so does a connection left unused for :data:`MAX_IDLE` seconds.
    """

    def __init__(
        self,
        driver: DriverDialect,
        connect_func: Callable[..., Awaitable[Any]],
        host: HostInfo,
        props: Properties,
        name: str,
        connectors: Sequence[Connector] = (),
    ) -> None:
        self._driver = driver
        self._connect_func = connect_func
        self._host = host
        self._props = props
        self._name = name
        self._connectors = connectors  # the monitor's live list
        self._conn: Any = None
        self._last_used = 0.0

    @property
    def is_open(self) -> bool:
        """Whether a monitoring connection is held."""
        return self._conn is not None

    @property
    def connection(self) -> Any:
        """The driver connection probes run on (None between probing episodes)."""
        return self._conn

    def _connect_props(self, timeout: float) -> Properties:
        props = self._props.copy()
        if props.get("connect_timeout") is None:  # the driver's own bound, below ours
            props["connect_timeout"] = self._driver.connect_timeout_value(max(0.1, timeout))
        props.setdefault("autocommit", True)
        return props

    async def probe(self, timeout: float) -> None:
        """Run the probe query within ``timeout`` seconds (connecting first if needed); raise on failure."""
        now = time.monotonic()
        deadline = now + timeout
        if self._conn is not None and now - self._last_used > max(MAX_IDLE, 2 * timeout):
            await self.close()
        if self._conn is None:
            self._conn = await self._open(deadline, timeout)
        conn = self._conn
        driver = self._driver
        try:
            await run_bounded(
                driver.query(conn, PROBE_SQL), deadline, lambda _t: driver.abort(conn), f"{self._name}:probe"
            )
        except BaseException:
            await self.close(abort=True)
            raise
        self._last_used = time.monotonic()

    async def _open(self, deadline: float, timeout: float) -> Any:
        late: list[asyncio.Task[Any]] = []

        def expire(task: asyncio.Task[Any]) -> None:
            late.append(task)
            task.cancel()

        props = self._connect_props(timeout)
        connector = self._connectors[-1] if self._connectors else None
        if connector is not None:
            coro = connector(self._host, props)
        else:
            coro = self._driver.connect(self._connect_func, self._host, props)
        try:
            conn = await run_bounded(coro, deadline, expire, f"{self._name}:connect")
        except BaseException:
            for task in late:  # connected just as time ran out: do not leak it
                if task.done() and not task.cancelled() and task.exception() is None:
                    await self._close_conn(task.result(), abort=True)
            raise
        logger.debug("%s: monitoring connection to %s opened", self._name, self._host.url)
        return conn

    async def close(self, *, abort: bool = False) -> None:
        """Close the monitoring connection, if any (``abort``: shut its socket down first)."""
        conn, self._conn = self._conn, None
        if conn is not None:
            await self._close_conn(conn, abort=abort)

    async def _close_conn(self, conn: Any, *, abort: bool) -> None:
        driver = self._driver
        if abort:
            driver.abort(conn)
        try:
            await run_bounded(
                driver.close(conn),
                time.monotonic() + _CLOSE_TIMEOUT,
                lambda _t: driver.abort(conn),
                f"{self._name}:close",
            )
        except Exception as exc:
            logger.debug("%s: closing the monitoring connection failed: %s", self._name, describe_error(exc))
