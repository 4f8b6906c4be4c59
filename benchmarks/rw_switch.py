"""Read/write switch cost: ``set_read_only(True)`` + query + ``set_read_only(False)`` + query.

A 3-instance testbed cluster runs in this process; every connection goes straight to the servers (the
topology query is overridden to report each instance's own address, so the fault proxies stay idle).
One op of each variant:

- raw driver, two held connections: ``SELECT 1`` on a reader connection, then on the writer connection
  (new cursor each time, as the wrapper needs after a switch);
- wrapper without plugins, two held wrapped connections: what the wrapper's proxies cost without a switch;
- raw driver + read-only setters: the same as raw, plus the driver's read-only setter on each connection
  (psycopg: local; aiomysql: ``SET SESSION TRANSACTION READ ONLY/WRITE``, a round trip, which is what
  the wrapper's ``set_read_only`` runs on the connection it switched to);
- wrapper ``read_write_splitting`` (cached reader/writer), with internal pools, and with ``failover`` too.

A second table times the two ``set_read_only`` calls alone (no query): the pure switch cost. Steady
state: the reader connection is opened during warm-up. Variants run interleaved in shuffled blocks;
prints µs/op (median, p99), the difference and the ratio to the first row. A third table times a whole
short-lived wrapped connection (connect, ``set_read_only(True)``, query, close) with and without internal
pools: there the pools save opening a reader connection each time.

    python benchmarks/rw_switch.py [--engine postgres|mariadb|both] [--ops 3000] [--block 20] [--conns 100]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import random
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import Op, arg_parser, close_all, engines, measure, median, percentile

from awsasyncwrap import AsyncAwsConnection, release_resources
from awsasyncwrap.testbed import Testbed

WARMUP = 100  # unmeasured ops per variant: they open the reader connections and fill the pools


def topology_props(tb: Testbed) -> dict[str, Any]:
    """The testbed's wrapper properties, but with a topology that gives every instance's own server address
    (no proxy in the way) instead of a host pattern."""
    ports = " ".join(f"WHEN '{i.id}' THEN {i.node_port}" for i in tb.instances)
    if tb.engine == "postgres":
        source = (
            "SELECT server_id, session_id = 'MASTER_SESSION_ID', cpu, COALESCE(replica_lag_in_msec, 0), "
            "last_update_timestamp, '127.0.0.1', CASE server_id {ports} END FROM aurora_replica_status()"
        )
    else:
        source = (
            "SELECT SERVER_ID, SESSION_ID = 'MASTER_SESSION_ID', CPU, REPLICA_LAG_IN_MILLISECONDS, "
            "LAST_UPDATE_TIMESTAMP, '127.0.0.1', CASE SERVER_ID {ports} END "
            "FROM aurora_emul.replica_host_status"
        )
    props: dict[str, Any] = tb.wrapper_props()
    del props["cluster_instance_host_pattern"]
    props["topology_query"] = source.format(ports=ports)
    return props


class Engine:
    """How to open raw and wrapped connections of one testbed, and run one query."""

    def __init__(self, tb: Testbed) -> None:
        self.tb = tb
        self.pg = tb.engine == "postgres"

    async def raw(self, inst: Any) -> Any:
        if self.pg:
            import psycopg

            return await psycopg.AsyncConnection.connect(self.tb.dsn(inst, direct=True), autocommit=True)
        import aiomysql

        return await aiomysql.connect(**self.tb.connect_kwargs(inst, direct=True), autocommit=True)

    async def wrapped(self, inst: Any = None, **props: Any) -> AsyncAwsConnection:
        tb = self.tb
        inst = inst or tb.writer
        props = {**topology_props(tb), "autocommit": True, **props}
        if self.pg:
            import psycopg

            return AsyncAwsConnection.of(
                await AsyncAwsConnection.connect(
                    psycopg.AsyncConnection.connect, tb.dsn(inst, direct=True), **props
                )
            )
        import aiomysql

        return AsyncAwsConnection.of(
            await AsyncAwsConnection.connect(
                aiomysql.connect, **tb.connect_kwargs(inst, direct=True), **props
            )
        )

    async def query(self, conn: Any) -> Any:
        if self.pg:
            cur = conn.cursor()
            await cur.execute("SELECT 1")
            return await cur.fetchone()
        cur = await conn.cursor()
        await cur.execute("SELECT 1")
        row = await cur.fetchone()
        await cur.close()
        return row

    async def raw_read_only(self, conn: Any, value: bool) -> None:
        if self.pg:
            await conn.set_read_only(value)
            return
        cur = await conn.cursor()
        await cur.execute(f"SET SESSION TRANSACTION {'READ ONLY' if value else 'READ WRITE'}")
        await cur.close()


VARIANTS: dict[str, dict[str, Any]] = {
    "wrapper, read_write_splitting": {"plugins": "read_write_splitting"},
    "wrapper, read_write_splitting + internal pools": {
        "plugins": "read_write_splitting",
        "rw_internal_pools": True,
    },
    "wrapper, read_write_splitting + failover": {"plugins": "read_write_splitting,failover"},
}


async def switch_ops(eng: Engine) -> tuple[dict[str, Op], list[Any]]:
    writer = await eng.raw(eng.tb.writer)
    reader = await eng.raw(eng.tb.readers[0])
    closers: list[Any] = [writer, reader]

    async def raw_op() -> None:
        await eng.query(reader)
        await eng.query(writer)

    async def raw_setters_op() -> None:
        await eng.raw_read_only(reader, True)
        await eng.query(reader)
        await eng.raw_read_only(writer, False)
        await eng.query(writer)

    ops: dict[str, Op] = {
        "raw driver, two held connections": raw_op,
        "raw driver + read-only setters": raw_setters_op,
    }
    plain_writer = await eng.wrapped(plugins="")
    plain_reader = await eng.wrapped(eng.tb.readers[0], plugins="")
    closers += [plain_writer, plain_reader]

    async def plain_op() -> None:
        await eng.query(plain_reader)
        await eng.query(plain_writer)

    ops["wrapper without plugins, two held connections"] = plain_op
    for label, props in VARIANTS.items():
        conn = await eng.wrapped(**props)
        closers.append(conn)
        ops[label] = _switch_op(eng, conn)
    return ops, closers


def _switch_op(eng: Engine, conn: AsyncAwsConnection) -> Op:
    async def op() -> None:
        await conn.set_read_only(True)
        await eng.query(conn)
        await conn.set_read_only(False)
        await eng.query(conn)

    return op


async def toggle_ops(eng: Engine) -> tuple[dict[str, Op], list[Any]]:
    """One op = ``set_read_only(True)`` + ``set_read_only(False)`` and no query: the switch alone."""
    raw = await eng.raw(eng.tb.writer)

    async def raw_op() -> None:
        await eng.raw_read_only(raw, True)
        await eng.raw_read_only(raw, False)

    ops: dict[str, Op] = {"raw driver's read-only setter": raw_op}
    closers: list[Any] = [raw]
    variants = {"wrapper without plugins (setter only)": {"plugins": ""}, **VARIANTS}
    for label, props in variants.items():
        conn = await eng.wrapped(**props)
        closers.append(conn)
        ops[label] = _toggle_op(conn)
    return ops, closers


def _toggle_op(conn: AsyncAwsConnection) -> Op:
    async def op() -> None:
        await conn.set_read_only(True)
        await conn.set_read_only(False)

    return op


async def short_lived(eng: Engine, n: int) -> dict[str, list[float]]:
    """µs of connect + set_read_only(True) + query + close, without and with internal pools (interleaved)."""
    variants = {
        "short-lived wrapped connection, without internal pools": False,
        "short-lived wrapped connection, with internal pools": True,
    }
    samples: dict[str, list[float]] = {label: [] for label in variants}
    labels = list(variants)
    for i in range(n + 10):
        random.shuffle(labels)
        for label in labels:
            start = time.perf_counter_ns()
            conn = await eng.wrapped(plugins="read_write_splitting", rw_internal_pools=variants[label])
            await conn.set_read_only(True)
            await eng.query(conn)
            await conn.close()
            if i >= 10:  # warm-up: dialect detection, first pool connections
                samples[label].append((time.perf_counter_ns() - start) / 1000)
    await release_resources()
    return samples


def report(title: str, samples: dict[str, list[float]], raw_label: str) -> None:
    raw_median = median(samples[raw_label])
    print(f"\n{title}: {len(samples[raw_label])} ops per variant")
    print(f"{'variant':<52} {'median µs':>10} {'p99 µs':>9} {'+µs':>8} {'ratio':>6}")
    for label, values in samples.items():
        med = median(values)
        print(
            f"{label:<52} {med:>10.1f} {percentile(values, 0.99):>9.1f} {med - raw_median:>+8.1f} "
            f"{med / raw_median:>6.2f}"
        )


async def run(args: argparse.Namespace) -> None:
    # The overridden topology reports addresses but no host pattern is set: the cluster's background
    # monitor may fail to identify its first connection and stop (logged at ERROR). The topology read at
    # connect time is all this benchmark needs, so that message is silenced here.
    logging.getLogger("awsasyncwrap.topology").setLevel(logging.CRITICAL)
    for engine in engines(args.engine):
        async with Testbed.start(engine, instances=3) as tb:  # type: ignore[arg-type]
            eng = Engine(tb)
            tables = {
                "set_read_only(True) + SELECT 1 + set_read_only(False) + SELECT 1": switch_ops,
                "set_read_only(True) + set_read_only(False), no query": toggle_ops,
            }
            for title, open_ops in tables.items():
                ops, closers = await open_ops(eng)
                try:
                    samples = await measure(ops, args.ops, args.block, warmup=WARMUP)
                finally:
                    await close_all(closers)
                report(f"{engine}: {title}", samples, next(iter(ops)))
            gc.collect()
            lived = await short_lived(eng, args.conns)
            print(
                f"\n{engine}: connect + set_read_only(True) + SELECT 1 + close, {args.conns} connections each"
            )
            print(f"{'variant':<52} {'median ms':>10} {'p99 ms':>9}")
            for label, values in lived.items():
                print(f"{label:<52} {median(values) / 1000:>10.2f} {percentile(values, 0.99) / 1000:>9.2f}")


def main() -> None:
    parser = arg_parser(__doc__)
    parser.add_argument("--engine", choices=["postgres", "mariadb", "both"], default="both")
    parser.add_argument("--ops", type=int, default=3000, help="switch round trips per variant")
    parser.add_argument("--block", type=int, default=20, help="ops per variant before switching variant")
    parser.add_argument("--conns", type=int, default=100, help="short-lived wrapped connections per variant")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
