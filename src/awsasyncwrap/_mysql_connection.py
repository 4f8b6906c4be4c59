"""The proxy of an aiomysql connection: :class:`AsyncAwsMysqlConnection`."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from functools import partial
from types import TracebackType
from typing import Any

from ._carried import CarriedAttribute
from ._chains import Chain
from ._tasks import spawn
from .connection import AsyncAwsConnection, Done, close_if_cancelled, driver_method, on_current
from .cursor import AsyncAwsMysqlCursor
from .errors import AwsWrapperError, FailoverSuccessError
from .plugin_service import PluginService

__all__ = ["AsyncAwsMysqlConnection"]

logger = logging.getLogger("awsasyncwrap.connection")

_PING = driver_method("ping")


class AsyncAwsMysqlConnection(AsyncAwsConnection, for_driver="aiomysql"):
    """The proxy of an aiomysql connection: aiomysql's own spellings where they differ from psycopg's."""

    _cursor_class = AsyncAwsMysqlCursor
    cursorclass = CarriedAttribute("cursorclass")  # the default cursor class, carried over

    def __init__(self, service: PluginService) -> None:
        super().__init__(service)
        self._releasing: asyncio.Task[None] | None = None  # owned: see close()

    async def autocommit(self, value: bool) -> None:  # type: ignore[override]
        """Turn autocommit on or off (aiomysql's ``await conn.autocommit(v)``)."""
        await self.set_autocommit(value)

    async def ping(self, reconnect: bool = True) -> None:
        """Check that the server answers (aiomysql's ``Connection.ping()``).

        ``reconnect`` (aiomysql's default: True): a connection found lost is opened again and the call
        returns. With failover on, failover does it (a ``FailoverSuccessError`` is then not raised: the
        connection answers again; a transaction that was open still raises
        ``TransactionResolutionUnknownError``); else, as aiomysql, the driver reconnects to the same host.
        The driver is never asked to reconnect behind the failover plugin's back.
        """
        try:
            await self._pipe("Connection.ping", _PING, False)
        except FailoverSuccessError:
            if not reconnect:
                raise
        except Exception as exc:
            # the wrapper's own errors (failover failed, a lost transaction) stand; so does a closed proxy
            if not reconnect or self._closed or isinstance(exc, AwsWrapperError):
                raise
            if not self._driver.is_driver_error(exc):
                raise
            logger.debug("ping failed (%s); the driver reconnects to the same host", type(exc).__name__)
            await self._pipe("Connection.ping", _PING, True)

    async def set_charset(self, charset: str) -> None:
        """Change the connection's character set (aiomysql)."""
        await self._pipe("Connection.set_charset", driver_method("set_charset"), charset)

    async def show_warnings(self) -> Any:
        """The warnings of the last statement (aiomysql)."""
        return await self._pipe("Connection.show_warnings", driver_method("show_warnings"))

    async def kill(self, thread_id: int) -> Any:
        """Kill a server thread (aiomysql)."""
        return await self._pipe("Connection.kill", driver_method("kill"), thread_id)

    def close(self) -> Awaitable[None]:  # type: ignore[override]
        """Close without a word to the server, as aiomysql's plain ``close()``; ``closed`` is True at once.

        With no plugin on ``Connection.close`` the driver connection is closed here and now; else
        the close pipeline runs (read/write splitting may hand a pooled reader back instead) in a
        task the connection owns, which then releases the connection's background resources. The
        returned awaitable waits for that (``await conn.close()`` keeps working).
        :meth:`ensure_closed` says goodbye to the server first.
        """
        if self._closed:
            return self._releasing if self._releasing is not None else Done()
        self._closed = True
        conn = self._service.current_connection
        chain = self._manager.chain("Connection.close")
        self._service.mark_closed()  # calls in flight end with the closed error; none starts a failover
        piped = chain is not None
        if conn is not None and not self._driver.is_closed(conn) and not piped:
            self._driver.close_now(conn)
            conn = None
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no loop (garbage collection): the monitors stop after their disposal delay
            if conn is not None:
                self._driver.close_now(conn)
            return Done()
        task = self._releasing = spawn(
            self._close_in_background(conn, chain), "awsasyncwrap:close", loop=loop
        )
        if conn is not None:  # cancelled (the loop shutting down): close() promised a closed socket anyway
            task.add_done_callback(partial(close_if_cancelled, self._driver, conn))
        return task

    async def _close_in_background(self, conn: Any, chain: Chain | None) -> None:
        try:
            if conn is not None and chain is not None and not self._driver.is_closed(conn):
                await chain(self, "Connection.close", partial(on_current, self._service, self._close_locally))
        except Exception as exc:
            logger.debug("closing an aiomysql connection failed: %s", type(exc).__name__)
        finally:
            try:
                await self._service.release()
            except Exception:
                logger.warning("releasing a closed connection's resources failed", exc_info=True)

    async def _close_locally(self, conn: Any) -> None:
        self._driver.close_now(conn)

    async def ensure_closed(self) -> None:
        """Say goodbye to the server, close, and release the background resources (aiomysql)."""
        if self._closed:
            await self.close()
            return
        await AsyncAwsConnection.close(self)

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        # aiomysql semantics: close at once after an error, politely otherwise
        if exc_type is not None:
            await self.close()
        else:
            await self.ensure_closed()
