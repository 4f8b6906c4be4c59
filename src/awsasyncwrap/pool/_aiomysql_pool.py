"""aiomysql's pool API on the failover-aware pool: :func:`create_pool` and :class:`AiomysqlPool`.

``aiomysql.Pool`` builds its connections itself, so it cannot hold wrapped ones. This module gives aiomysql
users its call shapes (``await create_pool(minsize=, maxsize=, **connect arguments)``,
``async with pool.acquire() as conn``, ``pool.release(conn)``, ``close()`` + ``wait_closed()``, ``size``,
``freesize``) over :class:`AsyncAwsConnectionPool`, so that switching is a change of import.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Generator
from types import TracebackType
from typing import Any

from .._mysql_connection import AsyncAwsMysqlConnection
from .._opening import Connecting
from .._tasks import TASK_PREFIX, gather_within, spawn
from ..connection import AsyncAwsConnection
from ._errors import PoolClosed
from ._pool import AsyncAwsConnectionPool
from ._state import CLOSE_TIMEOUT

__all__ = ["AiomysqlPool", "create_pool"]

logger = logging.getLogger(__name__)


def create_pool(
    minsize: int = 1,
    maxsize: int = 10,
    echo: bool = False,
    pool_recycle: int = -1,
    loop: Any = None,
    **kwargs: Any,
) -> Connecting[AiomysqlPool]:
    """``aiomysql.create_pool`` for wrapped connections: ``await`` it, or ``async with`` it.

    ``kwargs`` are what ``aiomysql.connect`` takes plus wrapper properties (``plugins`` ...).
    ``pool_recycle`` (seconds, -1: never): a connection older than that is closed instead of being handed
    out. ``loop`` is accepted and ignored, as aiomysql does. ``minsize`` connections are opened first.
    """
    return Connecting(_open(minsize, maxsize, echo, pool_recycle, kwargs))


async def _open(
    minsize: int, maxsize: int, echo: bool, pool_recycle: int, kwargs: dict[str, Any]
) -> AiomysqlPool:
    import aiomysql

    recycle = None if pool_recycle < 0 else float(pool_recycle)
    pool = AsyncAwsConnectionPool(
        aiomysql.connect,
        min_size=minsize,
        max_size=maxsize,
        timeout=math.inf,  # aiomysql's acquire() waits as long as it takes
        max_lifetime=recycle,
        max_idle=None,
        echo=echo,
        **kwargs,
    )
    await pool.open()
    return AiomysqlPool(pool, echo)


class AiomysqlPool:
    """``aiomysql.Pool``'s API over an :class:`AsyncAwsConnectionPool` of wrapped aiomysql connections.

    Differences from aiomysql's, each for the failover-aware pool's reasons (docs/pool.md): a connection
    given back inside a transaction is rolled back and kept (aiomysql closes it); one whose user saw
    ``FailoverFailedError``, a network error or a cancellation is discarded; after :meth:`close`,
    :meth:`acquire` raises :class:`PoolClosed` (also a ``RuntimeError``, as aiomysql's error).
    """

    def __init__(self, pool: AsyncAwsConnectionPool, echo: bool = False) -> None:
        self._pool = pool
        self._echo = echo
        self._acquired: set[AsyncAwsConnection] = set()
        self._tasks: set[asyncio.Task[None]] = set()  # owned: give-backs and the close
        self._all_back = asyncio.Event()
        self._closing = False
        self._closed = False

    @property
    def pool(self) -> AsyncAwsConnectionPool:
        """The failover-aware pool underneath (``get_stats()`` ...)."""
        return self._pool

    @property
    def minsize(self) -> int:
        return self._pool.min_size

    @property
    def maxsize(self) -> int:
        return self._pool.max_size

    @property
    def size(self) -> int:
        """Connections open: free, in use and being opened."""
        return self._pool.size

    @property
    def freesize(self) -> int:
        """Connections ready to be acquired."""
        return self._pool.idle

    @property
    def echo(self) -> bool:
        return self._echo

    @property
    def closed(self) -> bool:
        """Whether :meth:`wait_closed` has finished."""
        return self._closed

    def __repr__(self) -> str:
        return f"<AiomysqlPool over {self._pool!r}>"

    # --- connections ----------------------------------------------------------------------------

    def acquire(self) -> _Acquiring:
        """A connection: ``conn = await pool.acquire()`` (give it back with :meth:`release`), or
        ``async with pool.acquire() as conn``. Waits as long as it takes for one, as aiomysql does."""
        return _Acquiring(self)

    async def _acquire(self) -> AsyncAwsConnection:
        if self._closing:
            raise _Closed(f"pool {self._pool.name!r} is closed: no connection after close()")
        conn = await self._pool.getconn(math.inf)
        self._acquired.add(conn)
        return conn

    def release(self, conn: Any) -> asyncio.Future[None]:
        """Give back ``conn`` (an open transaction is rolled back); awaiting the result waits for that.

        The give-back runs in a task the pool owns: cancelling the caller does not stop it half way.
        """
        return asyncio.shield(self._give_back(conn, None))

    def _give_back(self, conn: Any, exc: BaseException | None) -> asyncio.Task[None]:
        if conn not in self._acquired:
            raise ValueError(f"{conn!r} was not acquired from this pool, or was given back already")
        self._acquired.discard(conn)
        if not self._acquired:
            self._all_back.set()
        return spawn(self._finish(conn, exc), f"{TASK_PREFIX}{self._pool.name}:release", self._tasks)

    async def _finish(self, conn: AsyncAwsConnection, exc: BaseException | None) -> None:
        try:
            await self._pool._finish(conn, exc, commit=False)
        except Exception as err:  # aiomysql's release() raises nothing: the connection is the pool's again
            name = type(err).__name__
            logger.warning("pool %s: giving back a connection failed: %s", self._pool.name, name)

    # --- closing --------------------------------------------------------------------------------

    def close(self) -> None:
        """No more :meth:`acquire`; free connections close now, acquired ones when given back."""
        if self._closing:
            return
        self._closing = True
        spawn(self._pool.aclose(), f"{TASK_PREFIX}{self._pool.name}:close", self._tasks)

    def terminate(self) -> None:
        """:meth:`close`, and close the acquired connections too (without a goodbye to the server)."""
        self.close()
        for conn in list(self._acquired):
            if isinstance(conn, AsyncAwsMysqlConnection):  # aiomysql's plain close(): at once, no goodbye
                conn.close()

    async def wait_closed(self) -> None:
        """After :meth:`close`: wait until every connection was given back and is closed."""
        if not self._closing:
            raise RuntimeError("wait_closed() should be called after close()")
        while self._acquired:
            self._all_back.clear()
            await self._all_back.wait()
        await gather_within(set(self._tasks), None)
        await self._pool.wait_owned_tasks(CLOSE_TIMEOUT)  # closes of connections given back late
        self._closed = True

    async def clear(self) -> None:
        """Close the free connections now."""
        self._pool.discard_idle()
        await self._pool.wait_owned_tasks(CLOSE_TIMEOUT)

    async def __aenter__(self) -> AiomysqlPool:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
        await self.wait_closed()


class _Closed(PoolClosed, RuntimeError):
    """:class:`PoolClosed`, and a ``RuntimeError`` as aiomysql's error for an acquire after ``close()``."""


class _Acquiring:
    """What :meth:`AiomysqlPool.acquire` returns: awaitable, or an ``async with`` block that gives the
    connection back at its end."""

    __slots__ = ("_conn", "_pool")

    def __init__(self, pool: AiomysqlPool) -> None:
        self._pool = pool
        self._conn: AsyncAwsConnection | None = None

    def __await__(self) -> Generator[Any, None, AsyncAwsConnection]:
        return self._pool._acquire().__await__()

    async def __aenter__(self) -> AsyncAwsConnection:
        self._conn = await self._pool._acquire()
        return self._conn

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            await asyncio.shield(self._pool._give_back(conn, exc))
