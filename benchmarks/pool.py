"""Pool checkout overhead: ``AsyncAwsConnectionPool`` vs ``psycopg_pool`` (and ``aiomysql.Pool``).

One op is ``async with pool.connection() as conn: ...`` (checkout + return), measured alone and with one
``SELECT 1`` inside. Every pool holds one connection (``min_size=max_size=1``, autocommit), runs in the
same process against the same loopback server, interleaved in shuffled blocks of ``--block`` ops. Each
of ``--rounds`` rounds opens fresh pools. The wrapped connections connect as an Aurora user does (to
the instance, with ``cluster_instance_host_pattern``), with no plugins (the pool's own cost) and with
the default plugin set (what an application pays per request).

Prints, per variant, the median and p99 µs/op, the overhead over the driver's own pool (median of the
per-round differences of medians, with their range: the noise) and the ratio. Then a throughput run:
``--tasks`` tasks share pools of ``--pool-size`` (more tasks than connections: the wait path counts), each
variant for 0.5 s at a time in random order; ops/s, the ratio to the driver's pool (median of per-round
ratios) and this process's CPU µs per op.

    python benchmarks/pool.py [--engine postgres|mariadb|both] [--ops 20000] [--rounds 5] [--block 20]
                              [--tasks 16] [--pool-size 10]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import Op, arg_parser, aurora_props, engines, measure, median, percentile, single_server

from awsasyncwrap import release_resources
from awsasyncwrap.pool import AsyncAwsConnectionPool, AwsPsycopgConnection

KINDS = ("checkout", "checkout + SELECT 1")


def ops_of(label: str, checkout: Callable[[], Any], query: Callable[[Any], Awaitable[Any]]) -> dict[str, Op]:
    async def only_checkout() -> None:
        async with checkout():
            pass

    async def with_query() -> Any:
        async with checkout() as conn:
            return await query(conn)

    return {f"{label}: {KINDS[0]}": only_checkout, f"{label}: {KINDS[1]}": with_query}


async def pg_query(conn: Any) -> Any:
    cur = await conn.execute("SELECT 1")
    return await cur.fetchone()


async def mysql_query(conn: Any) -> Any:
    async with conn.cursor() as cur:
        await cur.execute("SELECT 1")
        return await cur.fetchone()


async def pg_pools(dsn: str, props: dict[str, Any], size: int = 1) -> tuple[dict[str, Op], list[Any]]:
    import psycopg
    from psycopg_pool import AsyncConnectionPool

    raw = AsyncConnectionPool(dsn, min_size=size, max_size=size, kwargs={"autocommit": True}, open=False)
    hosted: AsyncConnectionPool[Any] = AsyncConnectionPool(
        dsn,
        connection_class=AwsPsycopgConnection,
        min_size=1,
        max_size=1,
        kwargs={**props, "plugins": ""},
        open=False,
    )
    bare = AsyncAwsConnectionPool(
        psycopg.AsyncConnection.connect, dsn, min_size=size, max_size=size, **props, plugins=""
    )
    default = AsyncAwsConnectionPool(
        psycopg.AsyncConnection.connect, dsn, min_size=size, max_size=size, **props
    )
    await raw.open(wait=True)
    await hosted.open(wait=True)
    await bare.open()
    await default.open()
    ops = {
        **ops_of("psycopg_pool, raw psycopg", raw.connection, pg_query),
        **ops_of("psycopg_pool, AwsPsycopgConnection, no plugins", hosted.connection, pg_query),
        **ops_of("AsyncAwsConnectionPool, no plugins", bare.connection, pg_query),
        **ops_of("AsyncAwsConnectionPool, default plugins", default.connection, pg_query),
    }
    return ops, [raw, hosted, bare, default]


async def mysql_pools(
    kwargs: dict[str, Any], props: dict[str, Any], size: int = 1
) -> tuple[dict[str, Op], list[Any]]:
    import aiomysql

    raw = await aiomysql.create_pool(minsize=size, maxsize=size, autocommit=True, **kwargs)
    bare = AsyncAwsConnectionPool(
        aiomysql.connect, min_size=size, max_size=size, **kwargs, **props, plugins=""
    )
    default = AsyncAwsConnectionPool(aiomysql.connect, min_size=size, max_size=size, **kwargs, **props)
    await bare.open()
    await default.open()
    ops = {
        **ops_of("aiomysql.Pool, raw aiomysql", raw.acquire, mysql_query),
        **ops_of("AsyncAwsConnectionPool, no plugins", bare.connection, mysql_query),
        **ops_of("AsyncAwsConnectionPool, default plugins", default.connection, mysql_query),
    }
    return ops, [raw, bare, default]


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


def report(title: str, rounds: list[dict[str, list[float]]], baseline: str) -> None:
    """One table per kind of op: each variant against ``baseline`` (the driver's own pool)."""
    for kind in KINDS:
        labels = [label for label in rounds[0] if label.endswith(f": {kind}")]
        raw = f"{baseline}: {kind}"
        pooled = {label: [v for r in rounds for v in r[label]] for label in labels}
        raw_median = median(pooled[raw])
        print(f"\n{title}, {kind}: {len(pooled[raw])} ops per variant in {len(rounds)} round(s)")
        print(
            f"{'variant':<52} {'median µs':>9} {'p99 µs':>8} {'+µs':>6} {'ratio':>6}  {'+µs per round':>16}"
        )
        for label in labels:
            deltas = [median(r[label]) - median(r[raw]) for r in rounds]
            delta = statistics.median(deltas)
            name = label[: -len(kind) - 2]
            print(
                f"{name:<52} {median(pooled[label]):>9.1f} {percentile(pooled[label], 0.99):>8.1f} "
                f"{delta:>+6.1f} {1 + delta / raw_median:>6.3f}  {min(deltas):>+7.1f} .. {max(deltas):>+5.1f}"
            )


async def throughput(ops: dict[str, Op], tasks: int, rounds: int, seconds: float) -> dict[str, list[float]]:
    """``tasks`` concurrent tasks repeating each op for ``seconds`` per round (variants in random order):
    per round, ops/s and this process's CPU µs per op, as ``[ops_per_s, cpu_us, ...]`` pairs."""
    results: dict[str, list[float]] = {label: [] for label in ops}
    for _ in range(rounds):
        labels = list(ops)
        random.shuffle(labels)
        for label in labels:
            end = time.perf_counter() + seconds
            cpu = time.process_time()
            counts = await asyncio.gather(*(_repeat(ops[label], end) for _ in range(tasks)))
            count = sum(counts)
            results[label] += [count / seconds, (time.process_time() - cpu) / max(count, 1) * 1e6]
    return results


async def _repeat(op: Op, end: float) -> int:
    count = 0
    while time.perf_counter() < end:
        await op()
        count += 1
    return count


def report_throughput(title: str, results: dict[str, list[float]], baseline: str) -> None:
    kind = KINDS[1]
    raw = results[f"{baseline}: {kind}"]
    print(f"\n{title}: {len(raw) // 2} rounds")
    print(f"{'variant':<52} {'ops/s':>8} {'ratio':>6} {'client CPU µs/op':>17}")
    for label, values in results.items():
        if not label.endswith(f": {kind}"):
            continue
        rates, cpus = values[0::2], values[1::2]
        ratio = statistics.median(r / b for r, b in zip(rates, raw[0::2], strict=True))
        name = label[: -len(kind) - 2]
        print(f"{name:<52} {statistics.median(rates):>8.0f} {ratio:>6.3f} {median(cpus):>17.1f}")


async def open_pools(engine: str, tb: Any, size: int) -> tuple[dict[str, Op], list[Any]]:
    props = {**aurora_props(tb), "autocommit": True}
    if engine == "postgres":
        return await pg_pools(tb.dsn(tb.writer, direct=True), props, size)
    return await mysql_pools(tb.connect_kwargs(tb.writer, direct=True), props, size)


async def run(args: argparse.Namespace) -> None:
    for engine in engines(args.engine):
        async with single_server(engine) as tb:
            baseline = "psycopg_pool, raw psycopg" if engine == "postgres" else "aiomysql.Pool, raw aiomysql"
            rounds: list[dict[str, list[float]]] = []
            for _ in range(args.rounds):
                ops, opened = await open_pools(engine, tb, 1)
                try:
                    rounds.append(await measure(ops, max(args.block, args.ops // args.rounds), args.block))
                finally:
                    await close_all(opened)
            report(f"{engine} (testbed, loopback TCP)", rounds, baseline)
            if args.tasks:
                ops, opened = await open_pools(engine, tb, args.pool_size)
                try:
                    results = await throughput(ops, args.tasks, args.rounds * 4, 0.5)
                finally:
                    await close_all(opened)
                report_throughput(
                    f"{engine}, {args.tasks} tasks sharing a pool of {args.pool_size}, checkout + SELECT 1",
                    results,
                    baseline,
                )


def main() -> None:
    parser = arg_parser(__doc__)
    parser.add_argument("--engine", choices=["postgres", "mariadb", "both"], default="postgres")
    parser.add_argument("--ops", type=int, default=20000, help="ops per variant (over all rounds)")
    parser.add_argument("--rounds", type=int, default=5, help="rounds, each with fresh pools")
    parser.add_argument("--block", type=int, default=20, help="ops per variant before switching variant")
    parser.add_argument(
        "--tasks", type=int, default=16, help="concurrent tasks of the throughput run (0: none)"
    )
    parser.add_argument("--pool-size", type=int, default=10, help="pool size of the throughput run")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
