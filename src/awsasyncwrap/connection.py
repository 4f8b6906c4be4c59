"""The connection proxy: :class:`AsyncAwsConnection`."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any

from ._compat_props import translate as translate_aws_wrapper_props
from ._pipeline import PluginManager
from .cursor import AsyncAwsCursor
from .drivers import DriverDialect, driver_dialect_for
from .errors import ConfigurationError
from .hostinfo import HostInfo, HostRole
from .plugin_service import PluginService
from .properties import Properties, WrapperProperties, known_properties

__all__ = ["AsyncAwsConnection", "AsyncAwsMysqlConnection"]

logger = logging.getLogger(__name__)


class AsyncAwsConnection:
    """Stands for a driver connection; network-bound calls run through the plugin pipeline.

    The driver connection behind it may change (failover, read/write
    splitting); the proxy, its session settings and new cursors follow.
    """

    def __init__(self, service: PluginService) -> None:
        self._service = service
        self._manager = service.manager
        self._driver: DriverDialect = service.driver_dialect
        self._closed = False

    # --- opening --------------------------------------------------------------------------

    @classmethod
    async def connect(
        cls,
        target_connect_func: Callable[..., Awaitable[Any]],
        conninfo: str = "",
        *,
        plugins: str | None = None,
        **kwargs: Any,
    ) -> AsyncAwsConnection:
        """Open a wrapped connection.

        ``target_connect_func`` is the driver's own connect function
        (``psycopg.AsyncConnection.connect`` or ``aiomysql.connect``); it picks
        the driver dialect. ``conninfo`` is a libpq connection string (psycopg
        only); ``kwargs`` are driver arguments and wrapper properties alike.
        """
        driver = driver_dialect_for(target_connect_func, _forced_driver(kwargs))
        try:
            raw = {**driver.parse_conninfo(conninfo), **kwargs}
        except ValueError as exc:
            raise ConfigurationError(f"Bad connection string: {exc}.") from None
        if plugins is not None:
            raw[WrapperProperties.PLUGINS.name] = plugins
        params = driver.driver_params() | set(driver.generic_names)
        raw = translate_aws_wrapper_props(raw, driver.code, params.__contains__)
        props = driver.normalize(Properties(raw))
        _validate(props, driver)
        host = WrapperProperties.HOST.get(props) or "localhost"
        port_text = str(props["port"]).split(",")[0] if props.get("port") is not None else ""
        initial_host = HostInfo(
            host.split(",")[0].strip(), int(port_text) if port_text else None, HostRole.WRITER
        )
        service = PluginService(props, driver, target_connect_func, initial_host)
        if initial_host.port is None:
            initial_host.port = service.database_dialect.default_port
        service.manager = PluginManager(service, props, driver.network_bound_methods)
        await service.manager.init_host_provider(props, service)
        conn = await service.manager.connect(target_connect_func, driver, initial_host, props, True)
        try:
            await service.set_current_connection(conn, initial_host)
            await service.refresh_host_list(conn)
        except BaseException:
            await service.dispose(conn)
            await service.release()
            raise
        proxy_cls = (
            AsyncAwsMysqlConnection if driver.code == "aiomysql" and cls is AsyncAwsConnection else cls
        )
        return proxy_cls(service)

    # --- identity --------------------------------------------------------------------------

    @property
    def plugin_service(self) -> PluginService:
        """The plugin service of this connection (shared state of its plugins)."""
        return self._service

    @property
    def target_connection(self) -> Any:
        """The driver connection currently behind this proxy."""
        return self._service.current_connection

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

    # --- cursors and statements ------------------------------------------------------------

    def cursor(self, *args: Any, **kwargs: Any) -> AsyncAwsCursor:
        """A new cursor on the current connection (arguments go to the driver's ``cursor()``)."""
        conn = self._service.current_connection
        cursor = self._driver.open_cursor(conn, *args, **kwargs)
        return AsyncAwsCursor(self, cursor, _is_server_side(cursor, args, kwargs))

    async def execute(self, query: Any, params: Any = None, **kwargs: Any) -> AsyncAwsCursor:
        """Open a cursor and run a statement on it (psycopg's ``Connection.execute``)."""
        cur = self.cursor()
        await cur.execute(query, params, **kwargs)
        return cur

    async def commit(self) -> None:
        """Commit the current transaction."""
        chain = self._manager.chain("Connection.commit")
        if chain is None:
            await self._service.current_connection.commit()
        else:
            await chain(self, "Connection.commit", self._current_method("commit"), (), {})

    async def rollback(self) -> None:
        """Roll the current transaction back."""
        chain = self._manager.chain("Connection.rollback")
        if chain is None:
            await self._service.current_connection.rollback()
        else:
            await chain(self, "Connection.rollback", self._current_method("rollback"), (), {})

    def _current_method(self, name: str) -> Callable[..., Awaitable[Any]]:
        service = self._service

        async def call(*args: Any, **kwargs: Any) -> Any:
            return await getattr(service.current_connection, name)(*args, **kwargs)

        return call

    async def _run(self, method: str, action: Callable[..., Awaitable[Any]], *args: Any) -> Any:
        """Run ``action(current_connection, *args)`` as pipeline method ``method``."""
        service = self._service

        async def call(*call_args: Any) -> Any:
            return await action(service.current_connection, *call_args)

        return await self._manager.execute(self, method, call, *args)

    def transaction(self, savepoint_name: str | None = None, force_rollback: bool = False) -> _Transaction:
        """A transaction block (psycopg's ``Connection.transaction()``)."""
        return _Transaction(self, savepoint_name, force_rollback)

    async def begin(self) -> None:
        """Start a transaction (aiomysql's ``Connection.begin()``)."""
        await self._manager.execute(self, "Connection.begin", self._current_method("begin"))

    async def ping(self, reconnect: bool = False) -> None:
        """Check the server answers (aiomysql's ``Connection.ping()``)."""
        await self._manager.execute(self, "Connection.ping", self._current_method("ping"), reconnect)

    async def select_db(self, db: str) -> None:
        """Switch database (aiomysql); re-applied after failover."""
        await self._manager.execute(self, "Connection.select_db", self._current_method("select_db"), db)
        self._service.session_state.database = db

    # --- session settings ------------------------------------------------------------------

    @property
    def autocommit(self) -> bool:
        """Whether each statement commits by itself."""
        return self._driver.get_autocommit(self._service.current_connection)

    async def set_autocommit(self, value: bool) -> None:
        """Turn autocommit on or off (kept across failover)."""
        await self._run("Connection.set_autocommit", self._driver.set_autocommit, value)
        self._service.session_state.autocommit = value

    def get_autocommit(self) -> bool:
        """Whether each statement commits by itself (aiomysql spelling)."""
        return self._driver.get_autocommit(self._service.current_connection)

    @property
    def read_only(self) -> bool | None:
        """Whether new transactions are read-only."""
        return self._driver.get_read_only(self._service.current_connection)

    async def set_read_only(self, value: bool | None) -> None:
        """Make new transactions read-only or not (read/write splitting acts on this)."""
        await self._run("Connection.set_read_only", self._driver.set_read_only, value)
        self._service.session_state.read_only = value

    @property
    def isolation_level(self) -> Any:
        """The isolation level of new transactions."""
        return self._driver.get_isolation_level(self._service.current_connection)

    async def set_isolation_level(self, value: Any) -> None:
        """Set the isolation level of new transactions (kept across failover)."""
        await self._run("Connection.set_isolation_level", self._driver.set_isolation_level, value)
        self._service.session_state.isolation_level = value

    def get_transaction_status(self) -> bool:
        """Whether a transaction is open."""
        return self._driver.is_in_transaction(self._service.current_connection)

    # --- closing ----------------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        """Whether the connection was closed (by the application or found broken)."""
        conn = self._service.current_connection
        return self._closed or conn is None or self._driver.is_closed(conn)

    async def close(self) -> None:
        """Close the connection and release the background resources it held."""
        if self._closed:
            return
        self._closed = True
        try:
            conn = self._service.current_connection
            if conn is not None and not self._driver.is_closed(conn):
                await self._manager.execute(self, "Connection.close", self._driver.close, conn)
        finally:
            await self._service.release()

    async def ensure_closed(self) -> None:
        """aiomysql spelling of :meth:`close`."""
        await self.close()

    async def __aenter__(self) -> AsyncAwsConnection:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            if self._driver.code == "psycopg" and not self.closed:
                # psycopg semantics: commit on success, roll back on error
                if exc_type is None:
                    await self.commit()
                else:
                    await self.rollback()
        finally:
            await self.close()


class AsyncAwsMysqlConnection(AsyncAwsConnection):
    """The proxy of an aiomysql connection: aiomysql's own spellings where they differ from psycopg's."""

    async def autocommit(self, value: bool) -> None:  # type: ignore[override]
        """Turn autocommit on or off (aiomysql's ``await conn.autocommit(v)``)."""
        await self.set_autocommit(value)


class _Transaction:
    """``async with conn.transaction():`` whose enter and exit run through the pipeline."""

    def __init__(self, conn: AsyncAwsConnection, savepoint_name: str | None, force_rollback: bool) -> None:
        self._conn = conn
        self._args = (savepoint_name, force_rollback)
        self._tx: Any = None

    async def __aenter__(self) -> Any:
        self._tx = self._conn.target_connection.transaction(*self._args)
        return await self._conn._manager.execute(self._conn, "Connection.transaction", self._tx.__aenter__)

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> bool | None:
        result: bool | None = await self._conn._manager.execute(
            self._conn, "Connection.transaction", self._tx.__aexit__, exc_type, exc, tb
        )
        return result


def _forced_driver(kwargs: dict[str, Any]) -> str | None:
    value = kwargs.get(WrapperProperties.DRIVER_DIALECT.name)
    return None if value is None else str(value)


def _validate(props: Properties, driver: DriverDialect) -> None:
    """Reject unknown property names and bad values of wrapper properties."""
    bad = driver.unknown_names(props)
    if bad:
        _import_builtin_plugins()  # their modules register their own properties
        bad = driver.unknown_names(props)
    if bad:
        raise ConfigurationError.bad_choice("connection property", bad[0], driver.valid_names())
    for name, prop in known_properties().items():
        if name in props and props[name] is not None:
            prop.convert(props[name])
    PluginManager.plugin_codes(props)  # unknown plugin codes fail here, before any I/O


def _import_builtin_plugins() -> None:
    import importlib

    from .plugins import BUILTIN_PLUGINS

    for module, _, _ in BUILTIN_PLUGINS.values():
        try:
            importlib.import_module(module)
        except ImportError as exc:  # an optional dependency is missing
            logger.debug("plugin module %s not importable: %s", module, exc)


def _is_server_side(cursor: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> bool:
    name = type(cursor).__name__
    return "Server" in name or name.startswith("SS")
