"""The topology monitor's writer verification: at the high rate, probe every instance for the writer.

Every known instance is polled in parallel, on its spare or a new connection, with pauses that grow with
the time taken (see :mod:`._schedule`), until one answers "not a reader" (a *verified* writer), which is
published at once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from .._tasks import cancel_and_wait, gather_within
from ..hostinfo import HostInfo, HostRole
from ._model import Topology
from ._probe_state import Probe, ProbeAction
from ._spares import SpareConnections

__all__ = ["WriterVerification"]

logger = logging.getLogger(__name__)


class WriterVerification(SpareConnections):
    """Finds and publishes a verified writer after a failure was reported."""

    async def _verify(self) -> None:
        self.verification_rounds += 1
        started = time.monotonic()
        self._modes.hold_from(started)  # keep known replicas while they re-attach
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
        self._modes.hold_from(time.monotonic())
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
        probe = Probe(conn is not None, started, self._high_rate)
        step = probe.first()
        try:
            while not found.done() and not self.closed:
                busy.add(key)
                try:
                    while step.action is not ProbeAction.PAUSE:  # one poll: its I/O steps in a row
                        if step.action is ProbeAction.CONNECT:
                            conn = conns[key] = await self._connect(host)
                            step = probe.on_connected()
                        elif step.action is ProbeAction.ASK_ROLE:
                            async with self._watchdog(conn):
                                is_reader = await self._is_reader(conn)
                            step = probe.on_role(is_reader, time.monotonic())
                        elif step.action is ProbeAction.READ_TOPOLOGY:
                            async with self._watchdog(conn):
                                entries = await self._topology_of(conn)
                            for other in self._mapper.build(entries):
                                start(other)
                            step = probe.on_topology(time.monotonic())
                        else:  # FOUND
                            if host.host_id is None:
                                host = await self._identify(conn, host)
                            if not found.done():
                                found.set_result((conn, host.with_role(HostRole.WRITER)))
                                conns.pop(key, None)
                                conn = None  # handed over
                            return
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    logger.debug("probe of %s: %s", host.url, type(exc).__name__)
                    if conn is not None:
                        conns.pop(key, None)
                        self._driver.abort(conn)
                        await self._close(conn)
                        conn = None
                    step = probe.on_failure(time.monotonic())
                finally:
                    busy.discard(key)
                if step.action is ProbeAction.PAUSE:
                    await asyncio.wait({found}, timeout=step.pause)  # the next poll, or done
                    step = probe.on_pause_over()
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
