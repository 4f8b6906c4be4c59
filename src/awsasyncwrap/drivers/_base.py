"""What the wrapper needs to know about one driver: :class:`DriverDialect`."""

from __future__ import annotations

import abc
import asyncio
import contextlib
import inspect
import os
import socket
from collections.abc import Awaitable, Callable, Hashable, Mapping, Sequence
from typing import Any, ClassVar, Generic

import anyio
from typing_extensions import TypeVar

from .. import properties as _properties
from .._bounded import ArgsKey, remember
from .._session_state import SessionState
from ..errors import ConfigurationError
from ..hostinfo import HostInfo
from ..properties import (
    MONITORING_PREFIXES,
    Properties,
    known_properties,
    strip_monitoring_prefix,
)
from . import _bound
from ._aborts import ABORTS, AbortLog
from ._limits import DEFAULT_CONNECT_TIMEOUT_SEC, connect_limit, drop_unfinished

__all__ = [
    "ABORTS",
    "DEFAULT_CONNECT_TIMEOUT_SEC",
    "AbortLog",
    "DriverDialect",
    "SessionState",
    "connect_limit",
    "drop_unfinished",
]

TargetConnectFunc = Callable[..., Awaitable[Any]]

#: the driver keywords of earlier connects' properties (see :meth:`DriverDialect._driver_kwargs`)
_DRIVER_KWARGS: dict[Hashable, Properties] = {}
_DRIVER_KWARGS_MAX = 32
#: the wrapper property names they were worked out with (:data:`~awsasyncwrap.properties.known_generation`)
_driver_kwargs_generation = -1


#: the driver's connection type (``Any`` where the driver ships no types)
ConnT = TypeVar("ConnT", default=Any)


class DriverDialect(abc.ABC, Generic[ConnT]):
    """How to connect with, inspect and control one driver's connections."""

    code: ClassVar[str]
    #: The database engine family the driver speaks to: ``"pg"`` or ``"mysql"`` (a plain dialect's code).
    engine: ClassVar[str]
    #: How the names of the failover errors that are also this driver's OperationalError begin
    #: (``Psycopg`` -> ``PsycopgFailoverSuccessError``); empty: no such classes.
    error_class_prefix: ClassVar[str] = ""
    #: aws-advanced-python-wrapper's ``tcp_keepalive*`` property -> this driver's own keyword for it (empty:
    #: the driver has none, its dialect applies them itself after connect)
    keepalive_params: ClassVar[Mapping[str, str]] = {}
    #: whether ``async with conn:`` ends the transaction (commit, or roll back on error) before closing,
    #: as psycopg's does (aiomysql's only closes)
    block_ends_transaction: ClassVar[bool] = False
    #: Generic property name -> this driver's keyword.
    generic_names: ClassVar[Mapping[str, str]]
    #: The one table of the proxies' network-bound methods for this driver: every name here is
    #: dispatched by a proxy method through the plugin pipeline (``"*"`` subscribers get them).
    #: Fetches and scrolls of server-side cursors are network-bound too, whatever their name here.
    network_bound_methods: ClassVar[frozenset[str]]
    #: Connect keywords that only hold for the host they came with (psycopg ``hostaddr``, aiomysql
    #: ``unix_socket``): given to that host's connections only, blanked for any other host.
    host_bound_names: ClassVar[frozenset[str]] = frozenset()
    #: host url -> the host-bound keywords of that host (``resolve_hosts`` assigns a new dict)
    _host_bound: Mapping[str, Mapping[str, Any]] = {}

    # --- identification and connect ---------------------------------------------------------

    @classmethod
    @abc.abstractmethod
    def matches(cls, target_driver_func: TargetConnectFunc) -> bool:
        """Whether ``target_driver_func`` is this driver's connect function."""

    @abc.abstractmethod
    def driver_params(self) -> frozenset[str]:
        """Every keyword this driver's connect function accepts."""

    def collect_props(self, conninfo: str, kwargs: Mapping[str, Any]) -> dict[str, Any]:
        """The properties given as a connection string (only drivers that have one) and keywords."""
        if conninfo:
            from ..errors import ConfigurationError

            raise ConfigurationError(
                f"The {self.code} driver takes keyword arguments, not a connection string."
            )
        return dict(kwargs)

    def resolve_hosts(self, props: Properties) -> list[HostInfo]:
        """The hosts the driver would try for ``props``, in order, by the driver's own rules.

        Fills in ``props`` what the wrapper must know explicitly (generic ``host``, ``port``,
        ``user``, ``database``) with the values the driver would have chosen.
        """

        host = props.get("host")
        if not host:
            raise ConfigurationError(f"No host given: the {self.code} driver needs host=...")
        port = props.get("port")
        return [HostInfo(str(host), None if port is None else int(port))]

    def first_attempts(self, props: Properties, hosts: list[HostInfo]) -> list[tuple[HostInfo, Properties]]:
        """The first connection's attempts, in order: each host with the properties to connect with."""
        return [(host, props) for host in hosts]

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
        kwargs = self._driver_kwargs(props)
        kwargs[self.generic_names["host"]] = host_info.host
        if host_info.port is not None:
            kwargs[self.generic_names["port"]] = host_info.port
        if self._host_bound:
            bound = self._host_bound.get(host_info.url)
            for name in self.host_bound_names:
                kwargs[name] = None if bound is None else bound.get(name)
        return self.adjust_connect_kwargs(kwargs)

    def _driver_kwargs(self, props: Mapping[str, Any]) -> dict[str, Any]:
        """The driver's keywords among ``props`` (renamed), before aiming them at a host.

        The same properties give the same keywords (a pool, an application reconnecting): they are
        remembered (at most :data:`_DRIVER_KWARGS_MAX` sets) by driver dialect class, names, values and
        the values' types (``1`` and ``True`` are equal keys, not equal arguments), until a property is
        registered (the wrapper's names then change).
        """
        wrapper_names = known_properties()
        global _driver_kwargs_generation
        if _properties.known_generation != _driver_kwargs_generation:
            _DRIVER_KWARGS.clear()
            _driver_kwargs_generation = _properties.known_generation
        key: ArgsKey | None = ArgsKey((type(self), *props.items(), *map(type, props.values())))
        try:
            cached = _DRIVER_KWARGS.get(key)
        except TypeError:  # an unhashable value (aiomysql's conv dict): worked out each time
            cached = key = None
        if cached is not None:
            return dict(cached)
        params = self.driver_params()
        kwargs: dict[str, Any] = {}
        for name, value in props.items():
            if value is None or name.startswith(MONITORING_PREFIXES):
                continue
            driver_key = self.generic_names.get(name, name)
            if driver_key in params or (name not in wrapper_names and name not in self.generic_names):
                kwargs[driver_key] = value
        if key is not None:
            remember(_DRIVER_KWARGS, key, Properties(kwargs), _DRIVER_KWARGS_MAX)  # masked repr
        return kwargs

    def adjust_connect_kwargs(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        """Driver-specific final touches to the connect keywords."""
        return kwargs

    async def connect(
        self, target_driver_func: TargetConnectFunc, host_info: HostInfo, props: Mapping[str, Any]
    ) -> Any:
        """Open a raw driver connection to ``host_info``."""
        try:
            return await target_driver_func(**self.connect_kwargs(host_info, props))
        except BaseException as exc:
            if not isinstance(exc, Exception):
                drop_unfinished(exc)
            raise

    async def connect_bounded(
        self, target_driver_func: TargetConnectFunc, host_info: HostInfo, props: Mapping[str, Any]
    ) -> Any:
        """:meth:`connect` within :func:`connect_limit`; past it, the driver's OperationalError naming
        the host (:meth:`connect_timeout_error`)."""
        limit = connect_limit(props)
        if limit is None:
            return await self.connect(target_driver_func, host_info, props)
        if not _bound.supported:  # Python 3.10
            with anyio.move_on_after(limit):
                return await self.connect(target_driver_func, host_info, props)
        else:  # one timer per loop for every connect (see drivers/_bound.py), no cancel scope
            watch = _bound.bound_of(asyncio.get_running_loop())
            entry = watch.enter(limit)
            try:
                conn = await self.connect(target_driver_func, host_info, props)
            except asyncio.CancelledError:
                if not entry.caused(cancelled=True):  # not (only) the bound's: the caller's
                    raise
            else:
                entry.caused(cancelled=False)
                return conn
            finally:
                watch.leave(entry)
        raise self.connect_timeout_error(
            f"connection to {host_info.url} timed out after {limit:g} s (wrapper_connect_timeout_sec, "
            f"connect_timeout or the wrapper's default of {DEFAULT_CONNECT_TIMEOUT_SEC:g} s)"
        )

    def connect_timeout_value(self, seconds: float) -> float:
        """``seconds`` as this driver's own ``connect_timeout`` takes it (default: as is)."""
        return seconds

    def aim_at(self, host: HostInfo, ip: str, props: Properties) -> tuple[HostInfo, Properties]:
        """Connect to ``ip`` in place of ``host`` (default: ``ip`` becomes the host; TLS checks the IP)."""
        return HostInfo(ip, host.port, host.role), props.copy()

    def without_tls(self, props: Mapping[str, Any]) -> str | None:
        """Why a connection with ``props`` may go without TLS (None: it will use TLS)."""
        return None

    def says_bad_credentials(self, exc: BaseException) -> bool:
        """Whether ``exc`` is the server refusing the credentials where no error code says so."""
        return False

    def connect_timeout_error(self, message: str) -> Exception:
        """The driver's error for a connection attempt the wrapper gave up on."""
        return self.operational_error_class()(message)

    # --- state --------------------------------------------------------------------------------

    @abc.abstractmethod
    def is_closed(self, conn: ConnT) -> bool:
        """Whether the driver connection is closed (locally known, no I/O)."""

    @abc.abstractmethod
    def is_in_transaction(self, conn: ConnT) -> bool:
        """Whether a transaction is open on the connection (locally known, no I/O)."""

    def call_state(self, conn: ConnT) -> tuple[bool, Any]:
        """Read before every call the failover plugin watches: (whether a transaction is open, not just a
        call in flight; the link the call will use, falsy when the driver already knows it is gone, handed
        back to :meth:`failure_settled` / :meth:`unsent` if the call fails). Attribute reads only."""
        return self.is_in_transaction(conn), True

    def reported_writer(self, conn: ConnT) -> bool | None:
        """Whether the server is a writer, as it told the driver unasked (None: it did not say)."""
        return None

    def takes_queries(self, conn: ConnT) -> bool:
        """Whether a query of the wrapper's own may run on ``conn`` now (not in a failed transaction)."""
        return True

    @abc.abstractmethod
    def get_autocommit(self, conn: ConnT) -> bool:
        """The connection's autocommit mode."""

    @abc.abstractmethod
    async def set_autocommit(self, conn: ConnT, value: bool) -> None:
        """Change the connection's autocommit mode."""

    @abc.abstractmethod
    def get_read_only(self, conn: ConnT) -> bool | None:
        """Whether new transactions are read-only (None: server default)."""

    @abc.abstractmethod
    async def set_read_only(self, conn: ConnT, value: bool | None) -> None:
        """Make new transactions read-only (or not)."""

    @abc.abstractmethod
    def get_isolation_level(self, conn: ConnT) -> Any:
        """The isolation level of new transactions (None: server default)."""

    @abc.abstractmethod
    async def set_isolation_level(self, conn: ConnT, value: Any) -> None:
        """Set the isolation level of new transactions."""

    def get_database(self, conn: ConnT) -> str | None:
        """The connection's current database, for drivers that can switch it (None: cannot)."""
        return None

    async def set_database(self, conn: ConnT, database: str) -> None:
        """Switch the connection's database (only drivers that can)."""

        raise ConfigurationError(f"the {self.code} driver cannot switch the database of a connection")

    async def apply_session_state(self, conn: ConnT, state: SessionState) -> None:
        """Re-apply the application's session settings and appliers on a replacement connection."""
        await state.apply_to(conn, self)

    # --- I/O helpers for the wrapper's own use ---------------------------------------------------

    @abc.abstractmethod
    def open_cursor(self, conn: ConnT, *args: Any, **kwargs: Any) -> Any:
        """A driver cursor of ``conn`` (no I/O)."""

    @abc.abstractmethod
    async def query(
        self, conn: ConnT, sql: str, params: Sequence[Any] | None = None
    ) -> list[tuple[Any, ...]]:
        """Run a query of the wrapper's own and return all rows, leaving no transaction behind."""

    @abc.abstractmethod
    async def close(self, conn: ConnT) -> None:
        """Close the connection politely."""

    @abc.abstractmethod
    def socket_fd(self, conn: ConnT) -> int | None:
        """The connection's socket descriptor, if it has one."""

    def abort(self, conn: ConnT) -> None:
        """Kill the connection at once, without waiting on a possibly dead peer.

        Shuts the socket down so that any call blocked on it fails now (a task
        cancel takes ~10 s on a dead psycopg link); the driver then finds the
        connection broken.
        """
        ABORTS.mark(conn)
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

    #: Whether :meth:`link_lost` costs no system call (then it is asked before every call, not only after
    #: an idle spell).
    link_check_is_free: ClassVar[bool] = False

    def link_lost(self, conn: ConnT) -> bool:
        """Whether the connection's link is already known to be gone (closed or reset by the peer).

        Cheap and local: no data is read and nothing is sent. Asked before a call on a connection that sat
        idle, so that a call on a dead link fails over without its statement ever being sent.
        """
        return False

    async def failure_settled(self, link: Any) -> None:
        """Wait until what a failed call left behind tells why it failed (default: nothing to wait for).

        ``link``: what :meth:`unsent` gets, as the call saw it before it started.
        """
        return None

    def unsent(self, exc: Exception, link: Any) -> bool:
        """Whether the driver shows that the failed call's statement never left (safe to run again)."""
        return False

    def close_now(self, conn: ConnT) -> None:
        """Drop the connection without a word to the server: :meth:`abort`, then free it locally.

        For paths that must not await (cancellation, cleanup of a connection nobody will use).
        """
        self.abort(conn)
        with contextlib.suppress(Exception):  # already closed or broken: nothing left to free
            self._release_locally(conn)

    def _release_locally(self, conn: ConnT) -> None:
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

    def closed_error(self, in_flight: bool = False) -> Exception:
        """The driver's error for a call on a connection the application closed.

        ``in_flight``: for a call that was running when the connection was closed.
        """
        return self.operational_error_class()("the connection is closed")
