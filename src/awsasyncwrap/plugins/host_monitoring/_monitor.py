"""One shared monitor per host: :class:`HostMonitor` and its :class:`MonitorSettings`.

The monitor task sleeps while no registered call is older than the grace
time (``failure_detection_time_ms``): it parks on an event when nothing is in
flight (closing its monitoring connection) and otherwise wakes at most once
per grace period, when the oldest call would become overdue. While some call
is overdue it probes the host every ``failure_detection_interval_ms`` on its
own connection; after
``failure_detection_count`` failed probes in a row the host is declared dead:
every in-flight connection to it is aborted (socket shutdown) and the host is
marked unavailable.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import weakref
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..._background import BackgroundService
from ...hostinfo import HostAvailability, HostInfo
from ...properties import WrapperProperties
from ._calls import InFlightCalls
from ._probe import Connector, ProbeConnection, describe_error

if TYPE_CHECKING:
    from ...drivers import DriverDialect
    from ...plugin_service import PluginService
    from ...properties import Properties

__all__ = ["TASK_PREFIX", "HostMonitor", "MonitorSettings"]

logger = logging.getLogger(__name__)

#: Name prefix of every monitor task (``awsasyncwrap:host_monitor:<host url>``).
TASK_PREFIX = "awsasyncwrap:host_monitor:"


@dataclass(frozen=True, slots=True)
class MonitorSettings:
    """Timings of a monitor, in seconds (hashable: part of the monitor's registry key)."""

    grace: float
    interval: float
    count: int

    @classmethod
    def from_props(cls, props: Mapping[str, Any]) -> MonitorSettings:
        """The settings given by a connection's properties."""
        return cls(
            WrapperProperties.FAILURE_DETECTION_TIME_MS.get_or(props, 30_000) / 1000,
            WrapperProperties.FAILURE_DETECTION_INTERVAL_MS.get_or(props, 5_000) / 1000,
            WrapperProperties.FAILURE_DETECTION_COUNT.get_or(props, 3),
        )

    @property
    def detection_time(self) -> float:
        """Worst time from the start of a call on a dead host to its abort."""
        return self.grace + self.interval * self.count


class HostMonitor(BackgroundService):
    """Watches one host for every connection of the event loop that uses it.

    Calls register in :attr:`calls`; a registration must call :meth:`arm` when
    :attr:`armed` is false (that is the only signal the monitor needs).
    """

    name = "host_monitor"

    def __init__(
        self,
        host: HostInfo,
        settings: MonitorSettings,
        driver: DriverDialect,
        connect_func: Callable[..., Awaitable[Any]],
        props: Properties,
        is_login_error: Callable[[BaseException], bool] | None = None,
    ) -> None:
        super().__init__()
        self.host = host
        self.settings = settings
        self.calls = InFlightCalls()
        self.armed = False
        #: False once the monitor was closed (checked by every registration; a plain attribute, cheap).
        self.running = True
        self._armed_at = 0.0
        self._wake = asyncio.Event()
        self._driver = driver
        self._is_login_error = is_login_error
        self._connectors: list[Connector] = []
        self._probe_conn = ProbeConnection(
            driver, connect_func, host, props, f"host_monitor:{host.url}", self._connectors
        )
        #: "idle" (parked), "waiting" (calls in flight, none overdue), "probing" or "stopped".
        self.state = "idle"
        self.probes = 0
        self.failed_probes = 0
        self.consecutive_failures = 0
        self.declared_dead = 0
        self.aborted_connections = 0
        self.errors = 0
        #: Probes the host answered with an authentication error (counted as answers: it is up).
        self.login_errors = 0
        #: How often the task woke up to look at the in-flight calls (not per call: per grace period).
        self.wakeups = 0
        self._marked_by: weakref.ref[PluginService] | None = None  # who marked the host unavailable
        self.task = self.spawn(self._run(), f"host_monitor:{host.url}")

    def __repr__(self) -> str:
        return (
            f"<HostMonitor {self.host.url} {self.state} in_flight={len(self.calls)} "
            f"probes={self.probes} failed={self.failed_probes} dead={self.declared_dead}>"
        )

    @property
    def monitoring_connection(self) -> Any:
        """The monitor's own driver connection (open only while it probes), for inspection."""
        return self._probe_conn.connection

    def attach(self, connector: Connector) -> None:
        """A connection that uses this monitor: probes connect through its force-connect pipeline."""
        self._connectors.append(connector)

    def detach(self, connector: Connector) -> None:
        """That connection no longer uses this monitor."""
        with contextlib.suppress(ValueError):
            self._connectors.remove(connector)

    def arm(self) -> None:
        """A call registered while the monitor was parked: wake it once."""
        self.armed = True
        self._armed_at = time.monotonic()
        self._wake.set()

    # --- the task -------------------------------------------------------------------------------

    async def _run(self) -> None:
        logger.debug("host monitor for %s started", self.host.url)
        try:
            while True:
                try:
                    await self._wait_overdue()
                    await self._probe_while_overdue()
                except Exception:
                    self.errors += 1
                    logger.warning(
                        "task %s: unexpected error, monitoring goes on",
                        TASK_PREFIX + self.host.url,
                        exc_info=True,
                    )
                    await asyncio.sleep(self.settings.interval)
        finally:
            self.state = "stopped"
            logger.debug("host monitor for %s stopped", self.host.url)

    async def _wait_overdue(self) -> None:
        """Return once some in-flight call has run longer than the grace time."""
        grace = self.settings.grace
        due = time.monotonic()
        while True:
            if not self.armed:
                if self._probe_conn.is_open:  # nothing in flight: do not hold a server connection
                    await self._probe_conn.close()
                    continue  # a call may have registered meanwhile
                self.state = "idle"
                self._wake.clear()
                await self._wake.wait()
                self.wakeups += 1
                due = self._armed_at + grace
            self.state = "waiting"
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
                self.wakeups += 1
            oldest = self.calls.oldest()
            if oldest is None:
                self.armed = False
                continue
            due = oldest.start + grace
            if due <= time.monotonic():
                return

    def _overdue(self) -> bool:
        return next(self.calls.overdue(time.monotonic(), self.settings.grace), None) is not None

    async def _probe_while_overdue(self) -> None:
        settings = self.settings
        self.state = "probing"
        logger.debug("host monitor for %s: a call is overdue, probing", self.host.url)
        failures = 0
        while self._overdue():
            started = time.monotonic()
            if await self._probe_once(failures):
                failures = 0
                self._mark_available()
            else:
                failures += 1
                if failures >= settings.count:
                    self._declare_dead(failures)
                    failures = 0
            self.consecutive_failures = failures
            delay = started + settings.interval - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
        self.consecutive_failures = 0
        logger.debug("host monitor for %s: no call overdue any more", self.host.url)

    async def _probe_once(self, failures: int) -> bool:
        self.probes += 1
        try:
            await self._probe_conn.probe(self.settings.interval)
        except Exception as exc:
            if self._is_login_error is not None and self._is_login_error(exc):
                # the server answered (and refused the monitor's login): the host is up, EFM's only question
                self.login_errors += 1
                log = logger.warning if self.login_errors == 1 else logger.debug
                log(
                    "host monitor for %s: the monitoring login is refused (%s); the host answers, so it "
                    "counts as up (set monitoring-user / monitoring-password?)",
                    self.host.url,
                    describe_error(exc),
                )
                return True
            self.failed_probes += 1
            logger.debug(
                "host monitor for %s: probe failed (%d in a row): %s",
                self.host.url,
                failures + 1,
                describe_error(exc),
            )
            return False
        return True

    def _declare_dead(self, failures: int) -> None:
        """Abort every connection with a call in flight on this host and mark the host unavailable."""
        self.declared_dead += 1
        services: dict[int, PluginService] = {}
        conns: set[int] = set()
        for call in self.calls.snapshot():
            if call.aborted:
                continue
            call.aborted = True
            services[id(call.service)] = call.service
            if id(call.conn) in conns:
                continue
            conns.add(id(call.conn))
            try:
                self._driver.abort(call.conn)
            except Exception as exc:
                logger.debug("aborting a connection to %s failed: %s", self.host.url, describe_error(exc))
        self.aborted_connections += len(conns)
        logger.warning(
            "host %s declared unreachable after %d failed probes; aborted %d connection(s) in use",
            self.host.url,
            failures,
            len(conns),
        )
        aliases = self.host.all_aliases
        for service in services.values():
            service.set_availability(aliases, HostAvailability.UNAVAILABLE)
        if services:
            self._marked_by = weakref.ref(next(iter(services.values())))

    def _mark_available(self) -> None:
        """A probe succeeded after the host was declared dead: it answers again."""
        if self._marked_by is None:
            return
        service, self._marked_by = self._marked_by(), None
        logger.info("host %s answers again", self.host.url)
        if service is not None:
            service.set_availability(self.host.all_aliases, HostAvailability.AVAILABLE)

    async def aclose(self) -> None:
        self.running = False
        await super().aclose()

    async def on_close(self) -> None:
        self.state = "stopped"
        await self._probe_conn.close()
