"""The topology monitor's spare connections: one idle connection to each other instance.

A verification's first poll of an instance then needs no connect (see :mod:`._verification`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from ..hostinfo import HostInfo
from ._monitor_base import MonitorBase

__all__ = ["SpareConnections"]

logger = logging.getLogger(__name__)


class SpareConnections(MonitorBase):
    """Opens, keeps and drops the monitor's spare connections."""

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
