"""``mysql+awsasyncwrap_aiomysql``: SQLAlchemy's aiomysql dialect, connecting through the wrapper.

    engine = create_async_engine(
        "mysql+awsasyncwrap_aiomysql://user:pw@db.cluster-xyz.us-east-1.rds.amazonaws.com/app"
        "?plugins=failover"
    )

Works for MySQL and MariaDB (SQLAlchemy detects MariaDB from the server
version). ``FOUND_ROWS`` is set like SQLAlchemy's own aiomysql dialect does, so
``rowcount`` counts matched rows.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from typing import Any, Literal, cast

from sqlalchemy.dialects.mysql.aiomysql import (
    AsyncAdapt_aiomysql_connection,
    AsyncAdapt_aiomysql_dbapi,
    MySQLDialect_aiomysql,
)
from sqlalchemy.util.concurrency import await_

from ..connection import AsyncAwsConnection
from ._common import disconnect_verdict, is_failover_recovered, rename_url_properties, require_async_engine

__all__ = ["AwsMySQLDialect_aiomysql"]

logger = logging.getLogger(__name__)


class AwsAsyncAdapt_aiomysql_connection(AsyncAdapt_aiomysql_connection):
    """SQLAlchemy's adapter around a wrapped aiomysql connection."""

    __slots__ = ()

    async def _terminate_graceful_close(self) -> None:
        await self._connection.ensure_closed()

    def _terminate_force_close(self) -> None:
        # no loop to await on (garbage collection): drop the driver's transport; the wrapper's
        # monitors for this connection stop when their disposal delay runs out
        proxy: AsyncAwsConnection = self._connection  # type: ignore[assignment]
        target = proxy.target_connection
        if target is not None:
            target.close()


class AwsAiomysqlDBAPI(AsyncAdapt_aiomysql_dbapi):
    """aiomysql as SQLAlchemy sees it, except that ``connect`` opens a wrapped connection."""

    def connect(self, *arg: Any, **kw: Any) -> AwsAsyncAdapt_aiomysql_connection:
        require_async_engine()
        creator_fn = kw.pop("async_creator_fn", None)
        awaitable: Awaitable[Any] = (
            AsyncAwsConnection.connect(self.aiomysql.connect, *arg, **kw)
            if creator_fn is None
            else creator_fn(*arg, **kw)
        )
        adapted: AwsAsyncAdapt_aiomysql_connection = await_(
            AwsAsyncAdapt_aiomysql_connection.create(self, cast("Any", awaitable))
        )
        return adapted


class AwsMySQLDialect_aiomysql(MySQLDialect_aiomysql):
    """MySQL / MariaDB over aiomysql through awsasyncwrap."""

    driver = "awsasyncwrap_aiomysql"
    supports_statement_cache = True

    @classmethod
    def import_dbapi(cls) -> AwsAiomysqlDBAPI:
        return AwsAiomysqlDBAPI(__import__("aiomysql"), __import__("pymysql"))

    @classmethod
    def get_async_dialect_cls(cls, url: Any) -> type[AwsMySQLDialect_aiomysql]:
        return cls

    def create_connect_args(self, url: Any, *args: Any, **kwargs: Any) -> Any:
        cargs, cparams = super().create_connect_args(url, *args, **kwargs)
        return cargs, rename_url_properties(dict(cparams))

    def do_ping(self, dbapi_connection: Any) -> Literal[True]:
        try:
            return super().do_ping(dbapi_connection)
        except Exception as exc:
            if is_failover_recovered(exc):
                return True
            raise

    def is_disconnect(self, e: Any, connection: Any, cursor: Any) -> bool:
        verdict = disconnect_verdict(e)
        if verdict is not None:
            return verdict
        return bool(super().is_disconnect(e, connection, cursor))


dialect = AwsMySQLDialect_aiomysql
