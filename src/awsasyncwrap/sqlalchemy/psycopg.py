"""``postgresql+awsasyncwrap_psycopg``: SQLAlchemy's async psycopg dialect, connecting through the wrapper.

    engine = create_async_engine(
        "postgresql+awsasyncwrap_psycopg://user@db.cluster-xyz.us-east-1.rds.amazonaws.com/app"
        "?plugins=failover,host_monitoring"
    )

Query parameters of the URL that are wrapper properties configure the wrapper;
the rest go to psycopg. The DBAPI connection SQLAlchemy holds is an
:class:`~awsasyncwrap.AsyncAwsConnection` (``(await conn.get_raw_connection()).driver_connection``).
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any, cast

from sqlalchemy.dialects.postgresql.psycopg import (
    AsyncAdapt_psycopg_connection,
    PGDialectAsync_psycopg,
    PsycopgAdaptDBAPI,
)
from sqlalchemy.util.concurrency import await_

from ..connection import AsyncAwsConnection
from ._common import disconnect_verdict, is_failover_recovered, rename_url_properties, require_async_engine

__all__ = ["AwsPGDialectAsync_psycopg"]


class AwsAsyncAdapt_psycopg_connection(AsyncAdapt_psycopg_connection):
    """SQLAlchemy's adapter around a wrapped psycopg connection."""

    __slots__ = ()


class AwsPsycopgAdaptDBAPI(PsycopgAdaptDBAPI):
    """psycopg as SQLAlchemy sees it, except that ``connect`` opens a wrapped connection."""

    def connect(self, *arg: Any, **kw: Any) -> AwsAsyncAdapt_psycopg_connection:
        require_async_engine()
        creator_fn = kw.pop("async_creator_fn", None)
        awaitable: Awaitable[Any] = (
            AsyncAwsConnection.connect(self.psycopg.AsyncConnection.connect, *arg, **kw)
            if creator_fn is None
            else creator_fn(*arg, **kw)
        )
        adapted: AwsAsyncAdapt_psycopg_connection = await_(
            AwsAsyncAdapt_psycopg_connection.create(self, cast("Any", awaitable))
        )
        return adapted


class AwsPGDialectAsync_psycopg(PGDialectAsync_psycopg):
    """PostgreSQL over psycopg 3 (async) through awsasyncwrap."""

    driver = "awsasyncwrap_psycopg"
    supports_statement_cache = True

    @classmethod
    def import_dbapi(cls) -> Any:
        import psycopg
        from psycopg.pq import ExecStatus

        return AwsPsycopgAdaptDBAPI(psycopg, ExecStatus)

    @classmethod
    def get_async_dialect_cls(cls, url: Any) -> type[AwsPGDialectAsync_psycopg]:
        return cls

    def _type_info_fetch(self, connection: Any, name: str) -> Any:
        # psycopg's TypeInfo.fetch insists on a real AsyncConnection: give it the current driver connection
        from psycopg.types import TypeInfo

        proxy: AsyncAwsConnection = connection.connection.driver_connection
        return await_(TypeInfo.fetch(proxy.target_connection, name))

    def create_connect_args(self, url: Any, *args: Any, **kwargs: Any) -> Any:
        cargs, cparams = super().create_connect_args(url, *args, **kwargs)  # type: ignore[no-untyped-call]
        return cargs, rename_url_properties(dict(cparams))

    def do_ping(self, dbapi_connection: Any) -> bool:
        try:
            return bool(super().do_ping(dbapi_connection))  # type: ignore[no-untyped-call]
        except Exception as exc:
            if is_failover_recovered(exc):
                return True  # the ping failed over: the connection works again
            raise

    def is_disconnect(self, e: Any, connection: Any, cursor: Any) -> bool:
        verdict = disconnect_verdict(e)
        if verdict is not None:
            return verdict
        return bool(super().is_disconnect(e, connection, cursor))  # type: ignore[no-untyped-call]


dialect = AwsPGDialectAsync_psycopg
