"""A ``connection_class`` that lets ``psycopg_pool.AsyncConnectionPool`` pool wrapped connections.

psycopg_pool needs a class with ``connect(conninfo, **kwargs)`` whose
instances act like ``psycopg.AsyncConnection`` as far as the pool looks:
``pgconn``/``info`` (transaction status), ``autocommit``/``set_autocommit``,
``execute``, ``commit``/``rollback``/``close`` and an ``async with`` that does
not close a connection owned by a pool (the pool sets ``_pool`` on it).

A subclass of ``psycopg.AsyncConnection`` cannot be the wrapper: the wrapper
stands for a *changing* driver connection (failover, read/write splitting),
while a subclass *is* one libpq connection. So this class subclasses the
wrapper's proxy instead and forwards the rest to the current driver
connection. For type checkers it is not an ``AsyncConnection``; write
``connection_class=AwsPsycopgConnection,  # type: ignore[arg-type]``, or annotate the pool as
``AsyncConnectionPool[Any]``.
"""

from __future__ import annotations

import logging
from types import TracebackType
from typing import Any

from ..connection import AsyncAwsConnection

__all__ = ["AwsPsycopgConnection"]

logger = logging.getLogger(__name__)


class AwsPsycopgConnection(AsyncAwsConnection):
    """A wrapped psycopg connection usable as ``psycopg_pool.AsyncConnectionPool(connection_class=...)``.

    Wrapper properties go in the conninfo string or the pool's ``kwargs``::

        pool = AsyncConnectionPool(
            "host=db.cluster-xyz.us-east-1.rds.amazonaws.com dbname=app user=app",
            connection_class=AwsPsycopgConnection,
            kwargs={"plugins": "failover,host_monitoring"},
            check=AsyncConnectionPool.check_connection,
        )
    """

    #: Set by psycopg_pool while the connection is checked out; keeps ``async with`` from closing it.
    _pool: Any = None

    @classmethod
    async def connect(  # type: ignore[override]
        cls, conninfo: str = "", **kwargs: Any
    ) -> AwsPsycopgConnection:
        """Open a wrapped psycopg connection (the signature psycopg_pool calls)."""
        import psycopg

        conn = await super().connect(psycopg.AsyncConnection.connect, conninfo, **kwargs)
        assert isinstance(conn, AwsPsycopgConnection)
        return conn

    async def __aenter__(self) -> AwsPsycopgConnection:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        # psycopg's connection block: commit or roll back; close only when no pool owns the connection
        if self.closed:
            return
        if exc_type is None:
            await self.commit()
        else:
            try:
                await self.rollback()
            except Exception as err:
                logger.warning("rollback on leaving the block failed: %s", type(err).__name__)
        if not self._pool:
            await self.close()
