"""The failover plugin's search for a new host: the verified writer, or a reader, within the time left.

The writer comes from the cluster's topology monitor (a writer verified after the failure); its
connection is often opened ahead of the verdict (:mod:`._race`). A reader is tried in the order of the
reader host selector strategy. Every candidate connection gets the connection's session state before it
is taken.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from typing import Any

from ..._deadline import abort_after
from ..._session_state import SessionHookError
from ...errors import FailoverFailedError
from ...hostinfo import HostAvailability, HostInfo, HostRole
from ...properties import WrapperProperties
from ...topology import ClusterTopologyMonitor, Topology
from ._base import STRICT_READER, STRICT_WRITER, FailoverBase
from ._order import candidate_order
from ._race import EarlyConnects
from ._reader_search_state import ReaderSearch
from ._steps import AwaitWriter, Connect, Found, Pause
from ._writer_search_state import VERIFIED_FRESH, WriterSearch, role_check_needed

__all__ = ["VERIFIED_FRESH", "HostSearch", "role_check_needed"]

logger = logging.getLogger(__name__)

_RNG = random.Random()  # shuffles the available readers of each failover


class HostSearch(FailoverBase):
    """Finds the host a failover moves the connection to and opens the connection to it.

    The decisions are :class:`WriterSearch`'s and :class:`ReaderSearch`'s; the methods here only carry out
    the steps they return and report what happened.
    """

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
        service = self._service
        most = WrapperProperties.CLUSTER_TOPOLOGY_HIGH_REFRESH_RATE_MS.seconds(self._props)
        search = WriterSearch(since, deadline, self._timeout, most, service.permits, service.allowed_hosts)
        monitor.request_verification(since, failed_host)
        early = self._connect_early(monitor, failed_host)  # the new writer's connection, ready sooner
        conn: Any = None
        try:
            step = search.next_round(time.monotonic(), self._stop_reason, monitor.closed)
            while True:
                if isinstance(step, AwaitWriter):
                    monitor.request_verification(step.since, failed_host)
                    topo = await monitor.wait_for_writer(step.since, step.within)
                    if topo is not None and topo.writer is not None:
                        self._check_writer(topo.writer, topo)
                    step = search.on_topology(topo, time.monotonic())
                elif isinstance(step, Connect):
                    conn = await self._try_connect(step.host, deadline, want=step.want, early=early)
                    step = search.on_connected(conn is not None, time.monotonic())
                elif isinstance(step, Pause):
                    await asyncio.sleep(step.seconds)
                    step = search.next_round(time.monotonic(), self._stop_reason, monitor.closed)
                elif isinstance(step, Found):
                    return conn, step.host
                else:
                    raise FailoverFailedError(step.reason)
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
        pause = WrapperProperties.CLUSTER_TOPOLOGY_HIGH_REFRESH_RATE_MS.seconds(self._props)
        search = ReaderSearch(deadline, self._timeout, strict, pause)
        monitor.request_verification(since, failed_host)
        conn: Any = None
        step = search.next_round(
            self._round_candidates(monitor, failed_host, strict), time.monotonic(), self._stop_reason
        )
        while True:
            if isinstance(step, Connect):
                conn = await self._try_connect(step.host, deadline, want=step.want)
                step = search.on_connected(conn is not None, time.monotonic(), self._stop_reason)
            elif isinstance(step, Pause):
                await asyncio.sleep(step.seconds)
                candidates = self._round_candidates(monitor, failed_host, strict)
                step = search.next_round(candidates, time.monotonic(), self._stop_reason)
            elif isinstance(step, Found):
                return conn, step.host
            else:
                raise FailoverFailedError(step.reason)

    def _round_candidates(
        self, monitor: ClusterTopologyMonitor, failed_host: HostInfo | None, strict: bool
    ) -> list[HostInfo] | None:
        """The hosts of a reader search's next round (None: the monitor was stopped)."""
        if monitor.closed:
            return None
        return self._reader_candidates(monitor.topology, failed_host, strict)

    def _reader_candidates(
        self, topo: Topology | None, failed_host: HostInfo | None, strict: bool
    ) -> list[HostInfo]:
        if topo is None:
            return []
        service = self._service
        strategy = self._strategy

        def first(up: list[HostInfo]) -> HostInfo | None:  # the strategy's pick, if a plugin offers it
            if not service.accepts_strategy(HostRole.READER, strategy):
                return None
            return service.get_host_info_by_strategy(HostRole.READER, strategy, up)

        ordered = candidate_order(
            topo.readers,
            failed_host.all_aliases if failed_host is not None else frozenset(),
            None if strict else topo.writer,
            rng=_RNG,
            first=None if strategy == "random" else first,
        )
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
