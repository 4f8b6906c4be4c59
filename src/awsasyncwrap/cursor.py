"""The cursor proxy: :class:`AsyncAwsCursor`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Generator, Iterable, Sequence
from functools import partial
from types import TracebackType
from typing import TYPE_CHECKING, Any

from ._listen import MAYBE_LISTEN
from .errors import ConnectionReplacedError

if TYPE_CHECKING:
    from ._pipeline import CursorChains
    from .connection import AsyncAwsConnection
    from .plugin_service import PluginService

__all__ = ["AsyncAwsCursor"]


class _Hot:
    """What ``execute`` and ``fetchone`` read on every call, in a plain slotted object.

    The cursor has ``__getattr__`` (passthrough of driver attributes), so CPython cannot specialise
    attribute reads on it and each ``self._x`` goes through the ``__getattr__`` hook; one read of
    the cursor plus cheap reads here is measurably faster (see ``benchmarks/overhead.py``).
    """

    __slots__ = ("chains", "cursor", "driver_conn", "service")

    def __init__(self, chains: CursorChains, cursor: Any, driver_conn: Any, service: PluginService) -> None:
        self.chains = chains
        self.cursor = cursor
        self.driver_conn = driver_conn
        self.service = service


class AsyncAwsCursor:
    """Stands for one driver cursor; its network-bound calls run through the plugins.

    Usable as ``async with conn.cursor() as cur``, ``cur = conn.cursor()``
    (psycopg style) or ``cur = await conn.cursor()`` (aiomysql style).
    """

    __slots__ = (
        "_chains",
        "_conn",
        "_cursor",
        "_driver_conn",
        "_hot",
        "_manager",
        "_server_side",
        "_service",
    )

    def __init__(self, conn: AsyncAwsConnection, cursor: Any, server_side: bool = False) -> None:
        self._conn = conn
        self._cursor = cursor
        self._service = conn.plugin_service
        self._manager = self._service.manager
        self._driver_conn = self._service.current_connection
        self._server_side = server_side
        self._chains = self._manager.cursor_chains(server_side)
        self._hot = _Hot(self._chains, cursor, self._driver_conn, self._service)

    # --- identity ---------------------------------------------------------------------------

    @property
    def connection(self) -> AsyncAwsConnection:
        """The wrapped connection this cursor belongs to."""
        return self._conn

    @property
    def target_cursor(self) -> Any:
        """The driver's cursor."""
        return self._cursor

    def _check(self) -> None:
        if self._driver_conn is not self._service.current_connection:
            raise ConnectionReplacedError(
                "This cursor belongs to a connection that was replaced (e.g. by failover); "
                "open a new cursor with conn.cursor()."
            )

    def __repr__(self) -> str:
        return f"<AsyncAwsCursor of {self._cursor!r}>"

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cursor, name)

    # --- network-bound ----------------------------------------------------------------------

    def _result(self, result: Any) -> Any:
        return self if result is self._cursor else result

    async def execute(self, query: Any, params: Any = None, **kwargs: Any) -> Any:
        """Run a statement; returns this cursor (psycopg) or the driver's result (aiomysql's row count)."""
        hot = self._hot
        if hot.driver_conn is not hot.service._current_connection:
            self._check()
        cursor = hot.cursor
        chains = hot.chains
        first = chains.execute_first
        if first is None:
            result = await cursor.execute(query, params, **kwargs)
        else:  # the Cursor.execute chain, run here rather than in a frame of its own (hot path)
            func: Callable[[], Awaitable[Any]] = partial(cursor.execute, query, params, **kwargs)
            for execute in chains.execute_inner:
                func = partial(execute, self, "Cursor.execute", func, query, params, **kwargs)
            result = await first(self, "Cursor.execute", func, query, params, **kwargs)
        if query.__class__ is not str or (query and query[0] in MAYBE_LISTEN):  # LISTENs are carried over
            hot.service.carry_over.note_statement(hot.driver_conn, query)
        return self if result is cursor else result

    async def executemany(self, query: Any, params_seq: Iterable[Any], **kwargs: Any) -> Any:
        """Run a statement once per parameter set."""
        self._check()
        result = await self._manager.execute(
            self, "Cursor.executemany", self._cursor.executemany, query, params_seq, **kwargs
        )
        return self._result(result)

    async def callproc(self, procname: str, args: Sequence[Any] = ()) -> Any:
        """Call a stored procedure (aiomysql)."""
        self._check()
        return await self._manager.execute(self, "Cursor.callproc", self._cursor.callproc, procname, args)

    async def nextset(self) -> Any:
        """Move to the next result set."""
        self._check()
        if self._service.driver_dialect.code == "psycopg":
            return self._cursor.nextset()
        return await self._manager.execute(self, "Cursor.nextset", self._cursor.nextset)

    async def scroll(self, value: int, mode: str = "relative") -> Any:
        """Move the result position."""
        self._check()
        chain = self._manager.chain("Cursor.scroll", self._server_side)
        if chain is None:
            return await _maybe_await(self._cursor.scroll(value, mode))
        return await chain(self, "Cursor.scroll", _await_call, (self._cursor.scroll, value, mode), {})

    # --- fetch (local unless the cursor is server-side) -------------------------------------

    async def fetchone(self) -> Any:
        """The next row, or None."""
        hot = self._hot
        if hot.driver_conn is not hot.service._current_connection:
            self._check()
        chain = hot.chains.fetchone
        if chain is None:
            return await hot.cursor.fetchone()
        return await chain(self, "Cursor.fetchone", hot.cursor.fetchone, (), {})

    async def fetchmany(self, size: int | None = None) -> Any:
        """Up to ``size`` rows."""
        self._check()
        args = () if size is None else (size,)
        chain = self._manager.chain("Cursor.fetchmany", self._server_side)
        if chain is None:
            return await self._cursor.fetchmany(*args)
        return await chain(self, "Cursor.fetchmany", self._cursor.fetchmany, args, {})

    async def fetchall(self) -> Any:
        """Every remaining row."""
        self._check()
        chain = self._manager.chain("Cursor.fetchall", self._server_side)
        if chain is None:
            return await self._cursor.fetchall()
        return await chain(self, "Cursor.fetchall", self._cursor.fetchall, (), {})

    def __aiter__(self) -> AsyncAwsCursor:
        return self

    async def __anext__(self) -> Any:
        row = await self.fetchone()
        if row is None:
            raise StopAsyncIteration
        return row

    # --- local state ---------------------------------------------------------------------------

    @property
    def description(self) -> Any:
        """Column descriptions of the current result."""
        return self._cursor.description

    @property
    def rowcount(self) -> int:
        """Rows affected or returned by the last statement."""
        return int(self._cursor.rowcount)

    @property
    def arraysize(self) -> int:
        """Default row count of :meth:`fetchmany`."""
        return int(self._cursor.arraysize)

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._cursor.arraysize = value

    @property
    def closed(self) -> bool:
        """Whether the cursor is closed."""
        return bool(self._cursor.closed)

    async def close(self) -> None:
        """Close the cursor."""
        await _maybe_await(self._cursor.close())

    async def __aenter__(self) -> AsyncAwsCursor:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    def __await__(self) -> Generator[Any, None, AsyncAwsCursor]:
        return _ready(self).__await__()


async def _ready(cursor: AsyncAwsCursor) -> AsyncAwsCursor:
    return cursor


async def _maybe_await(value: Any) -> Any:
    if hasattr(value, "__await__"):
        return await value
    return value


async def _await_call(func: Any, *args: Any) -> Any:
    return await _maybe_await(func(*args))
