"""Sustained load: does throughput hold up over time, and does the event loop stay responsive?

Back-to-back ``execute("SELECT 1") + fetchone()`` for ``--seconds`` (default 60) on one connection, then on
``--conns`` connections (default 100) at once, for the raw driver, the wrapper without plugins, the
wrapper with ``host_monitoring`` and the wrapper with the default plugin set, all in one run against the
same server. The wrapped connections are made as an Aurora user makes them (``cluster_instance_host_pattern``
given; see ``overhead.py``), so the cluster's topology monitor runs and every plugin does its real work.
For each variant it prints throughput per window (default 10 s), the last-window / first-window ratio
(target: within 5%), max and p50/p99 per-call latency, and the worst overshoot of a task that sleeps 1 ms
in a loop (event-loop lag; target < 5 ms). Throughput ratios are against the raw driver measured in the
same run.

By default the variants take turns of ``--slice`` seconds (every variant's connections stay open the
whole time, so its monitors keep their state), and each variant's windows count its own active time: on
a shared machine, load from other processes then hits every variant alike instead of whichever ran at the
wrong minute. ``--slice 0`` runs one variant after the other.

    python benchmarks/sustained_load.py [--seconds 60] [--window 10] [--conns 100] [--engine postgres|mariadb]
                                        [--variants WORDS] [--slice 1] [--aggressive] [--dsn DSN]

``--aggressive`` adds a host_monitoring variant with a 5 ms grace time, so calls queued on the loop get
probed all the time (stress for the monitor, not a sensible setting).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import random
import sys
import time
from array import array
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import arg_parser, aurora_props, single_server

import awsasyncwrap
from awsasyncwrap import AsyncAwsConnection
from awsasyncwrap.plugins import DEFAULT_PLUGINS
from awsasyncwrap.testbed import Testbed

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


class _Tally:
    """One variant's counters in an interleaved run (time is the variant's own active time)."""

    def __init__(self, n_windows: int) -> None:
        self.windows = [0] * n_windows
        self.hist = array("q", bytes(8 * (HIST_MAX_US + 1)))
        self.max_latency = 0.0
        self.active = 0.0  # seconds this variant ran so far
        self.slice_start = 0.0
        self.lag_worst = 0.0
        self.lag_over = 0


async def measure_interleaved(
    groups: dict[str, list[Op]], seconds: float, window: float, slice_s: float
) -> list[Result]:
    """Run the variants in turns of ``slice_s`` seconds until each ran ``seconds``.

    Every variant's connections stay open (and its monitors keep their state) for the whole run;
    only its ops pause while another variant has its turn. Windows count a variant's own active time,
    so "last window / first window" still compares its 10th-to-last with its first 10 s of load, while
    whatever else the machine does meanwhile hits every variant alike.
    """
    n_windows = max(1, math.ceil(seconds / window - 1e-9))
    labels = list(groups)
    tallies = {label: _Tally(n_windows) for label in labels}
    gates = {label: asyncio.Event() for label in labels}
    drained = asyncio.Event()
    in_flight = 0
    current: _Tally | None = None
    stopping = False
    clock = time.perf_counter

    async def worker(tally: _Tally, gate: asyncio.Event, op: Op) -> None:
        nonlocal in_flight
        while True:
            while not gate.is_set():
                await gate.wait()
            if stopping:
                return
            t0 = clock()
            elapsed = tally.active + (t0 - tally.slice_start)
            in_flight += 1
            try:
                await op()
            finally:
                in_flight -= 1
                if in_flight == 0 and not gate.is_set():
                    drained.set()
            lat = clock() - t0
            if lat > tally.max_latency:
                tally.max_latency = lat
            tally.windows[min(int(elapsed / window), n_windows - 1)] += 1
            us = int(lat * 1e6)
            tally.hist[us if us < HIST_MAX_US else HIST_MAX_US] += 1

    async def lag_probe() -> None:
        while not stopping:
            t0 = clock()
            await asyncio.sleep(0.001)
            over = clock() - t0 - 0.001
            tally = current
            if tally is not None:
                tally.lag_worst = max(tally.lag_worst, over)
                tally.lag_over += over > 0.005

    workers = [
        asyncio.create_task(worker(tallies[label], gates[label], op), name=f"bench:{label}")
        for label in labels
        for op in groups[label]
    ]
    probe = asyncio.create_task(lag_probe(), name="bench:lag-probe")
    try:
        while pending := [label for label in labels if tallies[label].active < seconds]:
            random.shuffle(pending)
            for label in pending:
                tally, gate = tallies[label], gates[label]
                drained.clear()
                current = tally
                tally.slice_start = clock()
                gate.set()
                await asyncio.sleep(min(slice_s, seconds - tally.active))
                gate.clear()
                tally.active += clock() - tally.slice_start
                if in_flight:
                    await drained.wait()  # the turn ends when its last call does
    finally:
        stopping = True
        for gate in gates.values():
            gate.set()
        await asyncio.gather(*workers, probe, return_exceptions=True)
    return [
        Result(
            label,
            len(groups[label]),
            min(tallies[label].active, seconds),
            window,
            tallies[label].windows,
            tallies[label].max_latency,
            tallies[label].hist,
            tallies[label].lag_worst,
            tallies[label].lag_over,
        )
        for label in labels
    ]


# --- variants -------------------------------------------------------------------------------------


DEFAULT_LABEL = f"wrapper, default ({','.join(DEFAULT_PLUGINS)})"


def pg_variants(dsn: str, aggressive: bool, aurora: dict[str, Any]) -> list[Variant]:
    import psycopg

    async def raw_connect() -> Any:
        return await psycopg.AsyncConnection.connect(dsn, autocommit=True)

    def wrapped(plugins: str | None, **props: Any) -> Callable[[], Awaitable[Any]]:
        chosen = {} if plugins is None else {"plugins": plugins}

        async def connect() -> Any:
            return await AsyncAwsConnection.connect(
                psycopg.AsyncConnection.connect, dsn, autocommit=True, **aurora, **chosen, **props
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
        Variant(DEFAULT_LABEL, wrapped(None), make_op, close),
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


def mysql_variants(kwargs: dict[str, Any], aggressive: bool, aurora: dict[str, Any]) -> list[Variant]:
    import aiomysql

    async def raw_connect() -> Any:
        return await aiomysql.connect(**kwargs, autocommit=True)

    def wrapped(plugins: str | None, **props: Any) -> Callable[[], Awaitable[Any]]:
        chosen = {} if plugins is None else {"plugins": plugins}

        async def connect() -> Any:
            return await AsyncAwsConnection.connect(
                aiomysql.connect, autocommit=True, **kwargs, **aurora, **chosen, **props
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
        Variant(DEFAULT_LABEL, wrapped(None), make_op, close),
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


async def open_all(variant: Variant, conns: int) -> tuple[list[Any], list[Op]]:
    """``conns`` connections of ``variant`` and their (warmed-up) ops."""
    gate = asyncio.Semaphore(10)

    async def open_one() -> Any:
        async with gate:
            return await variant.connect()

    opened = list(await asyncio.gather(*(open_one() for _ in range(conns))))
    ops = [await variant.make_op(c) for c in opened]
    for op in ops:  # warm-up
        for _ in range(50):
            await op()
    return opened, ops


def monitor_notes() -> list[str]:
    """The state of every monitor of the loop (host monitors, topology monitors)."""
    from awsasyncwrap._background import registry
    from awsasyncwrap.plugins.host_monitoring import host_monitors
    from awsasyncwrap.topology import ClusterTopologyMonitor

    notes = [
        f"host monitor {mon.host.url}: wakeups={mon.wakeups} probes={mon.probes} "
        f"failed={mon.failed_probes} in_flight_now={len(mon.calls)} tasks={mon.task_count}"
        for mon in host_monitors()
    ]
    for svc in registry().services():
        if isinstance(svc, ClusterTopologyMonitor) and not svc.closed:
            topo = svc.topology
            hosts = ",".join(h.url for h in topo.hosts) if topo else "none"
            notes.append(f"topology monitor {svc.cluster_id}: tasks={svc.task_count} hosts={hosts}")
    return notes


async def run_variant(variant: Variant, conns: int, seconds: float, window: float) -> Result:
    """One variant alone for ``seconds``."""
    opened: list[Any] = []
    try:
        opened, ops = await open_all(variant, conns)
        result = await measure(variant.label, ops, seconds, window)
        if isinstance(opened[0], AsyncAwsConnection):
            result.notes += monitor_notes()
        return result
    finally:
        for conn in opened:
            await variant.close(conn)
        await awsasyncwrap.release_resources()


async def run_interleaved(
    variants: list[Variant], conns: int, seconds: float, window: float, slice_s: float
) -> tuple[list[Result], list[str]]:
    """Every variant's connections open at once; the variants run in turns (see measure_interleaved)."""
    opened: list[tuple[Variant, Any]] = []
    try:
        groups: dict[str, list[Op]] = {}
        for variant in variants:
            conns_of, ops = await open_all(variant, conns)
            opened += [(variant, c) for c in conns_of]
            groups[variant.label] = ops
        results = await measure_interleaved(groups, seconds, window, slice_s)
        return results, monitor_notes()
    finally:
        for variant, conn in opened:
            await variant.close(conn)
        await awsasyncwrap.release_resources()


# --- report -------------------------------------------------------------------------------------


def report(title: str, results: list[Result], notes: Sequence[str] = ()) -> None:
    raw = results[0]
    raw_drift = raw.rate(len(raw.windows) - 1) / raw.rate(0)
    print(f"\n{title}")
    print(
        f"{'variant':<70} {'ops/s':>8} {'vs raw':>6} {'last/1st':>8} {'÷raw':>6} {'p50 µs':>7} {'p99 µs':>7} "
        f"{'max ms':>7} {'lag ms':>7} {'lag>5ms':>7}"
    )
    for r in results:
        drift = r.rate(len(r.windows) - 1) / r.rate(0)
        print(
            f"{r.label:<70} {r.throughput:>8.0f} {r.throughput / raw.throughput:>6.3f} {drift:>8.3f} "
            f"{drift / raw_drift:>6.3f} {r.percentile_us(0.5):>7.0f} {r.percentile_us(0.99):>7.0f} "
            f"{r.max_latency * 1e3:>7.2f} {r.lag_worst * 1e3:>7.2f} {r.lag_over_5ms:>7d}"
        )
    print("  throughput per window (ops/s), and as a share of the raw driver's in the same window:")
    for r in results:
        rates = " ".join(f"{r.rate(i):.0f}" for i in range(len(r.windows)))
        shares = " ".join(f"{r.rate(i) / raw.rate(i):.3f}" for i in range(len(r.windows)))
        print(f"    {r.label:<68} {rates}  |  {shares}")
    print(
        "  last/1st: last window / first window; ÷raw: the same divided by the raw driver's (the machine's\n"
        "  own drift taken out, meaningful when the variants take turns); max: slowest call; lag: worst\n"
        "  overshoot of a 1 ms sleep (the event loop's longest stall) and how many overshot 5 ms."
    )
    for r in results:
        for note in r.notes:
            print(f"  {r.label}: {note}")
    for note in notes:
        print(f"  {note}")


async def connection_room(args: argparse.Namespace, variants: list[Variant]) -> int | None:
    """The server's max_connections (None: not known)."""
    raw = await variants[0].connect()
    try:
        op_cur = raw.cursor()
        cur = await op_cur if hasattr(op_cur, "__await__") else op_cur
        await cur.execute("SELECT @@max_connections" if args.engine == "mariadb" else "SHOW max_connections")
        row = await cur.fetchone()
        return int(row[0]) if row else None
    finally:
        await variants[0].close(raw)


async def raise_max_connections(tb: Testbed, wanted: int) -> None:
    """Restart the testbed's PostgreSQL with ``max_connections >= wanted`` (the testbed sets 100)."""
    import psycopg

    dsn = tb.dsn(tb.writer, direct=True)
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        cur = await conn.execute("SHOW max_connections")
        row = await cur.fetchone()
        if row is not None and int(row[0]) >= wanted:
            return
        await conn.execute(f"ALTER SYSTEM SET max_connections = {int(wanted)}")
    await tb.kill(tb.writer)
    await tb.start_instance(tb.writer)
    print(f"PostgreSQL restarted with max_connections = {wanted}")


@contextlib.asynccontextmanager
async def target(args: argparse.Namespace) -> AsyncIterator[list[Variant]]:
    if args.dsn:
        yield pg_variants(args.dsn, args.aggressive, {})
        return
    async with single_server(args.engine) as tb:
        aurora = aurora_props(tb)
        if args.engine == "postgres":
            # every variant's connections at once, plus the monitors'
            await raise_max_connections(tb, args.conns * 5 + 50)
            yield pg_variants(tb.dsn(tb.writer, direct=True), args.aggressive, aurora)
        else:
            yield mysql_variants(tb.connect_kwargs(tb.writer, direct=True), args.aggressive, aurora)


async def run(args: argparse.Namespace) -> None:
    window = args.window or min(10.0, args.seconds / 3)
    mode = f"interleaved in turns of {args.slice:g} s" if args.slice > 0 else "one variant after the other"
    print(
        f"sustained load: {args.seconds:g} s per variant ({mode}), windows of {window:g} s, "
        f"engine {args.engine}, python {sys.version.split()[0]}"
    )
    async with target(args) as variants:
        if args.variants:
            words = [w.strip() for w in args.variants.split(",") if w.strip()]
            variants = [v for i, v in enumerate(variants) if i == 0 or any(w in v.label for w in words)]
        for conns in (1, args.conns):
            title = f"{conns} connection(s) per variant, back-to-back SELECT 1"
            room = await connection_room(args, variants)
            if args.slice > 0 and room is not None and room < conns * len(variants) + 20:
                print(
                    f"\n{conns} connections per variant: the server takes {room}; one variant after the other"
                )
                report(title, [await run_variant(v, conns, args.seconds, window) for v in variants])
            elif args.slice > 0:
                results, notes = await run_interleaved(variants, conns, args.seconds, window, args.slice)
                report(title, results, notes)
            else:
                report(title, [await run_variant(v, conns, args.seconds, window) for v in variants])


def main() -> None:
    parser = arg_parser(__doc__)
    parser.add_argument("--seconds", type=float, default=60.0, help="run time per variant")
    parser.add_argument("--window", type=float, default=0.0, help="window width (default min(10, seconds/3))")
    parser.add_argument("--conns", type=int, default=100, help="connections of the many-connections run")
    parser.add_argument("--engine", choices=["postgres", "mariadb"], default="postgres")
    parser.add_argument(
        "--variants", help="besides the raw driver, only variants whose label has one of these"
    )
    parser.add_argument(
        "--slice",
        type=float,
        default=1.0,
        help="turn length when interleaving (0: one variant after the other)",
    )
    parser.add_argument("--aggressive", action="store_true", help="add a host_monitoring variant, grace 5 ms")
    parser.add_argument("--dsn", help="PostgreSQL to use instead of a testbed server")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
