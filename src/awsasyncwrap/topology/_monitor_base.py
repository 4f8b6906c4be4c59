"""The topology monitor's state and tools: settings, the published topology, its own connections and queries.

:class:`MonitorBase` is the root of :class:`~._monitor.ClusterTopologyMonitor`; each engine of the monitor
(spare connections, writer verification, writer checks, the refresh loop) is a class of its own module
on top of it. Every connection the monitor opens goes through :meth:`MonitorBase._connect` and is
closed by :meth:`MonitorBase._close`; every query runs under :meth:`MonitorBase._watchdog` (a socket
shutdown after the I/O timeout, never a cancellation).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import anyio

from .._background import BackgroundService
from .._deadline import AbortAfter, close_quietly
from ..hostinfo import HostInfo, HostRole
from ..properties import Properties
from ._model import HostMapper, Topology, UnknownRegionError
from ._monitor_state import ReadVerdict, RefreshModes, judge_read
from ._schedule import Backoff
from ._settings import TopologySettings
from ._writer_check import same_host

if TYPE_CHECKING:
    from ..dialects._topology import TopologyAwareDialect, TopologyEntry
    from ..drivers import DriverDialect

__all__ = ["Connector", "MonitorBase", "WriterListener", "writer_of"]

logger = logging.getLogger(__name__)

#: Opens a monitoring connection to a host (through an auth-aware path when one is attached).
Connector = Callable[[HostInfo], Awaitable[Any]]
#: Called with (old writer, new writer) when the monitor sees the writer change.
WriterListener = Callable[[HostInfo, HostInfo], None]

_DEFAULT_CONNECT_TIMEOUT = 5.0
#: How long closing one of its connections may take before it is dropped without a goodbye.
_CLOSE_TIMEOUT = 1.0


class MonitorBase(BackgroundService):
    """State, settings, connections and queries shared by the engines of the cluster topology monitor."""

    name = "cluster-topology-monitor"

    def __init__(
        self,
        cluster_id: str,
        driver: DriverDialect,
        dialect: TopologyAwareDialect,
        target_driver_func: Callable[..., Awaitable[Any]],
        props: Properties,
        initial_host: HostInfo,
        mapper: HostMapper,
    ) -> None:
        super().__init__()
        self.cluster_id = cluster_id
        self._driver = driver
        self._dialect = dialect
        self._target = target_driver_func
        self._props = props.monitoring_props()
        self._initial_host = initial_host
        self._mapper = mapper
        settings = TopologySettings.from_props(props)
        self._refresh_rate = settings.refresh_rate
        self._high_rate = settings.high_rate
        #: when to verify and how long to pause between rounds (the decisions; the loop carries them out)
        self._modes = RefreshModes(self._refresh_rate, self._high_rate, settings.high_rate_hold)
        self._io_timeout = settings.io_timeout
        connect_timeout = settings.connect_timeout
        self._connect_timeout = _DEFAULT_CONNECT_TIMEOUT if connect_timeout is None else connect_timeout
        #: how long a healthy monitoring connection may take to answer once a failure was reported
        self._grace = max(2 * self._high_rate, 0.1)
        self._topology: Topology | None = None
        self._changed = asyncio.Event()
        self._wake = asyncio.Event()
        self._conn: Any = None
        self._conn_host: HostInfo | None = None
        self._open: set[Any] = set()
        self._connectors: list[Connector] = []
        self._started = False
        self._listeners: list[WriterListener] = []
        # the normal refresh's step in progress, cut short by a verification request
        self._hurry_scope: anyio.CancelScope | None = None
        self._hurry_watch: AbortAfter | None = None
        self._querying: set[asyncio.Task[Any]] = set()  # tasks inside a query (see aclose)
        #: how many times the monitor probed the instances for a writer (for tests and stats)
        self.verification_rounds = 0
        #: queries this monitor ran (is-reader, topology, instance id), on every connection of its own
        self.queries_run = 0
        # idle connections to the other instances: a verification's first poll needs no connect
        self._spares: dict[str, Any] = {}
        self._spare_backoff = Backoff(self._high_rate, self._refresh_rate)
        self._warmer: asyncio.Task[None] | None = None
        self._borrowed: set[str] = set()  # spares the writer check in progress uses
        # writer checks of calls stuck on the writer: at most one task, at most one check per period
        self._stuck_period = settings.stuck_call_check_period
        self._check_wanted = asyncio.Event()
        self._checker: asyncio.Task[None] | None = None
        #: writer checks run because calls were stuck on the writer (for tests and stats)
        self.writer_checks = 0
        #: writer checks that found a new writer (each requested a verification)
        self.writer_changes_found = 0

    # --- state ----------------------------------------------------------------------------------------------

    def request_verification(self, since: float, suspect: HostInfo | None = None) -> None:
        """A failure was seen at ``since`` (``time.monotonic()``): find a verified writer newer than that.

        ``suspect``: the host that failed; if the monitoring connection is on it, it is dropped now
        instead of waiting for it to time out.
        """
        self._modes.request(since)
        if suspect is not None and self._conn is not None and self._is_same(self._conn_host, suspect):
            self._driver.abort(self._conn)
        self._hurry()
        self.ensure_started()
        self._wake.set()

    def ensure_started(self) -> None:
        """Start the monitoring task (once): :class:`~._monitor.ClusterTopologyMonitor` does."""
        raise NotImplementedError

    def _verified_at(self) -> float | None:
        topo = self._topology
        return topo.verified_at if topo is not None else None

    def _needs_verification(self) -> bool:
        return self._modes.needs_verification(self._verified_at())

    def _hurry(self) -> None:
        """A failure was reported: a normal refresh step that may hang on a dead writer must end soon.

        A connect in progress stops at once (the verification probes every host anyway); a query
        in progress gets the grace period to answer, then its socket is shut down.
        """
        scope = self._hurry_scope
        if scope is not None:
            scope.deadline = anyio.current_time()  # fail_after: a TimeoutError in the connecting task
        watch = self._hurry_watch
        if watch is not None:
            watch.bring_forward(self._grace)

    def _publish(self, topology: Topology) -> None:
        old = self._topology
        self._topology = topology
        ev = self._changed
        self._changed = asyncio.Event()
        ev.set()
        old_writer, new_writer = old.writer if old else None, topology.writer
        fresh = topology.verified_at is not None and topology.verified_at == topology.read_at
        if fresh and old_writer is not None and new_writer is not None and old_writer != new_writer:
            for listener in list(self._listeners):
                try:
                    listener(old_writer, new_writer)
                except Exception:
                    logger.warning("writer listener of %s failed", self.cluster_id, exc_info=True)
        if old is None or old.writer != topology.writer:
            logger.info(
                "cluster %s writer: %s (%d hosts%s)",
                self.cluster_id,
                topology.writer.url if topology.writer else "?",
                len(topology.hosts),
                ", verified" if topology.verified_at else "",
            )

    def _wake_waiters(self) -> None:
        ev = self._changed
        self._changed = asyncio.Event()
        ev.set()

    async def _read(
        self, conn: Any, host: HostInfo | None, limit: float | None = None, hurry: bool = False
    ) -> bool:
        """Read role and topology on the monitoring connection (within ``limit`` s, default the I/O
        timeout); publish; True if it is on the writer."""
        async with self._watchdog(conn, limit, hurry):
            is_reader = await self._is_reader(conn)
            entries = await self._topology_of(conn)
        now = time.monotonic()
        host_id = host.host_id if host is not None else None
        prev = self._topology
        if not is_reader and host_id is not None:  # judge_read: ON_WRITER (no need to build twice)
            keep = prev.hosts if prev is not None and self._modes.holding(now) else ()
            hosts = self._mapper.build(entries, verified_writer=host_id, keep=keep)
            self._publish(Topology(hosts, now, now))
            return True
        hosts = self._mapper.build(entries)
        verdict = judge_read(is_reader, host_id, prev, writer_of(hosts), connected=host is not None)
        if verdict is ReadVerdict.DISAGREES:
            # a reader's table disagrees with the writer we verified: settle it by probing
            self._modes.request(now)
            return False
        self._publish(Topology(hosts, now, prev.verified_at if prev is not None else None))
        if verdict is ReadVerdict.ON_READER:
            self._drop_conn()  # on a reader: move to the writer on the next round
        return False

    # --- queries (counted) ----------------------------------------------------------------------------------

    async def _is_reader(self, conn: Any) -> bool:
        self.queries_run += 1
        return await self._dialect.query_is_reader(conn, self._driver, self._props)

    async def _topology_of(self, conn: Any) -> list[TopologyEntry]:
        self.queries_run += 1
        return await self._dialect.query_topology(conn, self._driver, self._props)

    # --- connections ----------------------------------------------------------------------------------------

    async def _connect(self, host: HostInfo, hurry: bool = False, limit: float | None = None) -> Any:
        """A monitoring connection to ``host`` within the connect timeout (or ``limit`` if shorter;
        ``hurry``: see :meth:`_hurry`)."""
        if self.closed:
            raise ConnectionError(f"the topology monitor of {self.cluster_id} is closed")
        connector = self._connectors[-1] if self._connectors else None
        conn: Any = None
        timeout = self._connect_timeout if limit is None else min(limit, self._connect_timeout)
        try:
            with anyio.fail_after(timeout) as scope:
                if hurry:
                    self._hurry_scope = scope
                if connector is not None:
                    conn = await connector(host)
                else:
                    conn = await self._driver.connect(self._target, host, self._props)
        except BaseException:
            if conn is not None:  # opened just as the time ran out
                self._driver.close_now(conn)
            raise
        finally:
            if hurry:
                self._hurry_scope = None
        self._open.add(conn)
        return conn

    async def _identify(self, conn: Any, host: HostInfo, hurry: bool = False) -> HostInfo:
        """The instance behind a connection opened to an endpoint."""
        async with self._watchdog(conn, None, hurry):
            self.queries_run += 1
            host_id = await self._dialect.query_host_id(conn, self._driver, self._props)
        if host_id is None:
            return host
        topo = self._topology
        known = topo.find(host_id=host_id) if topo is not None else None
        if known is not None:
            return known
        try:
            return self._mapper.host(host_id, host.role)
        except UnknownRegionError:  # a global database before its first topology: the endpoint it is
            return host

    def _drop_conn(self) -> None:
        conn, self._conn, self._conn_host = self._conn, None, None
        if conn is not None:
            self._driver.abort(conn)
            if not self.closed:
                self.spawn(self._close(conn), "close")

    async def _close(self, conn: Any) -> None:
        self._open.discard(conn)
        await close_quietly(self._driver, conn, _CLOSE_TIMEOUT)

    @contextlib.asynccontextmanager
    async def _watchdog(self, conn: Any, limit: float | None = None, hurry: bool = False) -> Any:
        """Abort ``conn`` (socket shutdown) if the block takes longer than ``limit`` (the I/O timeout).

        Never cancellation: a cancelled psycopg query on a dead link first tries a server-side cancel
        for seconds. ``hurry``: a verification request shortens the time left (see :meth:`_hurry`).
        """
        watch = AbortAfter(self._io_timeout if limit is None else limit, self._driver.abort, conn)
        if hurry:
            self._hurry_watch = watch
        task = asyncio.current_task()
        if task is not None:
            self._querying.add(task)
        try:
            yield
        finally:
            watch.cancel()
            self._querying.discard(task)
            if hurry:
                self._hurry_watch = None

    _is_same = staticmethod(same_host)


def writer_of(hosts: tuple[HostInfo, ...]) -> HostInfo | None:
    """The writer among ``hosts``, if any."""
    return next((h for h in hosts if h.role is HostRole.WRITER), None)
