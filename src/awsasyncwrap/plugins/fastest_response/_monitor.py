"""The response-time monitor: one background task per cluster measures how fast each host answers.

Every ``response_measurement_interval_ms`` the task times a few ``SELECT 1`` round trips on a
connection it keeps per host (opened through an attached connector, i.e. the connect pipeline of a
connection that uses the monitor, with the ``monitoring-`` properties). A host that cannot be reached
has no measurement until it answers again. The monitor is shared through the event loop's service
registry and stops when its last user released it (after the disposal delay) or at
``release_resources()``.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable, Hashable, Iterable
from typing import TYPE_CHECKING, Any

import anyio

from ..._background import BackgroundService
from ..._deadline import abort_after, close_quietly
from ...hostinfo import HostInfo

if TYPE_CHECKING:
    from ...drivers import DriverDialect

__all__ = ["Connector", "ResponseTimeMonitor", "monitor_key"]

logger = logging.getLogger(__name__)

Connector = Callable[[HostInfo], Awaitable[Any]]

#: Round trips timed per host and measurement; their mean is the host's response time.
MEASURES = 3


def monitor_key(cluster_id: str) -> Hashable:
    """Key of a cluster's response-time monitor in the service registry."""
    return ("fastest-response", cluster_id)


class ResponseTimeMonitor(BackgroundService):
    """Measures the response time of every host of one cluster in one owned task."""

    name = "fastest-response"

    def __init__(self, cluster_id: str, driver: DriverDialect, interval: float, probe_timeout: float) -> None:
        super().__init__()
        self.cluster_id = cluster_id
        self._driver = driver
        self._interval = interval
        self._probe_timeout = probe_timeout
        self._hosts: dict[str, HostInfo] = {}
        self._times: dict[str, float] = {}
        self._conns: dict[str, Any] = {}
        self._connectors: list[Connector] = []
        self._wake = asyncio.Event()
        self._measured = asyncio.Condition()
        #: completed measurement rounds
        self.rounds = 0

    def __repr__(self) -> str:
        return f"<ResponseTimeMonitor {self.cluster_id} hosts={len(self._hosts)} rounds={self.rounds}>"

    # --- users ---------------------------------------------------------------------------------

    def attach(self, connector: Connector) -> None:
        """A connection using the monitor lends its connect pipeline."""
        self._connectors.append(connector)

    def detach(self, connector: Connector) -> None:
        """That connection closed."""
        if connector in self._connectors:
            self._connectors.remove(connector)

    def set_hosts(self, hosts: Iterable[HostInfo]) -> None:
        """Measure these hosts from now on (and start, the first time)."""
        new = {h.url: h for h in hosts}
        if new.keys() != self._hosts.keys():
            self._hosts = new
            for url in list(self._times):
                if url not in new:
                    del self._times[url]
            self._wake.set()
        if not self._tasks and not self.closed:
            self.spawn(self._run(), f"fastest-response:{self.cluster_id}")

    def response_time(self, host: HostInfo) -> float:
        """Seconds of the host's last measurement; ``inf`` if it has none."""
        for alias in host.all_aliases:
            found = self._times.get(alias)
            if found is not None:
                return found
        return math.inf

    @property
    def response_times(self) -> dict[str, float]:
        """The last measurement of every host that has one (seconds, by url)."""
        return dict(self._times)

    async def wait_round(self) -> bool:
        """Wait until a measurement round that starts after this call has completed (bound it yourself).

        False if the monitor closed first.
        """
        target = self.rounds + 2 if self._measuring else self.rounds + 1
        async with self._measured:
            await self._measured.wait_for(lambda: self.rounds >= target or self.closed)
        return self.rounds >= target

    # --- the task ------------------------------------------------------------------------------

    _measuring = False

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            self._measuring = True
            try:
                await self._measure_all()
            except Exception:
                logger.warning("response time measurement of %s failed", self.cluster_id, exc_info=True)
            finally:
                self._measuring = False
            self.rounds += 1
            async with self._measured:
                self._measured.notify_all()
            with anyio.move_on_after(self._interval):
                await self._wake.wait()

    async def _measure_all(self) -> None:
        hosts = dict(self._hosts)
        for url in [u for u in self._conns if u not in hosts]:
            await self._drop(url)
        for url, host in hosts.items():
            elapsed = await self._measure(host)
            if elapsed is None:
                self._times.pop(url, None)
            else:
                self._times[url] = elapsed
            logger.debug("response time of %s: %s", url, elapsed)

    async def _measure(self, host: HostInfo) -> float | None:
        driver = self._driver
        url = host.url
        try:
            conn = self._conns.get(url)
            if conn is None or driver.is_closed(conn):
                if not self._connectors:
                    return None
                with anyio.fail_after(self._probe_timeout):
                    conn = self._conns[url] = await self._connectors[-1](host)
            # a hung host: abort the socket rather than cancel (psycopg takes seconds to cancel)
            with abort_after(self._probe_timeout, driver.abort, conn):
                total = 0.0
                for _ in range(MEASURES):
                    started = time.perf_counter()
                    await driver.query(conn, "SELECT 1")
                    total += time.perf_counter() - started
            return total / MEASURES
        except Exception as exc:
            logger.debug("measuring %s failed: %s", url, type(exc).__name__)
            await self._drop(url)
            return None

    async def _drop(self, url: str) -> None:
        conn = self._conns.pop(url, None)
        if conn is not None:
            await close_quietly(self._driver, conn)

    async def aclose(self) -> None:
        # a measurement stuck on a dead host ends at once (cancelling psycopg there takes seconds)
        for conn in self._conns.values():
            self._driver.abort(conn)
        await super().aclose()

    async def on_close(self) -> None:
        for url in list(self._conns):
            await self._drop(url)
        async with self._measured:
            self._measured.notify_all()
