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

from ..._deadline import abort_after
from ..._session_state import SessionHookError
from ..._tasks import TASK_PREFIX, spawn
from ...cursor import AsyncAwsCursor
from ...drivers._base import ABORTS
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
from ._race import EarlyConnects
from ._read_only import fails_over_on_read_only
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
#: Seconds without a call after which a call first checks (locally, cheaply) whether the link is gone.
IDLE_LINK_CHECK_SEC = 0.05
_monotonic = time.monotonic
#: Methods whose failure never starts a failover.
_NO_FAILOVER = frozenset({"Connection.close"})
#: Methods that succeed once the connection failed over: the server ended what they were to end.
_DONE_BY_FAILOVER = frozenset({"Connection.rollback"})

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
        self._driver = service.driver_dialect  # fixed for the connection's life
        self._props = props
        self._enabled = bool(WrapperProperties.ENABLE_FAILOVER.get(props))
        self._timeout = WrapperProperties.FAILOVER_TIMEOUT_SEC.get_or(props, 300.0)
        self._connect_timeout = FAILOVER_CONNECT_TIMEOUT_SEC.get_or(props, 5.0)
        self._connect_failover = ENABLE_CONNECT_FAILOVER.get_or(props, True)
        self._strategy = WrapperProperties.FAILOVER_READER_HOST_SELECTOR_STRATEGY.get_or(props, "random")
        self._mode_prop = WrapperProperties.FAILOVER_MODE.get(props)
        self._running: asyncio.Task[_Outcome] | None = None
        self._stop_reason: str | None = None  # why the running failover was stopped, if it was
        self._querying: Any = None  # the candidate connection the failover is querying, if any
        self._last_call = _monotonic()  # when the last call through this plugin started
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
        conn = service.current_connection
        driver = self._driver
        aborts = ABORTS.seq  # a connection aborted by now cannot take this call's statement
        link: Any = True  # False: the driver already knew the link was gone (nothing will be sent)
        if conn is None:
            in_tx = False
        elif driver.code == "psycopg":  # libpq's status as an int, inline (see _in_transaction)
            status = conn.pgconn.transaction_status
            in_tx = status in (_PQTRANS_INTRANS, _PQTRANS_INERROR) or (
                status == _PQTRANS_ACTIVE and not conn.autocommit
            )
            link = status != _PQTRANS_UNKNOWN
        elif driver.code == "aiomysql":  # what its driver dialect asks, without the two calls around it
            in_tx = bool(conn.get_transaction_status())
            link = conn._writer
        else:
            in_tx = _in_transaction(driver, conn)
        now = _monotonic()
        idle, self._last_call = now - self._last_call, now
        if (
            idle > IDLE_LINK_CHECK_SEC
            and link
            and conn is not None
            and driver.link_lost(conn)
            and not service.closed
            and self._provider() is not None
        ):
            # it sat idle and its link went away meanwhile: fail over before sending anything
            lost = driver.operational_error_class()("the connection was lost while idle")
            await self._fail_over(lost, conn, in_tx, False, method_name)
            return None  # type: ignore[return-value]  # a method the failover itself completed
        try:
            return await execute_func()
        except Exception as exc:
            if service.closed:  # closed by the application meanwhile: close wins, no failover
                raise service.closed_error(in_flight=True) from exc
            if self._provider() is None:
                raise
            if not self.should_fail_over(exc, conn):
                # strict_writer: a write refused by a server that is no longer the writer (not run)
                if self.mode != STRICT_WRITER or not await fails_over_on_read_only(service, exc, conn):
                    raise
                await self._fail_over(exc, conn, in_tx, False, method_name, alive=True)
                return None  # type: ignore[return-value]  # a method the failover itself completed
            sent = method_name not in _SENDS_NOTHING and not _never_sent(driver.code, exc, conn, link, aborts)
            await self._fail_over(exc, conn, in_tx, sent, method_name)
            return None  # type: ignore[return-value]  # a method the failover itself completed

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
        running = self._running
        self._stop("the connection was closed")
        if running is not None:
            await asyncio.gather(running, return_exceptions=True)

    def _stop(self, reason: str) -> None:
        """End the running failover now: its callers get FailoverFailedError(``reason``)."""
        running = self._running
        if running is not None and not running.done():
            self._stop_reason = reason
            candidate = self._querying
            if candidate is not None:
                # its query ends at once on the shut socket and the failover sees the reason; a cancel
                # would make psycopg try a server-side cancel first (and log it)
                self._service.driver_dialect.abort(candidate)
            else:
                running.cancel()

    # --- failover -------------------------------------------------------------------------------------

    async def _wait_running(self, target: object) -> None:
        """A failover of this connection is in progress: wait for it before using the connection."""
        running = self._running
        if running is None:
            return
        with contextlib.suppress(Exception):  # its outcome is reported to the call that hit the failure
            await asyncio.shield(running)
        if self._service.closed:
            raise self._service.closed_error()
        if isinstance(target, AsyncAwsCursor):
            try:
                target.ensure_current_connection()  # a cursor of the replaced connection
            except ConnectionReplacedError as exc:
                ok_cls = driver_error_class(FailoverSuccessError, self._service.driver_dialect.code)
                raise ok_cls(
                    "The connection failed over while this call waited; it never reached the server: run it "
                    "again on a new cursor."
                ) from exc

    async def _fail_over(
        self, exc: Exception, failed_conn: Any, in_tx: bool, sent: bool, method: str, alive: bool = False
    ) -> None:
        """Fail over (or join the failover in progress) and raise what the caller must see.

        ``sent``: the failed call may have reached the server. ``alive``: the failed connection still works
        (a read-only error); it is not aborted, and its host not marked down, but left as any replaced
        connection is (see ``rollback_on_switch``). Returns (instead of raising) only for a method the
        failover itself completed (a rollback: the server ended the transaction with the session).
        """
        service = self._service
        if service.current_connection is failed_conn:
            running = self._running
            if running is None or running.done():
                running = self._spawn(failed_conn, service.current_host_info, alive)
            outcome = await asyncio.shield(running)
        else:
            outcome = _Outcome(service.current_host_info, None)  # someone else already moved us
        if service.closed:
            raise service.closed_error(in_flight=True) from exc
        driver_code = service.driver_dialect.code
        if outcome.error is not None:
            err_cls = driver_error_class(FailoverFailedError, driver_code)
            raise err_cls(f"Failover failed: {outcome.error}") from exc
        if method in _DONE_BY_FAILOVER:
            return
        host = outcome.host.url if outcome.host else "?"
        if in_tx:
            tx_cls = driver_error_class(TransactionResolutionUnknownError, driver_code)
            raise tx_cls(
                f"The connection failed during a transaction and now points at {host}; the transaction's "
                "outcome is unknown: roll back and redo it."
            ) from exc
        if sent:
            tx_cls = driver_error_class(TransactionResolutionUnknownError, driver_code)
            raise tx_cls(
                f"The connection failed while the statement was in flight and now points at {host}; "
                "whether the statement took effect is unknown: check before running it again, or make "
                "it idempotent."
            ) from exc
        ok_cls = driver_error_class(FailoverSuccessError, driver_code)
        raise ok_cls(
            f"The connection failed over to {host}; the statement never reached the server: run it again."
        ) from exc

    def _spawn(
        self, failed_conn: Any, failed_host: HostInfo | None, alive: bool = False
    ) -> asyncio.Task[_Outcome]:
        """Run the failover as a task of this plugin: it finishes even if the caller is cancelled."""
        self._stop_reason = None
        task = spawn(self._stoppable_fail_over(failed_conn, failed_host, alive), f"{TASK_PREFIX}failover")
        self._running = task

        def done(t: asyncio.Task[_Outcome]) -> None:
            if self._running is t:
                self._running = None
            if not t.cancelled() and t.exception() is not None:
                logger.error("failover task died", exc_info=t.exception())

        task.add_done_callback(done)
        return task

    async def _stoppable_fail_over(
        self, failed_conn: Any, failed_host: HostInfo | None, alive: bool
    ) -> _Outcome:
        """The failover, which :meth:`_stop` ends with a FailoverFailedError outcome."""
        try:
            return await self._do_fail_over(failed_conn, failed_host, alive)
        except asyncio.CancelledError:
            reason = self._stop_reason
            if reason is None:
                raise
            uncancel = getattr(asyncio.current_task(), "uncancel", None)  # Python 3.11+
            if uncancel is not None:
                uncancel()
            logger.info("failover stopped: %s", reason)
            return _Outcome(None, FailoverFailedError(f"stopped: {reason}"))

    async def _do_fail_over(self, failed_conn: Any, failed_host: HostInfo | None, alive: bool) -> _Outcome:
        service = self._service
        provider = self._provider()
        assert provider is not None
        started = time.monotonic()
        logger.debug("failover from %s starts (mode %s)", failed_host.url if failed_host else "?", self.mode)
        if not alive:
            if failed_host is not None:
                service.set_availability(failed_host.all_aliases, HostAvailability.UNAVAILABLE)
            service.driver_dialect.close_now(failed_conn)
        monitor = provider.monitor()
        stop = self._stop_by_release
        monitor.add_close_callback(stop)  # release_resources() ends the failover at once
        try:
            conn, host = await self._find_host(monitor, failed_host, started)
        except FailoverFailedError as exc:
            return _Outcome(None, exc)
        finally:
            monitor.remove_close_callback(stop)
        if service.closed:
            await service.dispose(conn)
            return _Outcome(None, FailoverFailedError("the connection was closed"))
        self.failover_count += 1
        try:
            await service.set_current_connection(conn, host, plugin_to_skip=self)
        except Exception as exc:  # the new connection failed while it was given the application's state
            await service.dispose(conn)
            failed = FailoverFailedError(
                f"preparing the connection to {host.url} failed: {type(exc).__name__}"
            )
            failed.__cause__ = exc
            return _Outcome(None, failed)
        topo = provider.known_topology()  # None if the connection closed meanwhile
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

    def _check_stopped(self) -> None:
        if self._stop_reason is not None:
            raise FailoverFailedError(f"stopped: {self._stop_reason}")

    def _stop_by_release(self) -> None:
        self._stop("release_resources() stopped the cluster's topology monitor")

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
        pause = _FIRST_RETRY_PAUSE  # never retry without a pause; doubles up to the high refresh rate
        most = WrapperProperties.CLUSTER_TOPOLOGY_HIGH_REFRESH_RATE_MS.get_or(self._props, 100) / 1000
        monitor.request_verification(since, failed_host)
        early = self._connect_early(monitor, failed_host)  # the new writer's connection, ready sooner
        try:
            while True:
                self._check_stopped()
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise FailoverFailedError(f"no writer within {self._timeout:g} s ({last_error})")
                if monitor.closed:
                    raise FailoverFailedError(
                        "the cluster's topology monitor was stopped (release_resources())"
                    )
                monitor.request_verification(since, failed_host)
                topo = await monitor.wait_for_writer(since, remaining)
                if topo is not None and topo.writer is not None:
                    writer = topo.writer
                    self._check_writer(writer, topo)
                    if not self._service.permits(writer):
                        raise FailoverFailedError(
                            f"the new writer {writer.url} is not among the instances this connection may "
                            f"use ({self._service.allowed_hosts}: the custom endpoint's members)"
                        )
                    want = HostRole.WRITER if role_check_needed(topo.verified_at, time.monotonic()) else None
                    conn = await self._try_connect(writer, deadline, want=want, early=early)
                    if conn is not None:
                        return conn, writer
                    last_error = f"could not use writer {writer.url}"
                    since = time.monotonic()  # the verified writer failed us: ask for a newer one
                await asyncio.sleep(max(0.0, min(pause, deadline - time.monotonic())))
                pause = min(pause * 2, max(most, _FIRST_RETRY_PAUSE))
        finally:
            await early.aclose()

    def _check_writer(self, writer: HostInfo, topo: Topology) -> None:
        """Raise if failover must not take ``writer`` (a hook for subclasses; nothing here)."""

    def _connect_early(self, monitor: ClusterTopologyMonitor, failed_host: HostInfo | None) -> EarlyConnects:
        service = self._service
        topo = monitor.topology
        failed = failed_host.all_aliases if failed_host is not None else frozenset()
        hosts = service.permitted(
            h for h in (topo.hosts if topo is not None else ()) if not (h.all_aliases & failed)
        )

        async def connect(host: HostInfo, limit: float) -> Any:
            return await service.connect_within(host, limit, self._props, plugin_to_skip=self)

        return EarlyConnects(monitor, hosts, connect, service.dispose, self._connect_timeout)

    async def _to_reader(
        self, monitor: ClusterTopologyMonitor, failed_host: HostInfo | None, since: float, deadline: float
    ) -> tuple[Any, HostInfo]:
        strict = self.mode == STRICT_READER
        monitor.request_verification(since, failed_host)
        pause = WrapperProperties.CLUSTER_TOPOLOGY_HIGH_REFRESH_RATE_MS.get_or(self._props, 100) / 1000
        while True:
            if monitor.closed:
                raise FailoverFailedError("the cluster's topology monitor was stopped (release_resources())")
            topo = monitor.topology
            for host in self._reader_candidates(topo, failed_host, strict):
                self._check_stopped()
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
        return service.permitted(ordered)

    async def _try_connect(
        self, host: HostInfo, deadline: float, want: HostRole | None, early: EarlyConnects | None = None
    ) -> Any:
        """A connection to ``host`` (opened early, or now) with the session state re-applied, or None."""
        service = self._service
        driver = service.driver_dialect
        limit = max(0.001, min(self._connect_timeout, deadline - time.monotonic()))
        conn: Any = None
        try:
            if early is not None:
                conn = await early.take(host, limit)
            if conn is None:
                conn = await service.connect_within(host, limit, self._props, plugin_to_skip=self)
            # a hung server: abort the socket rather than cancel (psycopg takes seconds to cancel)
            self._querying = conn
            try:
                with abort_after(limit, driver.abort, conn):
                    if want is not None:
                        role = await service.get_host_role(conn)
                        if role is not want:
                            logger.debug(
                                "failover candidate %s is a %s, not a %s", host.url, role.value, want.value
                            )
                            await service.dispose(conn)
                            return None
                    await service.session_state.apply_to(conn, driver)
            finally:
                self._querying = None
            if self._stop_reason is not None:
                await service.dispose(conn)
                return None
            return conn
        except asyncio.CancelledError:
            if conn is not None:
                await service.dispose(conn)
            raise
        except Exception as exc:
            if service.is_login_error(exc):
                raise FailoverFailedError(f"login to {host.url} failed") from exc
            if isinstance(exc, SessionHookError) and not service.is_network_error(exc.__cause__ or exc, conn):
                await service.dispose(conn)
                raise FailoverFailedError(f"{exc} (on {host.url})") from exc  # it would fail on any host
            logger.debug("failover candidate %s failed: %s", host.url, type(exc).__name__)
            if self._stop_reason is None:  # else its socket was shut down by _stop, not by the host
                service.set_availability(host.all_aliases, HostAvailability.UNAVAILABLE)
            if conn is not None:
                await service.dispose(conn)
            return None


_FIRST_RETRY_PAUSE = 0.01  # seconds before a failover retries the writer after an attempt failed

#: a writer the monitor verified less than this many seconds ago is taken without asking the new
#: connection its role again (a round trip on the critical path; a demotion within 0.1 s of a
#: promotion is not a failover this wrapper can see anyway, and the next call would fail over again)
VERIFIED_FRESH = 0.1


def role_check_needed(verified_at: float | None, now: float) -> bool:
    """Whether a failover must ask the new writer's connection its role (the verdict is not fresh)."""
    return verified_at is None or not (0.0 <= now - verified_at < VERIFIED_FRESH)


#: libpq's PGTransactionStatusType values (psycopg.pq.TransactionStatus) as ints: ``execute`` reads
#: ``conn.pgconn.transaction_status`` before every call (a broken connection reports UNKNOWN, so it
#: cannot be asked after the failure), and ``conn.info.transaction_status`` builds an object and an
#: enum each time (about 1 µs).
_PQTRANS_ACTIVE, _PQTRANS_INTRANS, _PQTRANS_INERROR, _PQTRANS_UNKNOWN = 1, 2, 3, 4


#: methods whose calls carry no statement: whatever they were waiting for, running them again is safe
_SENDS_NOTHING = frozenset({"Connection.notifies"})


def _never_sent(driver_code: str, exc: Exception, conn: Any, link: Any, aborts: int) -> bool:
    """Whether a failed call surely never reached the server (so running it again is safe).

    ``link``: what the call saw before it started (falsy: the driver knew the link was gone);
    ``aborts``: :attr:`ABORTS.seq` then. Anything else that failed may have been executed.
    """
    if not link or (conn is not None and ABORTS.aborted_by(conn, aborts)):
        return True
    if driver_code == "psycopg":  # psycopg's own check before it sends anything
        return str(exc) == "the connection is closed"
    if driver_code == "aiomysql":
        # asyncio counts writes to a transport that was already lost; and a write that the socket
        # refused (the peer had closed, not yet seen by the loop) ends the transport with EPIPE
        if int(getattr(getattr(link, "transport", None), "_conn_lost", 0) or 0) > 1:
            return True
        reader = getattr(link, "_reader", None)
        return reader is not None and isinstance(reader.exception(), BrokenPipeError)
    return False


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
