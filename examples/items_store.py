"""The database layer of both example apps (``fastapi_app.py``, ``aiohttp_app.py``).

Everything that does not depend on the web framework: the settings (command line or ``APP_*``
environment), the pool of wrapped connections, the failover pattern (run a statement once more after
``FailoverSuccessError``; anything that means "the database cannot serve this now" becomes
:class:`DatabaseUnavailable`, which the apps answer with 503 + ``Retry-After``) and the SQL of the items
table. Each app file is only its framework's layer: routes, validation, the 503 answer, the pool's life.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import parse_qsl, unquote, urlsplit

import anyio

from awsasyncwrap import (
    AsyncAwsConnection,
    AwsConnectError,
    FailoverError,
    FailoverSuccessError,
    release_resources,
)
from awsasyncwrap.pool import AsyncAwsConnectionPool, PoolError

__all__ = [
    "DatabaseUnavailable",
    "ItemStore",
    "Settings",
    "make_pool",
    "mysql_connect_kwargs",
    "open_store",
    "parse_args",
    "settings_from_env",
]

logger = logging.getLogger(__name__)
T = TypeVar("T")


# --- settings ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Settings:
    """How the app reaches its database."""

    dsn: str
    plugins: str = "failover,host_monitoring"
    host_pattern: str | None = None
    props: Mapping[str, Any] = field(default_factory=dict)  # more wrapper / driver properties
    table: str = "items"
    pool_min: int = 1
    pool_max: int = 10
    pool_timeout: float = 5.0  # seconds to wait for a pooled connection
    request_timeout: float = 30.0  # seconds a request may spend on the database, failover included
    retry_after: int = 1  # seconds, the Retry-After of a 503

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,62}", self.table):
            raise ValueError(f"bad table name {self.table!r}")

    @property
    def engine(self) -> str:
        """``mysql`` for a ``mysql://`` / ``mariadb://`` DSN, else ``postgres``."""
        return "mysql" if self.dsn.startswith(("mysql://", "mariadb://")) else "postgres"


def parse_args(
    argv: list[str] | None = None,
    environ: Mapping[str, str] = os.environ,
    *,
    description: str | None = None,
    default_port: int = 8000,
) -> argparse.Namespace:
    """Command-line options; each defaults to its ``APP_*`` environment variable. ``.settings``: the
    :class:`Settings` they make."""
    parser = argparse.ArgumentParser(
        description=description, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dsn", default=environ.get("APP_DSN"), help="database DSN (env APP_DSN)")
    parser.add_argument("--plugins", default=environ.get("APP_PLUGINS", Settings.plugins))
    parser.add_argument("--host-pattern", default=environ.get("APP_HOST_PATTERN"))
    parser.add_argument(
        "--prop", action="append", default=[], metavar="NAME=VALUE", help="a wrapper property (repeatable)"
    )
    parser.add_argument("--table", default=environ.get("APP_TABLE", Settings.table))
    parser.add_argument("--pool-max", type=int, default=int(environ.get("APP_POOL_MAX", Settings.pool_max)))
    parser.add_argument("--host", default=environ.get("APP_LISTEN_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(environ.get("APP_LISTEN_PORT", str(default_port))))
    parser.add_argument("--log-level", default=environ.get("APP_LOG_LEVEL", "info"))
    args = parser.parse_args(argv)
    if not args.dsn:
        parser.error("no DSN: pass --dsn or set APP_DSN")
    props: dict[str, Any] = json.loads(environ.get("APP_WRAPPER_PROPS", "{}"))
    for item in args.prop:
        name, sep, value = item.partition("=")
        if not sep:
            parser.error(f"--prop wants NAME=VALUE, got {item!r}")
        props[name.strip()] = value
    args.settings = Settings(
        dsn=args.dsn,
        plugins=args.plugins,
        host_pattern=args.host_pattern,
        props=props,
        table=args.table,
        pool_max=args.pool_max,
    )
    return args


def settings_from_env(environ: Mapping[str, str] = os.environ) -> Settings:
    """The settings of an app a server imports (``uvicorn``, ``gunicorn``): the ``APP_*`` environment.

    ``python -m awsasyncwrap.testbed env`` prints them for a local testbed.
    """
    dsn = environ.get("APP_DSN")
    if not dsn:
        raise RuntimeError("no DSN: set APP_DSN (`python -m awsasyncwrap.testbed env` prints a testbed's)")
    return Settings(
        dsn=dsn,
        plugins=environ.get("APP_PLUGINS", Settings.plugins),
        host_pattern=environ.get("APP_HOST_PATTERN"),
        props=json.loads(environ.get("APP_WRAPPER_PROPS", "{}")),
        table=environ.get("APP_TABLE", Settings.table),
        pool_max=int(environ.get("APP_POOL_MAX", Settings.pool_max)),
    )


# --- database ------------------------------------------------------------------------------------


def mysql_connect_kwargs(url: str) -> dict[str, Any]:
    """aiomysql keywords from ``mysql://user:password@host:port/db?prop=value``."""
    parts = urlsplit(url)
    kwargs: dict[str, Any] = {"host": parts.hostname or "localhost", "port": parts.port or 3306}
    if parts.username:
        kwargs["user"] = unquote(parts.username)
    if parts.password is not None:
        kwargs["password"] = unquote(parts.password)
    if db := unquote(parts.path.lstrip("/")):
        kwargs["db"] = db
    kwargs.update(parse_qsl(parts.query))
    return kwargs


def make_pool(settings: Settings) -> AsyncAwsConnectionPool:
    """A pool of wrapped autocommit connections: one statement, one transaction."""
    props: dict[str, Any] = {"plugins": settings.plugins, "autocommit": True, **settings.props}
    if settings.host_pattern:
        props["cluster_instance_host_pattern"] = settings.host_pattern
    if settings.engine == "mysql":
        import aiomysql

        connect: Callable[..., Awaitable[Any]] = aiomysql.connect
        conninfo, props = "", {**mysql_connect_kwargs(settings.dsn), **props}
    else:
        import psycopg

        connect, conninfo = psycopg.AsyncConnection.connect, settings.dsn
    return AsyncAwsConnectionPool(
        connect,
        conninfo,
        min_size=settings.pool_min,
        max_size=settings.pool_max,
        timeout=settings.pool_timeout,
        name="items",
        **props,
    )


def unavailable_errors() -> tuple[type[BaseException], ...]:
    """Errors that mean "the database cannot serve this right now": answered with 503."""
    errors: list[type[BaseException]] = [FailoverError, AwsConnectError, PoolError, TimeoutError]
    try:
        import psycopg

        errors.append(psycopg.OperationalError)
    except ImportError:
        pass
    try:
        import pymysql

        errors.append(pymysql.err.OperationalError)
    except ImportError:
        pass
    return tuple(errors)


class DatabaseUnavailable(Exception):
    """The request could not be served now; the client should retry later."""


class ItemStore:
    """The app's data access: every call borrows a pooled connection and follows the failover pattern."""

    def __init__(self, pool: AsyncAwsConnectionPool, settings: Settings) -> None:
        self.pool = pool
        self.settings = settings
        self.mysql = settings.engine == "mysql"
        self.failover_retries = 0  # statements run again after FailoverSuccessError
        self.unavailable = 0  # requests answered with 503
        self._unavailable_errors = unavailable_errors()

    async def run(self, work: Callable[[AsyncAwsConnection], Awaitable[T]]) -> T:
        """Run ``work`` on a pooled connection; once more after a successful failover; else 503.

        ``FailoverSuccessError``: the connection already points at the new writer and the statement
        never reached the server: run it again on the same connection. ``TransactionResolutionUnknownError``
        (the statement was in flight: it may have landed, so it is not run again blindly),
        ``FailoverFailedError``, a pool timeout or a lost connection: raise :class:`DatabaseUnavailable`.
        """
        try:
            with anyio.fail_after(self.settings.request_timeout):
                async with self.pool.connection() as conn:
                    try:
                        return await work(conn)
                    except FailoverSuccessError:
                        self.failover_retries += 1
                        logger.info(
                            "connection failed over to %s; running the statement again", conn.current_host
                        )
                        return await work(conn)
        except self._unavailable_errors as exc:
            self.unavailable += 1
            logger.warning("database unavailable: %s: %s", type(exc).__name__, exc)
            raise DatabaseUnavailable(type(exc).__name__) from exc

    async def create_table(self) -> None:
        if self.mysql:
            ddl = (
                f"CREATE TABLE IF NOT EXISTS {self.settings.table} "
                "(id BIGINT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(200) NOT NULL)"
            )
        else:
            ddl = (
                f"CREATE TABLE IF NOT EXISTS {self.settings.table} "
                "(id bigserial PRIMARY KEY, name text NOT NULL)"
            )
        try:
            await self.run(lambda conn: _execute(conn, ddl))
        except Exception as exc:
            # several worker processes start at once: PostgreSQL's CREATE TABLE IF NOT EXISTS may lose the
            # race on its catalog (unique violation) when another one created the table meanwhile
            if getattr(exc, "sqlstate", None) != "23505":
                raise

    async def add(self, name: str) -> int:
        table = self.settings.table

        async def insert(conn: AsyncAwsConnection) -> int:
            async with conn.cursor() as cur:
                if self.mysql:
                    await cur.execute(f"INSERT INTO {table} (name) VALUES (%s)", (name,))
                    return int(cur.lastrowid)
                await cur.execute(f"INSERT INTO {table} (name) VALUES (%s) RETURNING id", (name,))
                (new_id,) = await cur.fetchone()
                return int(new_id)

        return await self.run(insert)

    async def get(self, item_id: int) -> str | None:
        sql = f"SELECT name FROM {self.settings.table} WHERE id = %s"

        async def select(conn: AsyncAwsConnection) -> str | None:
            async with conn.cursor() as cur:
                await cur.execute(sql, (item_id,))
                row = await cur.fetchone()
                return None if row is None else str(row[0])

        return await self.run(select)

    async def ping(self) -> str | None:
        """One round trip; the instance that answered."""

        async def select_1(conn: AsyncAwsConnection) -> str | None:
            await _execute(conn, "SELECT 1")
            host = conn.current_host
            return None if host is None else host.host_id or host.url

        return await self.run(select_1)

    async def health(self) -> dict[str, Any]:
        """The body of ``GET /health``: one round trip (:meth:`ping`) and the pool's figures."""
        host = await self.ping()
        return {
            "status": "ok",
            "host": host,
            "pid": os.getpid(),  # which worker process answered
            "failover_retries": self.failover_retries,
            **self.pool.get_stats(),
        }


async def _execute(conn: AsyncAwsConnection, sql: str) -> None:
    async with conn.cursor() as cur:
        await cur.execute(sql)


@asynccontextmanager
async def open_store(settings: Settings) -> AsyncIterator[ItemStore]:
    """The store for the life of an app: opens the pool and creates the table; at the end closes the pool
    and stops the wrapper's monitors of this event loop."""
    try:
        pool = await _open_pool(settings)
        async with pool:
            yield ItemStore(pool, settings)
    finally:
        await release_resources()


STARTUP_WAIT_SEC = 30.0  # how long a starting worker waits for the database before it gives up


async def _open_pool(settings: Settings) -> AsyncAwsConnectionPool:
    """Open the pool and create the table, waiting (with a backoff) while the database cannot serve: a
    worker started during a failover or a restart waits for it instead of dying (and taking a process
    manager down with it)."""
    deadline = anyio.current_time() + STARTUP_WAIT_SEC
    delay = 0.1
    while True:
        pool = make_pool(settings)
        try:
            await pool.open()
            await ItemStore(pool, settings).create_table()
            return pool
        except Exception as exc:
            await pool.aclose()
            if anyio.current_time() + delay > deadline:
                raise
            logger.warning("database not reachable at startup (%s); trying again", type(exc).__name__)
            await anyio.sleep(delay)
            delay = min(delay * 2, 2.0)
