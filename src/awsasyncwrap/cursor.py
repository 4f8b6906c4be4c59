"""The cursor proxies: :class:`AsyncAwsCursor` (psycopg's shapes) and :class:`AsyncAwsMysqlCursor`."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Iterable, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any

from ._listen import MAYBE_LISTEN
from ._scoped import PipedContext, piped_iter
from .errors import ConnectionReplacedError

if TYPE_CHECKING:
    from ._chains import CursorChains
    from ._pipeline import PluginManager
    from .connection import AsyncAwsConnection
    from .plugin_service import PluginService

__all__ = ["AsyncAwsCursor", "AsyncAwsMysqlCursor"]


class _Hot:
    """What the cursor reads on every call, in a plain slotted object.

    The cursor has ``__getattr__`` (passthrough of driver attributes), so CPython cannot specialise
    attribute reads on it and each ``self._x`` goes through the ``__getattr__`` hook; one read of
    the cursor plus cheap reads here is measurably faster (see ``benchmarks/overhead.py``).
    """

    __slots__ = ("chains", "cursor", "driver_conn", "manager", "network", "service")

    def __init__(self, cursor: Any, service: PluginService, server_side: bool) -> None:
        self.cursor = cursor
        self.service = service
        self.manager: PluginManager = service.manager
        self.driver_conn = service.current_connection
        #: server-side: every call is network-bound; else the driver's table decides (None)
        self.network: bool | None = True if server_side else None
        self.chains: CursorChains = self.manager.cursor_chains(server_side)


class AsyncAwsCursor:
    """Stands for one driver cursor; its network-bound calls run through the plugins.

    Usable as ``async with conn.cursor() as cur``, ``cur = conn.cursor()``
    (psycopg style) or ``cur = await conn.cursor()`` (aiomysql style).
    """

    __slots__ = ("_conn", "_cursor", "_hot")

    def __init__(self, conn: AsyncAwsConnection, cursor: Any, server_side: bool = False) -> None:
        self._conn = conn
        self._cursor = cursor
        self._hot = _Hot(cursor, conn.plugin_service, server_side)

    # --- identity ---------------------------------------------------------------------------

    @property
    def connection(self) -> AsyncAwsConnection:
        """The wrapped connection this cursor belongs to."""
        return self._conn

    @property
    def target_cursor(self) -> Any:
        """The driver's cursor."""
        return self._cursor

    def ensure_current_connection(self) -> None:
        """Raise :class:`ConnectionReplacedError` if the proxy moved to another driver connection."""
        hot = self._hot
        if hot.driver_conn is not hot.service.current_connection:
            raise ConnectionReplacedError(
                "This cursor belongs to a connection that was replaced (e.g. by failover); "
                "open a new cursor with conn.cursor()."
            )

    def __repr__(self) -> str:
        return f"<{type(self).__name__} of {self._cursor!r}>"

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cursor, name)

    # --- the seam -------------------------------------------------------------------------------

    def _pipe(
        self, name: str, call: Callable[..., Awaitable[Any]], *args: Any, **kwargs: Any
    ) -> Awaitable[Any]:
        """Every network-bound call: ``call(*args, **kwargs)`` (a driver cursor method) as method ``name``.

        Server-side cursors' fetches and scrolls are network-bound, client-side ones local (see
        :meth:`PluginManager.chain`). ``execute`` and ``fetchone`` inline this with their chain
        looked up once per connection (:class:`CursorChains`).
        """
        hot = self._hot
        if hot.driver_conn is not hot.service.current_connection:
            self.ensure_current_connection()
        chain = hot.manager.chain(name, hot.network)
        if chain is None:
            return call(*args, **kwargs)
        return chain(self, name, call, *args, **kwargs)

    def _result(self, result: Any) -> Any:
        return self if result is self._cursor else result

    # --- network-bound ----------------------------------------------------------------------

    async def execute(self, query: Any, params: Any = None, **kwargs: Any) -> Any:
        """Run a statement; returns this cursor (psycopg) or the driver's result (aiomysql's row count)."""
        hot = self._hot
        if hot.driver_conn is not hot.service.current_connection:
            self.ensure_current_connection()
        cursor = hot.cursor
        chain = hot.chains.execute  # _pipe, its chain looked up once and specialised (hot path)
        if chain is None:
            result = await cursor.execute(query, params, **kwargs)
        else:
            result = await chain(self, cursor.execute, query, params, kwargs)
        if query.__class__ is not str or (query and query[0] in MAYBE_LISTEN):  # LISTENs are carried over
            hot.service.carry_over.note_statement(hot.driver_conn, query)
        return self if result is cursor else result

    async def executemany(self, query: Any, params_seq: Iterable[Any], **kwargs: Any) -> Any:
        """Run a statement once per parameter set."""
        return self._result(
            await self._pipe("Cursor.executemany", self._cursor.executemany, query, params_seq, **kwargs)
        )

    def nextset(self) -> bool | None:
        """Move to the next result set (psycopg: local, the results are all here)."""
        result: bool | None = self._cursor.nextset()
        return result

    async def scroll(self, value: int, mode: str = "relative") -> None:
        """Move the result position (network-bound on a server-side cursor)."""
        await self._pipe("Cursor.scroll", _maybe_await_call, self._cursor.scroll, value, mode)

    def stream(self, query: Any, params: Any = None, **kwargs: Any) -> AsyncIterator[Any]:
        """Rows one by one as the server sends them (psycopg); every step runs through the plugins.

        The first step (which sends the statement) gets the statement as its arguments; the later
        ones get none.
        """
        return piped_iter(self._pipe, "Cursor.stream", self._cursor.stream, (query, params), kwargs)

    def copy(self, statement: Any, params: Any = None, **kwargs: Any) -> PipedContext:
        """``async with cur.copy(...) as copy``: a COPY whose start and end run through the plugins."""
        return PipedContext(self._pipe, "Cursor.copy", self._cursor.copy, (statement, params), kwargs)

    # --- fetch (local unless the cursor is server-side) -------------------------------------

    async def fetchone(self) -> Any:
        """The next row, or None."""
        hot = self._hot
        if hot.driver_conn is not hot.service.current_connection:
            self.ensure_current_connection()
        chain = hot.chains.fetchone  # _pipe, with the chain looked up once per connection (hot path)
        if chain is None:
            return await hot.cursor.fetchone()
        return await chain(self, "Cursor.fetchone", hot.cursor.fetchone)

    async def fetchmany(self, size: int | None = None) -> Any:
        """Up to ``size`` rows."""
        args = () if size is None else (size,)
        return await self._pipe("Cursor.fetchmany", self._cursor.fetchmany, *args)

    async def fetchall(self) -> Any:
        """Every remaining row."""
        return await self._pipe("Cursor.fetchall", self._cursor.fetchall)

    def __aiter__(self) -> AsyncAwsCursor:
        return self

    async def __anext__(self) -> Any:
        row = await self.fetchone()
        if row is None:
            raise StopAsyncIteration
        return row

    async def results(self) -> AsyncIterator[AsyncAwsCursor]:
        """This cursor on each result set of the last statement in turn (psycopg; local)."""
        async for _ in self._cursor.results():
            yield self

    async def set_result(self, index: int) -> AsyncAwsCursor:
        """Move to result set ``index`` (psycopg; local)."""
        await self._cursor.set_result(index)
        return self

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
        await _maybe_await_call(self._cursor.close)

    async def __aenter__(self) -> AsyncAwsCursor:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    def __await__(self) -> Generator[Any, None, AsyncAwsCursor]:
        return _ready(self).__await__()


class AsyncAwsMysqlCursor(AsyncAwsCursor):
    """The proxy of an aiomysql cursor: aiomysql's shapes where they differ from psycopg's."""

    __slots__ = ()

    async def execute(self, query: Any, args: Any = None) -> Any:  # type: ignore[override]
        """Run a statement (aiomysql's signature: ``execute(query, args=None)``); the number of rows."""
        hot = self._hot  # the base class's hot path, without psycopg's keywords and LISTEN tracking
        if hot.driver_conn is not hot.service.current_connection:
            self.ensure_current_connection()
        chain = hot.chains.execute
        if chain is None:
            return await hot.cursor.execute(query, args)
        return await chain(self, hot.cursor.execute, query, args, {})

    async def executemany(self, query: Any, args: Any) -> Any:  # type: ignore[override]
        """Run a statement once per parameter set (aiomysql's signature: ``executemany(query, args)``)."""
        return await self._pipe("Cursor.executemany", self._cursor.executemany, query, args)

    async def nextset(self) -> bool | None:  # type: ignore[override]
        """Move to the next result set (aiomysql reads it from the server)."""
        result: bool | None = await self._pipe("Cursor.nextset", self._cursor.nextset)
        return result

    async def callproc(self, procname: str, args: Sequence[Any] = ()) -> Any:
        """Call a stored procedure."""
        return await self._pipe("Cursor.callproc", self._cursor.callproc, procname, args)


async def _ready(cursor: AsyncAwsCursor) -> AsyncAwsCursor:
    return cursor


async def _maybe_await_call(func: Callable[..., Any], *args: Any) -> Any:
    value = func(*args)
    if hasattr(value, "__await__"):
        return await value
    return value
