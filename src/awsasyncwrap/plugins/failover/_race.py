"""Connections a writer failover opens ahead of the verdict, so the new writer's is ready when it is named.

While the topology monitor looks for the new writer, the failing connection already connects to every
other instance of the last topology (in parallel, each bounded by ``failover_connect_timeout_sec``).
When the monitor names the writer, the connection to it is usually open: the failover only checks its
role and re-applies the session state, instead of starting a connect then. The others are closed.

To keep a failover of many connections at once from doubling the connection storm on the readers, at
most :data:`MAX_RACING` failovers per cluster connect ahead; the others connect after the verdict, as
before.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from typing import Any

from ..._tasks import TASK_PREFIX, cancel_and_wait, gather_within, spawn
from ...hostinfo import HostInfo

__all__ = ["MAX_RACING", "EarlyConnects"]

logger = logging.getLogger(__name__)

#: failovers per cluster (topology monitor) that connect ahead at the same time
MAX_RACING = 4

_racing: weakref.WeakKeyDictionary[object, int] = weakref.WeakKeyDictionary()


class EarlyConnects:
    """Connects to ``hosts`` in the background; hands out the one asked for, disposes of the rest.

    ``connect(host, timeout)`` must bound itself in its own task (``PluginService.connect_within``): a
    connection it opened is then either its result or closed, whenever the task is cancelled.

    Owned by one failover: :meth:`aclose` (always awaited, in ``finally``) cancels what is still
    connecting and disposes of every connection not taken.
    """

    def __init__(
        self,
        cluster: object,
        hosts: Iterable[HostInfo],
        connect: Callable[[HostInfo, float], Coroutine[Any, Any, Any]],
        dispose: Callable[[Any], Awaitable[None]],
        timeout: float,
    ) -> None:
        self._cluster = cluster
        self._dispose = dispose
        self._tasks: dict[str, asyncio.Task[Any]] = {}
        racing = _racing.get(cluster, 0)
        self.active = racing < MAX_RACING
        if not self.active:
            return
        _racing[cluster] = racing + 1
        for host in hosts:
            if host.url not in self._tasks:
                name = f"{TASK_PREFIX}failover-connect:{host.url}"
                self._tasks[host.url] = spawn(connect(host, timeout), name)

    async def take(self, host: HostInfo, within: float) -> Any:
        """The connection opened to ``host`` (waiting up to ``within`` s for it), or None."""
        task = self._tasks.pop(host.url, None)
        if task is None:
            return None
        if await gather_within([task], within):  # its own error is read below, not raised here
            self._tasks[host.url] = task  # aclose() disposes of it once it connects
            return None
        if task.cancelled() or task.exception() is not None:
            if not task.cancelled():
                logger.debug("early connect to %s failed: %s", host.url, type(task.exception()).__name__)
            return None
        logger.debug("failover uses the connection opened early to %s", host.url)
        return task.result()

    async def aclose(self) -> None:
        """Cancel the connects in progress; dispose of every connection nobody took."""
        if not self.active:
            return
        self.active = False
        count = _racing.get(self._cluster, 1) - 1
        if count > 0:
            _racing[self._cluster] = count
        else:
            _racing.pop(self._cluster, None)
        tasks, self._tasks = list(self._tasks.values()), {}
        if tasks:  # shielded: a cancelled failover still disposes of what it opened
            await asyncio.shield(self._finish(tasks))

    async def _finish(self, tasks: list[asyncio.Task[Any]]) -> None:
        await cancel_and_wait(tasks, None)
        for task in tasks:
            if not task.cancelled() and task.exception() is None and task.result() is not None:
                await self._dispose(task.result())
