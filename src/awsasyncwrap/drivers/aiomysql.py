"""Driver dialect for aiomysql (``aiomysql.connect``)."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import socket
import weakref
from collections.abc import Mapping, Sequence
from functools import cache
from typing import Any, ClassVar

from ..errors import ConfigurationError
from ..hostinfo import HostInfo, HostRole
from ..properties import Properties, WrapperProperties
from ._aiomysql_guard import guarded_connection_class
from ._base import DriverDialect, TargetConnectFunc

__all__ = ["AiomysqlDriverDialect"]

logger = logging.getLogger(__name__)

_UNKNOWN_SYSTEM_VARIABLE = "1193"
_ISOLATION_LEVELS = ("READ UNCOMMITTED", "READ COMMITTED", "REPEATABLE READ", "SERIALIZABLE")
_KEEPALIVE_NAMES = frozenset(
    p.name
    for p in (
        WrapperProperties.TCP_KEEPALIVE,
        WrapperProperties.TCP_KEEPALIVE_TIME,
        WrapperProperties.TCP_KEEPALIVE_INTERVAL,
        WrapperProperties.TCP_KEEPALIVE_PROBES,
    )
)


@cache
def _connect_params() -> frozenset[str]:
    import aiomysql

    return frozenset(inspect.signature(aiomysql.connect).parameters) - {"loop"}


@cache
def _connect_defaults() -> dict[str, Any]:
    """aiomysql's own defaults (``aiomysql.connect``'s signature): host, port, ..."""
    import aiomysql

    return {
        name: param.default
        for name, param in inspect.signature(aiomysql.connect).parameters.items()
        if param.default is not inspect.Parameter.empty
    }


class AiomysqlDriverDialect(DriverDialect):
    """aiomysql (MySQL and MariaDB)."""

    code = "aiomysql"
    engine = "mysql"
    error_class_prefix = "Mysql"
    generic_names: ClassVar[dict[str, str]] = {
        "host": "host",
        "port": "port",
        "user": "user",
        "password": "password",
        "database": "db",
    }
    network_bound_methods = frozenset(
        {
            "Connection.commit",
            "Connection.rollback",
            "Connection.begin",
            "Connection.close",
            "Connection.ping",
            "Connection.select_db",
            "Connection.set_autocommit",
            "Connection.set_read_only",
            "Connection.set_isolation_level",
            "Connection.set_charset",
            "Connection.show_warnings",
            "Connection.kill",
            "Cursor.execute",
            "Cursor.executemany",
            "Cursor.callproc",
            "Cursor.nextset",
        }
    )

    host_bound_names = frozenset({"unix_socket"})

    def __init__(self) -> None:
        # read-only / isolation are session settings aiomysql does not track itself; each map is made at
        # its first write (most connections never need one: a dialect is made per connect)
        self._read_only: weakref.WeakKeyDictionary[Any, bool | None] | None = None
        self._isolation: weakref.WeakKeyDictionary[Any, str | None] | None = None
        self._database: weakref.WeakKeyDictionary[Any, str] | None = None
        self._aborted: weakref.WeakSet[Any] | None = None

    @classmethod
    def matches(cls, target_driver_func: TargetConnectFunc) -> bool:
        module = getattr(target_driver_func, "__module__", "") or ""
        return module == "aiomysql" or module.startswith("aiomysql.")

    def driver_params(self) -> frozenset[str]:
        return _connect_params()

    def resolve_hosts(self, props: Properties) -> list[HostInfo]:
        """aiomysql's target for ``props``: its defaults, or what ``read_default_file`` sets.

        The option file's values become explicit properties (aiomysql lets the file override
        keywords, so a file naming a host would pin every later connection to that host).
        """
        if props.get("read_default_file"):
            self._read_option_file(props)
        defaults = _connect_defaults()
        names = [h.strip() for h in str(props.get("host") or "").split(",") if h.strip()]
        port_value: Any = props.get("port")
        try:
            port = int(defaults["port"] if port_value is None else port_value)
        except (TypeError, ValueError):
            raise ConfigurationError(f"Bad port {port_value!r}: not a number.") from None
        infos = [
            HostInfo(name, port, HostRole.WRITER if i == 0 else HostRole.UNKNOWN)
            for i, name in enumerate(names or [str(defaults["host"])])
        ]
        if props.get("unix_socket"):
            self._host_bound = {infos[0].url: {"unix_socket": props.pop("unix_socket")}}
        props["host"] = ",".join(h.host for h in infos)
        props["port"] = infos[0].port
        return infos

    def _read_option_file(self, props: Properties) -> None:
        """Let aiomysql read the option file, then make its choices explicit properties."""
        import aiomysql
        from pymysql.connections import DEFAULT_CHARSET

        keywords = {"host", "port", "user", "password", "unix_socket", "charset"}
        given = {k: props[k] for k in keywords if props.get(k) is not None}
        if props.get("database") is not None:
            given["db"] = props["database"]
        defaults = _connect_defaults()
        probe = aiomysql.Connection(
            **{"host": defaults["host"], "port": defaults["port"], **given},
            read_default_file=props["read_default_file"],
            read_default_group=props.get("read_default_group"),
        )
        chosen = {
            "host": probe.host,
            "port": probe.port,
            "user": probe.user,
            "password": probe._password or None,
            "unix_socket": probe.unix_socket,
            "database": probe.db,
        }
        if "charset" in given or probe.charset != DEFAULT_CHARSET:  # set by the file
            chosen["charset"] = probe.charset
        for key, value in chosen.items():
            if value is not None and value != "":
                props[key] = value
        props.pop("read_default_file", None)
        props.pop("read_default_group", None)

    def adjust_connect_kwargs(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        if "port" in kwargs:
            kwargs["port"] = int(kwargs["port"])
        if isinstance(kwargs.get("connect_timeout"), str):
            kwargs["connect_timeout"] = float(kwargs["connect_timeout"])
        return kwargs

    async def connect(
        self, target_driver_func: TargetConnectFunc, host_info: HostInfo, props: Mapping[str, Any]
    ) -> Any:
        import aiomysql

        kwargs = self.connect_kwargs(host_info, props)
        if target_driver_func is not aiomysql.connect:  # the user's own function: theirs to clean up
            conn = await target_driver_func(**kwargs)
        else:
            # what aiomysql.connect does, except that a handshake cut short by cancellation (a timeout, a
            # caller giving up) closes its socket: aiomysql cleans up only on Exception
            conn = guarded_connection_class()(**kwargs)  # refuses concurrent use by two tasks
            try:
                await conn._connect()
            except BaseException:
                self._release_locally(conn)
                # the transport closes its socket on the next loop iteration: let it, before the caller
                # goes on
                with contextlib.suppress(BaseException):
                    await asyncio.shield(asyncio.sleep(0))
                raise
        self._set_keepalive(conn, props)
        return conn

    def _set_keepalive(self, conn: Any, props: Mapping[str, Any]) -> None:
        """aws-advanced-python-wrapper's ``tcp_keepalive*`` as socket options (aiomysql has no arguments)."""
        w = WrapperProperties
        keepalive = (w.TCP_KEEPALIVE, w.TCP_KEEPALIVE_TIME, w.TCP_KEEPALIVE_INTERVAL, w.TCP_KEEPALIVE_PROBES)
        if props.keys().isdisjoint(_KEEPALIVE_NAMES):  # none given (none has a default)
            return
        on, idle, interval, count = (p.get(props) for p in keepalive)
        if on is None and idle is None and interval is None and count is None:
            return
        writer = getattr(conn, "_writer", None)
        sock = writer.get_extra_info("socket") if writer is not None else None
        if sock is None:
            return
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 0 if on is False else 1)
        for option, value in (("TCP_KEEPIDLE", idle), ("TCP_KEEPINTVL", interval), ("TCP_KEEPCNT", count)):
            if value is not None and hasattr(socket, option):
                sock.setsockopt(socket.IPPROTO_TCP, getattr(socket, option), value)

    # --- state --------------------------------------------------------------------------------

    def is_closed(self, conn: Any) -> bool:
        return bool(conn.closed)

    def is_in_transaction(self, conn: Any) -> bool:
        return bool(conn.get_transaction_status())

    def call_state(self, conn: Any) -> tuple[bool, Any]:
        return bool(conn.get_transaction_status()), conn._writer  # the link: its stream writer

    def get_autocommit(self, conn: Any) -> bool:
        return bool(conn.get_autocommit())

    async def set_autocommit(self, conn: Any, value: bool) -> None:
        await conn.autocommit(value)

    def get_read_only(self, conn: Any) -> bool | None:
        return None if self._read_only is None else self._read_only.get(conn)

    async def set_read_only(self, conn: Any, value: bool | None) -> None:
        mode = "READ ONLY" if value else "READ WRITE"
        await self._run(conn, f"SET SESSION TRANSACTION {mode}")
        if self._read_only is None:
            self._read_only = weakref.WeakKeyDictionary()
        self._read_only[conn] = value

    def get_isolation_level(self, conn: Any) -> Any:
        return None if self._isolation is None else self._isolation.get(conn)

    async def set_isolation_level(self, conn: Any, value: Any) -> None:
        if value is None:  # the server's default (what a new session gets)
            await self._set_default(conn, ("transaction_isolation", "tx_isolation"))
            if self._isolation is not None:
                self._isolation.pop(conn, None)
            return
        level = str(value).replace("_", " ").upper()
        if level not in _ISOLATION_LEVELS:
            from ..errors import ConfigurationError

            raise ConfigurationError.bad_choice("isolation level", value, _ISOLATION_LEVELS)
        await self._run(conn, f"SET SESSION TRANSACTION ISOLATION LEVEL {level}")
        if self._isolation is None:
            self._isolation = weakref.WeakKeyDictionary()
        self._isolation[conn] = level

    def get_database(self, conn: Any) -> str | None:
        db = None if self._database is None else self._database.get(conn)
        return db if db is not None else conn.db  # aiomysql's ``db`` keeps the one given at connect

    async def set_database(self, conn: Any, database: str) -> None:
        await conn.select_db(database)
        if self._database is None:
            self._database = weakref.WeakKeyDictionary()
        self._database[conn] = database

    async def _set_default(self, conn: Any, names: tuple[str, ...]) -> None:
        """``SET SESSION <name> = DEFAULT`` with the first variable name the server knows (MySQL 8 and
        MariaDB 11.1+ spell it ``transaction_*``, older MariaDB ``tx_*``)."""
        for name in names[:-1]:
            try:
                await self._run(conn, f"SET SESSION {name} = DEFAULT")
                return
            except Exception as exc:
                if self.error_code(exc) != _UNKNOWN_SYSTEM_VARIABLE:
                    raise
        await self._run(conn, f"SET SESSION {names[-1]} = DEFAULT")

    async def _run(self, conn: Any, sql: str) -> None:
        import aiomysql

        async with conn.cursor(aiomysql.Cursor) as cur:
            await cur.execute(sql)

    # --- I/O helpers ----------------------------------------------------------------------------

    def open_cursor(self, conn: Any, *args: Any, **kwargs: Any) -> Any:
        manager = conn.cursor(*args, **kwargs)
        # aiomysql builds the cursor at once and hands it over in a finished future
        return manager._coro.result()

    async def query(self, conn: Any, sql: str, params: Sequence[Any] | None = None) -> list[tuple[Any, ...]]:
        import aiomysql

        was_idle = not conn.get_autocommit() and not conn.get_transaction_status()
        async with conn.cursor(aiomysql.Cursor) as cur:
            await cur.execute(sql, params)
            rows = list(await cur.fetchall()) if cur.description is not None else []
        if was_idle:
            # even when the server does not report a transaction: a read opened a consistent snapshot
            # that would answer the connection's later reads (MariaDB does not flag it in the status)
            await conn.rollback()
        return [tuple(r) for r in rows]

    def abort(self, conn: Any) -> None:
        super().abort(conn)
        if self._aborted is None:
            self._aborted = weakref.WeakSet()
        self._aborted.add(conn)

    async def close(self, conn: Any) -> None:
        # its socket is shut down: a goodbye would only hit a broken pipe
        if self._aborted is not None and conn in self._aborted:
            self._release_locally(conn)
            return
        try:
            await conn.ensure_closed()  # says goodbye to the server first
        except Exception as exc:  # a dead or aborted link: closing locally is all there is to do
            logger.debug("closing an aiomysql connection politely failed: %s", type(exc).__name__)
        finally:
            conn.close()  # no-op after a polite close; frees the socket if that failed or was cancelled

    def without_tls(self, props: Mapping[str, Any]) -> str | None:
        return None if props.get("ssl") else "no ssl context is given"

    link_check_is_free = True  # asyncio reads all the time: an end or a reset is already known here

    def link_lost(self, conn: Any) -> bool:
        reader = conn._reader
        return reader is None or reader.at_eof() or reader._exception is not None

    async def failure_settled(self, link: Any) -> None:
        # a write the socket refused (the peer had closed, not yet seen by the loop) ends the transport,
        # but its reader learns the reason (BrokenPipeError: nothing was sent) only one loop turn later
        transport = getattr(link, "transport", None)
        reader = getattr(link, "_reader", None)
        if (
            transport is not None
            and reader is not None
            and reader.exception() is None
            and transport.is_closing()
        ):
            await asyncio.sleep(0)

    def unsent(self, exc: Exception, link: Any) -> bool:
        # ``link``: the StreamWriter. asyncio counts writes to a transport that was already lost; and a
        # write that the socket refused ends the transport with EPIPE
        if int(getattr(getattr(link, "transport", None), "_conn_lost", 0) or 0) > 1:
            return True
        reader = getattr(link, "_reader", None)
        return reader is not None and isinstance(reader.exception(), BrokenPipeError)

    def _release_locally(self, conn: Any) -> None:
        conn.close()  # aiomysql's close() is local only

    def socket_fd(self, conn: Any) -> int | None:
        writer = getattr(conn, "_writer", None)
        sock = writer.get_extra_info("socket") if writer is not None else None
        return None if sock is None else int(sock.fileno())

    # --- errors ---------------------------------------------------------------------------------

    def connect_timeout_error(self, message: str) -> Exception:
        import pymysql

        error: Exception = pymysql.err.OperationalError(2003, message)  # CR_CONN_HOST_ERROR, as aiomysql's
        return error

    def error_code(self, exc: BaseException) -> str | None:
        import pymysql

        if isinstance(exc, pymysql.err.MySQLError) and exc.args and isinstance(exc.args[0], int):
            return str(exc.args[0])
        return None

    def is_driver_error(self, exc: BaseException) -> bool:
        import pymysql

        return isinstance(exc, pymysql.err.MySQLError)

    def operational_error_class(self) -> type[Exception]:
        import pymysql

        cls: type[Exception] = pymysql.err.OperationalError
        return cls

    def closed_error(self, in_flight: bool = False) -> Exception:
        import pymysql

        error: Exception
        if in_flight:  # what aiomysql raises when its link goes away under a call
            error = pymysql.err.OperationalError(
                2013, "Lost connection to MySQL server during query (the connection is closed)"
            )
        else:  # aiomysql's error for a call on a closed connection
            error = pymysql.err.InterfaceError(0, "Not connected")
        return error
