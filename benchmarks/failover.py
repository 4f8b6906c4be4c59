"""Failover timings on the testbed: how long an app that writes continuously is without its writer.

A 3-instance testbed cluster (PostgreSQL or MariaDB) runs; per trial an app connection with the default
plugin set and default settings (plus what the testbed needs: ``cluster_instance_host_pattern``, and on
MariaDB the topology query overrides) inserts rows in a loop, then the writer fails:

- ``kill``: the testbed fences the writer (holds its traffic, so nothing is acknowledged that the promotion
  target lacks), lets the target catch up, crashes the writer (PostgreSQL: immediate shutdown, SIGQUIT;
  MariaDB: ``kill -9``; the held connections are reset) and promotes the target. The app connects through
  the cluster endpoint.
- ``blackhole``: the writer's proxy stops forwarding (the app's call hangs, nothing is refused), then the
  testbed crashes the writer behind it and promotes a reader. With default settings the app's call has been
  in flight for ``stuck_call_topology_check_ms`` (0.5 s) when ``host_monitoring`` reports it to the topology
  monitor, whose writer check finds the promoted reader; ``--efm 1000,500,2`` tunes EFM's own detection
  instead (or as well), ``--stuck-check-ms`` the check. The app connects to the writer's instance address
  (the testbed's cluster endpoint is a separate proxy, which would not hang).

Measured per trial (``time.perf_counter``, all in this process):

- fault: kill: the moment a direct connection to the old writer (running ``SELECT pg_sleep``) breaks (the
  fence before it is printed apart); blackhole: the moment the proxy was switched;
- detected: the failover plugin starts its failover (its DEBUG log line);
- error: the app's call raises ``FailoverSuccessError``;
- writable: a direct connection to the promoted reader gets its first INSERT through (polled every 2 ms);
- first write: the app's first INSERT that succeeds after the error.

``promotion`` = writable - fault (the testbed's share); ``wrapper`` = first write - writable (ours).
Targets (default settings): wrapper p50 <= 0.5 s and p99 <= 1.5 s. Every acknowledged row is checked on the
new writer afterwards. ``--compare`` runs ``aws-advanced-python-wrapper`` (its ``aio`` package) the same way
when it is importable (measuring only; it is not a dependency, see :func:`competitor`).

    python benchmarks/failover.py [--engine postgres|mariadb|both] [--trials 10] [--fault kill|blackhole|both]
                                  [--efm default|1000,500,2] [--stuck-check-ms MS] [--promotion-delay 0]
                                  [--write-interval-ms 1] [--compare [--compare-fault kill]] [--timeline] [-v]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import sys
import time
import warnings
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import arg_parser, engines, percentile

import awsasyncwrap
from awsasyncwrap import (
    AsyncAwsConnection,
    FailoverFailedError,
    FailoverSuccessError,
    TransactionResolutionUnknownError,
)
from awsasyncwrap.testbed import Instance, Testbed

TARGET_P50 = 0.5
TARGET_P99 = 1.5
TRIAL_TIMEOUT = 180.0
HEAL_TIMEOUT = 120.0
WRITABLE_POLL = 0.002

# --- drivers ------------------------------------------------------------------------------------------


class Engine:
    """Direct (unwrapped) access to the testbed with the engine's driver."""

    def __init__(self, tb: Testbed) -> None:
        self.tb = tb
        self.pg = tb.engine == "postgres"

    @property
    def sleep_sql(self) -> str:
        return "SELECT pg_sleep(3600)" if self.pg else "SELECT SLEEP(3600)"

    async def direct(self, inst: Instance) -> Any:
        if self.pg:
            import psycopg

            return await psycopg.AsyncConnection.connect(
                self.tb.dsn(inst, direct=True), autocommit=True, connect_timeout=5
            )
        import aiomysql

        return await aiomysql.connect(**self.tb.connect_kwargs(inst, direct=True), autocommit=True)

    @staticmethod
    async def run(conn: Any, sql: str, params: Any = None) -> list[tuple[Any, ...]]:
        cur = conn.cursor()
        if hasattr(cur, "__await__"):  # aiomysql / the competitor: cursor() is a coroutine
            cur = await cur
        try:
            await cur.execute(sql, params)
            return list(await cur.fetchall()) if cur.description is not None else []
        finally:
            with contextlib.suppress(Exception):
                await cur.close()

    @staticmethod
    async def close(conn: Any) -> None:
        with contextlib.suppress(Exception):
            if hasattr(conn, "ensure_closed"):
                await asyncio.wait_for(conn.ensure_closed(), 2)
            else:
                await asyncio.wait_for(conn.close(), 2)


# --- app and observers --------------------------------------------------------------------------------


@dataclass
class App:
    """What the app loop saw."""

    acked: list[int] = field(default_factory=list)
    t_error: float | None = None
    error: str = ""
    t_first_ok: float | None = None
    host_after: str | None = None
    other_errors: list[str] = field(default_factory=list)
    failed: str | None = None
    recovered: asyncio.Event = field(default_factory=asyncio.Event)


async def app_loop(
    eng: Engine,
    conn: Any,
    table: str,
    app: App,
    stop: asyncio.Event,
    interval: float,
    host_of: Callable[[Any], Awaitable[str | None]],
    failover_errors: tuple[type[BaseException], ...],
) -> None:
    """Insert rows until ``stop``; record the first failover error and the first write after it."""
    n = 0
    while not stop.is_set():
        value, n = n, n + 1
        try:
            await eng.run(conn, f"INSERT INTO {table} (id) VALUES (%s)", (value,))
        except failover_errors as exc:
            if app.t_error is None:
                app.t_error = time.perf_counter()
                app.error = type(exc).__name__
            continue  # retry at once (with a new id: a TransactionResolutionUnknownError may have committed)
        except FailoverFailedError as exc:
            app.failed = f"{type(exc).__name__}: {exc}"
            app.recovered.set()
            return
        except Exception as exc:  # not expected: the wrapper let a raw error through
            app.other_errors.append(type(exc).__name__)
            if len(app.other_errors) > 1000:
                app.failed = f"too many errors, last {exc!r}"
                app.recovered.set()
                return
            await asyncio.sleep(0.01)
            continue
        app.acked.append(value)
        if app.t_error is not None and app.t_first_ok is None:
            app.t_first_ok = time.perf_counter()
            app.host_after = await host_of(conn)
            app.recovered.set()
        await asyncio.sleep(interval)


async def first_write(eng: Engine, inst: Instance, probe_table: str, key: int) -> float:
    """When ``inst`` first accepts an INSERT (polled on a direct connection)."""
    conn: Any = None
    try:
        while True:
            try:
                if conn is None:
                    conn = await eng.direct(inst)
                await eng.run(conn, f"INSERT INTO {probe_table} (id) VALUES (%s)", (key,))
                return time.perf_counter()
            except Exception:
                if conn is not None and getattr(conn, "closed", False):
                    conn = None
            await asyncio.sleep(WRITABLE_POLL)
    finally:
        if conn is not None:
            await eng.close(conn)


async def death_of(conn: Any, eng: Engine) -> float:
    """When the server behind ``conn`` dies (its long sleep breaks)."""
    try:
        await eng.run(conn, eng.sleep_sql)
    except Exception:
        return time.perf_counter()
    raise RuntimeError("the sentinel sleep ended without an error")


class DetectionLog(logging.Handler):
    """Notes when the failover plugin starts a failover, and when the topology monitor publishes a new
    writer (its first sight of it; perf_counter at the log call)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.starts: list[float] = []
        self.sightings: list[tuple[float, str]] = []  # (when, message) of the monitor's writer lines

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if message.startswith("failover from"):
            self.starts.append(time.perf_counter())
        elif message.startswith("cluster ") and " writer: " in message:
            self.sightings.append((time.perf_counter(), message))


# --- one trial ----------------------------------------------------------------------------------------


@dataclass
class Trial:
    fault: str
    fence: float
    to_error: float
    to_first_write: float
    promotion: float
    wrapper: float
    detected: float | None
    error: str
    lost: int
    notes: list[str]
    #: the monitor's first publication of the new writer, s after the fault (ours only)
    sighted: float | None = None


@dataclass
class Variant:
    """How an app connects: ours (default plugins) or the competitor's."""

    name: str
    connect: Callable[[Testbed, Instance | None, dict[str, Any]], Awaitable[Any]]
    host_of: Callable[[Any], Awaitable[str | None]]
    failover_errors: tuple[type[BaseException], ...]
    release: Callable[[], Awaitable[None]]


async def run_trial(
    tb: Testbed,
    eng: Engine,
    variant: Variant,
    fault: str,
    index: int,
    table: str,
    probe_table: str,
    props: dict[str, Any],
    args: argparse.Namespace,
    detection: DetectionLog,
) -> Trial:
    async with asyncio.timeout(HEAL_TIMEOUT):
        await tb.heal()
        await tb.wait_replicated()
    old = tb.writer
    target = tb.readers[index % len(tb.readers)]
    via = None if fault == "kill" else old  # blackhole: the hung instance itself
    conn = await variant.connect(tb, via, props)
    app = App()
    stop = asyncio.Event()
    notes: list[str] = []
    loop_task = asyncio.create_task(
        app_loop(
            eng,
            conn,
            table,
            app,
            stop,
            args.write_interval_ms / 1000,
            variant.host_of,
            variant.failover_errors,
        )
    )
    sentinel = await eng.direct(old)
    try:
        async with asyncio.timeout(30):  # warm up: monitors connected, steady state
            t_warm = time.perf_counter() + args.warmup
            while time.perf_counter() < t_warm or len(app.acked) < 20:
                if loop_task.done():
                    loop_task.result()
                    raise RuntimeError(f"the app stopped during warm-up: {app.failed}")
                await asyncio.sleep(0.05)
        writable = asyncio.create_task(first_write(eng, target, probe_table, index))
        detection.starts.clear()
        detection.sightings.clear()
        delay = args.promotion_delay
        if fault == "kill":
            died = asyncio.create_task(death_of(sentinel, eng))
            await asyncio.sleep(0)  # the sentinel's query is on its way before the testbed acts
            report = await tb.failover(to=target, delay=delay)
            async with asyncio.timeout(10):
                t_fault = await died
        else:
            t_fault = time.perf_counter()
            tb.net(old, "blackhole")
            report = await tb.failover(to=target, delay=delay)
        async with asyncio.timeout(30):
            t_writable = await writable
        async with asyncio.timeout(TRIAL_TIMEOUT):
            await app.recovered.wait()
        stop.set()
        await loop_task
    finally:
        stop.set()
        if not loop_task.done():
            loop_task.cancel()
            with contextlib.suppress(BaseException):
                await loop_task
        await eng.close(conn)
        await eng.close(sentinel)
        tb.net("all", "pass")
        await variant.release()
    if app.failed is not None or app.t_error is None or app.t_first_ok is None:
        raise RuntimeError(f"trial {index} {fault}: no recovery ({app.failed or app.other_errors[-3:]})")
    if app.host_after not in (None, report.new_writer):
        notes.append(f"first write landed on {app.host_after}, not {report.new_writer}")
    if app.other_errors:
        notes.append(f"{len(app.other_errors)} raw error(s): {sorted(set(app.other_errors))}")
    async with asyncio.timeout(30):
        conn2 = await eng.direct(tb.writer)
        try:
            have = {int(r[0]) for r in await eng.run(conn2, f"SELECT id FROM {table}")}
            await eng.run(conn2, f"DELETE FROM {table}")
        finally:
            await eng.close(conn2)
    lost = len(set(app.acked) - have)
    starts = [t for t in detection.starts if t >= t_fault - 0.001]
    seen = [t for t, _ in detection.sightings if t >= t_fault - 0.001]  # logged only when the writer changes
    return Trial(
        fault,
        getattr(report, "catch_up", 0.0),
        app.t_error - t_fault,
        app.t_first_ok - t_fault,
        t_writable - t_fault,
        app.t_first_ok - t_writable,
        (starts[0] - t_fault) if starts else None,
        app.error,
        lost,
        notes,
        (seen[0] - t_fault) if seen else None,
    )


# --- variants ---------------------------------------------------------------------------------------


def ours(engine: str) -> Variant:
    async def connect(tb: Testbed, inst: Instance | None, props: dict[str, Any]) -> Any:
        settings = {**tb.wrapper_props(), "autocommit": True, **props}
        if engine == "postgres":
            import psycopg

            return await AsyncAwsConnection.connect(psycopg.AsyncConnection.connect, tb.dsn(inst), **settings)
        import aiomysql

        return await AsyncAwsConnection.connect(aiomysql.connect, **{**tb.connect_kwargs(inst), **settings})

    async def host_of(conn: Any) -> str | None:
        host = conn.current_host
        return host.host_id if host is not None else None

    return Variant(
        "awsasyncwrap",
        connect,
        host_of,
        (FailoverSuccessError, TransactionResolutionUnknownError),
        awsasyncwrap.release_resources,
    )


def competitor(engine: str) -> Variant | str:
    """``aws-advanced-python-wrapper``'s aio variant, or why it cannot run here."""
    try:
        from importlib.metadata import version

        from aws_advanced_python_wrapper import aio as aws_aio  # type: ignore[import-not-found,unused-ignore]
        from aws_advanced_python_wrapper.errors import (  # type: ignore[import-not-found,unused-ignore]
            FailoverSuccessError as TheirSuccess,
        )
        from aws_advanced_python_wrapper.errors import (  # type: ignore[import-not-found,unused-ignore]
            TransactionResolutionUnknownError as TheirUnknown,
        )
    except ImportError as exc:
        return (
            f"not importable ({exc}). It upgrades boto3/botocore past what aiobotocore allows, so "
            "install it in a venv of its own: python -m venv V && V/bin/pip install 'psycopg[binary]' "
            "aiomysql anyio aws-advanced-python-wrapper==3.1.0, then "
            "PYTHONPATH=src V/bin/python benchmarks/failover.py --compare (e.g. V=/work/compare-venv)"
        )
    connect_cls = getattr(aws_aio, "AsyncAwsWrapperConnection", None)
    if connect_cls is None:
        return "aws_advanced_python_wrapper.aio has no AsyncAwsWrapperConnection"
    if engine != "postgres":
        return "compared on PostgreSQL only (its MySQL dialects cannot take the testbed's topology query)"
    import psycopg

    async def connect(tb: Testbed, inst: Instance | None, props: dict[str, Any]) -> Any:
        # the port goes into the pattern: without it the instances would get PostgreSQL's default port
        pattern = f"{tb.host_pattern}:{tb.port}"
        settings = {"cluster_instance_host_pattern": pattern, "autocommit": True, **props}
        return await connect_cls.connect(psycopg.AsyncConnection.connect, tb.dsn(inst), **settings)

    async def host_of(conn: Any) -> str | None:
        rows = await Engine.run(conn, "SELECT aurora_db_instance_identifier()")
        return str(rows[0][0]) if rows else None

    async def release() -> None:
        cleanup = getattr(aws_aio, "release_resources_async", None) or getattr(
            aws_aio, "release_resources", None
        )
        if cleanup is not None:
            result = cleanup()
            if asyncio.iscoroutine(result):
                await result

    return Variant(
        f"aws-advanced-python-wrapper {version('aws-advanced-python-wrapper')} (aio)",
        connect,
        host_of,
        (TheirSuccess, TheirUnknown),
        release,
    )


# --- report ---------------------------------------------------------------------------------------------


def stats_line(label: str, samples: Sequence[float]) -> str:
    if not samples:
        return f"  {label:<36} {'-':>8}"
    cells = [percentile(samples, q) for q in (0.5, 0.9, 0.99)] + [max(samples)]
    return f"  {label:<36} " + " ".join(f"{v:>8.3f}" for v in cells)


def report(title: str, trials: list[Trial], check_targets: bool) -> bool:
    print(f"\n{title}: {len(trials)} trials (seconds)")
    print(f"  {'':<36} {'p50':>8} {'p90':>8} {'p99':>8} {'max':>8}")
    print(stats_line("(testbed fence + catch-up before kill)", [t.fence for t in trials]))
    detected = [t.detected for t in trials if t.detected is not None]
    print(stats_line("fault -> failover starts (detection)", detected))
    print(stats_line("fault -> FailoverSuccessError", [t.to_error for t in trials]))
    print(stats_line("fault -> first write on new writer", [t.to_first_write for t in trials]))
    print(stats_line("promotion (fault -> writer writable)", [t.promotion for t in trials]))
    wrapper = [t.wrapper for t in trials]
    print(stats_line("wrapper (writable -> first write)", wrapper))
    if detected and len(detected) == len(trials):
        after = [t.to_first_write - max(t.detected or 0.0, t.promotion) for t in trials]
        print(stats_line("  of which after detection+promotion", after))
    lost = sum(t.lost for t in trials)
    errors = sorted({t.error for t in trials})
    print(f"  app saw: {', '.join(errors)}; acknowledged rows missing afterwards: {lost}")
    for t in trials:
        for note in t.notes:
            print(f"  note: {note}")
    if not check_targets or not wrapper:
        return True
    p50, p99 = percentile(wrapper, 0.5), percentile(wrapper, 0.99)
    ok = p50 <= TARGET_P50 and p99 <= TARGET_P99
    print(
        f"  target wrapper p50 <= {TARGET_P50} s, p99 <= {TARGET_P99} s: "
        f"p50 {p50:.3f}, p99 {p99:.3f} -> {'met' if ok else 'MISSED'}"
    )
    return ok


# --- main ---------------------------------------------------------------------------------------------


def efm_props(spec: str, stuck_check_ms: int | None) -> dict[str, Any]:
    props: dict[str, Any] = {}
    if stuck_check_ms is not None:
        props["stuck_call_topology_check_ms"] = stuck_check_ms
    if spec == "default":
        return props
    detection, interval, count = (int(x) for x in spec.split(","))
    return {
        **props,
        "failure_detection_time_ms": detection,
        "failure_detection_interval_ms": interval,
        "failure_detection_count": count,
    }


async def bench_engine(engine: str, args: argparse.Namespace, detection: DetectionLog) -> bool:
    faults = ["kill", "blackhole"] if args.fault == "both" else [args.fault]
    variants: list[Variant] = [ours(engine)]
    if args.compare:
        other = competitor(engine)
        if isinstance(other, str):
            print(f"[{engine}] competitor skipped: {other}")
        else:
            variants.append(other)
    all_ok = True
    async with Testbed.start(engine, instances=3) as tb:  # type: ignore[arg-type]
        eng = Engine(tb)
        table, probe = "bench_failover", "bench_failover_probe"
        setup = await eng.direct(tb.writer)
        try:
            for name in (table, probe):
                await eng.run(setup, f"DROP TABLE IF EXISTS {name}")
                await eng.run(setup, f"CREATE TABLE {name} (id bigint PRIMARY KEY)")
        finally:
            await eng.close(setup)
        for variant in variants:
            theirs = variant is not variants[0]
            for fault in faults:
                if theirs and args.compare_fault not in ("both", fault):
                    continue
                props = efm_props(args.efm, args.stuck_check_ms) if fault == "blackhole" else {}
                settings = ", ".join(f"{k}={v}" for k, v in props.items()) or "defaults"
                title = f"[{engine}] {variant.name}, {fault} (settings: {settings})"
                print(f"\n{title}", flush=True)
                trials: list[Trial] = []
                for i in range(args.trials):
                    try:
                        trial = await run_trial(
                            tb, eng, variant, fault, i, table, probe, props, args, detection
                        )
                    except Exception as exc:
                        print(f"  trial {i}: FAILED {type(exc).__name__}: {exc}", flush=True)
                        continue
                    trials.append(trial)
                    det = f"{trial.detected:.3f}" if trial.detected is not None else "-"
                    print(
                        f"  trial {i}: detect {det}  error {trial.to_error:.3f}  first write "
                        f"{trial.to_first_write:.3f}  promotion {trial.promotion:.3f}  wrapper "
                        f"{trial.wrapper:.3f}  lost {trial.lost}",
                        flush=True,
                    )
                    if args.timeline:
                        print("    " + timeline(trial), flush=True)
                    async with asyncio.timeout(60):
                        await eng_probe_reset(eng, tb, probe)
                defaults = args.efm == "default" and args.stuck_check_ms is None
                ok = report(title, trials, check_targets=fault == "kill" or defaults)
                all_ok = all_ok and ok and len(trials) == args.trials
    return all_ok


def timeline(trial: Trial) -> str:
    """The trial's phases in order, ms after the crash (``--timeline``)."""
    writable = trial.promotion
    phases = [
        ("crash", 0.0),
        ("failover starts", trial.detected),
        ("new writer writable", writable),
        ("monitor sees new writer", trial.sighted),
        ("app error", trial.to_error),
        ("app first write", trial.to_first_write),
    ]
    known = sorted(((t, name) for name, t in phases if t is not None), key=lambda p: p[0])
    return "timeline (ms after crash): " + "  ".join(f"{name} {t * 1000:.1f}" for t, name in known)


async def eng_probe_reset(eng: Engine, tb: Testbed, probe: str) -> None:
    conn = await eng.direct(tb.writer)
    try:
        await eng.run(conn, f"DELETE FROM {probe}")
    finally:
        await eng.close(conn)


async def run(args: argparse.Namespace) -> int:
    detection = DetectionLog()
    plugin_log = logging.getLogger("awsasyncwrap.plugins.failover._plugin")
    plugin_log.addHandler(detection)
    plugin_log.setLevel(logging.DEBUG)
    monitor_log = logging.getLogger("awsasyncwrap.topology._monitor")
    monitor_log.addHandler(detection)
    monitor_log.setLevel(logging.DEBUG)
    level = logging.INFO if args.verbose else logging.WARNING
    logging.basicConfig(level=level, format="    log %(relativeCreated)8.0f %(name)s: %(message)s")
    for handler in logging.getLogger().handlers:
        handler.setLevel(level)  # the failover plugin's logger is at DEBUG for DetectionLog
    warnings.filterwarnings("ignore", module="aiomysql")  # DROP TABLE IF EXISTS notes
    ok = True
    for engine in engines(args.engine):
        ok = await bench_engine(engine, args, detection) and ok
    print(f"\ntargets (wrapper time, default settings): p50 <= {TARGET_P50} s, p99 <= {TARGET_P99} s")
    return 0 if ok else 1


def main() -> None:
    parser = arg_parser(__doc__)
    parser.add_argument("--engine", choices=["postgres", "mariadb", "both"], default="postgres")
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--fault", choices=["kill", "blackhole", "both"], default="both")
    parser.add_argument(
        "--efm",
        default="default",
        help="host_monitoring for blackhole: 'default' (30000,5000,3) or "
        "failure_detection_time_ms,interval_ms,count, e.g. 1000,500,2",
    )
    parser.add_argument(
        "--stuck-check-ms",
        type=int,
        default=None,
        help="stuck_call_topology_check_ms for blackhole (default: the property's default, 500; 0: off)",
    )
    parser.add_argument("--write-interval-ms", type=float, default=1.0, help="pause between the app's writes")
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds of writes before the fault")
    parser.add_argument(
        "--promotion-delay", type=float, default=0.0, help="seconds between the kill and the promotion"
    )
    parser.add_argument(
        "--compare", action="store_true", help="also run aws-advanced-python-wrapper if installed"
    )
    parser.add_argument(
        "--compare-fault",
        choices=["kill", "blackhole", "both"],
        default="kill",
        help="faults the competitor runs (its blackhole trials take ~141 s each)",
    )
    parser.add_argument(
        "--timeline",
        action="store_true",
        help="per trial, ms after the crash: failover start, new writer writable, the monitor's first sight "
        "of it, app error, app's first write",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log the wrapper's INFO messages")
    args = parser.parse_args()
    if args.trials < 1:
        parser.error("--trials must be at least 1")
    sys.exit(asyncio.run(run(args)))


if __name__ == "__main__":
    main()
