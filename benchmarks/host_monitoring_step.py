"""Cost of the host_monitoring plugin step in isolation (no network): ns per call.

A real wrapped psycopg connection provides the plugin; each variant then awaits a no-op ``execute_func``
``--ops`` times (best of ``--repeat`` runs):

- ``bare await``: ``await noop()``, the floor;
- ``pass-through plugin step``: a plugin whose ``execute`` just awaits ``execute_func()``;
- ``host_monitoring step``: :class:`HostMonitoringPlugin.execute` (register with the host's monitor, await,
  unregister in ``finally``);
- ``host_monitoring step, 1,000 calls in flight``: the same while 1,000 other calls are registered.

    python benchmarks/host_monitoring_step.py [--ops 200000] [--repeat 7] [--dsn DSN]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import arg_parser, single_server

import awsasyncwrap
from awsasyncwrap import AsyncAwsConnection
from awsasyncwrap.plugins.host_monitoring import HostMonitoringPlugin, MonitoredCall


async def noop() -> None:
    return None


async def pass_through(target: object, name: str, execute_func: Callable[[], Awaitable[Any]]) -> Any:
    return await execute_func()


async def time_loop(step: Callable[[], Awaitable[Any]], ops: int, repeat: int) -> float:
    """Best-of-``repeat`` ns per ``await step()``."""
    best = float("inf")
    clock = time.perf_counter_ns
    for _ in range(repeat):
        start = clock()
        for _ in range(ops):
            await step()
        best = min(best, (clock() - start) / ops)
    return best


async def run(args: argparse.Namespace) -> None:
    import psycopg

    async def measure(dsn: str) -> None:
        conn = AsyncAwsConnection.of(
            await AsyncAwsConnection.connect(
                psycopg.AsyncConnection.connect, dsn, plugins="host_monitoring", wrapper_dialect="pg"
            )
        )
        try:
            (plugin,) = conn.plugin_service.plugins
            assert isinstance(plugin, HostMonitoringPlugin)
            execute = plugin.execute
            await execute(conn, "Cursor.execute", noop)  # acquires the monitor
            results: dict[str, float] = {}
            results["bare await"] = await time_loop(noop, args.ops, args.repeat)
            results["pass-through plugin step"] = await time_loop(
                lambda: pass_through(conn, "Cursor.execute", noop), args.ops, args.repeat
            )
            results["host_monitoring step"] = await time_loop(
                lambda: execute(conn, "Cursor.execute", noop), args.ops, args.repeat
            )
            monitor = plugin.monitor
            assert monitor is not None
            others = [MonitoredCall(conn.target_connection, conn.plugin_service) for _ in range(1000)]
            for call in others:
                monitor.calls.add(call)
            results["host_monitoring step, 1,000 calls in flight"] = await time_loop(
                lambda: execute(conn, "Cursor.execute", noop), args.ops, args.repeat
            )
            for call in others:
                monitor.calls.remove(call)
            base = results["bare await"]
            print(f"{'variant':<48} {'ns/call':>8} {'+ns vs bare':>12}")
            for label, ns in results.items():
                print(f"{label:<48} {ns:>8.0f} {ns - base:>+12.0f}")
            print(f"monitor after the run: {monitor!r}")
        finally:
            await conn.close()
            await awsasyncwrap.release_resources()

    if args.dsn:
        await measure(args.dsn)
        return
    async with single_server("postgres") as tb:
        await measure(tb.dsn(tb.writer, direct=True))


def main() -> None:
    parser = arg_parser(__doc__)
    parser.add_argument("--ops", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--dsn", help="PostgreSQL to use instead of a testbed server")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
