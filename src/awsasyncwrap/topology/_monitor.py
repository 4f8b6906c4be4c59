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

One module per engine, each a class on top of the one before: :mod:`._monitor_base` (settings, state,
the monitor's connections and queries), :mod:`._spares` (spare connections), :mod:`._verification`
(probing for a verified writer), :mod:`._stuck_writer` (writer checks), and this one (the public API, the
loop and the normal refresh).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from .._deadline import wait_set
from .._tasks import gather_within
from ..errors import ConfigurationError
from ..hostinfo import HostInfo
from ._model import Topology
from ._monitor_base import Connector, WriterListener
from ._monitor_state import writer_verified_since
from ._stuck_writer import StuckWriterChecks

__all__ = ["ClusterTopologyMonitor", "Connector", "WriterListener"]

logger = logging.getLogger(__name__)

#: How long closing waits for a task inside a query to end by itself on its aborted socket.
_QUERY_STOP_GRACE = 1.0


class ClusterTopologyMonitor(StuckWriterChecks):
    """Watches one cluster's topology from its own connection; finds the new writer after a failure."""

    # --- public ---------------------------------------------------------------------------------------------

    @property
    def topology(self) -> Topology | None:
        """The latest topology."""
        return self._topology

    @property
    def monitoring_host(self) -> HostInfo | None:
        """The host of the monitoring connection."""
        return self._conn_host

    @property
    def high_rate(self) -> bool:
        """Whether the monitor is in its high refresh rate."""
        return self._modes.high_rate(time.monotonic(), self._verified_at())

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

    async def wait_for_writer(self, since: float, within: float) -> Topology | None:
        """A topology whose writer was verified at or after ``since``; None after ``within`` seconds."""
        deadline = time.monotonic() + within
        while True:
            topo = self._topology
            if writer_verified_since(topo, since) is not None:
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

    async def on_close(self) -> None:
        conns, self._open = list(self._open), set()
        self._conn = None
        self._spares.clear()
        await asyncio.gather(*(self._close(c) for c in conns), return_exceptions=True)
        self._wake_waiters()

    def __repr__(self) -> str:
        return f"<ClusterTopologyMonitor {self.cluster_id} on {self._conn_host!r} high_rate={self.high_rate}>"

    # --- loop -----------------------------------------------------------------------------------------------

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
                self._modes.round_failed(time.monotonic(), self._verified_at())  # look for the writer
            pause = self._modes.pause_after_round(time.monotonic(), self._verified_at())
            if pause is None:
                await asyncio.sleep(0)  # a verification is due (a new request arrived meanwhile): go on
                continue
            await self._sleep(pause)

    async def _sleep(self, seconds: float) -> None:
        self._wake.clear()
        await wait_set(self._wake, seconds)

    async def _wait_changed(self, within: float) -> None:
        await wait_set(self._changed, within)

    # --- normal refresh -------------------------------------------------------------------------------------

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

    def _preferred_host(self) -> HostInfo:
        topo = self._topology
        if topo is not None and topo.writer is not None:
            return topo.writer
        return self._initial_host
