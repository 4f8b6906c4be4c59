"""The failover plugin: on a lost connection, move the same connection object to a healthy host.

What counts as a lost connection is the database dialect's call (``service.is_network_error``),
never cancellation, never a timeout the application set (``asyncio.timeout``, ``statement_timeout``
57014, MySQL 3024/1317/1969). The new host comes from the cluster's shared topology monitor: the
plugin asks it for a writer verified after the failure and waits (bounded) for it, so no topology
query ever runs inside a user call. Concurrent failures of one connection share one failover, and
calls arriving while it runs wait for it.

The host search is in :mod:`._search`, what a failed call tells (transaction, statement sent) in
:mod:`._calls`, the settings and state in :mod:`._base`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

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
from ...hostinfo import HostAvailability, HostInfo
from ...plugin import ConnectFunc, ExecuteFunc, Plugin, PluginFactory, T
from ...properties import Properties
from ...topology import ClusterTopologyMonitor, cluster_id_for, existing_monitor
from ._base import STRICT_WRITER, Outcome
from ._calls import SENDS_NOTHING, never_sent
from ._read_only import fails_over_on_read_only
from ._search import HostSearch
from .errors import driver_error_class

if TYPE_CHECKING:
    from ...drivers import DriverDialect
    from ...plugin_service import PluginService

__all__ = ["FailoverPlugin", "FailoverPluginFactory"]

logger = logging.getLogger(__name__)

#: Driver error codes of timeouts the application asked for: never a reason to fail over.
_USER_TIMEOUT_CODES = frozenset({"57014", "3024", "1317", "1969"})
#: Seconds without a call after which a call first checks (locally, cheaply) whether the link is gone.
IDLE_LINK_CHECK_SEC = 0.05
_monotonic = time.monotonic
#: Methods whose failure never starts a failover.
_NO_FAILOVER = frozenset({"Connection.close"})
#: Methods that succeed once the connection failed over: the server ended what they were to end.
_DONE_BY_FAILOVER = frozenset({"Connection.rollback"})


class FailoverPlugin(HostSearch):
    """Fails the connection over to a new writer (or reader) when its host is lost."""

    subscribed_methods = frozenset({"*"})

    # --- error classification -------------------------------------------------------------------------------

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

    # --- pipeline -------------------------------------------------------------------------------------------

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
        # in_tx: a transaction is open; link: falsy when the driver already knew it was gone (nothing sent)
        in_tx, link = (False, True) if conn is None else driver.call_state(conn)
        now = _monotonic()
        idle, self._last_call = now - self._last_call, now
        if (
            (idle > IDLE_LINK_CHECK_SEC or driver.link_check_is_free)
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
            await driver.failure_settled(link)
            sent = method_name not in SENDS_NOTHING and not never_sent(driver, exc, conn, link, aborts)
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

    # --- failover -------------------------------------------------------------------------------------------

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
            outcome = Outcome(service.current_host_info, None)  # someone else already moved us
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
    ) -> asyncio.Task[Outcome]:
        """Run the failover as a task of this plugin: it finishes even if the caller is cancelled."""
        self._stop_reason = None
        task = spawn(self._stoppable_fail_over(failed_conn, failed_host, alive), f"{TASK_PREFIX}failover")
        self._running = task

        def done(t: asyncio.Task[Outcome]) -> None:
            if self._running is t:
                self._running = None
            if not t.cancelled() and t.exception() is not None:
                logger.error("failover task died", exc_info=t.exception())

        task.add_done_callback(done)
        return task

    async def _stoppable_fail_over(
        self, failed_conn: Any, failed_host: HostInfo | None, alive: bool
    ) -> Outcome:
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
            return Outcome(None, FailoverFailedError(f"stopped: {reason}"))

    async def _do_fail_over(self, failed_conn: Any, failed_host: HostInfo | None, alive: bool) -> Outcome:
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
            return Outcome(None, exc)
        finally:
            monitor.remove_close_callback(stop)
        if service.closed:
            await service.dispose(conn)
            return Outcome(None, FailoverFailedError("the connection was closed"))
        self.failover_count += 1
        try:
            await service.set_current_connection(conn, host, plugin_to_skip=self)
        except Exception as exc:  # the new connection failed while it was given the application's state
            await service.dispose(conn)
            failed = FailoverFailedError(
                f"preparing the connection to {host.url} failed: {type(exc).__name__}"
            )
            failed.__cause__ = exc
            return Outcome(None, failed)
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
        return Outcome(host, None)

    def _stop_by_release(self) -> None:
        self._stop("release_resources() stopped the cluster's topology monitor")


class FailoverPluginFactory(PluginFactory):
    """Creates :class:`FailoverPlugin`."""

    def get_instance(self, plugin_service: PluginService, props: Properties) -> Plugin:
        return FailoverPlugin(plugin_service, props)
