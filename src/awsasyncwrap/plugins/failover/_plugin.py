"""The failover plugin: on a lost connection, move the same connection object to a healthy host.

What counts as a lost connection is the database dialect's call (``service.is_network_error``),
never cancellation, never a timeout the application set (``asyncio.timeout``, ``statement_timeout``
57014, MySQL 3024/1317/1969). The new host comes from the cluster's shared topology monitor: the
plugin asks it for a writer verified after the failure and waits (bounded) for it, so no topology
query ever runs inside a user call. Concurrent failures of one connection share one failover, and
calls arriving while it runs wait for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from ...errors import (
    ConnectionReplacedError,
    FailoverError,
    FailoverFailedError,
    FailoverSuccessError,
    TransactionResolutionUnknownError,
)
from ...hostinfo import HostAvailability, HostInfo, HostRole
from ...plugin import ConnectFunc, ExecuteFunc, Plugin, PluginFactory, T
from ...properties import Properties, WrapperProperties
from ...rds_utils import RdsUtils
from ...topology import (
    ClusterTopologyMonitor,
    RdsHostListProvider,
    Topology,
    cluster_id_for,
    existing_monitor,
)
from .errors import driver_error_class
from .props import ENABLE_CONNECT_FAILOVER, FAILOVER_CONNECT_TIMEOUT_SEC

if TYPE_CHECKING:
    from ...drivers import DriverDialect
    from ...plugin_service import PluginService

__all__ = ["FailoverPlugin", "FailoverPluginFactory"]

logger = logging.getLogger(__name__)

STRICT_WRITER = "strict_writer"
STRICT_READER = "strict_reader"
READER_OR_WRITER = "reader_or_writer"

#: Driver error codes of timeouts the application asked for: never a reason to fail over.
_USER_TIMEOUT_CODES = frozenset({"57014", "3024", "1317", "1969"})
#: Methods whose failure never starts a failover.
_NO_FAILOVER = frozenset({"Connection.close"})

_rds = RdsUtils()


class _Outcome:
    """What one failover produced: the new host, or the reason it failed."""

    __slots__ = ("error", "host")

    def __init__(self, host: HostInfo | None, error: BaseException | None) -> None:
        self.host = host
        self.error = error


class FailoverPlugin(Plugin):
    """Fails the connection over to a new writer (or reader) when its host is lost."""

    subscribed_methods = frozenset({"*"})  # type: ignore[assignment]

    def __init__(self, service: PluginService, props: Properties) -> None:
        self._service = service
        self._props = props
        self._enabled = bool(WrapperProperties.ENABLE_FAILOVER.get(props))
        self._timeout = WrapperProperties.FAILOVER_TIMEOUT_SEC.get_or(props, 300.0)
        self._connect_timeout = FAILOVER_CONNECT_TIMEOUT_SEC.get_or(props, 5.0)
        self._connect_failover = ENABLE_CONNECT_FAILOVER.get_or(props, True)
        self._strategy = WrapperProperties.FAILOVER_READER_HOST_SELECTOR_STRATEGY.get_or(props, "random")
        self._mode_prop = WrapperProperties.FAILOVER_MODE.get(props)
        self._running: asyncio.Task[_Outcome] | None = None
        #: failovers this connection went through (for tests and stats)
        self.failover_count = 0

    # --- configuration ----------------------------------------------------------------------------

    @property
    def mode(self) -> str:
        """strict_writer, strict_reader or reader_or_writer."""
        if self._mode_prop is not None:
            return self._mode_prop
        initial = self._service.initial_connection_host_info
        return READER_OR_WRITER if _rds.is_reader_cluster_dns(initial.host) else STRICT_WRITER

    def _provider(self) -> RdsHostListProvider | None:
        provider = self._service.host_list_provider
        ok = isinstance(provider, RdsHostListProvider) and provider.supports_topology
        return provider if ok else None  # type: ignore[return-value]

    # --- error classification -----------------------------------------------------------------------

    def should_fail_over(self, exc: BaseException, conn: Any) -> bool:
        """Whether ``exc`` means the connection's host is lost (never cancellation or a user timeout)."""
        if not isinstance(exc, Exception) or isinstance(exc, (FailoverError, ConnectionReplacedError)):
            return False
        if isinstance(exc, (TimeoutError, asyncio.TimeoutError)):
            return False
        driver = self._service.driver_dialect
        if driver.is_driver_error(exc) and driver.error_code(exc) in _USER_TIMEOUT_CODES:
            return False
        return self._service.is_network_error(exc, conn)

    # --- pipeline -------------------------------------------------------------------------------------

    async def execute(
        self, target: object, method_name: str, execute_func: ExecuteFunc[T], *args: Any, **kwargs: Any
    ) -> T:
        if not self._enabled or method_name in _NO_FAILOVER:
            return await execute_func()
        if self._running is not None:
            await self._wait_running(target)
        service = self._service
        conn = service._current_connection  # the property's attribute: this runs on every call
        driver = service._driver_dialect
        if conn is None:
            in_tx = False
        elif driver.code == "psycopg":  # libpq's status as an int, inline (see _in_transaction)
            status = conn.pgconn.transaction_status
            in_tx = status in (_PQTRANS_INTRANS, _PQTRANS_INERROR) or (
                status == _PQTRANS_ACTIVE and not conn.autocommit
            )
        elif driver.code == "aiomysql":  # what its driver dialect asks, without the two calls around it
            in_tx = bool(conn.get_transaction_status())
        else:
            in_tx = _in_transaction(driver, conn)
        try:
            return await execute_func()
        except Exception as exc:
            if not self.should_fail_over(exc, conn) or self._provider() is None:
                raise
            await self._fail_over(exc, conn, in_tx)
            raise  # not reached: _fail_over always raises

    async def connect(
        self,
        target_driver_func: Callable[..., Awaitable[Any]],
        driver_dialect: DriverDialect,
        host_info: HostInfo,
        props: Properties,
        is_initial_connection: bool,
        connect_func: ConnectFunc,
    ) -> Any:
        try:
            return await connect_func()
        except Exception as exc:
            if not (self._enabled and self._connect_failover and is_initial_connection):
                raise
            if self._service.is_login_error(exc):
                raise
            if not self.should_fail_over(exc, None):
                raise
            monitor = self._known_monitor()
            if monitor is None:
                raise
            logger.info("connect to %s failed (%s); failing over", host_info.url, type(exc).__name__)
            try:
                conn, _host = await self._find_host(monitor, host_info, time.monotonic())
            except FailoverFailedError as failed:
                raise failed from exc
            return conn

    def _known_monitor(self) -> ClusterTopologyMonitor | None:
        """The cluster's monitor if another connection already runs one with a topology."""
        service = self._service
        monitor = existing_monitor(cluster_id_for(service.props, service.initial_connection_host_info))
        return monitor if monitor is not None and monitor.topology is not None else None

    async def release_resources(self) -> None:
        running, self._running = self._running, None
        if running is not None and not running.done():
            running.cancel()
            await asyncio.gather(running, return_exceptions=True)

    # --- failover -------------------------------------------------------------------------------------

    async def _wait_running(self, target: object) -> None:
        """A failover of this connection is in progress: wait for it before using the connection."""
        running = self._running
        if running is None:
            return
        with contextlib.suppress(Exception):  # its outcome is reported to the call that hit the failure
            await asyncio.shield(running)
        check = getattr(target, "_check", None)
        if callable(check):
            check()  # a cursor of the replaced connection: ConnectionReplacedError

    async def _fail_over(self, exc: Exception, failed_conn: Any, in_tx: bool) -> None:
        """Fail over (or join the failover in progress) and raise what the caller must see."""
        service = self._service
        if service.current_connection is failed_conn:
            running = self._running
            if running is None or running.done():
                running = self._spawn(failed_conn, service.current_host_info)
            outcome = await asyncio.shield(running)
        else:
            outcome = _Outcome(service.current_host_info, None)  # someone else already moved us
        driver_code = service.driver_dialect.code
        if outcome.error is not None:
            err_cls = driver_error_class(FailoverFailedError, driver_code)
            raise err_cls(f"Failover failed: {outcome.error}") from exc
        host = outcome.host.url if outcome.host else "?"
        if in_tx:
            tx_cls = driver_error_class(TransactionResolutionUnknownError, driver_code)
            raise tx_cls(
                f"The connection failed during a transaction and now points at {host}; the transaction's "
                "outcome is unknown: roll back and redo it."
            ) from exc
        ok_cls = driver_error_class(FailoverSuccessError, driver_code)
        raise ok_cls(f"The connection failed over to {host}; run the statement again.") from exc

    def _spawn(self, failed_conn: Any, failed_host: HostInfo | None) -> asyncio.Task[_Outcome]:
        """Run the failover as a task of this plugin: it finishes even if the caller is cancelled."""
        task = asyncio.get_running_loop().create_task(
            self._do_fail_over(failed_conn, failed_host), name="awsasyncwrap:failover"
        )
        self._running = task

        def done(t: asyncio.Task[_Outcome]) -> None:
            if self._running is t:
                self._running = None
            if not t.cancelled() and t.exception() is not None:
                logger.error("failover task died", exc_info=t.exception())

        task.add_done_callback(done)
        return task

    async def _do_fail_over(self, failed_conn: Any, failed_host: HostInfo | None) -> _Outcome:
        service = self._service
        provider = self._provider()
        assert provider is not None
        started = time.monotonic()
        logger.debug("failover from %s starts (mode %s)", failed_host.url if failed_host else "?", self.mode)
        if failed_host is not None:
            service.set_availability(failed_host.all_aliases, HostAvailability.UNAVAILABLE)
        service.driver_dialect.close_now(failed_conn)
        try:
            conn, host = await self._find_host(provider.monitor(), failed_host, started)
        except FailoverFailedError as exc:
            return _Outcome(None, exc)
        self.failover_count += 1
        await service.set_current_connection(conn, host, plugin_to_skip=self)
        topo = provider.monitor().topology
        if topo is not None:
            await service.apply_hosts(topo.hosts)
        service.set_availability(host.all_aliases, HostAvailability.AVAILABLE)
        logger.info(
            "failed over from %s to %s in %.3f s",
            failed_host.url if failed_host else "?",
            host.url,
            time.monotonic() - started,
        )
        return _Outcome(host, None)

    async def _find_host(
        self, monitor: ClusterTopologyMonitor, failed_host: HostInfo | None, since: float
    ) -> tuple[Any, HostInfo]:
        deadline = since + self._timeout
        if self.mode == STRICT_WRITER:
            return await self._to_writer(monitor, failed_host, since, deadline)
        return await self._to_reader(monitor, failed_host, since, deadline)

    async def _to_writer(
        self, monitor: ClusterTopologyMonitor, failed_host: HostInfo | None, since: float, deadline: float
    ) -> tuple[Any, HostInfo]:
        last_error: str = "timeout"
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise FailoverFailedError(f"no writer within {self._timeout:g} s ({last_error})")
            monitor.request_verification(since, failed_host)
            topo = await monitor.wait_for_writer(since, remaining)
            if topo is None or topo.writer is None:
                continue
            writer = topo.writer
            conn = await self._try_connect(writer, deadline, want=HostRole.WRITER)
            if conn is not None:
                return conn, writer
            last_error = f"could not use writer {writer.url}"
            since = time.monotonic()  # the verified writer failed us: ask for a newer one
            await asyncio.sleep(0.01)

    async def _to_reader(
        self, monitor: ClusterTopologyMonitor, failed_host: HostInfo | None, since: float, deadline: float
    ) -> tuple[Any, HostInfo]:
        strict = self.mode == STRICT_READER
        monitor.request_verification(since, failed_host)
        pause = WrapperProperties.CLUSTER_TOPOLOGY_HIGH_REFRESH_RATE_MS.get_or(self._props, 100) / 1000
        while True:
            topo = monitor.topology
            for host in self._reader_candidates(topo, failed_host, strict):
                if time.monotonic() >= deadline:
                    break
                conn = await self._try_connect(host, deadline, want=HostRole.READER if strict else None)
                if conn is not None:
                    role = HostRole.READER if host.role is not HostRole.WRITER else HostRole.WRITER
                    return conn, host.with_role(role)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise FailoverFailedError(f"no {'reader' if strict else 'host'} within {self._timeout:g} s")
            await asyncio.sleep(min(pause, remaining))

    def _reader_candidates(
        self, topo: Topology | None, failed_host: HostInfo | None, strict: bool
    ) -> list[HostInfo]:
        if topo is None:
            return []
        failed = failed_host.all_aliases if failed_host is not None else frozenset()
        readers = [h for h in topo.readers if not (h.all_aliases & failed)]
        up = [h for h in readers if h.availability is HostAvailability.AVAILABLE]
        down = [h for h in readers if h.availability is not HostAvailability.AVAILABLE]
        random.shuffle(up)
        ordered = up + down
        service = self._service
        if self._strategy != "random" and up and service.accepts_strategy(HostRole.READER, self._strategy):
            first = service.get_host_info_by_strategy(HostRole.READER, self._strategy, up)
            ordered = [first] + [h for h in ordered if h != first]
        ordered += [h for h in topo.readers if h.all_aliases & failed]  # a restarted reader, last
        if not strict and topo.writer is not None:
            ordered.append(topo.writer)
        return ordered

    async def _try_connect(self, host: HostInfo, deadline: float, want: HostRole | None) -> Any:
        """A connection to ``host`` with the session state re-applied, or None."""
        service = self._service
        driver = service.driver_dialect
        limit = max(0.001, min(self._connect_timeout, deadline - time.monotonic()))
        conn = None
        try:
            conn = await asyncio.wait_for(service.connect(host, self._props, plugin_to_skip=self), limit)
            # a hung server: abort the socket rather than cancel (psycopg takes seconds to cancel)
            watchdog = asyncio.get_running_loop().call_later(limit, driver.abort, conn)
            try:
                if want is not None:
                    role = await service.get_host_role(conn)
                    if role is not want:
                        logger.debug(
                            "failover candidate %s is a %s, not a %s", host.url, role.value, want.value
                        )
                        await service.dispose(conn)
                        return None
                await driver.apply_session_state(conn, service.session_state)
                database = service.session_state.database
                if database is not None and hasattr(conn, "select_db"):
                    await conn.select_db(database)
            finally:
                watchdog.cancel()
            return conn
        except asyncio.CancelledError:
            if conn is not None:
                await service.dispose(conn)
            raise
        except Exception as exc:
            if service.is_login_error(exc):
                raise FailoverFailedError(f"login to {host.url} failed") from exc
            logger.debug("failover candidate %s failed: %s", host.url, type(exc).__name__)
            service.set_availability(host.all_aliases, HostAvailability.UNAVAILABLE)
            if conn is not None:
                await service.dispose(conn)
            return None


#: libpq's PGTransactionStatusType values (psycopg.pq.TransactionStatus) as ints: ``execute`` reads
#: ``conn.pgconn.transaction_status`` before every call (a broken connection reports UNKNOWN, so it
#: cannot be asked after the failure), and ``conn.info.transaction_status`` builds an object and an
#: enum each time (about 1 µs).
_PQTRANS_ACTIVE, _PQTRANS_INTRANS, _PQTRANS_INERROR = 1, 2, 3


def _in_transaction(driver: DriverDialect, conn: Any) -> bool:
    """Whether a transaction is open; psycopg's ACTIVE in autocommit is just another call in flight."""
    if not driver.is_in_transaction(conn):
        return False
    if driver.code == "psycopg" and driver.get_autocommit(conn):
        from psycopg import pq

        return bool(conn.info.transaction_status != pq.TransactionStatus.ACTIVE)
    return True


class FailoverPluginFactory(PluginFactory):
    """Creates :class:`FailoverPlugin`."""

    def get_instance(self, plugin_service: PluginService, props: Properties) -> Plugin:
        return FailoverPlugin(plugin_service, props)
