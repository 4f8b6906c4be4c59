"""Per-call overhead of the wrapper over the raw driver: ``execute("SELECT 1") + fetchone()``.

Every variant runs in the same process against the same server, interleaved in small shuffled
blocks, so machine noise hits all variants alike. Prints µs/op (median, p99) and the
ratio to the raw driver measured in the same run.

    python benchmarks/overhead.py [--engine postgres|mariadb|both] [--ops 20000] [--block 20] [--dsn DSN]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import random
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import median, percentile, single_server

from awsasyncwrap import AsyncAwsConnection, Plugin, PluginFactory, PluginManager, release_resources
from awsasyncwrap.plugins import DEFAULT_PLUGINS


class PassThroughPlugin(Plugin):
    """The cheapest possible plugin on execute: the floor cost of one pipeline step."""

    subscribed_methods = {"Cursor.execute"}

    async def execute(
        self, target: object, method_name: str, execute_func: Any, *args: Any, **kwargs: Any
    ) -> Any:
        return await execute_func()


class PassThroughFactory(PluginFactory):
    def get_instance(self, plugin_service: Any, props: Any) -> Plugin:
        return PassThroughPlugin()


PluginManager.register_plugin("bench_pass_through", PassThroughFactory)

Op = Callable[[], Awaitable[Any]]


def variants_available() -> list[tuple[str, str | None]]:
    """(label, plugins) of every wrapper variant measurable with the plugins present."""
    variants: list[tuple[str, str | None]] = [
        ("wrapper, no plugins", ""),
        ("wrapper, one pass-through plugin", "bench_pass_through"),
        ("wrapper, execute_time", "execute_time"),
    ]
    codes = PluginManager.registered_codes()
    if "host_monitoring" in codes:
        variants.append(("wrapper, host_monitoring", "host_monitoring"))
    if DEFAULT_PLUGINS:
        variants.append((f"wrapper, default ({','.join(DEFAULT_PLUGINS)})", None))
    return variants


async def pg_ops(dsn: str) -> tuple[dict[str, Op], list[Any]]:
    import psycopg

    ops: dict[str, Op] = {}
    closers: list[Any] = []
    raw = await psycopg.AsyncConnection.connect(dsn, autocommit=True)
    raw_cur = raw.cursor()

    async def raw_op() -> Any:
        await raw_cur.execute("SELECT 1")
        return await raw_cur.fetchone()

    ops["raw psycopg"] = raw_op
    closers.append(raw)
    for label, plugins in variants_available():
        props: dict[str, Any] = {} if plugins is None else {"plugins": plugins}
        conn = await AsyncAwsConnection.connect(
            psycopg.AsyncConnection.connect, dsn, autocommit=True, **props
        )
        ops[label] = _wrapped_op(conn.cursor())
        closers.append(conn)
    return ops, closers


async def mysql_ops(kwargs: dict[str, Any]) -> tuple[dict[str, Op], list[Any]]:
    import aiomysql

    ops: dict[str, Op] = {}
    closers: list[Any] = []
    raw = await aiomysql.connect(**kwargs, autocommit=True)
    raw_cur = await raw.cursor()

    async def raw_op() -> Any:
        await raw_cur.execute("SELECT 1")
        return await raw_cur.fetchone()

    ops["raw aiomysql"] = raw_op
    closers.append(raw)
    for label, plugins in variants_available():
        props: dict[str, Any] = {} if plugins is None else {"plugins": plugins}
        conn = await AsyncAwsConnection.connect(aiomysql.connect, autocommit=True, **kwargs, **props)
        ops[label] = _wrapped_op(conn.cursor())
        closers.append(conn)
    return ops, closers


def _wrapped_op(cur: Any) -> Op:
    async def op() -> Any:
        await cur.execute("SELECT 1")
        return await cur.fetchone()

    return op


async def measure(ops: dict[str, Op], n_ops: int, block: int) -> dict[str, list[float]]:
    """Per-op latencies (µs) of every variant: ``n_ops`` each, run in shuffled blocks of ``block`` ops."""
    samples: dict[str, list[float]] = {label: [] for label in ops}
    for op in ops.values():  # warm-up
        for _ in range(200):
            await op()
    labels = list(ops)
    clock = time.perf_counter_ns
    gc.collect()
    gc.disable()
    try:
        for _ in range(max(1, n_ops // block)):
            random.shuffle(labels)
            for label in labels:
                op, out = ops[label], samples[label]
                for _ in range(block):
                    start = clock()
                    await op()
                    out.append((clock() - start) / 1000)
    finally:
        gc.enable()
    return samples


def report(title: str, samples: dict[str, list[float]], raw_label: str) -> None:
    raw_median = median(samples[raw_label])
    print(f"\n{title}: {len(samples[raw_label])} ops per variant")
    print(f"{'variant':<60} {'median µs':>10} {'p99 µs':>9} {'+µs':>7} {'ratio':>6}")
    for label, values in samples.items():
        med = median(values)
        print(
            f"{label:<60} {med:>10.1f} {percentile(values, 0.99):>9.1f} {med - raw_median:>+7.1f} "
            f"{med / raw_median:>6.3f}"
        )


async def close_all(closers: list[Any]) -> None:
    for conn in closers:
        result = conn.close()
        if asyncio.iscoroutine(result):
            await result
    await release_resources()


async def run(args: argparse.Namespace) -> None:
    engines = ["postgres", "mariadb"] if args.engine == "both" else [args.engine]
    for engine in engines:
        if engine == "postgres" and args.dsn:
            ops, closers = await pg_ops(args.dsn)
            samples = await measure(ops, args.ops, args.block)
            await close_all(closers)
            report("PostgreSQL (given DSN)", samples, "raw psycopg")
            continue
        async with single_server(engine) as tb:
            if engine == "postgres":
                ops, closers = await pg_ops(tb.dsn(tb.writer, direct=True))
                raw_label = "raw psycopg"
            else:
                ops, closers = await mysql_ops(tb.connect_kwargs(tb.writer, direct=True))
                raw_label = "raw aiomysql"
            try:
                samples = await measure(ops, args.ops, args.block)
            finally:
                await close_all(closers)
            report(f"{engine} (testbed, loopback TCP)", samples, raw_label)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--engine", choices=["postgres", "mariadb", "both"], default="postgres")
    parser.add_argument("--ops", type=int, default=20000, help="ops per variant")
    parser.add_argument("--block", type=int, default=20, help="ops per variant before switching variant")
    parser.add_argument("--dsn", help="measure against this PostgreSQL instead of a testbed server")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
