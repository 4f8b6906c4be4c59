"""Pool checkout overhead: ``AsyncAwsConnectionPool`` vs ``psycopg_pool`` (and ``aiomysql.Pool``).

One op is ``async with pool.connection() as conn: ...`` (checkout + return), measured alone and with one
``SELECT 1`` inside. Every variant holds one connection (``min_size=max_size=1``, autocommit), runs in the
same process against the same loopback server, interleaved in shuffled blocks. Prints µs/op (median, p99)
and the ratio to the driver's own pool measured in the same run.

    python benchmarks/pool.py [--engine postgres|mariadb|both] [--ops 20000] [--block 20]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import single_server
from overhead import measure, report

from awsasyncwrap import release_resources
from awsasyncwrap.pool import AsyncAwsConnectionPool, AwsPsycopgConnection

Op = Callable[[], Awaitable[Any]]


def _ops_of(label: str, checkout: Callable[[], Any], query: Callable[[Any], Awaitable[Any]]) -> dict[str, Op]:
    async def only_checkout() -> None:
        async with checkout():
            pass

    async def with_query() -> Any:
        async with checkout() as conn:
            return await query(conn)

    return {f"{label}: checkout": only_checkout, f"{label}: checkout + SELECT 1": with_query}


async def _pg_query(conn: Any) -> Any:
    cur = await conn.execute("SELECT 1")
    return await cur.fetchone()


async def _mysql_query(conn: Any) -> Any:
    async with conn.cursor() as cur:
        await cur.execute("SELECT 1")
        return await cur.fetchone()


async def pg_pools(dsn: str) -> tuple[dict[str, Op], list[Any]]:
    import psycopg
    from psycopg_pool import AsyncConnectionPool

    raw = AsyncConnectionPool(dsn, min_size=1, max_size=1, kwargs={"autocommit": True}, open=False)
    hosted: AsyncConnectionPool[Any] = AsyncConnectionPool(
        dsn,
        connection_class=AwsPsycopgConnection,  # type: ignore[arg-type]
        min_size=1,
        max_size=1,
        kwargs={"autocommit": True, "plugins": ""},
        open=False,
    )
    ours = AsyncAwsConnectionPool(
        psycopg.AsyncConnection.connect, dsn, min_size=1, max_size=1, autocommit=True, plugins=""
    )
    await raw.open(wait=True)
    await hosted.open(wait=True)
    await ours.open()
    ops = {
        **_ops_of("psycopg_pool, raw psycopg", raw.connection, _pg_query),
        **_ops_of("psycopg_pool, AwsPsycopgConnection", hosted.connection, _pg_query),
        **_ops_of("AsyncAwsConnectionPool", ours.connection, _pg_query),
    }
    return ops, [raw, hosted, ours]


async def mysql_pools(kwargs: dict[str, Any]) -> tuple[dict[str, Op], list[Any]]:
    import aiomysql

    raw = await aiomysql.create_pool(minsize=1, maxsize=1, autocommit=True, **kwargs)
    ours = AsyncAwsConnectionPool(
        aiomysql.connect, min_size=1, max_size=1, autocommit=True, plugins="", **kwargs
    )
    await ours.open()
    ops = {
        **_ops_of("aiomysql.Pool, raw aiomysql", raw.acquire, _mysql_query),
        **_ops_of("AsyncAwsConnectionPool", ours.connection, _mysql_query),
    }
    return ops, [raw, ours]


async def close_all(pools: list[Any]) -> None:
    for pool in pools:
        if hasattr(pool, "wait_closed"):  # aiomysql
            pool.close()
            await pool.wait_closed()
        elif isinstance(pool, AsyncAwsConnectionPool):
            await pool.aclose()
        else:
            await pool.close()
    await release_resources()


def report_pairs(title: str, samples: dict[str, list[float]], baseline: str) -> None:
    for kind in ("checkout", "checkout + SELECT 1"):
        subset = {label: v for label, v in samples.items() if label.endswith(f": {kind}")}
        report(f"{title}, {kind}", subset, f"{baseline}: {kind}")


async def run(args: argparse.Namespace) -> None:
    engines = ["postgres", "mariadb"] if args.engine == "both" else [args.engine]
    for engine in engines:
        async with single_server(engine) as tb:
            if engine == "postgres":
                ops, pools = await pg_pools(tb.dsn(tb.writer, direct=True))
                baseline = "psycopg_pool, raw psycopg"
            else:
                ops, pools = await mysql_pools(tb.connect_kwargs(tb.writer, direct=True))
                baseline = "aiomysql.Pool, raw aiomysql"
            try:
                samples = await measure(ops, args.ops, args.block)
            finally:
                await close_all(pools)
            report_pairs(f"{engine} (testbed, loopback TCP)", samples, baseline)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--engine", choices=["postgres", "mariadb", "both"], default="postgres")
    parser.add_argument("--ops", type=int, default=20000, help="ops per variant")
    parser.add_argument("--block", type=int, default=20, help="ops per variant before switching variant")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
