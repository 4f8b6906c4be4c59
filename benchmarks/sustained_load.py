"""Sustained load: does throughput hold up over time, and does the event loop stay responsive?

Back-to-back ``execute("SELECT 1") + fetchone()`` for ``--seconds`` (default 60) on one connection, then on
``--conns`` connections (default 100) at once, for the raw driver, the wrapper without plugins and the
wrapper with ``host_monitoring``, all in one run against the same server. For each it prints throughput
per window (default 10 s), the last-window / first-window ratio (target: within 5%), max and p50/p99
per-call latency, and the worst overshoot of a task that sleeps 1 ms in a loop (event-loop lag; target
< 5 ms). Throughput ratios are against the raw driver measured in the same run.

    python benchmarks/sustained_load.py [--seconds 60] [--window 10] [--conns 100] [--engine postgres|mariadb]
                                        [--aggressive] [--dsn DSN]

``--aggressive`` adds a host_monitoring variant with a 5 ms grace time, so calls queued on the loop get
probed all the time (stress for the monitor, not a sensible setting).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import sys
import time
from array import array
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import single_server

import awsasyncwrap
from awsasyncwrap import AsyncAwsConnection

HIST_MAX_US = 1_000_000  # latencies above 1 s land in the last bucket (max is tracked exactly)
Op = Callable[[], Awaitable[Any]]


@dataclass
class Result:
    label: str
    conns: int
    seconds: float
    window: float
    windows: list[int]
    max_latency: float
    hist: array[int]
    lag_worst: float
    lag_over_5ms: int
    notes: list[str] = field(default_factory=list)

    @property
    def ops(self) -> int:
        return sum(self.windows)

    def rate(self, i: int) -> float:
        width = min(self.window, self.seconds - i * self.window)
        return self.windows[i] / width

    @property
    def throughput(self) -> float:
        return self.ops / self.seconds

    def percentile_us(self, q: float) -> float:
        target = q * self.ops
        seen = 0
        for us, count in enumerate(self.hist):
            seen += count
            if seen >= target and count:
                return float(us)
        return float(HIST_MAX_US)


@dataclass
class Variant:
    label: str
    connect: Callable[[], Awaitable[Any]]
    make_op: Callable[[Any], Awaitable[Op]]
    close: Callable[[Any], Awaitable[None]]


async def measure(label: str, ops: list[Op], seconds: float, window: float) -> Result:
    """Run every op back to back until ``seconds`` pass; count per window; probe the loop's lag."""
    n_windows = max(1, math.ceil(seconds / window - 1e-9))
    windows = [0] * n_windows
    hist = array("q", bytes(8 * (HIST_MAX_US + 1)))
    max_latency = 0.0
    clock = time.perf_counter
    start = clock()
    end = start + seconds
    running = True

    async def worker(op: Op) -> None:
        nonlocal max_latency
        while True:
            t0 = clock()
            if t0 >= end:
                return
            await op()
            lat = clock() - t0
            if lat > max_latency:
                max_latency = lat
            windows[int((t0 - start) / window)] += 1
            us = int(lat * 1e6)
            hist[us if us < HIST_MAX_US else HIST_MAX_US] += 1

    lag_worst = 0.0
    lag_over = 0

    async def lag_probe() -> None:
        nonlocal lag_worst, lag_over
        while running:
            t0 = clock()
            await asyncio.sleep(0.001)
            over = clock() - t0 - 0.001
            if over > lag_worst:
                lag_worst = over
            if over > 0.005:
                lag_over += 1

    probe = asyncio.create_task(lag_probe(), name="bench:lag-probe")
    try:
        await asyncio.gather(*(worker(op) for op in ops))
    finally:
        running = False
        await probe
    return Result(label, len(ops), seconds, window, windows, max_latency, hist, lag_worst, lag_over)


# --- variants -------------------------------------------------------------------------------------


def pg_variants(dsn: str, aggressive: bool) -> list[Variant]:
    import psycopg

    async def raw_connect() -> Any:
        return await psycopg.AsyncConnection.connect(dsn, autocommit=True)

    def wrapped(plugins: str, **props: Any) -> Callable[[], Awaitable[Any]]:
        async def connect() -> Any:
            return await AsyncAwsConnection.connect(
                psycopg.AsyncConnection.connect,
                dsn,
                plugins=plugins,
                autocommit=True,
                wrapper_dialect="pg",  # the testbed server emulates Aurora: measure plugins, not topology
                **props,
            )

        return connect

    async def make_op(conn: Any) -> Op:
        cur = conn.cursor()

        async def op() -> Any:
            await cur.execute("SELECT 1")
            return await cur.fetchone()

        return op

    async def close(conn: Any) -> None:
        await conn.close()

    variants = [
        Variant("raw psycopg", raw_connect, make_op, close),
        Variant("wrapper, no plugins", wrapped(""), make_op, close),
        Variant("wrapper, host_monitoring", wrapped("host_monitoring"), make_op, close),
    ]
    if aggressive:
        variants.append(
            Variant(
                "wrapper, host_monitoring grace 5 ms",
                wrapped("host_monitoring", failure_detection_time_ms=5, failure_detection_interval_ms=100),
                make_op,
                close,
            )
        )
    return variants


def mysql_variants(kwargs: dict[str, Any], aggressive: bool) -> list[Variant]:
    import aiomysql

    async def raw_connect() -> Any:
        return await aiomysql.connect(**kwargs, autocommit=True)

    def wrapped(plugins: str, **props: Any) -> Callable[[], Awaitable[Any]]:
        async def connect() -> Any:
            return await AsyncAwsConnection.connect(
                aiomysql.connect,
                plugins=plugins,
                autocommit=True,
                wrapper_dialect="mariadb",
                **kwargs,
                **props,
            )

        return connect

    async def make_op(conn: Any) -> Op:
        cur = await conn.cursor()

        async def op() -> Any:
            await cur.execute("SELECT 1")
            return await cur.fetchone()

        return op

    async def close(conn: Any) -> None:
        result = conn.close()
        if asyncio.iscoroutine(result):
            await result

    variants = [
        Variant("raw aiomysql", raw_connect, make_op, close),
        Variant("wrapper, no plugins", wrapped(""), make_op, close),
        Variant("wrapper, host_monitoring", wrapped("host_monitoring"), make_op, close),
    ]
    if aggressive:
        variants.append(
            Variant(
                "wrapper, host_monitoring grace 5 ms",
                wrapped("host_monitoring", failure_detection_time_ms=5, failure_detection_interval_ms=100),
                make_op,
                close,
            )
        )
    return variants


async def run_variant(variant: Variant, conns: int, seconds: float, window: float) -> Result:
    gate = asyncio.Semaphore(10)

    async def open_one() -> Any:
        async with gate:
            return await variant.connect()

    opened = list(await asyncio.gather(*(open_one() for _ in range(conns))))
    try:
        ops = [await variant.make_op(c) for c in opened]
        for op in ops:  # warm-up
            for _ in range(50):
                await op()
        result = await measure(variant.label, ops, seconds, window)
        if isinstance(opened[0], AsyncAwsConnection):
            from awsasyncwrap.plugins.host_monitoring import host_monitors

            for mon in host_monitors():
                result.notes.append(
                    f"monitor {mon.host.url}: wakeups={mon.wakeups} probes={mon.probes} "
                    f"failed={mon.failed_probes} in_flight_now={len(mon.calls)}"
                )
        return result
    finally:
        for conn in opened:
            await variant.close(conn)
        await awsasyncwrap.release_resources()


# --- report -------------------------------------------------------------------------------------


def report(title: str, results: list[Result]) -> None:
    raw = results[0]
    print(f"\n{title}")
    print(
        f"{'variant':<38} {'ops/s':>8} {'vs raw':>6} {'last/1st':>8} {'p50 µs':>7} {'p99 µs':>7} "
        f"{'max ms':>7} {'lag ms':>7} {'lag>5ms':>7}"
    )
    for r in results:
        first, last = r.rate(0), r.rate(len(r.windows) - 1)
        print(
            f"{r.label:<38} {r.throughput:>8.0f} {r.throughput / raw.throughput:>6.3f} {last / first:>8.3f} "
            f"{r.percentile_us(0.5):>7.0f} {r.percentile_us(0.99):>7.0f} {r.max_latency * 1e3:>7.2f} "
            f"{r.lag_worst * 1e3:>7.2f} {r.lag_over_5ms:>7d}"
        )
    print("  throughput per window (ops/s):")
    for r in results:
        print(f"    {r.label:<36} " + " ".join(f"{r.rate(i):.0f}" for i in range(len(r.windows))))
    for r in results:
        for note in r.notes:
            print(f"  {r.label}: {note}")


@contextlib.asynccontextmanager
async def target(args: argparse.Namespace) -> AsyncIterator[list[Variant]]:
    if args.dsn:
        yield pg_variants(args.dsn, args.aggressive)
        return
    async with single_server(args.engine) as tb:
        if args.engine == "postgres":
            yield pg_variants(tb.dsn(tb.writer, direct=True), args.aggressive)
        else:
            yield mysql_variants(tb.connect_kwargs(tb.writer, direct=True), args.aggressive)


async def run(args: argparse.Namespace) -> None:
    window = args.window or min(10.0, args.seconds / 3)
    print(
        f"sustained load: {args.seconds:g} s per variant, windows of {window:g} s, engine {args.engine}, "
        f"python {sys.version.split()[0]}"
    )
    async with target(args) as variants:
        for conns in (1, args.conns):
            results = [await run_variant(v, conns, args.seconds, window) for v in variants]
            report(f"{conns} connection(s), back-to-back SELECT 1", results)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=60.0, help="run time per variant")
    parser.add_argument("--window", type=float, default=0.0, help="window width (default min(10, seconds/3))")
    parser.add_argument("--conns", type=int, default=100, help="connections of the many-connections run")
    parser.add_argument("--engine", choices=["postgres", "mariadb"], default="postgres")
    parser.add_argument("--aggressive", action="store_true", help="add a host_monitoring variant, grace 5 ms")
    parser.add_argument("--dsn", help="PostgreSQL to use instead of a testbed server")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
