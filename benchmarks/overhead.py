"""Per-call overhead of the wrapper over the raw driver: ``execute("SELECT 1") + fetchone()``.

Every variant runs in the same process against the same server, interleaved in small shuffled
blocks, so machine noise hits all variants alike. The wrapped variants connect the way an Aurora
user does: to an instance, with ``cluster_instance_host_pattern`` set, so the default plugin set does
its real work (the cluster's topology monitor runs, the tracker tracks the connection, failover has a
topology, host_monitoring watches the instance); the run checks that and says so.

Each of ``--rounds`` rounds opens fresh connections for every variant (new server backends: on a
small machine one backend can be a few µs faster than another for its whole life, whatever the client
does) and measures ``--ops / --rounds`` ops per variant. The report gives, per variant, the median
over all ops, and the overhead over the raw driver as the median of the per-round differences of
medians, with their range across rounds (the noise).

Connect cost: before the per-call rounds, the raw driver, the wrapper without plugins and the default set
each connect once (the *first* connect: dialect detection, the cluster's first topology, the monitor
starting) and then ``--connects`` times more in shuffled order (*later* connects to a known cluster: the
monitor runs, nothing is asked that it knows); each connection is closed before the next, untimed. Once
through the testbed's instance endpoint (its TCP proxy, with ``tb.wrapper_props()``), once directly.

``--pin CPU`` runs this process and the server side of every measured connection (PostgreSQL backends;
every thread of the MariaDB server) on that one CPU: each round trip is then two context switches on
one core, the same for every variant, instead of depending on where the scheduler put each backend.

    python benchmarks/overhead.py [--engine postgres|mariadb|both] [--ops 20000] [--rounds 5]
                                  [--block 20] [--pin CPU] [--variants WORDS] [--dsn DSN] [--connects 60]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common
from _common import (
    Op,
    arg_parser,
    aurora_props,
    close_all,
    close_one,
    engines,
    median,
    percentile,
    select_1_op,
    single_server,
)

from awsasyncwrap import AsyncAwsConnection, Plugin, PluginFactory, PluginManager
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
PluginManager.register_plugin("bench_pass_through_2", PassThroughFactory)


def variants_available(only: str | None = None) -> list[tuple[str, str | None]]:
    """(label, plugins) of every wrapper variant measurable with the plugins present.

    ``only``: comma-separated words; keep the variants whose label contains one of them.
    """
    variants: list[tuple[str, str | None]] = [
        ("wrapper, no plugins", ""),
        ("wrapper, one pass-through plugin", "bench_pass_through"),
        ("wrapper, two pass-through plugins", "bench_pass_through,bench_pass_through_2"),
        ("wrapper, execute_time", "execute_time"),
    ]
    codes = PluginManager.registered_codes()
    for code in ("failover", "host_monitoring", "bg"):
        if code in codes:
            variants.append((f"wrapper, {code}", code))
    if DEFAULT_PLUGINS:
        variants.append((f"wrapper, default ({','.join(DEFAULT_PLUGINS)})", None))
    if only:
        words = [w.strip() for w in only.split(",") if w.strip()]
        variants = [v for v in variants if any(w in v[0] for w in words)]
    return variants


@dataclass
class Target:
    """How to reach the server: the raw driver's arguments plus the wrapper's Aurora properties."""

    engine: str
    port: int
    dsn: str = ""
    kwargs: dict[str, Any] | None = None
    props: dict[str, Any] | None = None


async def open_ops(target: Target, only: str | None = None) -> tuple[dict[str, Op], list[Any]]:
    """Fresh connections for the raw driver and every wrapper variant, and their ops."""
    ops: dict[str, Op] = {}
    closers: list[Any] = []
    props = target.props or {}
    if target.engine == "postgres":
        import psycopg

        raw = await psycopg.AsyncConnection.connect(target.dsn, autocommit=True)
        raw_cur: Any = raw.cursor()
        raw_label = "raw psycopg"
    else:
        import aiomysql

        raw = await aiomysql.connect(**(target.kwargs or {}), autocommit=True)
        raw_cur = await raw.cursor()
        raw_label = "raw aiomysql"
    closers.append(raw)
    ops[raw_label] = select_1_op(raw_cur)
    for label, plugins in variants_available(only):
        extra: dict[str, Any] = {**props} if plugins is None else {**props, "plugins": plugins}
        if target.engine == "postgres":
            import psycopg

            conn = await AsyncAwsConnection.connect(
                psycopg.AsyncConnection.connect, target.dsn, autocommit=True, **extra
            )
        else:
            import aiomysql

            conn = await AsyncAwsConnection.connect(
                aiomysql.connect, autocommit=True, **(target.kwargs or {}), **extra
            )
        closers.append(conn)
        ops[label] = select_1_op(conn.cursor())
    return ops, closers


CONNECT_VARIANTS: list[tuple[str, str | None]] = [
    ("raw driver", "raw"),
    ("wrapper, no plugins", ""),
    ("default set", None),
]


async def connect_once(target: Target, plugins: str | None) -> tuple[float, Any]:
    """Seconds one connect takes (``plugins``: "raw" for the raw driver), and the connection."""
    props = target.props or {}
    extra: dict[str, Any] = {**props} if plugins is None else {**props, "plugins": plugins}
    start = time.perf_counter()
    if target.engine == "postgres":
        import psycopg

        if plugins == "raw":
            conn: Any = await psycopg.AsyncConnection.connect(target.dsn, autocommit=True)
        else:
            conn = await AsyncAwsConnection.connect(
                psycopg.AsyncConnection.connect, target.dsn, autocommit=True, **extra
            )
    else:
        import aiomysql

        if plugins == "raw":
            conn = await aiomysql.connect(**(target.kwargs or {}), autocommit=True)
        else:
            conn = await AsyncAwsConnection.connect(
                aiomysql.connect, autocommit=True, **(target.kwargs or {}), **extra
            )
    return time.perf_counter() - start, conn


async def measure_connects(target: Target, count: int) -> dict[str, tuple[float, list[float]]]:
    """Per variant: the first connect (s) and ``count`` later ones, interleaved in shuffled order."""
    firsts: dict[str, float] = {}
    later: dict[str, list[float]] = {label: [] for label, _ in CONNECT_VARIANTS}
    for label, plugins in CONNECT_VARIANTS:
        elapsed, conn = await connect_once(target, plugins)
        firsts[label] = elapsed
        await close_one(conn)
    order = [v for v in CONNECT_VARIANTS for _ in range(count)]
    random.shuffle(order)
    for label, plugins in order:
        elapsed, conn = await connect_once(target, plugins)
        later[label].append(elapsed)
        await close_one(conn)
    await close_all([])
    return {label: (firsts[label], later[label]) for label, _ in CONNECT_VARIANTS}


def report_connects(title: str, results: dict[str, tuple[float, list[float]]]) -> None:
    raw = median(results["raw driver"][1])
    count = len(results["raw driver"][1])
    print(f"\n{title}: connect, first and {count} later connects per variant (ms)")
    print(f"{'variant':<24} {'first':>8} {'later median':>12} {'p90':>8} {'ratio':>6}")
    for label, (first, samples) in results.items():
        med = median(samples)
        print(
            f"{label:<24} {first * 1000:>8.2f} {med * 1000:>12.2f} {percentile(samples, 0.9) * 1000:>8.2f} "
            f"{med / raw:>6.3f}"
        )
    print("  ratio: later median / raw driver's later median")


def default_set_at_work(closers: list[Any]) -> list[str]:
    """What the default-set connection has set up (its plugins doing their real work), one line each."""
    from awsasyncwrap._background import registry
    from awsasyncwrap.plugins.aurora_connection_tracker import tracked_connections
    from awsasyncwrap.plugins.failover import FailoverPlugin
    from awsasyncwrap.plugins.host_monitoring import HostMonitoringPlugin
    from awsasyncwrap.topology import ClusterTopologyMonitor

    conn = closers[-1]
    lines: list[str] = []
    host = conn.current_host
    lines.append(f"connected to {host.url if host else '?'} (instance id {host.host_id if host else '?'})")
    monitors = [s for s in registry().services() if isinstance(s, ClusterTopologyMonitor) and not s.closed]
    for mon in monitors:
        topo = mon.topology
        hosts = ", ".join(f"{h.url} {h.role.value}" for h in topo.hosts) if topo else "none yet"
        lines.append(f"topology monitor {mon.cluster_id}: {mon.task_count} task(s), topology: {hosts}")
    if not monitors:
        lines.append("WARNING: no topology monitor runs")
    for plugin in conn.plugin_service.plugins:
        if isinstance(plugin, FailoverPlugin):
            ready = plugin._provider() is not None
            lines.append(f"failover: {'has the topology provider' if ready else 'WARNING: no topology'}")
        elif isinstance(plugin, HostMonitoringPlugin):
            efm = plugin.monitor
            lines.append(f"host_monitoring: {efm!r}" if efm else "WARNING: host_monitoring has no monitor")
    if host is not None:
        tracked = conn.target_connection in tracked_connections(host.url)
        lines.append(f"aurora_connection_tracker: {'tracks' if tracked else 'WARNING: does not track'} it")
    return lines


def server_tasks(engine: str, port: int, closers: list[Any]) -> list[int]:
    """OS ids of the server side of the measured connections (PostgreSQL: backend pids)."""
    if engine == "postgres":
        conns = [getattr(c, "target_connection", c) for c in closers]
        return [c.info.backend_pid for c in conns]
    tids: list[int] = []
    for entry in Path("/proc").iterdir():  # the mariadbd serving ``port``: all its threads
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if cmdline and cmdline[0].endswith(b"mariadbd") and f"--port={port}".encode() in cmdline:
            tids += [int(t.name) for t in (entry / "task").iterdir()]
    return tids


def pin(cpu: int, tids: list[int]) -> None:
    os.sched_setaffinity(0, {cpu})
    for tid in tids:
        try:
            os.sched_setaffinity(tid, {cpu})
        except OSError as exc:
            print(f"  cannot pin {tid} to CPU {cpu}: {exc}")


@dataclass
class Round:
    """One round's samples per variant: latency per op (µs) and client CPU time per op of each block (µs)."""

    latency: dict[str, list[float]]
    cpu: dict[str, list[float]]


async def measure(ops: dict[str, Op], n_ops: int, block: int) -> Round:
    """``n_ops`` ops of every variant, run in shuffled blocks of ``block`` ops."""
    cpu: dict[str, list[float]] = {label: [] for label in ops}
    return Round(await _common.measure(ops, n_ops, block, cpu=cpu), cpu)


async def run_rounds(target: Target, args: argparse.Namespace) -> tuple[list[Round], str]:
    rounds: list[Round] = []
    raw_label = ""
    for i in range(args.rounds):
        ops, closers = await open_ops(target, args.variants)
        raw_label = next(iter(ops))
        try:
            if args.pin is not None:
                pin(args.pin, server_tasks(target.engine, target.port, closers))
            if i == 0 and target.props and list(ops)[-1].startswith("wrapper, default"):
                await ops[list(ops)[-1]]()  # its first call acquires the host monitor
                for line in default_set_at_work(closers):
                    print(f"  default set: {line}")
            rounds.append(await measure(ops, max(args.block, args.ops // args.rounds), args.block))
        finally:
            await close_all(closers)
    return rounds, raw_label


def report(title: str, rounds: list[Round], raw_label: str) -> None:
    labels = list(rounds[0].latency)
    pooled = {label: [v for r in rounds for v in r.latency[label]] for label in labels}
    raw_median = median(pooled[raw_label])
    print(f"\n{title}: {len(pooled[raw_label])} ops per variant in {len(rounds)} round(s)")
    print(
        f"{'variant':<70} {'median µs':>9} {'p99 µs':>8} {'+µs':>6} {'ratio':>6} {'+µs min..max':>14} "
        f"{'cpu µs':>7} {'+cpu':>5}"
    )
    for label in labels:
        deltas = [median(r.latency[label]) - median(r.latency[raw_label]) for r in rounds]
        delta = statistics.median(deltas)
        cpu = [v for r in rounds for v in r.cpu[label]]
        cpu_delta = statistics.median(median(r.cpu[label]) - median(r.cpu[raw_label]) for r in rounds)
        print(
            f"{label:<70} {median(pooled[label]):>9.1f} {percentile(pooled[label], 0.99):>8.1f} "
            f"{delta:>+6.1f} {1 + delta / raw_median:>6.3f} {min(deltas):>+6.1f}..{max(deltas):>+5.1f} "
            f"{median(cpu):>7.1f} {cpu_delta:>+5.1f}"
        )
    print("  per round, +µs over raw (median of the round):")
    for label in labels[1:]:
        per_round = " ".join(
            f"{median(r.latency[label]) - median(r.latency[raw_label]):+5.1f}" for r in rounds
        )
        print(f"    {label:<68} {per_round}")
    print(
        "  +µs: median over the rounds of (variant median - raw median) in the round; ratio: 1 + +µs / raw"
        " median;\n  cpu µs: this thread's CPU time per op (driver, wrapper, event loop, syscalls; no server,"
        " no waiting)."
    )


async def run(args: argparse.Namespace) -> None:
    for engine in engines(args.engine):
        if engine == "postgres" and args.dsn:
            rounds, raw_label = await run_rounds(Target("postgres", 0, dsn=args.dsn), args)
            report("PostgreSQL (given DSN, no Aurora properties)", rounds, raw_label)
            continue
        async with single_server(engine) as tb:
            port = tb.writer.node_port
            props = aurora_props(tb)
            if engine == "postgres":
                target = Target(engine, port, dsn=tb.dsn(tb.writer, direct=True), props=props)
            else:
                target = Target(engine, port, kwargs=tb.connect_kwargs(tb.writer, direct=True), props=props)
            pinned = "not pinned" if args.pin is None else f"client and server pinned to CPU {args.pin}"
            print(f"{engine}: wrapper properties {props}; {pinned}; {os.cpu_count()} CPUs")
            if args.connects > 0:
                # the instance endpoint: the testbed's TCP proxy in front of the server, as in failover.py
                if engine == "postgres":
                    via = Target(engine, port, dsn=tb.dsn(tb.writer), props=tb.wrapper_props())
                else:
                    via = Target(engine, port, kwargs=tb.connect_kwargs(tb.writer), props=tb.wrapper_props())
                for title, where in (("through the instance endpoint (proxy)", via), ("direct", target)):
                    results = await measure_connects(where, args.connects)
                    report_connects(f"{engine}, {title}", results)
            rounds, raw_label = await run_rounds(target, args)
            report(f"{engine} (testbed, loopback TCP)", rounds, raw_label)


def main() -> None:
    parser = arg_parser(__doc__)
    parser.add_argument("--engine", choices=["postgres", "mariadb", "both"], default="postgres")
    parser.add_argument("--ops", type=int, default=20000, help="ops per variant (over all rounds)")
    parser.add_argument("--rounds", type=int, default=5, help="rounds, each on fresh connections")
    parser.add_argument("--block", type=int, default=20, help="ops per variant before switching variant")
    parser.add_argument("--variants", help="only the variants whose label contains one of these words")
    parser.add_argument("--pin", type=int, help="run client and server side on this one CPU")
    parser.add_argument("--dsn", help="measure against this PostgreSQL instead of a testbed server")
    parser.add_argument("--connects", type=int, default=60, help="later connects per variant (0: skip)")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
