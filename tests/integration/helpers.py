"""Small helpers for integration tests."""

from __future__ import annotations

import functools

import polling

#: Poll an async condition every 20 ms until it holds; fail after 10 s.
wait_for = functools.partial(polling.until, every=0.02)


async def pg_query_running(dsn: str, fragment: str) -> bool:
    """Whether a query containing ``fragment`` is running on the server."""
    import psycopg

    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as raw:
        cur = await raw.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE state = 'active' AND query LIKE %s AND pid <> pg_backend_pid()",
            (f"%{fragment}%",),
        )
        row = await cur.fetchone()
        return bool(row and row[0])


async def mysql_query_running(kwargs: dict[str, object], fragment: str) -> bool:
    """Whether a query containing ``fragment`` is running on the server."""
    import aiomysql

    conn = await aiomysql.connect(**kwargs)
    try:
        async with conn.cursor() as cur:
            await cur.execute(
                "SELECT count(*) FROM information_schema.processlist"
                " WHERE info LIKE %s AND id <> CONNECTION_ID()",
                (f"%{fragment}%",),
            )
            row = await cur.fetchone()
            return bool(row and row[0])
    finally:
        conn.close()
