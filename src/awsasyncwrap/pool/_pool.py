"""An asyncio pool of wrapped connections: :class:`AsyncAwsConnectionPool`.

No background workers: connections are opened by the task that needs one
(or by :meth:`AsyncAwsConnectionPool.open` for ``min_size``), expired ones are
closed when they are next looked at. The only tasks the pool starts are
short-lived "closers" that finish closing a connection whose user was
cancelled, and "refills" back to ``min_size`` after a connection was
discarded; the pool owns both and :meth:`AsyncAwsConnectionPool.aclose`
awaits them.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import asynccontextmanager, suppress
from types import TracebackType
from typing import Any

import anyio

from .._tasks import TASK_PREFIX, gather_within, spawn
from ..connection import AsyncAwsConnection, AsyncAwsMysqlConnection
from ._errors import PoolClosed, PoolTimeout, TooManyRequests
from ._outcome import Outcome, classify

__all__ = ["AsyncAwsConnectionPool"]

logger = logging.getLogger(__name__)

ConnectionCallback = Callable[[AsyncAwsConnection], Awaitable[None]]
_CLOSE_TIMEOUT = 5.0
_names = itertools.count(1)


class _Slot:
    """A pooled connection and its timestamps."""

    __slots__ = ("conn", "created", "idle_since")

    def __init__(self, conn: AsyncAwsConnection) -> None:
        self.conn = conn
        self.created = self.idle_since = time.monotonic()


class AsyncAwsConnectionPool:
    """A pool of :class:`~awsasyncwrap.AsyncAwsConnection` (psycopg or aiomysql), failover-aware.

    ``target_connect_func``, ``conninfo`` and ``kwargs`` are what
    :meth:`AsyncAwsConnection.connect` takes (wrapper properties included);
    or pass ``connection_factory``, a coroutine function returning a new
    wrapped connection.

    A connection whose user saw ``FailoverSuccessError`` (or
    ``TransactionResolutionUnknownError``) already works again on the new host
    and goes back to the pool; one that is closed, hit a network error, saw
    ``FailoverFailedError`` or whose user was cancelled is discarded.

    ``check`` (e.g. :meth:`ping`) runs on every checkout; without it the
    checkout test is the closed flag only (no I/O). ``configure`` runs once on
    every new connection; ``reset`` on every connection given back in a
    reusable state, after its transaction ended (e.g. to undo
    ``set_read_only(True)``); a connection whose ``reset`` raises is
    discarded. ``max_lifetime`` / ``max_idle`` (seconds, None: never) retire
    old connections when they are next returned or looked at.
    """

    def __init__(
        self,
        target_connect_func: Callable[..., Awaitable[Any]] | None = None,
        conninfo: str = "",
        *,
        connection_factory: Callable[[], Awaitable[AsyncAwsConnection]] | None = None,
        min_size: int = 0,
        max_size: int = 10,
        timeout: float = 30.0,
        check: ConnectionCallback | None = None,
        configure: ConnectionCallback | None = None,
        reset: ConnectionCallback | None = None,
        max_lifetime: float | None = 3600.0,
        max_idle: float | None = 600.0,
        max_waiting: int = 0,
        name: str | None = None,
        **kwargs: Any,
    ) -> None:
        if (target_connect_func is None) == (connection_factory is None):
            raise TypeError("pass exactly one of target_connect_func and connection_factory")
        if max_size < 1 or min_size < 0 or min_size > max_size:
            raise ValueError(f"need 0 <= min_size <= max_size and max_size >= 1, got {min_size}, {max_size}")
        if connection_factory is None:
            func = target_connect_func
            assert func is not None

            async def factory() -> AsyncAwsConnection:
                return AsyncAwsConnection.of(await AsyncAwsConnection.connect(func, conninfo, **kwargs))

            connection_factory = factory
        self._factory = connection_factory
        self.name = name or f"pool-{next(_names)}"
        self.min_size = min_size
        self.max_size = max_size
        self.timeout = timeout
        self.max_lifetime = max_lifetime
        self.max_idle = max_idle
        self.max_waiting = max_waiting
        self._check = check
        self._configure = configure
        self._reset = reset
        self._idle: list[_Slot] = []  # a stack: the most recently returned on top
        self._used: dict[AsyncAwsConnection, _Slot] = {}
        self._opening = 0
        self._closing = 0  # discarded connections whose close is still running (they count against max_size)
        self._handing = 0  # connections handed to a waiting task that has not taken them yet
        self._waiters: deque[asyncio.Future[_Slot | None]] = deque()
        self._tasks: set[asyncio.Task[None]] = set()
        self._opened = False
        self._closed = False
        self._stats = dict.fromkeys(
            ("requests", "waits", "timeouts", "connects", "discarded", "failovers"), 0
        )

    # --- state ------------------------------------------------------------------------------

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

    # --- lifecycle ----------------------------------------------------------------------------

    async def open(self) -> None:
        """Open ``min_size`` connections (concurrently); errors propagate and leave the pool closed."""
        if self._closed:
            raise PoolClosed(f"pool {self.name!r} is closed")
        if self._opened:
            return
        self._opened = True
        try:
            async with anyio.create_task_group() as tg:
                for _ in range(self.min_size - self.size):
                    tg.start_soon(self._add_idle)
        except BaseException:
            await self.aclose()
            raise
        logger.debug("pool %s open with %d connections", self.name, self.size)

    async def _add_idle(self) -> None:
        if not self._has_room():  # tasks that needed a connection opened it meanwhile
            return
        slot = await self._open_slot()
        self._hand_over(slot)

    def _has_room(self) -> bool:
        """Whether one more connection may be opened: open, opening and closing ones stay within max_size."""
        return self.size + self._closing < self.max_size

    async def aclose(self, timeout: float = _CLOSE_TIMEOUT) -> None:  # noqa: ASYNC109 (bounds the close)
        """Close every idle connection now and every checked-out one when it is returned.

        Waiting tasks get :class:`PoolClosed`. Owned closer/refill tasks are
        awaited (bounded by ``timeout``).
        """
        if self._closed:
            return
        self._closed = True
        while self._waiters:
            fut = self._waiters.popleft()
            if not fut.done():
                fut.set_exception(PoolClosed(f"pool {self.name!r} closed"))
        idle, self._idle = self._idle, []
        with anyio.move_on_after(timeout, shield=True):
            await asyncio.gather(*(_close(s.conn, abort=False) for s in idle), return_exceptions=True)
            await gather_within(list(self._tasks), None)
        for task in list(self._tasks):
            task.cancel()
        logger.debug("pool %s closed", self.name)

    async def __aenter__(self) -> AsyncAwsConnectionPool:
        await self.open()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    # --- checkout -----------------------------------------------------------------------------

    @asynccontextmanager
    async def connection(
        self,
        timeout: float | None = None,  # noqa: ASYNC109 (psycopg_pool's signature)
    ) -> AsyncIterator[AsyncAwsConnection]:
        """Borrow a connection for the block.

        On leaving the block an open transaction is committed, or rolled back
        when the block raised (as ``async with psycopg_connection`` does); then
        the connection goes back to the pool or, if it cannot be reused, is
        discarded. Commit errors propagate.
        """
        conn = await self.getconn(timeout)
        try:
            yield conn
        except BaseException as exc:
            await self._finish(conn, exc)
            raise
        await self._finish(conn, None)

    async def getconn(self, timeout: float | None = None) -> AsyncAwsConnection:  # noqa: ASYNC109
        """Take a connection; give it back with :meth:`putconn`. Raises :class:`PoolTimeout`."""
        if not self._opened:
            await self.open()
        self._check_open()
        self._stats["requests"] += 1
        if self._check is None and (slot := self._take_idle()) is not None:
            # fast path: a ready connection and no I/O to bound
            if not slot.conn.closed:
                self._used[slot.conn] = slot
                return slot.conn
            self._discard(slot, abort=False)
        limit = self.timeout if timeout is None else timeout
        with anyio.move_on_after(limit):
            return await self._acquire()
        self._stats["timeouts"] += 1
        raise PoolTimeout(f"no connection from pool {self.name!r} within {limit:g} s ({self!r})")

    async def putconn(self, conn: AsyncAwsConnection) -> None:
        """Give back a connection from :meth:`getconn`; an open transaction is rolled back."""
        await self._finish(conn, None, commit=False)

    async def _acquire(self) -> AsyncAwsConnection:
        while True:
            self._check_open()
            slot = self._take_idle()
            if slot is None:
                if self._has_room():
                    slot = await self._open_slot()
                else:
                    slot = await self._wait()
                    if slot is None:  # room was freed: go round and open a connection
                        continue
            self._used[slot.conn] = slot
            if await self._healthy(slot):
                return slot.conn
            self._used.pop(slot.conn, None)
            self._discard(slot, abort=True)

    def _take_idle(self) -> _Slot | None:
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

    def _expired(self, slot: _Slot, now: float) -> bool:
        return self.max_lifetime is not None and now - slot.created > self.max_lifetime

    async def _wait(self) -> _Slot | None:
        if self.max_waiting and self.waiting >= self.max_waiting:
            raise TooManyRequests(f"pool {self.name!r} already has {self.waiting} tasks waiting")
        fut: asyncio.Future[_Slot | None] = asyncio.get_running_loop().create_future()
        self._waiters.append(fut)
        self._stats["waits"] += 1
        try:
            slot = await fut
        except BaseException:
            if fut.done() and not fut.cancelled() and fut.exception() is None:
                # handed a connection (or room) just as we gave up: pass it on
                handed = fut.result()
                if handed is None:
                    self._wake_for_room()
                else:
                    self._handing -= 1
                    self._hand_over(handed)
            else:
                fut.cancel()
                with suppress(ValueError):
                    self._waiters.remove(fut)
            raise
        if slot is not None:
            self._handing -= 1
        return slot

    async def _open_slot(self) -> _Slot:
        self._opening += 1
        try:
            conn = await self._factory()
            try:
                if self._configure is not None:
                    await self._configure(conn)
            except BaseException:
                await _close(conn, abort=True)
                raise
        except BaseException:
            self._opening -= 1
            self._wake_for_room()
            raise
        self._opening -= 1
        self._stats["connects"] += 1
        return _Slot(conn)

    async def _healthy(self, slot: _Slot) -> bool:
        if slot.conn.closed:
            return False
        if self._check is None:
            return True
        try:
            await self._check(slot.conn)
        except Exception as exc:
            if classify(exc, slot.conn) is Outcome.KEEP and not slot.conn.closed:
                logger.info(
                    "pool %s: connection check raised %s; connection kept", self.name, type(exc).__name__
                )
                return True
            logger.info("pool %s: connection failed its check: %s", self.name, type(exc).__name__)
            return False
        except BaseException:
            self._used.pop(slot.conn, None)
            self._discard(slot, abort=True)
            raise
        return True

    # --- return -------------------------------------------------------------------------------

    async def _finish(self, conn: AsyncAwsConnection, exc: BaseException | None, commit: bool = True) -> None:
        slot = self._used.get(conn)
        if slot is None:
            raise ValueError(f"{conn!r} is not checked out of pool {self.name!r}")
        outcome = classify(exc, conn)
        if exc is not None and outcome is Outcome.KEEP and _is_failover_error(exc):
            self._stats["failovers"] += 1
        if outcome is Outcome.DISCARD:
            self._used.pop(conn, None)
            self._discard(slot, abort=True)
            return
        try:
            if conn.get_transaction_status():
                if exc is None and commit:
                    await conn.commit()
                else:
                    await conn.rollback()
        except BaseException as err:
            # a commit error is the caller's to see; whether the connection survives is ours to judge
            keep = classify(err, conn) is Outcome.KEEP and not conn.get_transaction_status()
            self._used.pop(conn, None)
            if keep:
                self._return(slot)
            else:
                self._discard(slot, abort=True)
            if exc is None or not isinstance(err, Exception):
                raise
            logger.warning("pool %s: rollback failed: %s", self.name, type(err).__name__)
            return
        # reset_session_state_on_close: the settings the user changed go back to what they were
        if conn.plugin_service.session_state.pristine and not await self._reset_ok(slot, None):
            return
        if self._reset is not None and not await self._reset_ok(slot, self._reset):
            return
        self._used.pop(conn, None)
        self._return(slot)

    async def _reset_ok(self, slot: _Slot, reset: ConnectionCallback | None) -> bool:
        """Run ``reset`` (None: the connection's own :meth:`~AsyncAwsConnection.reset_session_state`) on
        a connection being returned; discard it if that fails."""
        try:
            if reset is None:
                await slot.conn.reset_session_state()
            else:
                await reset(slot.conn)
        except BaseException as exc:
            self._used.pop(slot.conn, None)
            self._discard(slot, abort=True)
            if not isinstance(exc, Exception):
                raise
            logger.warning("pool %s: reset failed: %s; connection discarded", self.name, type(exc).__name__)
            return False
        return True

    def _return(self, slot: _Slot) -> None:
        if self._closed or slot.conn.closed or self._expired(slot, time.monotonic()):
            self._discard(slot, abort=False)
            return
        self._hand_over(slot)

    def _hand_over(self, slot: _Slot) -> None:
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

    def _discard(self, slot: _Slot, *, abort: bool, refill: bool = True) -> None:
        """Forget ``slot`` and close its connection in an owned task (its place frees up once closed)."""
        self._stats["discarded"] += 1
        self._closing += 1
        self._spawn(self._close_discarded(slot.conn, abort, refill), "close")

    async def _close_discarded(self, conn: AsyncAwsConnection, abort: bool, refill: bool) -> None:
        try:
            await _close(conn, abort=abort)
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

    def _spawn(self, coro: Coroutine[Any, Any, None], what: str) -> None:
        spawn(coro, f"{TASK_PREFIX}{self.name}:{what}", self._tasks)

    def _check_open(self) -> None:
        if self._closed:
            raise PoolClosed(f"pool {self.name!r} is closed")

    # --- checks --------------------------------------------------------------------------------

    @staticmethod
    async def ping(conn: AsyncAwsConnection) -> None:
        """A ``check`` that makes one round trip (``SELECT 1`` / MySQL ping), through the plugins."""
        if conn.plugin_service.driver_dialect.code == "aiomysql":
            await conn.ping(False)
            return
        in_tx = conn.get_transaction_status()
        cur = await conn.execute("SELECT 1")
        await cur.close()
        if not in_tx and conn.get_transaction_status():
            await conn.rollback()


def _is_failover_error(exc: BaseException) -> bool:
    from ._outcome import failover_error_classes

    usable, _ = failover_error_classes()
    return bool(usable) and isinstance(exc, usable)


async def _close(conn: AsyncAwsConnection, *, abort: bool) -> None:
    """Close a connection the pool gives up; a possibly dead one is aborted first (no waiting on it)."""
    try:
        if abort and not conn.closed:
            conn.plugin_service.driver_dialect.abort(conn.target_connection)
        with anyio.move_on_after(_CLOSE_TIMEOUT, shield=True):
            if isinstance(conn, AsyncAwsMysqlConnection):  # aiomysql's close() says no goodbye
                await conn.ensure_closed()
            else:
                await conn.close()
    except Exception as exc:
        logger.debug("closing a pooled connection failed: %s", type(exc).__name__)
