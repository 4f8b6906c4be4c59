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
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from types import TracebackType
from typing import Any

import anyio

from .._mysql_connection import AsyncAwsMysqlConnection
from ..connection import AsyncAwsConnection
from ._errors import PoolClosed, PoolTimeout, TooManyRequests
from ._outcome import Outcome, classify
from ._state import CLOSE_TIMEOUT, ConnectionCallback, PoolState, Slot, close_pooled

__all__ = ["AsyncAwsConnectionPool"]

logger = logging.getLogger(__name__)

_names = itertools.count(1)


class AsyncAwsConnectionPool(PoolState):
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
        super().__init__(
            connection_factory,
            name or f"pool-{next(_names)}",
            min_size,
            max_size,
            max_lifetime,
            max_idle,
            configure,
        )
        self.timeout = timeout
        self.max_waiting = max_waiting
        self._check = check
        self._reset = reset

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

    async def aclose(self, timeout: float = CLOSE_TIMEOUT) -> None:  # noqa: ASYNC109 (bounds the close)
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
            await asyncio.gather(*(close_pooled(s.conn, abort=False) for s in idle), return_exceptions=True)
            await self.wait_owned_tasks(None)
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

    async def _wait(self) -> Slot | None:
        if self.max_waiting and self.waiting >= self.max_waiting:
            raise TooManyRequests(f"pool {self.name!r} already has {self.waiting} tasks waiting")
        fut: asyncio.Future[Slot | None] = asyncio.get_running_loop().create_future()
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

    async def _healthy(self, slot: Slot) -> bool:
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

    async def _reset_ok(self, slot: Slot, reset: ConnectionCallback | None) -> bool:
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

    # --- checks --------------------------------------------------------------------------------

    @staticmethod
    async def ping(conn: AsyncAwsConnection) -> None:
        """A ``check`` that makes one round trip (``SELECT 1`` / MySQL ping), through the plugins."""
        if isinstance(conn, AsyncAwsMysqlConnection):  # aiomysql's own round trip
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
