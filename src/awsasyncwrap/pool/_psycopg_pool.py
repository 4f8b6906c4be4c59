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

    _pool_ref: Any = None

    @property
    def _pool(self) -> Any:
        """Set by psycopg_pool while the connection is checked out; keeps ``async with`` from closing it."""
        return self._pool_ref

    @_pool.setter
    def _pool(self, pool: Any) -> None:
        if pool is None and self._pool_ref is not None:
            self._reset_on_return()
        self._pool_ref = pool

    def _reset_on_return(self) -> None:
        """psycopg_pool takes the connection back (``reset_session_state_on_close``).

        psycopg_pool awaits nothing of the connection on its way back, but psycopg keeps autocommit,
        read-only and isolation level on the client until the next BEGIN: they are put back to their
        pristine values here, without I/O. A connection read/write splitting left on a reader stays
        there (pass psycopg_pool a ``reset`` that awaits ``conn.set_read_only(False)``).
        """
        state = self.plugin_service.session_state
        if not state.reset_on_close or not state.pristine:
            return
        conn = self.target_connection
        if conn is None or conn.closed:
            return
        done = all(_set_now(conn, name, value) for name, value in state.resets(lambda n: getattr(state, n)))
        if done:
            state.clear()
        else:
            logger.debug("session settings of a connection returned to psycopg_pool not reset")

    @classmethod
    async def connect(  # type: ignore[override]
        cls, conninfo: str = "", **kwargs: Any
    ) -> AwsPsycopgConnection:
        """Open a wrapped psycopg connection (the signature psycopg_pool calls)."""
        import psycopg

        conn = await super()._open(psycopg.AsyncConnection.connect, conninfo, **kwargs)
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


def _set_now(conn: Any, name: str, value: Any) -> bool:
    """Set autocommit / read_only / isolation_level of an idle psycopg connection without I/O.

    psycopg's ``_set_<name>_gen`` only checks that no transaction is open (no I/O when idle
    outside a pipeline) and stores the value; False when it would have to wait or refused.
    """
    make = getattr(conn, f"_set_{name}_gen", None)
    if make is None:
        return False
    gen = make(value)
    try:
        next(gen)
    except StopIteration:
        return True
    except Exception as exc:  # in a transaction: psycopg refuses
        logger.debug("could not reset %s: %s", name, type(exc).__name__)
        return False
    gen.close()
    return False
