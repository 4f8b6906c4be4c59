"""Per-call cost of the ``telemetry`` plugin: ``execute("SELECT 1") + fetchone()`` on a wrapped connection.

Variants, one connection each, same process, same loopback PostgreSQL server, interleaved in shuffled
blocks: the raw driver, the wrapper without plugins, and the wrapper with ``telemetry`` in its default
setting (no statement spans) and with ``telemetry_execute_spans`` + ``telemetry_execute_metrics``, each
against OpenTelemetry's no-op API (nothing configured) and against an SDK that records (a
``TracerProvider`` whose spans go nowhere, a ``MeterProvider`` with an in-memory reader). Prints the
median and p99 µs/op and the difference to the wrapper without plugins.

The cost without OpenTelemetry installed is nil by construction (the plugin subscribes to nothing;
see tests/telemetry), so it is not measured here.

    python benchmarks/telemetry.py [--ops 20000] [--block 20]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import Op, arg_parser, close_all, measure, median, percentile, select_1_op, single_server

from awsasyncwrap import AsyncAwsConnection


def sdk_providers() -> dict[str, Any]:
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider

    return {
        "telemetry_tracer_provider": TracerProvider(),
        "telemetry_meter_provider": MeterProvider(metric_readers=[InMemoryMetricReader()]),
    }


async def open_ops(dsn: str) -> tuple[dict[str, Op], list[Any]]:
    import psycopg

    raw = await psycopg.AsyncConnection.connect(dsn, autocommit=True)
    ops: dict[str, Op] = {"raw psycopg": select_1_op(raw.cursor())}
    conns: list[Any] = [raw]
    statements = {"telemetry_execute_spans": True, "telemetry_execute_metrics": True}
    variants: dict[str, dict[str, Any]] = {
        "wrapper, no plugins": {"plugins": ""},
        "telemetry, default, no-op API": {"plugins": "telemetry"},
        "telemetry, default, SDK": {"plugins": "telemetry", **sdk_providers()},
        "telemetry, statement spans + metrics, no-op API": {"plugins": "telemetry", **statements},
        "telemetry, statement spans + metrics, SDK": {
            "plugins": "telemetry",
            **statements,
            **sdk_providers(),
        },
    }
    for label, props in variants.items():
        conn = await AsyncAwsConnection.connect(
            psycopg.AsyncConnection.connect, dsn, autocommit=True, wrapper_dialect="pg", **props
        )
        conns.append(conn)
        ops[label] = select_1_op(conn.cursor())
    return ops, conns


async def run(args: argparse.Namespace) -> None:
    async with single_server("postgres") as tb:
        ops, conns = await open_ops(tb.dsn(tb.writer, direct=True))
        try:
            samples = await measure(ops, args.ops, args.block)
        finally:
            await close_all(conns)
    base = median(samples["wrapper, no plugins"])
    print(f"\npostgres (testbed, loopback TCP): {args.ops} ops per variant, SELECT 1 + fetchone")
    print(f"{'variant':<50} {'median µs':>9} {'p99 µs':>8} {'+µs vs wrapper':>15}")
    for label, values in samples.items():
        print(
            f"{label:<50} {median(values):>9.1f} {percentile(values, 0.99):>8.1f} "
            f"{median(values) - base:>+15.1f}"
        )


def main() -> None:
    parser = arg_parser(__doc__)
    parser.add_argument("--ops", type=int, default=20000, help="ops per variant")
    parser.add_argument("--block", type=int, default=20, help="ops per variant before switching variant")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
