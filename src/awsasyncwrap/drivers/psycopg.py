"""Driver dialect for psycopg 3 ``AsyncConnection``."""

from __future__ import annotations

import inspect
import math
import os
import random
import select
import socket
from collections.abc import Mapping, Sequence
from functools import cache
from typing import TYPE_CHECKING, Any, ClassVar

import anyio

from ..errors import ConfigurationError
from ..hostinfo import HostInfo, HostRole
from ..properties import Properties
from ._base import DriverDialect, TargetConnectFunc
from ._conninfo import split_conninfo
from ._libpq import effective_params, split_hosts

if TYPE_CHECKING:
    from psycopg import AsyncConnection

    PgConnection = AsyncConnection[Any]

__all__ = ["PsycopgDriverDialect"]

_PEEK_BYTES = 4096
#: SQLSTATE class 57P: the server ends the session (admin / crash shutdown, idle timeout, ...)
_ENDING = b"57P"

#: How long closing waits for a call in flight to end once its socket was shut down.
_BUSY_CLOSE_WAIT = 1.0
_CONNECT_KEYWORDS = frozenset({"autocommit", "prepare_threshold", "context", "row_factory", "cursor_factory"})


@cache
def _libpq_keywords() -> frozenset[str]:
    from psycopg import pq

    return frozenset(opt.keyword.decode() for opt in pq.Conninfo.get_defaults())


#: libpq's words when the server refuses a password or token
_AUTH_FAILED_PHRASES = ("authentication failed for user", "password authentication failed")


#: libpq's PGTransactionStatusType values (psycopg.pq.TransactionStatus) as ints
_ACTIVE, _INTRANS, _INERROR, _UNKNOWN = 1, 2, 3, 4


class PsycopgDriverDialect(DriverDialect["PgConnection"]):
    """psycopg 3, asyncio (``psycopg.AsyncConnection.connect``)."""

    code = "psycopg"
    engine = "pg"
    error_class_prefix = "Psycopg"
    block_ends_transaction = True
    keepalive_params: ClassVar[Mapping[str, str]] = {
        "tcp_keepalive": "keepalives",
        "tcp_keepalive_time": "keepalives_idle",
        "tcp_keepalive_interval": "keepalives_interval",
        "tcp_keepalive_probes": "keepalives_count",
    }
    generic_names: ClassVar[dict[str, str]] = {
        "host": "host",
        "port": "port",
        "user": "user",
        "password": "password",
        "database": "dbname",
    }
    network_bound_methods = frozenset(
        {
            "Connection.commit",
            "Connection.rollback",
            "Connection.close",
            "Connection.set_autocommit",
            "Connection.set_read_only",
            "Connection.set_isolation_level",
            "Connection.set_deferrable",
            "Connection.transaction",
            "Connection.pipeline",
            "Connection.notifies",
            "Connection.tpc_begin",
            "Connection.tpc_prepare",
            "Connection.tpc_commit",
            "Connection.tpc_rollback",
            "Connection.tpc_recover",
            "Cursor.execute",
            "Cursor.executemany",
            "Cursor.stream",
            "Cursor.copy",
        }
    )

    @classmethod
    def matches(cls, target_driver_func: TargetConnectFunc) -> bool:
        try:
            import psycopg
        except ImportError:  # pragma: no cover - psycopg not installed
            return False
        owner = getattr(target_driver_func, "__self__", target_driver_func)
        return inspect.isclass(owner) and issubclass(owner, psycopg.AsyncConnection)

    def driver_params(self) -> frozenset[str]:
        return _libpq_keywords() | _CONNECT_KEYWORDS

    host_bound_names = frozenset({"hostaddr"})
    _effective: Mapping[str, str] = {}  # libpq's values for the first connection (resolve_hosts)

    def collect_props(self, conninfo: str, kwargs: Mapping[str, Any]) -> dict[str, Any]:
        """libpq parses ``conninfo`` (text or URI) but the wrapper's keys; ``kwargs`` win, as in psycopg."""
        from psycopg import ProgrammingError
        from psycopg.conninfo import conninfo_to_dict

        libpq_part, wrapper_part = split_conninfo(conninfo, _libpq_keywords().__contains__)
        try:
            params = conninfo_to_dict(libpq_part)
        except ProgrammingError as exc:
            raise ConfigurationError(f"Bad connection string: {exc}") from None
        return {**params, **wrapper_part, **kwargs}

    def resolve_hosts(self, props: Properties) -> list[HostInfo]:
        """libpq's hosts for ``props``: env vars, ``service=`` file, URI, lists of hosts, defaults."""
        keywords = _libpq_keywords()
        # props hold each driver name once (normalize() renamed the driver's spellings): renamed in C
        names = props.keys()
        renamed = dict(zip(map(self.generic_names.get, names, names), props.values(), strict=True))
        params = {name: renamed[name] for name in renamed.keys() & keywords if renamed[name] is not None}
        effective = self._effective = effective_params(params)
        attempts = split_hosts(effective)
        infos = []
        bound = {}
        for i, (host, addr, port) in enumerate(attempts):
            info = HostInfo(host or addr, port, HostRole.WRITER if i == 0 else HostRole.UNKNOWN)
            if addr:
                bound[info.url] = {"hostaddr": addr}
            infos.append(info)
        self._host_bound = bound
        props.pop("hostaddr", None)
        props["host"] = ",".join(h.host for h in infos)
        ports = {h.port for h in infos}
        props["port"] = infos[0].port if len(ports) == 1 else ",".join(str(h.port) for h in infos)
        # no "user" here: libpq still applies PGUSER / the service file / the OS user at connect, and auth
        # plugins (iam, aws_secrets_manager, federated_auth, okta) supply the user when none was given
        if props.get("database") is None and effective.get("dbname"):
            props["database"] = effective["dbname"]
        return infos

    def first_attempts(self, props: Properties, hosts: list[HostInfo]) -> list[tuple[HostInfo, Properties]]:
        """psycopg's order: ``load_balance_hosts=random`` shuffles the hosts; ``prefer-standby`` tries every
        host as a standby first, then every host as anything."""
        hosts = list(hosts)
        if len(hosts) > 1 and self._effective.get("load_balance_hosts") == "random":
            random.shuffle(hosts)
        attempts = [(host, props) for host in hosts]
        if len(hosts) > 1 and self._effective.get("target_session_attrs") == "prefer-standby":
            standby = Properties({**props, "target_session_attrs": "standby"})
            attempts = [(host, standby) for host in hosts] + attempts
        return attempts

    def adjust_connect_kwargs(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        if "hostaddr" in kwargs and kwargs["hostaddr"] is None:
            kwargs["hostaddr"] = ""  # blank, not absent: a service file's hostaddr must not apply either
        return kwargs

    # --- state --------------------------------------------------------------------------------

    def is_closed(self, conn: PgConnection) -> bool:
        return bool(conn.closed)

    def is_in_transaction(self, conn: PgConnection) -> bool:
        from psycopg import pq

        return conn.info.transaction_status in (
            pq.TransactionStatus.INTRANS,
            pq.TransactionStatus.INERROR,
            pq.TransactionStatus.ACTIVE,
        )

    def call_state(self, conn: PgConnection) -> tuple[bool, Any]:
        # libpq's status as an int: conn.info.transaction_status makes an object and an enum (about 1 us);
        # ACTIVE in autocommit is a call in flight, not a transaction; a broken link reports UNKNOWN
        status = conn.pgconn.transaction_status
        in_tx = status in (_INTRANS, _INERROR) or (status == _ACTIVE and not conn.autocommit)
        return in_tx, status != _UNKNOWN

    def reported_writer(self, conn: PgConnection) -> bool | None:
        # PostgreSQL 14+ reports in_hot_standby to the client, whatever the transaction's state
        standby = conn.pgconn.parameter_status(b"in_hot_standby")
        return None if standby is None else bool(standby != b"on")

    def takes_queries(self, conn: PgConnection) -> bool:
        from psycopg import pq

        return bool(conn.info.transaction_status != pq.TransactionStatus.INERROR)

    def get_autocommit(self, conn: PgConnection) -> bool:
        return bool(conn.autocommit)

    async def set_autocommit(self, conn: PgConnection, value: bool) -> None:
        await conn.set_autocommit(value)

    def get_read_only(self, conn: PgConnection) -> bool | None:
        value = conn.read_only
        return None if value is None else bool(value)

    async def set_read_only(self, conn: PgConnection, value: bool | None) -> None:
        await conn.set_read_only(value)

    def get_isolation_level(self, conn: PgConnection) -> Any:
        return conn.isolation_level

    async def set_isolation_level(self, conn: PgConnection, value: Any) -> None:
        await conn.set_isolation_level(value)

    # --- I/O helpers ----------------------------------------------------------------------------

    def open_cursor(self, conn: PgConnection, *args: Any, **kwargs: Any) -> Any:
        return conn.cursor(*args, **kwargs)

    async def query(
        self, conn: PgConnection, sql: str, params: Sequence[Any] | None = None
    ) -> list[tuple[Any, ...]]:
        from psycopg import pq
        from psycopg.rows import tuple_row

        was_idle = not conn.autocommit and conn.info.transaction_status == pq.TransactionStatus.IDLE
        async with conn.cursor(row_factory=tuple_row) as cur:
            await cur.execute(sql, params)
            rows: list[tuple[Any, ...]] = await cur.fetchall() if cur.description is not None else []
        if was_idle:
            await conn.rollback()
        return rows

    async def close(self, conn: PgConnection) -> None:
        lock = getattr(conn, "lock", None)
        if lock is not None and lock.locked() and not conn.closed:
            # a call in flight (another task): shut the socket down so that it ends now with the driver's
            # error, and let it end before the socket is freed (a wait on a freed socket never wakes up)
            self.abort(conn)
            with anyio.move_on_after(_BUSY_CLOSE_WAIT):
                async with lock:
                    pass
        await conn.close()

    def connect_timeout_value(self, seconds: float) -> float:
        return max(2, math.ceil(seconds))  # libpq takes whole seconds, 2 at the least

    def aim_at(self, host: HostInfo, ip: str, props: Properties) -> tuple[HostInfo, Properties]:
        out = props.copy()
        out["hostaddr"] = ip  # libpq connects there and keeps the name for TLS and the server's checks
        return host, out

    def without_tls(self, props: Mapping[str, Any]) -> str | None:
        mode = props.get("sslmode") or os.environ.get("PGSSLMODE") or "prefer"
        return f"sslmode={mode}" if str(mode) in ("disable", "allow") else None

    def says_bad_credentials(self, exc: BaseException) -> bool:
        if not self.is_driver_error(exc) or self.error_code(exc) is not None:
            return False  # libpq's connection failures carry no SQLSTATE: only their text tells
        text = str(exc).lower()
        return any(phrase in text for phrase in _AUTH_FAILED_PHRASES)

    def unsent(self, exc: Exception, link: Any) -> bool:
        return str(exc) == "the connection is closed"  # psycopg's own check before it sends anything

    def link_lost(self, conn: PgConnection) -> bool:
        try:
            fd = conn.pgconn.socket
        except Exception:  # closed or broken: psycopg itself raises before sending anything
            return False
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        if not poller.poll(0):
            return False  # nothing pending: as alive as can be told
        # readable while idle: a notice, or the end of the session; peek without consuming
        try:
            sock = socket.socket(fileno=os.dup(fd))
        except OSError:
            return True
        try:
            return _session_ending(sock.recv(_PEEK_BYTES, socket.MSG_PEEK | socket.MSG_DONTWAIT))
        except (BlockingIOError, InterruptedError):
            return False
        except OSError:
            return True  # reset by the peer
        finally:
            sock.close()

    def _release_locally(self, conn: PgConnection) -> None:
        conn.pgconn.finish()  # what AsyncConnection.close() does, without the await

    def socket_fd(self, conn: PgConnection) -> int | None:
        try:
            fd = conn.pgconn.socket
        except Exception:  # closed or broken connection
            return None
        return int(fd)

    # --- errors ---------------------------------------------------------------------------------

    def error_code(self, exc: BaseException) -> str | None:
        code = getattr(exc, "sqlstate", None)
        return str(code) if code else None

    def is_driver_error(self, exc: BaseException) -> bool:
        import psycopg

        return isinstance(exc, psycopg.Error)

    def operational_error_class(self) -> type[Exception]:
        import psycopg

        return psycopg.OperationalError


def _session_ending(data: bytes) -> bool:
    """Whether what an idle connection received says the session is over: the end of the stream, an
    ErrorResponse (always fatal while idle), or a notice with a 57P SQLSTATE (the server ends the session)."""
    if not data:
        return True
    pos = 0
    while pos + 5 <= len(data):
        kind = data[pos : pos + 1]
        length = int.from_bytes(data[pos + 1 : pos + 5], "big")
        body = data[pos + 5 : pos + 1 + length]
        if kind == b"E":
            return True
        if kind == b"N":
            for field in body.split(b"\0"):
                if field[:1] == b"C" and field[1:].startswith(_ENDING):
                    return True
        pos += 1 + length
    return False
