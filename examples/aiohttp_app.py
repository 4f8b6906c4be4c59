"""A small aiohttp service on awsasyncwrap that rides through an Aurora writer failover.

    POST /items {"name": "..."}  -> 201 {"id": N, "name": "..."}   (writes one row)
    GET  /items/{id}             -> 200 {"id": N, "name": "..."} or 404
    GET  /health                 -> 200 {"status": "ok", "host": ...} (one round trip to the database)

Any of them answers 503 with ``Retry-After`` when the database is not reachable right now (a failover
that ended with the transaction's outcome unknown, a failover that failed, no pooled connection in
time); never a 500 for that. The pool lives in the application's ``cleanup_ctx``. Run it (MySQL:
``mysql://user:password@host:port/db``; PostgreSQL: a libpq conninfo or ``postgresql://`` URI;
query parameters of either are wrapper properties)::

    pip install "awsasyncwrap[mysql]" aiohttp
    APP_DSN="mysql://app:secret@db.cluster-xyz.us-east-1.rds.amazonaws.com:3306/app" \\
        python examples/aiohttp_app.py --port 8080
    python examples/aiohttp_app.py --dsn "host=db.cluster-xyz... dbname=app user=app" \\
        --plugins failover,host_monitoring --prop failover_timeout_sec=60

Settings come from the command line or the environment: ``APP_DSN``, ``APP_PLUGINS``,
``APP_HOST_PATTERN`` (``cluster_instance_host_pattern``), ``APP_WRAPPER_PROPS`` (a JSON object of
more wrapper properties), ``APP_TABLE``, ``APP_POOL_MAX``. ``python examples/aiohttp_app.py --help``
lists them all.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import parse_qsl, unquote, urlsplit

import anyio
from aiohttp import web

from awsasyncwrap import (
    AsyncAwsConnection,
    AwsConnectError,
    FailoverError,
    FailoverSuccessError,
    release_resources,
)
from awsasyncwrap.pool import AsyncAwsConnectionPool, PoolError

__all__ = ["STORE", "DatabaseUnavailable", "ItemStore", "Settings", "create_app", "main", "make_pool"]

logger = logging.getLogger("aiohttp_app")
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


def parse_args(argv: list[str] | None = None, environ: Mapping[str, str] = os.environ) -> argparse.Namespace:
    """Command-line options; each defaults to its ``APP_*`` environment variable."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
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
    parser.add_argument("--port", type=int, default=int(environ.get("APP_LISTEN_PORT", "8080")))
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
        did not complete: run it again on the same connection. ``TransactionResolutionUnknownError``,
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
        await self.run(lambda conn: _execute(conn, ddl))

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


async def _execute(conn: AsyncAwsConnection, sql: str) -> None:
    async with conn.cursor() as cur:
        await cur.execute(sql)


# --- HTTP ----------------------------------------------------------------------------------------

SETTINGS = web.AppKey("settings", Settings)
STORE = web.AppKey("store", ItemStore)


async def pool_ctx(app: web.Application) -> AsyncIterator[None]:
    """Open the pool (and create the table) at startup; close it at cleanup."""
    settings = app[SETTINGS]
    try:
        async with make_pool(settings) as pool:
            store = ItemStore(pool, settings)
            await store.create_table()
            app[STORE] = store
            yield
    finally:
        await release_resources()  # the wrapper's monitors of this event loop


@web.middleware
async def unavailable_to_503(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    try:
        return await handler(request)
    except DatabaseUnavailable as exc:
        retry_after = request.app[SETTINGS].retry_after
        return web.json_response(
            {"error": "database unavailable", "reason": str(exc)},
            status=503,
            headers={"Retry-After": str(retry_after)},
        )


async def add_item(request: web.Request) -> web.Response:
    try:
        body = await request.json()
        name = body["name"]
    except (ValueError, KeyError, TypeError):
        raise web.HTTPBadRequest(text="want a JSON object with a name") from None
    if not isinstance(name, str) or not 1 <= len(name) <= 200:
        raise web.HTTPBadRequest(text="name: a string of 1 to 200 characters")
    item_id = await request.app[STORE].add(name)
    return web.json_response({"id": item_id, "name": name}, status=201)


async def get_item(request: web.Request) -> web.Response:
    try:
        item_id = int(request.match_info["item_id"])
    except ValueError:
        raise web.HTTPNotFound() from None
    name = await request.app[STORE].get(item_id)
    if name is None:
        raise web.HTTPNotFound(text=f"no item {item_id}")
    return web.json_response({"id": item_id, "name": name})


async def health(request: web.Request) -> web.Response:
    store = request.app[STORE]
    host = await store.ping()
    return web.json_response(
        {"status": "ok", "host": host, "failover_retries": store.failover_retries, **store.pool.get_stats()}
    )


def create_app(settings: Settings) -> web.Application:
    """The app; its ``cleanup_ctx`` owns the pool."""
    app = web.Application(middlewares=[unavailable_to_503])
    app[SETTINGS] = settings
    app.cleanup_ctx.append(pool_ctx)
    app.router.add_post("/items", add_item)
    app.router.add_get("/items/{item_id}", get_item)
    app.router.add_get("/health", health)
    return app


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    web.run_app(create_app(args.settings), host=args.host, port=args.port)


if __name__ == "__main__":
    main()
