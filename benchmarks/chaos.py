"""Chaos soak: apps write and read through the wrapper while a seeded schedule injects faults.

On a 3-instance testbed of each engine, for ``--seconds`` (or ``--minutes``), 50 writer tasks and 20 reader
tasks run at once:

- 20 writers through ``AsyncAwsConnectionPool`` (autocommit ``INSERT``),
- 15 writers through the SQLAlchemy async ORM (one session and ``commit()`` per row),
- 15 writers on plain connections with ``read_write_splitting,failover,host_monitoring``,
- 20 readers on plain connections with read/write splitting, switched to a reader (``set_read_only(True)``).

Every few seconds (seeded random) one fault: ``writer_crash`` (the writer dies, a reader is promoted),
``writer_blackhole`` (the writer's proxy swallows traffic, a reader is promoted behind it), ``reader_crash``,
``planned_failover`` (promotion, the old writer rejoins at once), ``delay`` (200 ms on one instance for a few
seconds), ``cluster_refuse`` (the cluster endpoint refuses for 2 s), ``rejoin`` (dead instances come back,
proxies pass; also chosen whenever the cluster is degraded).

Writers use idempotent keys and follow the documented error contract: ``FailoverSuccessError``: the statement
never reached the server, run it again; ``TransactionResolutionUnknownError``: the outcome is unknown, look
the key up, then insert if it is missing; ``FailoverFailedError`` / pool timeout: wait and try again. Any
other error an app sees is counted as undocumented, any call over ``--budget`` seconds as a hang.

At the end: every acknowledged row exists exactly once on the final writer (the table has no unique key, so a
blind retry would show as a duplicate); no task of the wrapper, no extra socket and no server session of the
app's user is left after ``release_resources()``; per fault kind, the unavailability (the longest gap between
two successful writes of one writer task around the fault) p50 / p99 / max. Exit status 1 if any check fails.
The seed is printed so a failure replays:

    python benchmarks/chaos.py --engine both --minutes 10 [--seed N]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import heapq
import itertools
import logging
import os
import random
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import anyio
from _common import arg_parser, engines, percentile
from sqlalchemy import String, select
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

import awsasyncwrap.sqlalchemy
from awsasyncwrap import (
    AsyncAwsConnection,
    FailoverFailedError,
    FailoverSuccessError,
    TransactionResolutionUnknownError,
    release_resources,
)
from awsasyncwrap.pool import AsyncAwsConnectionPool, PoolError
from awsasyncwrap.testbed import Testbed

APP_USER = "chaos"
APP_PASSWORD = "chaos-pw"
TABLE = "chaos_rows"
FAULTS = (
    "writer_crash",
    "writer_blackhole",
    "reader_crash",
    "planned_failover",
    "delay",
    "cluster_refuse",
    "rejoin",
)
POOL_WRITERS, ORM_WRITERS, RW_WRITERS, READERS = 20, 15, 15, 20


class Base(DeclarativeBase):
    pass


class Row(Base):
    """One row an app wrote: ``k`` is the idempotent key (deliberately not unique, to count duplicates)."""

    __tablename__ = TABLE
    id: Mapped[int] = mapped_column(primary_key=True)
    k: Mapped[str] = mapped_column(String(64))
    src: Mapped[str | None] = mapped_column(String(16))


# --- what happened ------------------------------------------------------------------------------------


#: seconds one fault injection may take (the testbed bounds each of its own steps at 60 s)
FAULT_BOUND = 90.0


@dataclass
class Soak:
    """Everything the apps and the fault schedule observed."""

    engine: str
    seed: int
    budget: float
    started: float = field(default_factory=time.monotonic)
    acked: dict[str, str] = field(default_factory=dict)  # key -> writer group
    ack_times: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    faults: list[tuple[float, str]] = field(default_factory=list)
    documented: Counter[str] = field(default_factory=Counter)
    undocumented: Counter[str] = field(default_factory=Counter)
    hangs: int = 0
    unknown_outcomes: int = 0
    #: "outcome unknown" writes that had in fact landed: a blind retry duplicates these
    unknown_committed: int = 0
    reads: int = 0
    #: how long the testbed itself took to inject each fault
    fault_times: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    #: writer task -> (when, error class name) of every error it saw, to explain its longest gaps
    errors_seen: dict[str, list[tuple[float, str]]] = field(default_factory=lambda: defaultdict(list))

    def now(self) -> float:
        return time.monotonic() - self.started


def classify(exc: BaseException) -> tuple[bool, str]:
    """Whether ``exc`` is a documented outcome for an app, and its name (the SQLAlchemy wrapper unwrapped)."""
    inner: BaseException = getattr(exc, "orig", None) or exc
    documented = (
        FailoverSuccessError,
        TransactionResolutionUnknownError,
        FailoverFailedError,
        PoolError,
        TimeoutError,
    )
    return isinstance(inner, documented), type(inner).__name__


def error_text(exc: BaseException) -> str:
    inner: BaseException = getattr(exc, "orig", None) or exc
    return f"{type(inner).__name__}: {str(inner).splitlines()[0] if str(inner) else ''}"[:160]


# --- the engine-specific parts -----------------------------------------------------------------------


class Backend:
    """How the apps of one engine connect and talk."""

    def __init__(self, tb: Testbed) -> None:
        self.tb = tb
        self.pg = tb.engine == "postgres"

    # connect arguments of the app user through the cluster endpoint
    def app_kwargs(self, **props: Any) -> dict[str, Any]:
        kwargs = self.tb.connect_kwargs("cluster", user=APP_USER, password=APP_PASSWORD)
        return {**kwargs, **self.tb.wrapper_props(), "autocommit": True, **props}

    @property
    def connect_func(self) -> Callable[..., Awaitable[Any]]:
        if self.pg:
            import psycopg

            return psycopg.AsyncConnection.connect
        import aiomysql

        return aiomysql.connect  # type: ignore[no-any-return]

    def sqlalchemy_url(self) -> str:
        host, port = self.tb.address_of("cluster")
        db = self.tb.database
        if self.pg:
            return f"postgresql+awsasyncwrap_psycopg://{APP_USER}:{APP_PASSWORD}@{host}:{port}/{db}"
        return f"mysql+awsasyncwrap_aiomysql://{APP_USER}:{APP_PASSWORD}@{host}:{port}/{db}"

    async def admin(self, sql: str, params: Any = None) -> list[Any]:
        """Run ``sql`` as an admin user directly on the current writer."""
        if self.pg:
            import psycopg

            kwargs = self.tb.connect_kwargs(self.tb.writer, direct=True)
            async with await psycopg.AsyncConnection.connect(**kwargs, autocommit=True) as conn:
                cur = await conn.execute(sql, params)
                return await cur.fetchall() if cur.description else []
        import aiomysql

        # root over the writer's socket (the testbed's user may not create users)
        sock = self.tb.base_dir / f"n{self.tb.writer.id}" / "mysqld.sock"
        conn = await aiomysql.connect(unix_socket=str(sock), user="root", password="", autocommit=True)
        try:
            async with conn.cursor() as cur:
                await cur.execute(sql, params)
                return list(await cur.fetchall()) if cur.description else []
        finally:
            conn.close()

    async def prepare(self) -> None:
        if self.pg:
            await self.admin(f"DROP ROLE IF EXISTS {APP_USER}")
            await self.admin(f"CREATE ROLE {APP_USER} LOGIN SUPERUSER PASSWORD '{APP_PASSWORD}'")
            await self.admin(f"DROP TABLE IF EXISTS {TABLE}")
            await self.admin(f"CREATE TABLE {TABLE} (id bigserial PRIMARY KEY, k text NOT NULL, src text)")
        else:
            await self.admin(f"DROP USER IF EXISTS '{APP_USER}'@'%'")
            await self.admin(f"CREATE USER '{APP_USER}'@'%' IDENTIFIED BY '{APP_PASSWORD}'")
            await self.admin(f"GRANT ALL PRIVILEGES ON *.* TO '{APP_USER}'@'%'")
            await self.admin(f"DROP TABLE IF EXISTS {self.tb.database}.{TABLE}")
            await self.admin(
                f"CREATE TABLE {self.tb.database}.{TABLE} (id BIGINT AUTO_INCREMENT PRIMARY KEY, "
                "k VARCHAR(64) NOT NULL, src VARCHAR(16), KEY (k)) ENGINE=InnoDB"
            )
        await self.tb.wait_replicated()

    async def app_sessions(self) -> int:
        if self.pg:
            rows = await self.admin("SELECT count(*) FROM pg_stat_activity WHERE usename = %s", (APP_USER,))
        else:
            rows = await self.admin(
                "SELECT count(*) FROM information_schema.processlist WHERE user = %s", (APP_USER,)
            )
        return int(rows[0][0])


async def cursor_run(conn: Any, sql: str, params: Any = None) -> list[Any]:
    """Run a statement on a wrapped connection and fetch its rows, if any."""
    async with conn.cursor() as cur:
        await cur.execute(sql, params)
        return list(await cur.fetchall()) if cur.description else []


# --- writers and readers ------------------------------------------------------------------------------


async def write_key(
    soak: Soak, key: str, insert: Callable[[str], Awaitable[Any]], exists: Callable[[str], Awaitable[bool]]
) -> None:
    """Write row ``key`` once, following the documented error contract; return when it is acknowledged."""
    unknown = False
    while True:
        try:
            with anyio.fail_after(soak.budget):
                if unknown:
                    unknown = False
                    if await exists(key):
                        soak.unknown_committed += 1
                        return
                await insert(key)
                return
        except TimeoutError as exc:
            if isinstance(exc, PoolError):
                soak.documented[type(exc).__name__] += 1
            else:
                soak.hangs += 1
            await asyncio.sleep(0.05)
        except Exception as exc:
            ok, name = classify(exc)
            soak.errors_seen[key.rsplit("-", 1)[0]].append((soak.now(), name))
            if ok:
                soak.documented[name] += 1
            else:
                soak.undocumented[error_text(exc)] += 1
            inner: BaseException = getattr(exc, "orig", None) or exc
            if isinstance(inner, TransactionResolutionUnknownError):
                soak.unknown_outcomes += 1
                unknown = True
            elif not isinstance(inner, FailoverSuccessError):
                await asyncio.sleep(0.05)
                unknown = True  # a raw error is no promise either way: check before writing again


async def pool_writer(
    soak: Soak, be: Backend, pool: AsyncAwsConnectionPool, name: str, stop: anyio.Event
) -> None:
    seq = 0
    while not stop.is_set():
        seq += 1
        key = f"{name}-{seq}"

        async def insert(key: str) -> None:
            async with pool.connection() as conn:
                await cursor_run(conn, f"INSERT INTO {TABLE} (k, src) VALUES (%s, 'pool')", (key,))

        async def exists(key: str) -> bool:
            async with pool.connection() as conn:
                return bool(await cursor_run(conn, f"SELECT 1 FROM {TABLE} WHERE k = %s", (key,)))

        await write_key(soak, key, insert, exists)
        soak.acked[key] = "pool"
        soak.ack_times[name].append(soak.now())


async def orm_writer(soak: Soak, sessions: Any, row_cls: Any, name: str, stop: anyio.Event) -> None:
    seq = 0
    while not stop.is_set():
        seq += 1
        key = f"{name}-{seq}"

        async def insert(key: str) -> None:
            async with sessions() as session:
                session.add(row_cls(k=key, src="orm"))
                await session.commit()

        async def exists(key: str) -> bool:
            async with sessions() as session:
                return (await session.execute(select(row_cls.id).where(row_cls.k == key))).first() is not None

        await write_key(soak, key, insert, exists)
        soak.acked[key] = "orm"
        soak.ack_times[name].append(soak.now())


async def rw_writer(soak: Soak, conn: AsyncAwsConnection, name: str, stop: anyio.Event) -> None:
    seq = 0
    while not stop.is_set():
        seq += 1
        key = f"{name}-{seq}"

        async def insert(key: str) -> None:
            await cursor_run(conn, f"INSERT INTO {TABLE} (k, src) VALUES (%s, 'rw')", (key,))

        async def exists(key: str) -> bool:
            return bool(await cursor_run(conn, f"SELECT 1 FROM {TABLE} WHERE k = %s", (key,)))

        await write_key(soak, key, insert, exists)
        soak.acked[key] = "rw"
        soak.ack_times[name].append(soak.now())


async def reader(soak: Soak, conn: AsyncAwsConnection, stop: anyio.Event) -> None:
    while not stop.is_set():
        try:
            with anyio.fail_after(soak.budget):
                if not conn.read_only:
                    await conn.set_read_only(True)
                await cursor_run(conn, f"SELECT count(*) FROM {TABLE}")
                soak.reads += 1
        except TimeoutError:
            soak.hangs += 1
        except Exception as exc:
            ok, name = classify(exc)
            if ok:
                soak.documented[name] += 1
            else:
                soak.undocumented[error_text(exc)] += 1
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.01)


# --- the fault schedule --------------------------------------------------------------------------------


def degraded(tb: Testbed) -> bool:
    return any(not inst.running or tb.net_mode(inst) != "pass" for inst in tb.instances)


async def inject(soak: Soak, tb: Testbed, rng: random.Random, fault: str) -> None:
    """Inject ``fault`` (and undo the short-lived ones)."""
    soak.faults.append((soak.now(), fault))
    print(f"  [{soak.now():7.2f}s] {fault}", flush=True)
    started = time.monotonic()
    try:
        await _inject(tb, rng, fault)
    finally:
        soak.fault_times[fault].append(time.monotonic() - started)


async def _inject(tb: Testbed, rng: random.Random, fault: str) -> None:
    if fault == "writer_crash":
        await tb.failover()
    elif fault == "writer_blackhole":
        tb.net(tb.writer, "blackhole")
        await tb.failover()
    elif fault == "reader_crash":
        await tb.kill(rng.choice(tb.readers))
    elif fault == "planned_failover":
        old = tb.writer
        await tb.failover()
        await tb.rejoin(old)
    elif fault == "delay":
        inst = rng.choice(tb.instances)
        tb.net(inst, "delay:200")
        await asyncio.sleep(rng.uniform(2, 4))
        tb.net(inst, "pass")
    elif fault == "cluster_refuse":
        tb.net_endpoint("cluster", "refuse")
        await asyncio.sleep(2)
        tb.net_endpoint("cluster", "pass")
    elif fault == "rejoin":
        await tb.heal()


async def fault_schedule(
    soak: Soak, tb: Testbed, rng: random.Random, until: float, interval: tuple[float, float]
) -> None:
    while True:
        await asyncio.sleep(rng.uniform(*interval))
        if soak.now() >= until:
            return
        fault = "rejoin" if degraded(tb) else rng.choice(FAULTS[:-1])
        # past the testbed's own step bound (60 s), so that its error, which says what is wrong, comes first
        with anyio.fail_after(FAULT_BOUND):
            await inject(soak, tb, rng, fault)


# --- checks ---------------------------------------------------------------------------------------------


def unavailability(soak: Soak, end: float, group: str = "") -> dict[str, list[float]]:
    """Per fault kind: for each fault, the longest gap between two writes of one writer around it."""
    out: dict[str, list[float]] = defaultdict(list)
    bounds = [t for t, _ in soak.faults] + [end]
    for i, (start, fault) in enumerate(soak.faults):
        stop = bounds[i + 1]
        worst = 0.0
        for name, times in soak.ack_times.items():
            if not name.startswith(group):
                continue
            before = [t for t in times if t <= start]
            prev = before[-1] if before else start
            for t in times:
                if t <= start:
                    continue
                if t > stop:
                    break
                worst = max(worst, t - prev)
                prev = t
            else:
                if prev < stop and times and times[-1] < stop:
                    worst = max(worst, stop - prev)
        out[fault].append(worst)
    return out


def longest_gaps(soak: Soak, count: int = 5) -> list[str]:
    """The ``count`` longest gaps between two acknowledged writes of one writer task: the task, the window,
    the faults injected shortly before or in it and the errors the task saw in it (one line each)."""
    gaps = [
        (t - prev, name, prev, t)
        for name, times in soak.ack_times.items()
        for prev, t in itertools.pairwise(times)
    ]
    lines = []
    for length, name, start, stop in heapq.nlargest(count, gaps):
        faults = [f"{f}@{at:.2f}" for at, f in soak.faults if start - 5 <= at <= stop]
        errors = Counter(e for at, e in soak.errors_seen.get(name, ()) if start <= at <= stop)
        lines.append(
            f"{length:5.2f} s  {name} {start:.2f}..{stop:.2f}  faults {', '.join(faults) or '-'}"
            f"  errors {dict(errors) or '-'}"
        )
    return lines


def wrapper_tasks() -> list[str]:
    """Names of running tasks whose code is the wrapper's own (the testbed's tasks excluded)."""
    names = []
    for task in asyncio.all_tasks():
        if task is asyncio.current_task():
            continue
        code = getattr(task.get_coro(), "cr_code", None)
        path = code.co_filename if code is not None else ""
        if f"{os.sep}awsasyncwrap{os.sep}" in path and f"{os.sep}testbed{os.sep}" not in path:
            names.append(task.get_name())
    return names


def open_sockets() -> int:
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            if os.readlink(f"/proc/self/fd/{fd}").startswith("socket:"):
                count += 1
    return count


async def soak_engine(
    engine: str, seconds: float, seed: int, interval: tuple[float, float], budget: float
) -> bool:
    awsasyncwrap.sqlalchemy.register()
    rng = random.Random(seed)
    print(f"== {engine}: {seconds:.0f} s, seed {seed}", flush=True)
    async with Testbed.start(engine, instances=3) as tb:  # type: ignore[arg-type]
        be = Backend(tb)
        await be.prepare()
        sockets_before = open_sockets()
        soak = Soak(engine, seed, budget)
        stop = anyio.Event()
        pool = AsyncAwsConnectionPool(
            be.connect_func, **be.app_kwargs(), min_size=4, max_size=12, timeout=10.0
        )
        sa_engine = create_async_engine(
            be.sqlalchemy_url(),
            connect_args={k: v for k, v in tb.wrapper_props().items()},
            pool_size=8,
            max_overflow=0,
            pool_timeout=10,
        )
        sessions = async_sessionmaker(sa_engine, expire_on_commit=False)
        rw_props = {"plugins": "read_write_splitting,failover,host_monitoring"}
        rw_conns: list[AsyncAwsConnection] = []
        try:
            await pool.open()
            for _ in range(RW_WRITERS + READERS):
                rw_conns.append(
                    await AsyncAwsConnection.connect(be.connect_func, **be.app_kwargs(**rw_props))
                )
            async with anyio.create_task_group() as tg:
                for i in range(POOL_WRITERS):
                    tg.start_soon(pool_writer, soak, be, pool, f"pool{i}", stop)
                for i in range(ORM_WRITERS):
                    tg.start_soon(orm_writer, soak, sessions, Row, f"orm{i}", stop)
                for i in range(RW_WRITERS):
                    tg.start_soon(rw_writer, soak, rw_conns[i], f"rw{i}", stop)
                for conn in rw_conns[RW_WRITERS:]:
                    tg.start_soon(reader, soak, conn, stop)
                await fault_schedule(soak, tb, rng, seconds, interval)
                await asyncio.sleep(max(0.0, seconds - soak.now()))
                stop.set()
            end = soak.now()
        finally:
            for conn in rw_conns:
                await conn.close()
            await pool.aclose()
            await sa_engine.dispose()
            await release_resources()
        with anyio.fail_after(60):
            await tb.heal()
            await tb.wait_replicated()
        table = TABLE if be.pg else f"{tb.database}.{TABLE}"
        rows = await be.admin(f"SELECT k, count(*) FROM {table} GROUP BY k")
        counts = {str(k): int(n) for k, n in rows}
        lost = [k for k in soak.acked if k not in counts]
        duplicated = {k: n for k, n in counts.items() if n > 1}
        leftover_tasks = wrapper_tasks()
        sessions_left = await be.app_sessions()
        sockets_after = open_sockets()
        for _ in range(50):  # proxies close their side of a finished connection asynchronously
            if sockets_after <= sockets_before:
                break
            await asyncio.sleep(0.1)
            sockets_after = open_sockets()
    return report(soak, end, lost, duplicated, leftover_tasks, sessions_left, sockets_before, sockets_after)


def report(
    soak: Soak,
    end: float,
    lost: list[str],
    duplicated: dict[str, int],
    leftover_tasks: list[str],
    sessions_left: int,
    sockets_before: int,
    sockets_after: int,
) -> bool:
    groups = Counter(soak.acked.values())
    print(f"  acknowledged rows: {len(soak.acked)} ({dict(groups)}), reads: {soak.reads}")
    print(f"  lost: {len(lost)}, duplicated: {len(duplicated)}")
    print(
        f"  outcome unknown: {soak.unknown_outcomes} (of which had committed: {soak.unknown_committed};"
        " a blind retry would have duplicated these)"
    )
    print(f"  documented errors seen by apps: {dict(soak.documented)}")
    undocumented = sum(soak.undocumented.values())
    print(f"  undocumented errors: {undocumented}, hangs over {soak.budget:.0f} s: {soak.hangs}")
    for text, n in soak.undocumented.most_common(10):
        print(f"    {n} x {text}")
    print(
        f"  after release_resources(): wrapper tasks {len(leftover_tasks)} {leftover_tasks[:5]}, "
        f"server sessions of the app user {sessions_left}, sockets {sockets_before} -> {sockets_after}"
    )
    print(
        "  unavailability per fault (s): n    p50    p99    max   (p50 pool / orm / rw writers;"
        " p50 of the testbed's own fault time)"
    )
    per_group = {g: unavailability(soak, end, g) for g in ("pool", "orm", "rw")}
    for fault, gaps in sorted(unavailability(soak, end).items()):
        groups_p50 = " / ".join(f"{percentile(per_group[g][fault], 0.5):.2f}" for g in per_group)
        print(
            f"    {fault:<24} {len(gaps):3d} {percentile(gaps, 0.5):6.2f} {percentile(gaps, 0.99):6.2f}"
            f" {max(gaps):6.2f}   ({groups_p50}; {percentile(soak.fault_times[fault], 0.5):.2f})"
        )
    print("  longest gaps of one writer task (s, task, window, faults from 5 s before, errors in it):")
    for line in longest_gaps(soak):
        print(f"    {line}")
    ok = (
        not lost
        and not duplicated
        and not soak.undocumented
        and soak.hangs == 0
        and not leftover_tasks
        and sessions_left == 0
        and sockets_after <= sockets_before
        and len(soak.acked) > 0
    )
    print(f"RESULT {soak.engine}: {'OK' if ok else 'FAILED'} (seed {soak.seed})", flush=True)
    return ok


async def run(args: argparse.Namespace) -> int:
    seconds = args.seconds if args.seconds is not None else args.minutes * 60
    seed = args.seed if args.seed is not None else random.randrange(1_000_000)
    ok = True
    for engine in engines(args.engine):
        ok &= await soak_engine(engine, seconds, seed, (args.min_interval, args.max_interval), args.budget)
    return 0 if ok else 1


def log_testbed_events() -> None:
    """The testbed's own events (kills, rebuilds, a node that stops answering) in the output, indented as the
    summary lines are, so that a failed soak shows what the cluster did."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("  testbed: %(message)s"))
    testbed_logger = logging.getLogger("awsasyncwrap.testbed")
    testbed_logger.setLevel(logging.INFO)
    testbed_logger.addHandler(handler)
    testbed_logger.propagate = False


def main() -> None:
    log_testbed_events()
    parser = arg_parser(__doc__)
    parser.add_argument("--engine", choices=["postgres", "mariadb", "both"], default="both")
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--seconds", type=float, default=None, help="overrides --minutes")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--min-interval", type=float, default=3.0, help="seconds between faults, at least")
    parser.add_argument("--max-interval", type=float, default=6.0, help="seconds between faults, at most")
    parser.add_argument("--budget", type=float, default=30.0, help="a call taking longer is a hang")
    sys.exit(asyncio.run(run(parser.parse_args())))


if __name__ == "__main__":
    main()
