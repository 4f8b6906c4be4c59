"""An app writing through a blue/green switchover of the testbed, with and without the ``bg`` plugin.

Per engine and variant: a fresh 2-instance testbed with a green deployment, ``--workers`` connections
inserting rows (the documented retry on ``FailoverSuccessError``; on any other error the request counts as
failed and the worker reconnects), a switchover in the middle, after which the blue names keep resolving to
old blue for ``--dns-lag`` s (cached DNS). Printed: requests, failed requests, max request latency, the pause
(longest time without any acknowledged write), rows written on blue after green was promoted, acknowledged
rows missing on green.

    python benchmarks/bluegreen.py [--engine postgres|mariadb|both] [--workers 8] [--phase-seconds 2,0.3,1]
                                [--dns-lag 1.0]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import anyio

from awsasyncwrap import AsyncAwsConnection, FailoverError, release_resources
from awsasyncwrap.testbed import BlueGreenDeployment, PhaseSeconds, Testbed

TABLE = "bg_bench"


@dataclass
class Result:
    requests: int = 0
    failed: int = 0
    max_latency: float = 0.0
    acks: list[tuple[float, int]] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Variant:
    """One way of connecting: ours with or without ``bg``, or aws-advanced-python-wrapper's aio ``bg``."""

    label: str
    connect: Callable[[BlueGreenDeployment], Awaitable[Any]]
    retry_on: tuple[type[BaseException], ...]
    release: Callable[[], Awaitable[None]]


def ours(plugins: str) -> Variant:
    async def connect(bg: BlueGreenDeployment) -> Any:
        extra: dict[str, Any] = {"plugins": plugins, "autocommit": True}
        if bg.blue.engine == "postgres":
            import psycopg

            return await AsyncAwsConnection.connect(
                psycopg.AsyncConnection.connect, bg.dsn(connect_timeout=3), **extra
            )
        import aiomysql

        return await AsyncAwsConnection.connect(
            aiomysql.connect, **bg.connect_kwargs(connect_timeout=3), **extra
        )

    return Variant("bg" if plugins else "no plugin", connect, (FailoverError,), release_resources)


def theirs(engine: str) -> Variant | str:
    """aws-advanced-python-wrapper's aio ``bg``, or why it cannot run here (see benchmarks/failover.py)."""
    try:
        from aws_advanced_python_wrapper import aio as aws_aio  # type: ignore[import-not-found,unused-ignore]
        from aws_advanced_python_wrapper.errors import (  # type: ignore[import-not-found,unused-ignore]
            FailoverSuccessError as TheirSuccess,
        )
    except ImportError:
        return "not importable here (run this benchmark from its venv: see benchmarks/failover.py --compare)"
    if engine != "postgres":
        return "compared on PostgreSQL only (as in benchmarks/failover.py)"
    import psycopg

    async def connect(bg: BlueGreenDeployment) -> Any:
        return await aws_aio.AsyncAwsWrapperConnection.connect(
            psycopg.AsyncConnection.connect, bg.dsn(connect_timeout=3), plugins="bg", autocommit=True
        )

    async def release() -> None:
        await aws_aio.release_resources_async()

    return Variant("theirs bg", connect, (TheirSuccess,), release)


async def _execute(bg: BlueGreenDeployment, conn: Any, sql: str, args: tuple[Any, ...] = ()) -> Any:
    cur = conn.cursor() if bg.blue.engine == "postgres" else await conn.cursor()
    await cur.execute(sql, args or None)
    return cur


async def _worker(bg: BlueGreenDeployment, variant: Variant, result: Result, counter: list[int]) -> None:
    conn = await variant.connect(bg)
    ignore = "ON CONFLICT DO NOTHING" if bg.blue.engine == "postgres" else ""
    insert = "INSERT IGNORE INTO" if not ignore else "INSERT INTO"
    sql = f"{insert} {TABLE} (id) VALUES (%s) {ignore}"
    try:
        while True:
            counter[0] += 1
            row, start = counter[0], time.monotonic()
            result.requests += 1
            try:
                for _ in range(3):
                    try:
                        await _execute(bg, conn, sql, (row,))
                        break
                    except variant.retry_on:
                        continue
                result.acks.append((time.monotonic(), row))
            except Exception as exc:
                result.failed += 1
                name = type(exc).__name__
                result.errors[name] = result.errors.get(name, 0) + 1
                with contextlib.suppress(Exception):
                    await conn.close()
                while True:  # what an app (or its pool) does: a new connection
                    try:
                        conn = await variant.connect(bg)
                        break
                    except Exception:
                        await asyncio.sleep(0.05)
            result.max_latency = max(result.max_latency, time.monotonic() - start)
            await asyncio.sleep(0.005)
    finally:
        with contextlib.suppress(Exception):
            await conn.close()


async def _rows(tb: Testbed) -> set[int]:
    conn_kwargs = tb.connect_kwargs(tb.writer, direct=True)
    if tb.engine == "postgres":
        import psycopg

        async with await psycopg.AsyncConnection.connect(**conn_kwargs) as conn:
            cur = await conn.execute(f"SELECT id FROM {TABLE}")
            return {r[0] for r in await cur.fetchall()}
    import aiomysql

    conn = await aiomysql.connect(**conn_kwargs)
    try:
        cur = await conn.cursor()
        await cur.execute(f"SELECT id FROM {TABLE}")
        return {r[0] for r in await cur.fetchall()}
    finally:
        conn.close()


async def run(engine: str, variant: Variant, workers: int, phases: PhaseSeconds, dns_lag: float) -> str:
    async with Testbed.start(engine, instances=2) as tb:  # type: ignore[arg-type]
        bg = await tb.create_blue_green()
        setup = await ours("").connect(bg)
        await _execute(bg, setup, f"CREATE TABLE {TABLE} (id int PRIMARY KEY)")
        await setup.close()
        result, counter = Result(), [0]
        async with anyio.create_task_group() as tg:
            for _ in range(workers):
                tg.start_soon(_worker, bg, variant, result, counter)
            await asyncio.sleep(3.0)  # the plugin's monitors see the deployment (CREATED polls every 1 s)
            report = await bg.switchover(phases, dns_lag=dns_lag)
            await asyncio.sleep(2.0 + dns_lag)
            tg.cancel_scope.cancel()
        await variant.release()
        await release_resources()
        times = [t for t, _ in sorted(result.acks)]
        pause = max((b - a for a, b in itertools.pairwise(times)), default=0.0)
        blue, green = await _rows(tb), await _rows(bg.green)
        late = {row for t, row in result.acks if t > report.promoted_at} | {
            r for r in blue if r > max((row for t, row in result.acks if t <= report.promoted_at), default=0)
        }
        on_blue_after = len(late & blue)
        lost = len({row for _, row in result.acks} - green)
        errors = ", ".join(f"{k} x{v}" for k, v in sorted(result.errors.items())) or "-"
        label = f"{engine:8} {variant.label:9}"
        return (
            f"{label} requests {result.requests:5}  failed {result.failed:3}"
            f"  max latency {result.max_latency:6.3f} s  pause {pause:6.3f} s"
            f"  on blue after promotion {on_blue_after:3}  acked missing on green {lost:3}"
            f"  errors: {errors}"
        )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--engine", default="both", choices=("postgres", "mariadb", "both"))
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--phase-seconds", default="2,0.3,1")
    parser.add_argument("--dns-lag", type=float, default=1.0, help="seconds blue names still reach old blue")
    args = parser.parse_args()
    logging.getLogger("psycopg").setLevel(logging.ERROR)  # cancelled workers' queries at the end of a run
    phases = PhaseSeconds.parse(args.phase_seconds)
    engines = ("postgres", "mariadb") if args.engine == "both" else (args.engine,)
    for engine in engines:
        for variant in (ours(""), ours("bg"), theirs(engine)):
            if isinstance(variant, str):
                print(f"{engine:8} theirs bg  {variant}", flush=True)
                continue
            print(await run(engine, variant, args.workers, phases, args.dns_lag), flush=True)


if __name__ == "__main__":
    asyncio.run(main())
