"""The cluster topology monitor: one per cluster and event loop, shared by every connection to it.

It keeps one monitoring connection (never a user connection) and reads the topology every
``cluster_topology_refresh_rate_ms``, plus one idle *spare* connection to each other instance (one query
when it opens, none after that until it is needed). When someone suspects a failover
(:meth:`ClusterTopologyMonitor.request_verification`) or its own connection fails, it switches to
the high rate: it polls every known instance in parallel, on its spare or a new connection, with pauses
that grow with the time taken (see :mod:`._schedule`), until one of them answers "not a reader" (a
*verified* writer), publishes it at once, and keeps the high rate for
``cluster_topology_high_rate_hold_ms`` before slowing down again. Callers wait for "a topology
with a writer verified after T" (:meth:`ClusterTopologyMonitor.wait_for_writer`), bounded.

Host monitors report calls stuck on a host (:meth:`ClusterTopologyMonitor.report_stuck_calls`). If
that host is the writer, a *writer check* asks the other instances, in parallel, on their spares or
on connections of its own, whether they see another writer (see :mod:`._writer_check`). Only when one
does, and that instance answers "not a reader", is a verification requested (which publishes the new
writer to the writer listeners); otherwise nothing changes, and no high-rate hold starts.
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
from .._deadline import AbortAfter, close_quietly, wait_set
from .._tasks import cancel_and_wait, gather_within
from ..errors import ConfigurationError
from ..hostinfo import HostInfo, HostRole
from ..properties import Properties, WrapperProperties
from ._model import HostMapper, Topology, UnknownRegionError
from ._schedule import Backoff, probe_pause, reconnect_pause
from ._writer_check import CheckAnswer, Verdict, judge

if TYPE_CHECKING:
    from ..dialects._topology import TopologyAwareDialect, TopologyEntry
    from ..drivers import DriverDialect

__all__ = ["ClusterTopologyMonitor", "Connector", "WriterListener"]

logger = logging.getLogger(__name__)

#: Opens a monitoring connection to a host (through an auth-aware path when one is attached).
Connector = Callable[[HostInfo], Awaitable[Any]]
#: Called with (old writer, new writer) when the monitor sees the writer change.
WriterListener = Callable[[HostInfo, HostInfo], None]

_DEFAULT_CONNECT_TIMEOUT = 5.0
#: How long closing waits for a task inside a query to end by itself on its aborted socket.
_QUERY_STOP_GRACE = 1.0
#: How long closing one of its connections may take before it is dropped without a goodbye.
_CLOSE_TIMEOUT = 1.0
#: Writer checks in a row that may follow each other at the high rate while a failover is in progress.
_MAX_QUICK_CHECKS = 10


class _Found(Exception):
    """Internal: carries the verified writer out of a probe."""


class ClusterTopologyMonitor(BackgroundService):
    """Watches one cluster's topology from its own connection; finds the new writer after a failure."""

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
        self._refresh_rate = WrapperProperties.CLUSTER_TOPOLOGY_REFRESH_RATE_MS.get_or(props, 30_000) / 1000
        self._high_rate = WrapperProperties.CLUSTER_TOPOLOGY_HIGH_REFRESH_RATE_MS.get_or(props, 100) / 1000
        self._hold = WrapperProperties.CLUSTER_TOPOLOGY_HIGH_RATE_HOLD_MS.get_or(props, 30_000) / 1000
        self._io_timeout = WrapperProperties.CLUSTER_TOPOLOGY_QUERY_TIMEOUT_MS.get_or(props, 5_000) / 1000
        self._connect_timeout = WrapperProperties.CONNECT_TIMEOUT_SEC.get_or(props, _DEFAULT_CONNECT_TIMEOUT)
        #: how long a healthy monitoring connection may take to answer once a failure was reported
        self._grace = max(2 * self._high_rate, 0.1)
        self._topology: Topology | None = None
        self._changed = asyncio.Event()
        self._wake = asyncio.Event()
        self._conn: Any = None
        self._conn_host: HostInfo | None = None
        self._requested_since = 0.0
        self._high_until = 0.0
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
        self._stuck_period = WrapperProperties.STUCK_CALL_TOPOLOGY_CHECK_MS.get_or(props, 500) / 1000
        self._check_wanted = asyncio.Event()
        self._checker: asyncio.Task[None] | None = None
        #: writer checks run because calls were stuck on the writer (for tests and stats)
        self.writer_checks = 0
        #: writer checks that found a new writer (each requested a verification)
        self.writer_changes_found = 0

    # --- public ---------------------------------------------------------------------------------

    @property
    def topology(self) -> Topology | None:
        """The latest topology."""
        return self._topology

    @property
    def monitoring_host(self) -> HostInfo | None:
        """The host of the monitoring connection."""
        return self._conn_host

    @property
    def writer_check_running(self) -> bool:
        """Whether a writer check (an episode of stuck calls on the writer) is in progress."""
        return self._checker is not None and not self._checker.done()

    @property
    def high_rate(self) -> bool:
        """Whether the monitor is in its high refresh rate."""
        return self._needs_verification() or time.monotonic() < self._high_until

    def ensure_started(self) -> None:
        """Start the monitoring task (once)."""
        if not self._started and not self.closed:
            self._started = True
            self.spawn(self._run(), f"topology:{self.cluster_id}")

    def attach(self, connector: Connector) -> None:
        """A connection's way of opening monitoring connections (auth plugins apply)."""
        self._connectors.append(connector)

    def detach(self, connector: Connector) -> None:
        """That connection closed."""
        with contextlib.suppress(ValueError):
            self._connectors.remove(connector)

    def add_writer_listener(self, listener: WriterListener) -> None:
        """Call ``listener(old, new)`` whenever the writer changes (must not block or raise)."""
        if listener not in self._listeners:
            self._listeners.append(listener)

    def seed(self, topology: Topology) -> None:
        """Use a topology read elsewhere until the monitor reads its own."""
        if self._topology is None:
            self._publish(topology)

    def request_verification(self, since: float, suspect: HostInfo | None = None) -> None:
        """A failure was seen at ``since`` (``time.monotonic()``): find a verified writer newer than that.

        ``suspect``: the host that failed; if the monitoring connection is on it, it is dropped now
        instead of waiting for it to time out.
        """
        if since > self._requested_since:
            self._requested_since = since
        if suspect is not None and self._conn is not None and self._is_same(self._conn_host, suspect):
            self._driver.abort(self._conn)
        self._hurry()
        self.ensure_started()
        self._wake.set()

    def report_stuck_calls(self, host: HostInfo) -> None:
        """A host monitor saw a call in flight on ``host`` for ``stuck_call_topology_check_ms``.

        If ``host`` is the writer, a writer check runs in the background (one at a time, at most one
        check per period while the reports go on). Never blocks or raises.
        """
        if self.closed or self._stuck_period <= 0 or self._needs_verification():
            return
        topo = self._topology
        if topo is None or not self._is_same(topo.writer, host):
            return  # a reader, or a host the cluster no longer lists: only the writer is checked
        self._check_wanted.set()
        if self._checker is None or self._checker.done():
            self._checker = self.spawn(self._writer_checks(topo.writer), f"writer-check:{self.cluster_id}")

    async def wait_for_writer(self, since: float, within: float) -> Topology | None:
        """A topology whose writer was verified at or after ``since``; None after ``within`` seconds."""
        deadline = time.monotonic() + within
        while True:
            topo = self._topology
            if (
                topo is not None
                and topo.verified_at is not None
                and topo.verified_at >= since
                and topo.writer
            ):
                return topo
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self.closed:
                return None
            await self._wait_changed(remaining)

    async def wait_for_topology(self, newer_than: float, within: float) -> Topology | None:
        """A topology read after ``newer_than``; the latest one (maybe older) after ``within`` seconds."""
        deadline = time.monotonic() + within
        while True:
            topo = self._topology
            if topo is not None and topo.read_at >= newer_than:
                return topo
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self.closed:
                return topo
            await self._wait_changed(remaining)

    async def aclose(self) -> None:
        # unblock every pending I/O first: a cancelled psycopg call on a dead link takes seconds
        for conn in list(self._open):
            self._driver.abort(conn)
        self._closing()
        self._wake_waiters()  # wait_for_writer / wait_for_topology return now, not after the tasks ended
        # a task inside a query ends by itself on its aborted socket; cancelling it instead would make
        # psycopg try a server-side cancel (and log it). The others are cancelled by super().aclose().
        querying = [t for t in self._querying if not t.done()]
        for task in self._tasks:
            if task not in self._querying:
                task.cancel()
        await gather_within(querying, _QUERY_STOP_GRACE)
        await super().aclose()

    def _wake_waiters(self) -> None:
        ev = self._changed
        self._changed = asyncio.Event()
        ev.set()

    async def on_close(self) -> None:
        conns, self._open = list(self._open), set()
        self._conn = None
        self._spares.clear()
        await asyncio.gather(*(self._close(c) for c in conns), return_exceptions=True)
        self._wake_waiters()

    def __repr__(self) -> str:
        return f"<ClusterTopologyMonitor {self.cluster_id} on {self._conn_host!r} high_rate={self.high_rate}>"

    # --- loop -----------------------------------------------------------------------------------

    async def _run(self) -> None:
        while not self.closed:
            try:
                if self._needs_verification():
                    await self._verify()
                else:
                    await self._refresh()
            except asyncio.CancelledError:
                raise
            except ConfigurationError as exc:
                logger.error("topology monitor %s stops: %s", self.cluster_id, exc)
                return
            except Exception as exc:
                logger.debug("topology monitor %s: %s: %s", self.cluster_id, type(exc).__name__, exc)
                self._drop_conn()
                if not self._needs_verification():
                    self._requested_since = time.monotonic()  # our own connection failed: look for the writer
            if self._needs_verification():
                await asyncio.sleep(0)  # a new request arrived meanwhile: go on at once
                continue
            rate = self._high_rate if time.monotonic() < self._high_until else self._refresh_rate
            await self._sleep(rate)

    def _needs_verification(self) -> bool:
        if self._requested_since <= 0:
            return False
        topo = self._topology
        verified = topo.verified_at if topo is not None and topo.verified_at is not None else 0.0
        return verified < self._requested_since

    async def _sleep(self, seconds: float) -> None:
        self._wake.clear()
        await wait_set(self._wake, seconds)

    async def _wait_changed(self, within: float) -> None:
        await wait_set(self._changed, within)

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

    # --- normal refresh ---------------------------------------------------------------------------

    async def _refresh(self) -> None:
        if self._conn is None:
            host = self._preferred_host()
            conn = await self._connect(host, hurry=True)
            if host.host_id is None:
                try:
                    host = await self._identify(conn, host, hurry=True)
                except BaseException:
                    self._open.discard(conn)
                    self._driver.close_now(conn)
                    raise
            self._conn, self._conn_host = conn, host
        await self._read(self._conn, self._conn_host, hurry=True)
        self._warm_spares()

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

    def _preferred_host(self) -> HostInfo:
        topo = self._topology
        if topo is not None and topo.writer is not None:
            return topo.writer
        return self._initial_host

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
        if not is_reader and host_id is not None:
            keep = self._topology.hosts if self._topology is not None and now < self._high_until else ()
            hosts = self._mapper.build(entries, verified_writer=host_id, keep=keep)
            self._publish(Topology(hosts, now, now))
            return True
        prev = self._topology
        hosts = self._mapper.build(entries)
        writer = _writer(hosts)
        if prev is not None and prev.verified_at is not None and prev.writer != writer:
            # a reader's table disagrees with the writer we verified: settle it by probing
            self._requested_since = max(self._requested_since, now)
            return False
        verified = prev.verified_at if prev is not None else None
        self._publish(Topology(hosts, now, verified))
        if writer is not None and host is not None and writer.host_id != host_id:
            self._drop_conn()  # on a reader: move to the writer on the next round
        return False

    # --- verification (high rate) -------------------------------------------------------------------

    async def _verify(self) -> None:
        self.verification_rounds += 1
        started = time.monotonic()
        self._high_until = started + self._hold  # keep known replicas while they re-attach
        if self._conn is not None:
            try:
                # a healthy monitoring connection answers at once; a hung one is aborted after the grace
                if await self._read(self._conn, self._conn_host, self._grace):
                    self._verified(started)
                    return
            except Exception as exc:
                logger.debug("monitoring connection of %s failed: %s", self.cluster_id, type(exc).__name__)
            self._drop_conn()
        conn, host = await self._probe_all(started)
        self._conn, self._conn_host = conn, host
        self._publish_found(host)  # callers go on now; the writer's own topology follows
        await self._read(conn, host)
        self._verified(started)
        self._warm_spares()

    def _publish_found(self, writer: HostInfo) -> None:
        """Publish the writer a probe just found, with the other known hosts as readers."""
        now = time.monotonic()
        topo = self._topology
        hosts = [writer] + [
            h.with_role(HostRole.READER) for h in (topo.hosts if topo else ()) if not self._is_same(h, writer)
        ]
        self._publish(Topology(tuple(hosts), now, now))

    def _verified(self, started: float) -> None:
        self._high_until = time.monotonic() + self._hold
        topo = self._topology
        logger.debug(
            "cluster %s: writer %s verified in %.3f s",
            self.cluster_id,
            topo.writer.url if topo and topo.writer else "?",
            time.monotonic() - started,
        )

    def _probe_targets(self) -> list[HostInfo]:
        topo = self._topology
        hosts = list(topo.hosts) if topo is not None else []
        if not any(self._is_same(h, self._initial_host) for h in hosts):
            hosts.append(self._initial_host)
        return hosts

    async def _probe_all(self, started: float) -> tuple[Any, HostInfo]:
        """Connect to every known host in parallel until one is a writer; return its connection.

        A probe starts with the host's spare connection if it has one. It polls with pauses that grow
        with the time since ``started`` (see :mod:`._schedule`), so a promotion is seen soon after it
        happens, not one high-rate period later; a host that refused a connect is tried again one
        high-rate period later. Probes that were idle when the writer was found leave their
        connections as spares.
        """
        found: asyncio.Future[tuple[Any, HostInfo]] = asyncio.get_running_loop().create_future()
        probes: dict[str, asyncio.Task[None]] = {}
        conns: dict[str, Any] = {}
        busy: set[str] = set()  # probes in a query or a connect

        def start(host: HostInfo) -> None:
            if host.url not in probes and not found.done():
                spare = self._spares.pop(host.url, None)
                if spare is not None:
                    conns[host.url] = spare
                probes[host.url] = self.spawn(
                    self._probe(host, found, start, conns, busy, started), f"probe:{host.url}"
                )

        for host in self._probe_targets():
            start(host)
        try:
            return await asyncio.shield(found)
        finally:
            winner = found.result()[0] if found.done() and not found.cancelled() else None
            if not found.done():
                found.cancel()
            for key, conn in list(conns.items()):
                if conn is not winner and (key in busy or winner is None):
                    del conns[key]  # their pending I/O fails at once; idle ones become spares again
                    self._driver.abort(conn)
            tasks = list(probes.values())
            if self.closed:
                for task in tasks:
                    task.cancel()
            else:  # off the critical path: the writer is published first
                self.spawn(self._reap(tasks), "reap-probes")

    async def _reap(self, tasks: list[asyncio.Task[None]]) -> None:
        """Let the losing probes end by themselves, then cancel those still connecting.

        A probe in a query ends at once (its socket was shut down); cancelling it instead would make
        psycopg try a server-side cancel first and log a warning.
        """
        pending = await gather_within(tasks, self._grace)
        await cancel_and_wait(pending, self._io_timeout)

    async def _probe(
        self,
        host: HostInfo,
        found: asyncio.Future[tuple[Any, HostInfo]],
        start: Callable[[HostInfo], None],
        conns: dict[str, Any],
        busy: set[str],
        started: float,
    ) -> None:
        key = host.url
        conn: Any = conns.get(key)  # a spare, already open
        spare = conn is not None
        discovered = False
        try:
            while not found.done() and not self.closed:
                busy.add(key)
                try:
                    if conn is None:
                        conn = conns[key] = await self._connect(host)
                    async with self._watchdog(conn):
                        is_reader = await self._is_reader(conn)
                    if not is_reader:
                        if host.host_id is None:
                            host = await self._identify(conn, host)
                        if not found.done():
                            found.set_result((conn, host.with_role(HostRole.WRITER)))
                            conns.pop(key, None)
                            conn = None  # handed over
                        return
                    if not discovered:  # a reader knows the instances: probe any we did not know
                        discovered = True
                        async with self._watchdog(conn):
                            entries = await self._topology_of(conn)
                        for other in self._mapper.build(entries):
                            start(other)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    logger.debug("probe of %s: %s", host.url, type(exc).__name__)
                    if conn is not None:
                        conns.pop(key, None)
                        self._driver.abort(conn)
                        await self._close(conn)
                        conn = None
                    if spare:  # a spare gone stale while idle: connect now, no pause
                        spare = False
                        continue
                finally:
                    busy.discard(key)
                # polls of an open connection follow the schedule; a host that refused waits a period
                if conn is None:
                    pause = reconnect_pause(self._high_rate)
                else:
                    pause = probe_pause(time.monotonic() - started, self._high_rate)
                await asyncio.wait({found}, timeout=pause)  # the next poll, or done
        finally:
            if conn is not None:
                if (
                    conns.pop(key, None) is conn
                    and not self.closed
                    and found.done()
                    and not found.cancelled()
                ):
                    self._keep_spare(key, conn)  # idle and healthy: the next verification starts with it
                else:
                    self._driver.abort(conn)
                    await self._close(conn)

    # --- spare connections ------------------------------------------------------------------------

    def _warm_spares(self) -> None:
        """Open, in the background, an idle connection to each listed instance that lacks one.

        A spare runs one is-reader query when it opens (warming its server session), then none until
        a verification polls it. Spares to instances the topology no
        longer lists (or to the monitoring connection's host) are closed; a host that refused one is
        tried again with a backoff from the high rate to the normal refresh rate.
        """
        topo = self._topology
        if self.closed or topo is None or (self._warmer is not None and not self._warmer.done()):
            return
        wanted = {h.url: h for h in topo.hosts if not self._is_same(h, self._conn_host)}
        for url in [u for u in self._spares if u not in wanted]:
            self._drop_spare(url)
        self._spare_backoff.forget(set(wanted))
        now = time.monotonic()
        missing = [h for u, h in wanted.items() if u not in self._spares and self._spare_backoff.due(u, now)]
        if missing:
            self._warmer = self.spawn(self._open_spares(missing), f"spares:{self.cluster_id}")

    async def _open_spares(self, hosts: list[HostInfo]) -> None:
        async def one(host: HostInfo) -> None:
            conn: Any = None
            try:
                conn = await self._connect(host)
                # its first query now, not in the failover: the server session is warm (PostgreSQL
                # builds its catalog caches on a backend's first query), and a dead spare shows at once
                async with self._watchdog(conn):
                    await self._is_reader(conn)
            except asyncio.CancelledError:
                if conn is not None:
                    self._open.discard(conn)
                    self._driver.close_now(conn)  # aborts, then frees it locally
                raise
            except Exception as exc:
                logger.debug("spare connection to %s: %s", host.url, type(exc).__name__)
                self._spare_backoff.failed(host.url, time.monotonic())
                if conn is not None:
                    self._driver.abort(conn)
                    await self._close(conn)
                return
            self._spare_backoff.succeeded(host.url)
            self._keep_spare(host.url, conn)

        await asyncio.gather(*(one(h) for h in hosts))

    def _keep_spare(self, url: str, conn: Any) -> None:
        """Keep ``conn`` as the spare of ``url`` if the topology lists that host (and it has none yet)."""
        topo = self._topology
        host = topo.find(url=url) if topo is not None else None
        if host is None or url in self._spares or self._is_same(host, self._conn_host) or self.closed:
            if self.closed:
                self._open.discard(conn)
                self._driver.close_now(conn)
            else:
                self._driver.abort(conn)
                self.spawn(self._close(conn), "close")
            return
        self._spares[url] = conn

    def _drop_spare(self, url: str) -> None:
        conn = self._spares.pop(url, None)
        if conn is not None:
            self._driver.abort(conn)
            if not self.closed:
                self.spawn(self._close(conn), "close")

    # --- writer check (calls stuck on the writer) ----------------------------------------------------

    async def _writer_checks(self, suspect: HostInfo | None) -> None:
        """Check the writer while calls on it stay stuck; end one period after the last report.

        The connections to the other instances are kept for the whole episode and closed at its end.
        """
        conns: dict[str, Any] = {}
        quick = 0
        try:
            while suspect is not None and not self.closed:
                self._check_wanted.clear()
                started = time.monotonic()
                try:
                    verdict = await self._check_writer(suspect, conns)
                except Exception:  # a bug, not a data point: log it, keep checking
                    logger.warning("writer check of %s failed", self.cluster_id, exc_info=True)
                    verdict = Verdict.UNCHANGED
                if verdict is Verdict.CHANGED:
                    return
                quick = quick + 1 if verdict is Verdict.PENDING else 0
                soon = verdict is Verdict.PENDING and quick <= _MAX_QUICK_CHECKS
                pause = self._high_rate if soon else self._stuck_period
                await asyncio.sleep(max(0.0, started + pause - time.monotonic()))  # the rate limit
                if not soon and not await wait_set(self._check_wanted, self._stuck_period):
                    return  # no call stuck on the writer any more
                topo = self._topology
                if self._needs_verification() or topo is None or not self._is_same(topo.writer, suspect):
                    return  # someone else is on it, or the writer changed meanwhile
        finally:
            borrowed, self._borrowed = self._borrowed, set()
            for key, conn in conns.items():  # borrowed spares that answered become spares again
                if key in borrowed:
                    self._keep_spare(key, conn)
                else:
                    self._driver.abort(conn)
            await asyncio.gather(
                *(self._close(c) for k, c in conns.items() if k not in borrowed), return_exceptions=True
            )

    async def _check_writer(self, suspect: HostInfo, conns: dict[str, Any]) -> Verdict:
        """Ask every other instance, in parallel, whether it sees another writer; act if one does."""
        self.writer_checks += 1
        topo = self._topology
        others = [h for h in (topo.hosts if topo is not None else ()) if not self._is_same(h, suspect)]
        answers = list(await asyncio.gather(*(self._ask(h, conns) for h in others)))
        asked = {h.url for h in others}
        unknown: dict[str, HostInfo] = {}  # writers named by a topology that we did not ask
        for answer in answers:
            named = answer.named_writer
            if named is not None and named.url not in asked and not self._is_same(named, suspect):
                unknown.setdefault(named.url, named)
        if unknown:
            answers += await asyncio.gather(*(self._ask(h, conns) for h in unknown.values()))
        verdict, writer = judge(suspect, answers)
        if verdict is Verdict.CHANGED and writer is not None:
            self.writer_changes_found += 1
            logger.info(
                "cluster %s: calls stuck on the writer %s; %s answers as the new writer: verifying",
                self.cluster_id,
                suspect.url,
                writer.url,
            )
            self.request_verification(time.monotonic(), suspect)
        else:
            logger.debug("cluster %s: writer check of %s: %s", self.cluster_id, suspect.url, verdict.value)
        return verdict

    async def _ask(self, host: HostInfo, conns: dict[str, Any]) -> CheckAnswer:
        """Whether ``host`` is a reader and whom its topology names the writer, within the I/O timeout.

        Uses the host's spare connection if it has one (once more on a new connection if the spare
        went stale while idle)."""
        key = host.url
        deadline = time.monotonic() + self._io_timeout
        spare = key not in conns and key in self._spares
        if spare:
            conns[key] = self._spares.pop(key)
            self._borrowed.add(key)
        answer = await self._ask_once(host, conns, deadline)
        if answer.is_reader is None and spare and time.monotonic() < deadline:
            answer = await self._ask_once(host, conns, deadline)
        return answer

    async def _ask_once(self, host: HostInfo, conns: dict[str, Any], deadline: float) -> CheckAnswer:
        key = host.url
        conn = conns.get(key)
        try:
            if conn is None:
                limit = max(0.001, deadline - time.monotonic())
                conn = conns[key] = await self._connect(host, limit=limit)
            async with self._watchdog(conn, max(0.001, deadline - time.monotonic())):
                is_reader = await self._is_reader(conn)
                entries = await self._topology_of(conn)
            return CheckAnswer(host, is_reader, _writer(self._mapper.build(entries)))
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            logger.debug("writer check: %s did not answer: %s", host.url, type(exc).__name__)
            dropped = conns.pop(key, None)
            if dropped is not None:
                self._driver.abort(dropped)
                await self._close(dropped)
            return CheckAnswer(host, None)

    # --- queries (counted) -----------------------------------------------------------------------

    async def _is_reader(self, conn: Any) -> bool:
        self.queries_run += 1
        return await self._dialect.query_is_reader(conn, self._driver, self._props)

    async def _topology_of(self, conn: Any) -> list[TopologyEntry]:
        self.queries_run += 1
        return await self._dialect.query_topology(conn, self._driver, self._props)

    # --- connections ------------------------------------------------------------------------------

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

    @staticmethod
    def _is_same(a: HostInfo | None, b: HostInfo | None) -> bool:
        if a is None or b is None:
            return False
        if a.host_id is not None and a.host_id == b.host_id:
            return True
        return bool(a.all_aliases & b.all_aliases)


def _writer(hosts: tuple[HostInfo, ...]) -> HostInfo | None:
    return next((h for h in hosts if h.role is HostRole.WRITER), None)
