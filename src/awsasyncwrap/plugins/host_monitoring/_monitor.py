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

Listeners (the cluster's topology monitor, through :meth:`HostMonitor.add_stuck_listener`) are also
told when a call has been in flight for ``stuck_call_topology_check_ms``, and again at most once per
that period while calls stay stuck: one timer per monitor, armed only while calls are in flight and
someone listens (see :mod:`._stuck`).
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
from ...properties import WrapperProperties, parsed_once
from ._calls import InFlightCalls
from ._probe import Connector, ProbeConnection, describe_error
from ._stuck import StuckCallsListener, StuckCallWatch

if TYPE_CHECKING:
    from ...drivers import DriverDialect
    from ...plugin_service import PluginService
    from ...properties import Properties

__all__ = ["TASK_PREFIX", "HostMonitor", "MonitorSettings", "abort_calls_on_demoted_writer"]

logger = logging.getLogger(__name__)

#: Name prefix of every monitor task (``awsasyncwrap:host_monitor:<host url>``).
TASK_PREFIX = "awsasyncwrap:host_monitor:"


#: host url (every alias) -> the live monitors of that host (weak: a closed, dropped monitor leaves)
_by_url: dict[str, weakref.WeakSet[HostMonitor]] = {}


def abort_calls_on_demoted_writer(old_writer: HostInfo, new_writer: HostInfo) -> None:
    """A topology monitor saw the writer change: end the calls still in flight on the old writer.

    Registered as a writer listener of every cluster topology monitor that a monitored connection uses,
    so that a call hung on a writer that the cluster replaced fails at once (and fails over) instead of
    waiting for this monitor's own detection time (monitors of this event loop only).
    """
    loop = asyncio.get_running_loop()
    seen: set[HostMonitor] = set()
    for alias in old_writer.all_aliases:
        for monitor in list(_by_url.get(alias, ())):
            if monitor in seen or not monitor.running or monitor._loop is not loop:
                continue
            seen.add(monitor)
            monitor.abort_calls_on_demoted_writer(new_writer)


@dataclass(frozen=True, slots=True)
class MonitorSettings:
    """Timings of a monitor, in seconds (hashable: part of the monitor's registry key)."""

    grace: float
    interval: float
    count: int
    #: ``stuck_call_topology_check_ms`` in seconds: when listeners hear of a stuck call (0: never)
    stuck: float = 0.0

    @staticmethod
    @parsed_once(
        WrapperProperties.FAILURE_DETECTION_TIME_MS,
        WrapperProperties.FAILURE_DETECTION_INTERVAL_MS,
        WrapperProperties.FAILURE_DETECTION_COUNT,
        WrapperProperties.STUCK_CALL_TOPOLOGY_CHECK_MS,
    )
    def from_props(props: Mapping[str, Any]) -> MonitorSettings:
        """The settings given by a connection's properties."""
        return MonitorSettings(
            WrapperProperties.FAILURE_DETECTION_TIME_MS.seconds(props),
            WrapperProperties.FAILURE_DETECTION_INTERVAL_MS.seconds(props),
            WrapperProperties.FAILURE_DETECTION_COUNT.value(props),
            WrapperProperties.STUCK_CALL_TOPOLOGY_CHECK_MS.seconds(props),
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
        self._loop = asyncio.get_running_loop()
        for alias in host.all_aliases:
            _by_url.setdefault(alias, weakref.WeakSet()).add(self)
        self._stuck_listeners: dict[StuckCallsListener, int] = {}  # listener -> connections that added it
        self._stuck_watch = StuckCallWatch(settings.stuck)
        self._stuck_timer: asyncio.TimerHandle | None = None
        #: How often listeners were told of calls stuck for ``settings.stuck`` seconds.
        self.stuck_reports = 0
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

    def add_stuck_listener(self, listener: StuckCallsListener) -> None:
        """Tell ``listener(host)`` when calls on the host are stuck (one more connection wants it)."""
        self._stuck_listeners[listener] = self._stuck_listeners.get(listener, 0) + 1
        if self.armed:
            self._watch_stuck_calls()

    def remove_stuck_listener(self, listener: StuckCallsListener) -> None:
        """One connection less wants ``listener`` (the timer stops by itself without listeners)."""
        left = self._stuck_listeners.get(listener, 0) - 1
        if left > 0:
            self._stuck_listeners[listener] = left
        else:
            self._stuck_listeners.pop(listener, None)

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
            self._stop_stuck_timer()
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
            self._watch_stuck_calls()
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

    def _abort_in_flight(self) -> tuple[dict[int, PluginService], int]:
        """Abort every connection with a call in flight on this host: (the calls' services, connections)."""
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
        return services, len(conns)

    def abort_calls_on_demoted_writer(self, new_writer: HostInfo) -> int:
        """The cluster has a new writer: calls still in flight here can only hang or fail; end them now.

        The host is not marked unavailable (it may live on as a reader). Returns the connections aborted.
        """
        _, aborted = self._abort_in_flight()
        if aborted:
            logger.warning(
                "aborted %d connection(s) with calls in flight on %s: the cluster's writer is now %s",
                aborted,
                self.host.url,
                new_writer.url,
            )
        return aborted

    def _declare_dead(self, failures: int) -> None:
        """Abort every connection with a call in flight on this host and mark the host unavailable."""
        self.declared_dead += 1
        services, aborted = self._abort_in_flight()
        logger.warning(
            "host %s declared unreachable after %d failed probes; aborted %d connection(s) in use",
            self.host.url,
            failures,
            aborted,
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

    # --- stuck calls --------------------------------------------------------------------------

    def _watch_stuck_calls(self) -> None:
        """Start the stuck-call timer if it is off, calls may be in flight and someone listens."""
        if self._stuck_timer is None and self.settings.stuck > 0:
            self._stuck_tick()

    def _stuck_tick(self) -> None:
        """Timer callback: report calls stuck for ``settings.stuck`` seconds; re-arm while armed."""
        self._stuck_timer = None
        if not (self.running and self.armed and self._stuck_listeners):
            return  # off until the task sees calls again (after arm()) or a listener is added
        now = time.monotonic()
        oldest = self.calls.oldest()
        start = None if oldest is None else oldest.start
        report, again = self._stuck_watch.step(now, start)
        if report and start is not None:
            self.stuck_reports += 1
            logger.debug("host monitor for %s: a call is in flight for %.1f s", self.host.url, now - start)
            for listener in list(self._stuck_listeners):
                try:
                    listener(self.host)
                except Exception:
                    logger.warning("stuck-call listener of %s failed", self.host.url, exc_info=True)
        self._stuck_timer = self._loop.call_later(max(0.0, again - now), self._stuck_tick)

    def _stop_stuck_timer(self) -> None:
        timer, self._stuck_timer = self._stuck_timer, None
        if timer is not None:
            timer.cancel()

    async def aclose(self) -> None:
        self.running = False
        self._stop_stuck_timer()
        await super().aclose()

    async def on_close(self) -> None:
        self.state = "stopped"
        self._stop_stuck_timer()
        self._stuck_listeners.clear()
        await self._probe_conn.close()
