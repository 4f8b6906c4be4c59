"""One connection used by two tasks at once: psycopg serialises the calls with its lock; aiomysql has no
lock, so the wrapper refuses the second task's call with a clear error instead of mixing up answers."""

from __future__ import annotations

import asyncio
from typing import Any

import aiomysql
import anyio
import psycopg
import pymysql
import pytest

from awsasyncwrap import AsyncAwsConnection
from polling import until

pytestmark = pytest.mark.timeout(60)


@pytest.mark.parametrize("plugins", ["", None])
async def test_aiomysql_second_task_gets_a_clear_error(
    mysql_kwargs: dict[str, Any], plugins: str | None
) -> None:
    props: dict[str, Any] = {} if plugins is None else {"plugins": plugins}
    conn = await AsyncAwsConnection.connect(aiomysql.connect, **mysql_kwargs, autocommit=True, **props)
    try:
        first, second = await conn.cursor(), await conn.cursor()
        with anyio.fail_after(20):
            slow = asyncio.ensure_future(first.execute("SELECT SLEEP(0.5), 'first'"))
            reader = conn.target_connection._reader
            await until(lambda: reader._waiter is not None or slow.done())  # the first call awaits its answer
            assert not slow.done()
            with pytest.raises(
                pymysql.err.InterfaceError, match="another task is using this aiomysql connection"
            ):
                await second.execute("SELECT 'second'")
            await slow
            assert await first.fetchall() == ((0, "first"),)
            # the connection is intact: the next call, once the first is done, works
            await second.execute("SELECT 'second'")
            assert await second.fetchall() == (("second",),)
    finally:
        await conn.close()


async def test_aiomysql_many_tasks_never_get_another_tasks_rows(mysql_kwargs: dict[str, Any]) -> None:
    conn = await AsyncAwsConnection.connect(aiomysql.connect, **mysql_kwargs, autocommit=True, plugins="")
    wrong: list[tuple[int, Any]] = []
    refused = 0

    async def worker(n: int) -> None:
        nonlocal refused
        cur = await conn.cursor()
        for _ in range(20):
            try:
                await cur.execute("SELECT %s", (n,))
                rows = await cur.fetchall()
            except pymysql.err.InterfaceError:
                refused += 1
                await asyncio.sleep(0)
                continue
            if rows != ((n,),):
                wrong.append((n, rows))

    try:
        with anyio.fail_after(30):
            await asyncio.gather(*(worker(n) for n in range(8)))
    finally:
        await conn.close()
    assert not wrong, wrong[:5]
    assert refused > 0  # the tasks did overlap


async def test_psycopg_serialises_two_tasks(pg_dsn: str) -> None:
    conn = await AsyncAwsConnection.connect(
        psycopg.AsyncConnection.connect, pg_dsn, autocommit=True, plugins=""
    )
    try:

        async def run(n: int) -> Any:
            cur = conn.cursor()
            await cur.execute("SELECT pg_sleep(0.2), %s::int", (n,))
            return (await cur.fetchall())[0][1]

        with anyio.fail_after(20):
            assert await asyncio.gather(*(run(n) for n in range(4))) == [0, 1, 2, 3]
    finally:
        await conn.close()
