"""The connection proxy: :class:`AsyncAwsConnection`."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Generator
from functools import cache, partial
from types import TracebackType
from typing import TYPE_CHECKING, Any, Generic, overload

from typing_extensions import TypeVar

from ._carried import CarriedConnectionState
from ._opening import Connecting, connect_first, forced_driver, prepared_props
from ._scoped import PipedContext, piped_iter
from ._session_state import Applier
from .cursor import AsyncAwsCursor
from .drivers import DriverDialect, driver_dialect_for
from .hostinfo import HostInfo
from .plugin_service import PluginService

__all__ = ["AsyncAwsConnection", "Done", "close_if_cancelled", "driver_method", "on_current"]

if TYPE_CHECKING:
    from psycopg import AsyncConnection as PgConnection
    from psycopg.rows import AsyncRowFactory, TupleRow

logger = logging.getLogger(__name__)
T = TypeVar("T")
C = TypeVar("C")
Row = TypeVar("Row")
#: the driver's connection type (``psycopg.AsyncConnection[Row]``; ``Any`` for aiomysql, which has no types)
DriverConn = TypeVar("DriverConn", default=Any)


class AsyncAwsConnection(CarriedConnectionState, Generic[DriverConn]):
    """Stands for a driver connection; network-bound calls run through the plugin pipeline.

    The driver connection behind it may change (failover, read/write
    splitting); the proxy, its session settings and new cursors follow.
    Generic in the driver's connection type: ``AsyncAwsConnection.of(conn)``
    of a psycopg connection is ``AsyncAwsConnection[psycopg.AsyncConnection[Row]]``.
    """

    def __init_subclass__(cls, *, for_driver: str | None = None, **kwargs: Any) -> None:
        """``class X(AsyncAwsConnection, for_driver="code")``: X is the proxy of that driver's connections."""
        super().__init_subclass__(**kwargs)
        if for_driver is not None:
            _PROXY_CLASSES[for_driver] = cls

    def __init__(self, service: PluginService) -> None:
        self._service = service
        self._manager = service.manager
        self._driver: DriverDialect = service.driver_dialect
        self._closed = False

    # --- opening --------------------------------------------------------------------------

    @overload
    @classmethod
    def connect(
        cls,
        target_connect_func: Callable[..., Awaitable[PgConnection[Any]]],
        conninfo: str = "",
        *,
        row_factory: AsyncRowFactory[Row],
        plugins: str | None = None,
        **kwargs: Any,
    ) -> Connecting[PgConnection[Row]]: ...

    @overload
    @classmethod
    def connect(
        cls,
        target_connect_func: Callable[..., Awaitable[PgConnection[Any]]],
        conninfo: str = "",
        *,
        row_factory: None = None,
        plugins: str | None = None,
        **kwargs: Any,
    ) -> Connecting[PgConnection[TupleRow]]: ...

    @overload
    @classmethod
    def connect(
        cls,
        target_connect_func: Callable[..., Awaitable[C]],
        conninfo: str = "",
        *,
        row_factory: None = None,
        plugins: str | None = None,
        **kwargs: Any,
    ) -> Connecting[C]: ...

    @classmethod
    def connect(
        cls, target_connect_func: Callable[..., Awaitable[Any]], conninfo: str = "", **kwargs: Any
    ) -> Connecting[Any]:
        """Open a wrapped connection: ``await`` it, or ``async with`` it (aiomysql's idiom).

        ``target_connect_func`` is the driver's own connect function
        (``psycopg.AsyncConnection.connect`` or ``aiomysql.connect``); it picks
        the driver dialect. ``conninfo`` is a libpq connection string (psycopg
        only); ``kwargs`` are driver arguments and wrapper properties alike
        (``plugins``: the plugin codes).

        For type checkers the result is the driver's connection type (psycopg's
        ``AsyncConnection[Row]``, rows typed from ``row_factory``); at run time it
        is this proxy, which stands for it.
        """
        return Connecting(cls._open(target_connect_func, conninfo, **kwargs))

    @classmethod
    async def _open(
        cls,
        target_connect_func: Callable[..., Awaitable[Any]],
        conninfo: str = "",
        *,
        plugins: str | None = None,
        **kwargs: Any,
    ) -> AsyncAwsConnection:
        driver = driver_dialect_for(target_connect_func, forced_driver(kwargs))
        props = prepared_props(driver, conninfo, kwargs, plugins)
        attempts = driver.first_attempts(props, driver.resolve_hosts(props))
        service = await connect_first(target_connect_func, driver, props, attempts)
        proxy_cls = _PROXY_CLASSES.get(driver.code, cls) if cls is AsyncAwsConnection else cls
        return proxy_cls(service)

    # --- identity --------------------------------------------------------------------------

    @staticmethod
    def of(conn: C) -> AsyncAwsConnection[C]:
        """The wrapper itself, typed as such, behind what :meth:`connect` returned.

        ``connect()`` is typed as the driver's connection; use this to reach the wrapper's own
        attributes with a type checker: ``AsyncAwsConnection.of(conn).target_connection``.
        """
        if isinstance(conn, AsyncAwsConnection):
            return conn
        raise TypeError(
            f"expected a connection opened by AsyncAwsConnection.connect(), got {type(conn).__name__}"
        )

    @property  # type: ignore[misc]
    def __class__(self) -> type[Any]:
        """The driver connection's class, so that ``isinstance(conn, psycopg.AsyncConnection)`` holds.

        Libraries that test for the driver's class (``TypeInfo.fetch``, ``psycopg.types.*.register_*``)
        then take the wrapped connection; ``type(conn)`` is still the proxy's own class.
        """
        service = self.__dict__.get("_service")
        conn = None if service is None else service.current_connection
        return type(self) if conn is None else type(conn)

    @property
    def plugin_service(self) -> PluginService:
        """The plugin service of this connection (shared state of its plugins)."""
        return self._service

    @property
    def target_connection(self) -> DriverConn:
        """The driver connection currently behind this proxy."""
        conn: DriverConn = self._service.current_connection
        return conn

    @property
    def current_host(self) -> HostInfo | None:
        """The host the current driver connection is on."""
        return self._service.current_host_info

    def __repr__(self) -> str:
        host = self._service.current_host_info
        where = host.url if host else "?"
        codes = ",".join(type(p).__name__ for p in self._manager.plugins) or "no plugins"
        state = "closed" if self.closed else "open"
        return f"<AsyncAwsConnection {self._driver.code} {where} [{codes}] {state}>"

    def __getattr__(self, name: str) -> Any:
        # everything the proxy does not define is the driver connection's own (local) attribute
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(self._service.current_connection, name)

    # --- the seam -----------------------------------------------------------------------------

    def _pipe(
        self, name: str, action: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any
    ) -> Awaitable[T]:
        """Every network-bound call: ``action(driver connection, *args, **kwargs)`` as method ``name``.

        The driver connection is the current one when the driver is reached (a plugin may switch it
        on the way down: read/write splitting). Returns the chain's awaitable, no frame of its own.
        The place for checks every network-bound call of the connection needs (e.g. closed state).
        """
        call = partial(on_current, self._service, action)
        chain = self._manager.chain(name)
        if chain is None:
            return call(*args, **kwargs)
        return chain(self, name, call, *args, **kwargs)

    # --- cursors and statements ------------------------------------------------------------

    def cursor(self, *args: Any, **kwargs: Any) -> AsyncAwsCursor:
        """A new cursor on the current connection (arguments go to the driver's ``cursor()``)."""
        conn = self._service.current_connection
        cursor = self._driver.open_cursor(conn, *args, **kwargs)
        return self._cursor_class(self, cursor, _is_server_side(cursor, args, kwargs))

    _cursor_class: type[AsyncAwsCursor] = AsyncAwsCursor

    async def execute(self, query: Any, params: Any = None, **kwargs: Any) -> AsyncAwsCursor:
        """Open a cursor and run a statement on it (psycopg's ``Connection.execute``; ``Cursor.execute``)."""
        cur = self.cursor()
        await cur.execute(query, params, **kwargs)
        return cur

    async def commit(self) -> None:
        """Commit the current transaction."""
        await self._pipe("Connection.commit", driver_method("commit"))

    async def rollback(self) -> None:
        """Roll the current transaction back."""
        await self._pipe("Connection.rollback", driver_method("rollback"))

    def transaction(self, savepoint_name: str | None = None, force_rollback: bool = False) -> PipedContext:
        """A transaction block (psycopg's ``Connection.transaction()``); enter and exit are pipeline calls."""
        return PipedContext(
            self._pipe,
            "Connection.transaction",
            driver_method("transaction"),
            (savepoint_name, force_rollback),
        )

    def pipeline(self) -> PipedContext:
        """A pipeline-mode block (psycopg's ``Connection.pipeline()``); enter and exit are pipeline calls."""
        return PipedContext(self._pipe, "Connection.pipeline", driver_method("pipeline"))

    def notifies(self, *, timeout: float | None = None, stop_after: int | None = None) -> AsyncIterator[Any]:
        """psycopg's ``Notify`` objects as they arrive; every wait runs through the plugins."""
        kwargs = {"timeout": timeout, "stop_after": stop_after}
        return piped_iter(self._pipe, "Connection.notifies", driver_method("notifies"), (), kwargs)

    async def tpc_begin(self, xid: Any) -> None:
        """Begin a two-phase transaction (psycopg)."""
        await self._pipe("Connection.tpc_begin", driver_method("tpc_begin"), xid)

    async def tpc_prepare(self) -> None:
        """Prepare the two-phase transaction (psycopg)."""
        await self._pipe("Connection.tpc_prepare", driver_method("tpc_prepare"))

    async def tpc_commit(self, xid: Any = None) -> None:
        """Commit a two-phase transaction (psycopg)."""
        await self._pipe("Connection.tpc_commit", driver_method("tpc_commit"), xid)

    async def tpc_rollback(self, xid: Any = None) -> None:
        """Roll back a two-phase transaction (psycopg)."""
        await self._pipe("Connection.tpc_rollback", driver_method("tpc_rollback"), xid)

    async def tpc_recover(self) -> list[Any]:
        """The prepared two-phase transactions on the server (psycopg)."""
        result: list[Any] = await self._pipe("Connection.tpc_recover", driver_method("tpc_recover"))
        return result

    async def set_deferrable(self, value: bool | None) -> None:
        """Make new transactions deferrable or not (psycopg)."""
        await self._pipe("Connection.set_deferrable", driver_method("set_deferrable"), value)

    async def begin(self) -> None:
        """Start a transaction (aiomysql's ``Connection.begin()``)."""
        await self._pipe("Connection.begin", driver_method("begin"))

    async def select_db(self, db: str) -> None:
        """Switch database (aiomysql); re-applied after failover."""
        await self._set_remembered("Connection.select_db", "database", db)

    # --- session settings ------------------------------------------------------------------

    @property
    def autocommit(self) -> bool:
        """Whether each statement commits by itself."""
        return self._driver.get_autocommit(self._service.current_connection)

    async def set_autocommit(self, value: bool) -> None:
        """Turn autocommit on or off (kept across failover)."""
        await self._set_remembered("Connection.set_autocommit", "autocommit", value)

    def get_autocommit(self) -> bool:
        """Whether each statement commits by itself (aiomysql spelling)."""
        return self._driver.get_autocommit(self._service.current_connection)

    @property
    def read_only(self) -> bool | None:
        """Whether new transactions are read-only."""
        return self._driver.get_read_only(self._service.current_connection)

    async def get_read_only(self) -> bool:
        """Whether new transactions are read-only, as a plain bool (aws-advanced-python-wrapper's coroutine;
        :attr:`read_only` is the driver's spelling, None on psycopg when never set)."""
        return bool(self.read_only)

    async def set_read_only(self, value: bool | None) -> None:
        """Make new transactions read-only or not (read/write splitting acts on this)."""
        await self._set_remembered("Connection.set_read_only", "read_only", value)

    @property
    def isolation_level(self) -> Any:
        """The isolation level of new transactions."""
        return self._driver.get_isolation_level(self._service.current_connection)

    async def set_isolation_level(self, value: Any) -> None:
        """Set the isolation level of new transactions (kept across failover)."""
        await self._set_remembered("Connection.set_isolation_level", "isolation_level", value)

    async def _set_remembered(self, method: str, name: str, value: Any) -> None:
        """Change the session setting ``name`` through the plugins (as ``method``) with the driver dialect's
        ``set_<name>``, and remember it (carried over a failover)."""
        driver = self._driver
        before = getattr(driver, f"get_{name}")(self._service.current_connection)
        await self._pipe(method, getattr(driver, f"set_{name}"), value)
        self._service.session_state.remember(name, before, value)

    def get_transaction_status(self) -> bool:
        """Whether a transaction is open."""
        return self._driver.is_in_transaction(self._service.current_connection)

    # --- session state ----------------------------------------------------------------------------

    async def on_new_connection(self, callback: Applier, *, key: object = None) -> None:
        """Run ``callback(driver_connection)`` now and on every later driver connection of this proxy.

        For session state the wrapper does not track (``SET search_path``, ``SET ROLE``, prepared
        statements, temporary objects): failover and read/write splitting run it on each connection
        they switch to, after autocommit / read-only / isolation level / database were carried over,
        and commit what it leaves open. ``callback`` may be sync or async. With a ``key``, a callback
        added before under the same key is replaced. See docs/session_state.md.
        """
        state = self._service.session_state
        state.add_applier(callback, key)
        await state.run_appliers(self._service.current_connection, self._driver)

    async def reset_session_state(self) -> None:
        """Put autocommit, read-only, isolation level and database back to their values before the
        application first changed them (through the plugins: read/write splitting moves back to the
        writer). Pools call it before a connection goes back (``reset_session_state_on_close``)."""
        state = self._service.session_state
        if not state.reset_on_close:
            return
        setters: dict[str, Callable[[Any], Awaitable[None]]] = {
            "read_only": self.set_read_only,
            "isolation_level": self.set_isolation_level,
            "autocommit": self.set_autocommit,
            "database": self.select_db,
        }
        for name, value in state.resets(lambda name: getattr(state, name)):
            await setters[name](value)
        state.clear()

    # --- closing ----------------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        """Whether the connection was closed (by the application or found broken)."""
        conn = self._service.current_connection
        return self._closed or conn is None or self._driver.is_closed(conn)

    @property
    def is_closed(self) -> bool:
        """:attr:`closed` (aws-advanced-python-wrapper's name)."""
        return self.closed

    async def close(self) -> None:
        """Close the connection and release the background resources it held."""
        if self._closed:
            return
        self._closed = True
        service = self._service
        chain = self._manager.chain("Connection.close")
        service.mark_closed()  # calls in flight end with the closed error; none starts a failover
        try:
            conn = service.current_connection
            if conn is not None and not self._driver.is_closed(conn):
                if chain is None:
                    await self._driver.close(conn)
                else:  # the chain taken before the close switched the pipeline off
                    await chain(self, "Connection.close", partial(on_current, service, self._driver.close))
        finally:
            await service.release()

    async def ensure_closed(self) -> None:
        """aiomysql spelling of :meth:`close`."""
        await self.close()

    async def __aenter__(self) -> AsyncAwsConnection:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            if self._driver.block_ends_transaction and not self.closed:
                # the driver's own block: commit on success, roll back on error
                if exc_type is None:
                    await self.commit()
                else:
                    await self.rollback()
        finally:
            await self.close()


#: driver dialect code -> the proxy class of its connections, where the driver's spellings differ
_PROXY_CLASSES: dict[str, type[AsyncAwsConnection]] = {}  # filled by __init_subclass__(for_driver=...)


def _is_server_side(cursor: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> bool:
    name = type(cursor).__name__
    return "Server" in name or name.startswith("SS")


def on_current(
    service: PluginService, action: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any
) -> Awaitable[T]:
    """The end of every connection chain: ``action`` on the driver connection current now."""
    return action(service.current_connection, *args, **kwargs)


@cache
def driver_method(name: str) -> Callable[..., Any]:
    """``conn.<name>(*args, **kwargs)`` as a function of the driver connection."""

    def call(conn: Any, *args: Any, **kwargs: Any) -> Any:
        return getattr(conn, name)(*args, **kwargs)

    call.__name__ = call.__qualname__ = name
    return call


def close_if_cancelled(driver: DriverDialect, conn: Any, task: asyncio.Task[None]) -> None:
    if task.cancelled() and not driver.is_closed(conn):
        driver.close_now(conn)


class Done:
    """An awaitable that is already done."""

    __slots__ = ()

    def __await__(self) -> Generator[Any, None, None]:
        return
        yield  # a generator function that returns at once
