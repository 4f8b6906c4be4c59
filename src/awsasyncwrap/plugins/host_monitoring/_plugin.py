"""``host_monitoring``: register network-bound calls with their host's shared monitor."""

from __future__ import annotations

import logging
import time
import weakref
from collections.abc import Hashable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from ..._background import ServiceRegistry, registry
from ..._deadline import run_bounded
from ...hostinfo import HostInfo
from ...plugin import ExecuteFunc, Plugin, PluginFactory
from ...properties import WrapperProperties, parsed_once
from ._calls import MonitoredCall
from ._monitor import HostMonitor, MonitorSettings, abort_calls_on_demoted_writer
from ._probe import Connector, describe_error
from ._stuck import StuckCallsListener

if TYPE_CHECKING:
    from ...plugin_service import PluginService
    from ...properties import Properties

__all__ = ["HostMonitoringPlugin", "HostMonitoringPluginFactory", "host_monitors", "monitor_key"]

logger = logging.getLogger(__name__)
T = TypeVar("T")
_monotonic = time.monotonic
#: cluster topology monitors told to report writer changes to :func:`abort_calls_on_demoted_writer`
_listening: weakref.WeakSet[Any] = weakref.WeakSet()

#: Network-bound methods that are not monitored: closing never waits on the server's answer.
_UNMONITORED = frozenset({"Connection.close"})


@parsed_once(WrapperProperties.MONITOR_DISPOSAL_TIME_MS, WrapperProperties.FAILURE_DETECTION_ENABLED)
def _disposal_and_enabled(props: Mapping[str, Any]) -> tuple[float, bool]:
    """``monitor_disposal_time_ms`` in seconds, and whether failure detection is on."""
    return (
        WrapperProperties.MONITOR_DISPOSAL_TIME_MS.seconds(props),
        WrapperProperties.FAILURE_DETECTION_ENABLED.value(props),
    )


def monitor_key(driver_code: str, host: HostInfo, settings: MonitorSettings) -> Hashable:
    """The registry key of the monitor of ``host`` (one per host, driver and timing settings)."""
    return ("host_monitoring", driver_code, host.url, settings)


def host_monitors() -> list[HostMonitor]:
    """Every live host monitor of the running event loop."""
    return [s for s in registry().services() if isinstance(s, HostMonitor) and not s.closed]


class _NoMonitor:
    """Stands for "no monitor yet" in the hot path: like a closed monitor, it makes a call resolve one."""

    __slots__ = ()
    running = False


#: Typed as a monitor so the hot path needs no None check; only its ``running`` (False) is ever read.
_NO_MONITOR = cast("HostMonitor", _NoMonitor())


class HostMonitoringPlugin(Plugin):
    """Enhanced failure monitoring for one connection.

    Each network-bound call is registered with the monitor of the host the
    connection is on (O(1), removed in ``finally``). The connection acquires
    that monitor at its first monitored call and releases it on close or when it
    moves to another host; the monitor stops ``monitor_disposal_time_ms`` after
    its last connection released it.
    """

    def __init__(self, service: PluginService, props: Properties) -> None:
        self._service = service
        self._props = props
        self._settings = MonitorSettings.from_props(props)
        self._disposal, enabled = _disposal_and_enabled(props)
        methods = service.driver_dialect.network_bound_methods - _UNMONITORED
        self._subscribed: set[str] = set(methods) if enabled else set()
        self._conn: Any = None  # the driver connection the monitor below was resolved for
        self._host: HostInfo | None = None
        self._monitor: HostMonitor = _NO_MONITOR
        self._registry: ServiceRegistry | None = None
        self._key: Hashable = None
        self._stuck_listener: StuckCallsListener | None = None  # added to self._monitor
        self._spare: MonitoredCall | None = MonitoredCall(None, service)  # reused by every call
        #: how the monitor opens its connection for this connection: the force-connect pipeline (auth plugins)
        self._connector: Connector = lambda host, props: service.force_connect(host, props)

    @property
    def subscribed_methods(self) -> set[str]:
        return self._subscribed

    @property
    def monitor(self) -> HostMonitor | None:
        """The monitor of the connection's current host (None before the first monitored call)."""
        monitor = self._monitor
        return None if monitor is _NO_MONITOR else monitor

    async def execute(
        self, target: object, method_name: str, execute_func: ExecuteFunc[T], *args: Any, **kwargs: Any
    ) -> T:
        conn = self._service.current_connection
        monitor = self._monitor
        if conn is not self._conn or not monitor.running:  # moved, first call, or monitor closed
            resolved = await self._resolve(conn)
            if resolved is None:
                return await execute_func()
            monitor = resolved
        call = self._spare
        if call is None:  # another call of this connection is in flight: it has the spare
            call = MonitoredCall(conn, self._service)
        else:
            self._spare = None
            call.conn = conn
            call.start = _monotonic()
            call.aborted = False
        calls = monitor.calls
        calls[call] = None
        if not monitor.armed:
            monitor.arm()
        try:
            return await execute_func()
        except Exception as exc:
            if call.aborted and not isinstance(exc, self._service.driver_dialect.operational_error_class()):
                raise self._aborted_error(monitor) from exc
            raise
        finally:
            del calls[call]
            self._spare = call  # keeps conn, which self._conn holds anyway

    def _aborted_error(self, monitor: HostMonitor) -> Exception:
        """The driver's OperationalError for a call whose connection the monitor aborted."""
        error_class = self._service.driver_dialect.operational_error_class()
        return error_class(f"connection to {monitor.host.url} aborted: the host stopped answering")

    # --- which monitor ------------------------------------------------------------------------

    async def _resolve(self, conn: Any) -> HostMonitor | None:
        """Find the monitor of ``conn``'s host, acquiring it (and releasing the previous one)."""
        if conn is None or self._service.closed:  # closed: a call still in flight acquires nothing
            self._drop_monitor()
            return None
        host = self._host if conn is self._conn else await self._monitoring_host(conn)
        if host is None:
            self._drop_monitor()
            self._conn = conn
            return None
        service = self._service
        driver = service.driver_dialect
        settings = self._settings
        key = monitor_key(driver.code, host, settings)
        reg = registry()
        props = self._props.monitoring_props()
        dialect = service.database_dialect
        monitor = reg.acquire(
            key,
            lambda: HostMonitor(
                host,
                settings,
                driver,
                service.target_driver_func,
                props,
                lambda exc: dialect.is_login_error(exc, driver),
            ),
            HostMonitor,
        )
        self._drop_monitor()
        monitor.attach(self._connector)
        listener = self._stuck_calls_listener()
        if listener is not None:
            monitor.add_stuck_listener(listener)
        self._conn, self._host, self._monitor, self._registry, self._key = conn, host, monitor, reg, key
        self._stuck_listener = listener
        return monitor

    def _stuck_calls_listener(self) -> StuckCallsListener | None:
        """Who hears of calls stuck on the host: the cluster's topology monitor (its writer check).

        That monitor is also asked to say when the writer changes, so that calls hung on the old writer
        end at once rather than after this plugin's own detection time.
        """
        provider = self._service.topology_provider
        if provider is None:
            return None
        topology_monitor = provider.monitor()
        if topology_monitor not in _listening:
            _listening.add(topology_monitor)
            topology_monitor.add_writer_listener(abort_calls_on_demoted_writer)
        return provider.stuck_calls_listener() if self._settings.stuck > 0 else None

    async def _monitoring_host(self, conn: Any) -> HostInfo | None:
        """The instance ``conn`` is on: the current host, or (behind a cluster endpoint) as identified."""
        service = self._service
        host = service.current_host_info
        if host is None or host.host_id is not None or any(h == host for h in service.hosts):
            return host  # an instance of the topology (or a plain host)
        driver = service.driver_dialect
        try:
            found = await run_bounded(
                service.identify_connection(conn),
                time.monotonic() + self._settings.detection_time,
                lambda _t: driver.abort(conn),  # no answer within the detection time: as good as dead
                "host_monitoring:identify",
            )
        except Exception as exc:
            logger.debug("could not identify the instance behind %s: %s", host.url, describe_error(exc))
            return host
        return found or host

    def _drop_monitor(self) -> None:
        if self._monitor is not _NO_MONITOR:
            self._monitor.detach(self._connector)
            if self._stuck_listener is not None:
                self._monitor.remove_stuck_listener(self._stuck_listener)
        self._stuck_listener = None
        if self._registry is not None:
            self._registry.release(self._key, self._disposal)
        self._conn = self._host = self._registry = self._key = None
        self._monitor = _NO_MONITOR
        if self._spare is not None:
            self._spare.conn = None

    async def release_resources(self) -> None:
        self._drop_monitor()


class HostMonitoringPluginFactory(PluginFactory):
    """Creates :class:`HostMonitoringPlugin`."""

    def get_instance(self, plugin_service: PluginService, props: Properties) -> Plugin:
        return HostMonitoringPlugin(plugin_service, props)
