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

__all__ = ["VERIFIED_FRESH", "HostSearch", "role_check_needed"]

logger = logging.getLogger(__name__)

_RNG = random.Random()  # shuffles the available readers of each failover
_FIRST_RETRY_PAUSE = 0.01  # seconds before a failover retries the writer after an attempt failed

#: a writer the monitor verified less than this many seconds ago is taken without asking the new
#: connection its role again (a round trip on the critical path; a demotion within 0.1 s of a
#: promotion is not a failover this wrapper can see anyway, and the next call would fail over again)
VERIFIED_FRESH = 0.1


def role_check_needed(verified_at: float | None, now: float) -> bool:
    """Whether a failover must ask the new writer's connection its role (the verdict is not fresh)."""
    return verified_at is None or not (0.0 <= now - verified_at < VERIFIED_FRESH)


class HostSearch(FailoverBase):
    """Finds the host a failover moves the connection to and opens the connection to it."""

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
        most = WrapperProperties.CLUSTER_TOPOLOGY_HIGH_REFRESH_RATE_MS.seconds(self._props)
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
        pause = WrapperProperties.CLUSTER_TOPOLOGY_HIGH_REFRESH_RATE_MS.seconds(self._props)
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
