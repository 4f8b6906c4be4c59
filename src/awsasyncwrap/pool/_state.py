"""The bookkeeping of :class:`~awsasyncwrap.pool.AsyncAwsConnectionPool`: slots, waiters, counters.

Everything here runs without awaiting the database except opening a connection (``_open_slot``) and
closing a discarded one in an owned task; the checkout and return logic on top of it is in ``_pool.py``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import anyio

from .._mysql_connection import AsyncAwsMysqlConnection
from .._tasks import TASK_PREFIX, gather_within, spawn
from ..connection import AsyncAwsConnection
from ._errors import PoolClosed

__all__ = ["CLOSE_TIMEOUT", "ConnectionCallback", "PoolState", "Slot", "close_pooled"]

logger = logging.getLogger(__name__)

ConnectionCallback = Callable[[AsyncAwsConnection], Awaitable[None]]
CLOSE_TIMEOUT = 5.0


class Slot:
    """A pooled connection and its timestamps."""

    __slots__ = ("conn", "created", "idle_since")

    def __init__(self, conn: AsyncAwsConnection) -> None:
        self.conn = conn
        self.created = self.idle_since = time.monotonic()


class PoolState:
    """Which connections a pool has, in which state, and who waits for one."""

    def __init__(
        self,
        factory: Callable[[], Awaitable[AsyncAwsConnection]],
        name: str,
        min_size: int,
        max_size: int,
        max_lifetime: float | None,
        max_idle: float | None,
        configure: ConnectionCallback | None,
    ) -> None:
        self._factory = factory
        self.name = name
        self.min_size = min_size
        self.max_size = max_size
        self.max_lifetime = max_lifetime
        self.max_idle = max_idle
        self._configure = configure
        self._idle: list[Slot] = []  # a stack: the most recently returned on top
        self._used: dict[AsyncAwsConnection, Slot] = {}
        self._opening = 0
        self._closing = 0  # discarded connections whose close is still running (they count against max_size)
        self._handing = 0  # connections handed to a waiting task that has not taken them yet
        self._waiters: deque[asyncio.Future[Slot | None]] = deque()
        self._tasks: set[asyncio.Task[None]] = set()
        self._opened = False
        self._closed = False
        self._stats = dict.fromkeys(
            ("requests", "waits", "timeouts", "connects", "discarded", "failovers"), 0
        )

    @property
    def closed(self) -> bool:
        """Whether :meth:`aclose` was called."""
        return self._closed

    @property
    def size(self) -> int:
        """Connections open or being opened (idle + in use + opening + handed to a waiting task)."""
        return len(self._idle) + len(self._used) + self._opening + self._handing

    @property
    def closing(self) -> int:
        """Discarded connections still being closed (they count against ``max_size`` until closed)."""
        return self._closing

    @property
    def idle(self) -> int:
        """Connections ready in the pool."""
        return len(self._idle)

    @property
    def in_use(self) -> int:
        """Connections checked out."""
        return len(self._used)

    @property
    def waiting(self) -> int:
        """Tasks waiting for a connection."""
        return sum(1 for f in self._waiters if not f.done())

    def get_stats(self) -> dict[str, int]:
        """Counters since the pool was created, plus the current sizes."""
        return {
            **self._stats,
            "size": self.size,
            "idle": self.idle,
            "in_use": self.in_use,
            "waiting": self.waiting,
        }

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open" if self._opened else "new"
        return (
            f"<AsyncAwsConnectionPool {self.name!r} {state} size={self.size} idle={self.idle} "
            f"in_use={self.in_use} max={self.max_size}>"
        )

    async def _add_idle(self) -> None:
        if not self._has_room():  # tasks that needed a connection opened it meanwhile
            return
        slot = await self._open_slot()
        self._hand_over(slot)

    def _has_room(self) -> bool:
        """Whether one more connection may be opened: open, opening and closing ones stay within max_size."""
        return self.size + self._closing < self.max_size

    def _take_idle(self) -> Slot | None:
        now = time.monotonic()
        while self._idle:
            slot = self._idle.pop()
            if self._expired(slot, now) or slot.conn.closed:
                self._discard(slot, abort=False)
                continue
            self._retire_idle(now)
            return slot
        return None

    def _retire_idle(self, now: float) -> None:
        """Close connections idle longer than ``max_idle`` while the pool is above ``min_size``."""
        if self.max_idle is None:
            return
        while self._idle and self.size > self.min_size and now - self._idle[0].idle_since > self.max_idle:
            self._discard(self._idle.pop(0), abort=False, refill=False)

    def _expired(self, slot: Slot, now: float) -> bool:
        return self.max_lifetime is not None and now - slot.created > self.max_lifetime

    async def _open_slot(self) -> Slot:
        self._opening += 1
        try:
            conn = await self._factory()
            try:
                if self._configure is not None:
                    await self._configure(conn)
            except BaseException:
                await close_pooled(conn, abort=True)
                raise
        except BaseException:
            self._opening -= 1
            self._wake_for_room()
            raise
        self._opening -= 1
        self._stats["connects"] += 1
        return Slot(conn)

    def _return(self, slot: Slot) -> None:
        if self._closed or slot.conn.closed or self._expired(slot, time.monotonic()):
            self._discard(slot, abort=False)
            return
        self._hand_over(slot)

    def _hand_over(self, slot: Slot) -> None:
        """Give ``slot`` to the first waiting task, or put it on the idle stack."""
        if self._closed:
            self._discard(slot, abort=False, refill=False)
            return
        while self._waiters:
            fut = self._waiters.popleft()
            if not fut.done():
                self._handing += 1  # counted until the waiting task takes it
                fut.set_result(slot)
                return
        slot.idle_since = time.monotonic()
        self._idle.append(slot)

    def _wake_for_room(self) -> None:
        """A place freed up: let the first waiting task open a connection."""
        while self._waiters:
            fut = self._waiters.popleft()
            if not fut.done():
                fut.set_result(None)
                return

    def _discard(self, slot: Slot, *, abort: bool, refill: bool = True) -> None:
        """Forget ``slot`` and close its connection in an owned task (its place frees up once closed)."""
        self._stats["discarded"] += 1
        self._closing += 1
        self._spawn(self._close_discarded(slot.conn, abort, refill), "close")

    async def _close_discarded(self, conn: AsyncAwsConnection, abort: bool, refill: bool) -> None:
        try:
            await close_pooled(conn, abort=abort)
        finally:
            self._closing -= 1
            self._wake_for_room()
            if refill and not self._closed and self.size < self.min_size and not self._waiters:
                self._spawn(self._refill(), "refill")

    async def _refill(self) -> None:
        try:
            if self.size < self.min_size:
                await self._add_idle()
        except Exception as exc:
            logger.warning("pool %s: refill failed: %s", self.name, type(exc).__name__)

    def discard_idle(self) -> None:
        """Close every idle connection now (in owned tasks), without refilling to ``min_size``."""
        idle, self._idle = self._idle, []
        for slot in idle:
            self._discard(slot, abort=False, refill=False)

    async def wait_owned_tasks(self, within: float | None) -> None:
        """Wait up to ``within`` seconds (None: no limit) for the pool's short tasks (closes, refills)."""
        await gather_within(list(self._tasks), within)

    def _spawn(self, coro: Coroutine[Any, Any, None], what: str) -> None:
        spawn(coro, f"{TASK_PREFIX}{self.name}:{what}", self._tasks)

    def _check_open(self) -> None:
        if self._closed:
            raise PoolClosed(f"pool {self.name!r} is closed")


async def close_pooled(conn: AsyncAwsConnection, *, abort: bool) -> None:
    """Close a connection the pool gives up; a possibly dead one is aborted first (no waiting on it)."""
    try:
        if abort and not conn.closed:
            conn.plugin_service.driver_dialect.abort(conn.target_connection)
        with anyio.move_on_after(CLOSE_TIMEOUT, shield=True):
            if isinstance(conn, AsyncAwsMysqlConnection):  # aiomysql's close() says no goodbye
                await conn.ensure_closed()
            else:
                await conn.close()
    except Exception as exc:
        logger.debug("closing a pooled connection failed: %s", type(exc).__name__)
