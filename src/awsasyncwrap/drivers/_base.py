"""What the wrapper needs to know about one driver: :class:`DriverDialect`."""

from __future__ import annotations

import abc
import contextlib
import inspect
import os
import socket
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, ClassVar

from .._session_state import SessionState
from ..hostinfo import HostInfo
from ..properties import MONITORING_PREFIXES, Properties, known_properties, strip_monitoring_prefix

__all__ = ["DriverDialect", "SessionState"]

TargetConnectFunc = Callable[..., Awaitable[Any]]


class DriverDialect(abc.ABC):
    """How to connect with, inspect and control one driver's connections."""

    code: ClassVar[str]
    #: Generic property name -> this driver's keyword.
    generic_names: ClassVar[Mapping[str, str]]
    #: Methods of the proxies that reach the network and so run through plugins.
    network_bound_methods: ClassVar[frozenset[str]]

    # --- identification and connect ---------------------------------------------------------

    @classmethod
    @abc.abstractmethod
    def matches(cls, target_driver_func: TargetConnectFunc) -> bool:
        """Whether ``target_driver_func`` is this driver's connect function."""

    @abc.abstractmethod
    def driver_params(self) -> frozenset[str]:
        """Every keyword this driver's connect function accepts."""

    def parse_conninfo(self, conninfo: str) -> dict[str, Any]:
        """Split a connection string into properties (only drivers that have one)."""
        if conninfo:
            raise ValueError(f"the {self.code} driver takes keyword arguments, not a connection string")
        return {}

    def normalize(self, props: Properties) -> Properties:
        """Rename this driver's keywords to the generic names (``dbname`` -> ``database``)."""
        reverse = {driver: generic for generic, driver in self.generic_names.items() if driver != generic}
        out = Properties()
        for key, value in props.items():
            out[reverse.get(key, key)] = value
        return out

    def unknown_names(self, props: Mapping[str, Any]) -> list[str]:
        """Names in ``props`` that are neither wrapper properties nor driver keywords."""
        known = known_properties()
        params = self.driver_params() | set(self.generic_names)
        bad = []
        for key in props:
            name = strip_monitoring_prefix(key) or key
            if name not in known and name not in params:
                bad.append(key)
        return bad

    def valid_names(self) -> list[str]:
        """Every accepted property name, for error messages."""
        return sorted(set(known_properties()) | self.driver_params() | set(self.generic_names))

    def connect_kwargs(self, host_info: HostInfo, props: Mapping[str, Any]) -> dict[str, Any]:
        """The keyword arguments for the driver's connect function, aimed at ``host_info``."""
        wrapper_names = known_properties()
        params = self.driver_params()
        kwargs: dict[str, Any] = {}
        for key, value in props.items():
            if value is None or key.startswith(MONITORING_PREFIXES):
                continue
            driver_key = self.generic_names.get(key, key)
            if driver_key in params or (key not in wrapper_names and key not in self.generic_names):
                kwargs[driver_key] = value
        kwargs[self.generic_names["host"]] = host_info.host
        if host_info.port is not None:
            kwargs[self.generic_names["port"]] = host_info.port
        return self.adjust_connect_kwargs(kwargs)

    def adjust_connect_kwargs(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        """Driver-specific final touches to the connect keywords."""
        return kwargs

    async def connect(
        self, target_driver_func: TargetConnectFunc, host_info: HostInfo, props: Mapping[str, Any]
    ) -> Any:
        """Open a raw driver connection to ``host_info``."""
        return await target_driver_func(**self.connect_kwargs(host_info, props))

    # --- state --------------------------------------------------------------------------------

    @abc.abstractmethod
    def is_closed(self, conn: Any) -> bool:
        """Whether the driver connection is closed (locally known, no I/O)."""

    @abc.abstractmethod
    def is_in_transaction(self, conn: Any) -> bool:
        """Whether a transaction is open on the connection (locally known, no I/O)."""

    @abc.abstractmethod
    def get_autocommit(self, conn: Any) -> bool:
        """The connection's autocommit mode."""

    @abc.abstractmethod
    async def set_autocommit(self, conn: Any, value: bool) -> None:
        """Change the connection's autocommit mode."""

    @abc.abstractmethod
    def get_read_only(self, conn: Any) -> bool | None:
        """Whether new transactions are read-only (None: server default)."""

    @abc.abstractmethod
    async def set_read_only(self, conn: Any, value: bool | None) -> None:
        """Make new transactions read-only (or not)."""

    @abc.abstractmethod
    def get_isolation_level(self, conn: Any) -> Any:
        """The isolation level of new transactions (None: server default)."""

    @abc.abstractmethod
    async def set_isolation_level(self, conn: Any, value: Any) -> None:
        """Set the isolation level of new transactions."""

    def get_database(self, conn: Any) -> str | None:
        """The connection's current database, for drivers that can switch it (None: cannot)."""
        return None

    async def set_database(self, conn: Any, database: str) -> None:
        """Switch the connection's database (only drivers that can)."""
        from ..errors import ConfigurationError

        raise ConfigurationError(f"the {self.code} driver cannot switch the database of a connection")

    async def apply_session_state(self, conn: Any, state: SessionState) -> None:
        """Re-apply the application's session settings and appliers on a replacement connection."""
        await state.apply_to(conn, self)

    # --- I/O helpers for the wrapper's own use ---------------------------------------------------

    @abc.abstractmethod
    def open_cursor(self, conn: Any, *args: Any, **kwargs: Any) -> Any:
        """A driver cursor of ``conn`` (no I/O)."""

    @abc.abstractmethod
    async def query(self, conn: Any, sql: str, params: Sequence[Any] | None = None) -> list[tuple[Any, ...]]:
        """Run a query of the wrapper's own and return all rows, leaving no transaction behind."""

    @abc.abstractmethod
    async def close(self, conn: Any) -> None:
        """Close the connection politely."""

    @abc.abstractmethod
    def socket_fd(self, conn: Any) -> int | None:
        """The connection's socket descriptor, if it has one."""

    def abort(self, conn: Any) -> None:
        """Kill the connection at once, without waiting on a possibly dead peer.

        Shuts the socket down so that any call blocked on it fails now (a task
        cancel takes ~10 s on a dead psycopg link); the driver then finds the
        connection broken.
        """
        fd = self.socket_fd(conn)
        if fd is None or fd < 0:
            return
        try:
            sock = socket.socket(fileno=os.dup(fd))
        except OSError:
            return
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        finally:
            sock.close()

    def close_now(self, conn: Any) -> None:
        """Drop the connection without a word to the server: :meth:`abort`, then free it locally.

        For paths that must not await (cancellation, cleanup of a connection nobody will use).
        """
        self.abort(conn)
        with contextlib.suppress(Exception):  # already closed or broken: nothing left to free
            self._release_locally(conn)

    def _release_locally(self, conn: Any) -> None:
        """Free the connection's client-side resources without I/O (default: a synchronous ``close()``)."""
        close = getattr(conn, "close", None)
        if close is not None and not inspect.iscoroutinefunction(close):
            close()

    # --- errors ------------------------------------------------------------------------------

    @abc.abstractmethod
    def error_code(self, exc: BaseException) -> str | None:
        """The SQLSTATE or server error number of a driver error, as a string."""

    @abc.abstractmethod
    def is_driver_error(self, exc: BaseException) -> bool:
        """Whether ``exc`` is one of this driver's database errors."""

    @abc.abstractmethod
    def operational_error_class(self) -> type[Exception]:
        """The driver's OperationalError class (failover errors subclass it)."""
