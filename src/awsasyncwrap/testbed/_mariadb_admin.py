"""Root connections to a testbed MariaDB node over its unix socket, for the testbed's own statements."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import anyio

from ._errors import TestbedError

__all__ = ["admin_query"]

HANDSHAKE_TIMEOUT = 5.0  # seconds: a local server answers its handshake in milliseconds


@contextlib.asynccontextmanager
async def _connect(socket: Path, who: str) -> AsyncIterator[Any]:
    import aiomysql

    try:
        # aiomysql's connect_timeout covers the socket only: a server that accepts and then never
        # answers the handshake (seen once under a chaos soak on a loaded machine) would hang us
        with anyio.fail_after(HANDSHAKE_TIMEOUT):
            conn = await aiomysql.connect(
                unix_socket=str(socket),
                user="root",
                password="",
                autocommit=True,
                connect_timeout=HANDSHAKE_TIMEOUT,
            )
    except TimeoutError:
        raise TestbedError(f"{who}: no handshake within {HANDSHAKE_TIMEOUT:g} s") from None
    except Exception as exc:  # aiomysql wraps socket errors in OperationalError
        raise TestbedError(f"{who}: {exc}") from exc
    try:
        yield conn
    finally:
        conn.close()


async def admin_query(
    socket: Path, who: str, statements: Sequence[str], args: tuple[Any, ...] | None = None
) -> list[dict[str, Any]]:
    """Run ``statements`` on one root connection; the last one's rows as dicts (``who`` names the node)."""
    import aiomysql

    class QuietCursor(aiomysql.DictCursor):  # type: ignore[misc]
        async def _show_warnings(self, conn: Any) -> None:
            return None  # aiomysql would turn server notes into Python warnings

    rows: list[dict[str, Any]] = []
    async with _connect(socket, who) as conn:
        cur = await conn.cursor(QuietCursor)
        try:
            for stmt in statements:
                await cur.execute(stmt, args)
                rows = list(await cur.fetchall()) if cur.description else []
        except aiomysql.Error as exc:
            raise TestbedError(f"{who}: {exc}") from exc
        finally:
            await cur.close()
    return rows
