"""Requests/s of one FastAPI app: through the wrapper vs the raw driver (ratio).

The app has one endpoint, ``GET /items/{id}``: borrow a pooled connection, run one ``SELECT`` by primary
key, answer JSON. The same app code runs in one uvicorn process per variant (all started up front, each
on its own port, pools of ``--pool-size`` autocommit connections):

- ``raw``: ``psycopg_pool.AsyncConnectionPool`` of plain psycopg connections (MySQL: ``aiomysql.Pool``);
- ``psycopg_pool + wrapper`` (PostgreSQL only): the same pool hosting wrapped connections
  (``AwsPsycopgConnection``, default plugins): the wrapper's cost alone, same pool;
- ``wrapper pool, no plugins``: ``AsyncAwsConnectionPool`` of wrapped connections without plugins;
- ``wrapper pool, default plugins``: the same with the default plugin set.

Wrapped connections connect as an Aurora user does (instance "1" of a one-instance testbed, with
``cluster_instance_host_pattern``), so the default plugins do their real work (topology monitor, host
monitoring). One load-generator process (plain asyncio, HTTP/1.1 keep-alive, ``--connections``
connections per variant, cycling over 1000 ids) drives one variant at a time in blocks of ``--block``
seconds (after ``--warmup``), the variants in a new random order in each of ``--rounds`` rounds, so
that other load on the machine hits all variants alike. Reported per variant: requests/s (median over
rounds, range), latency p50/p99, the server process's CPU time per request (user + system, warm-up
included), and the requests/s ratio to ``raw`` (median of the per-round ratios, range). On a 2-core
machine the app, the load generator and the database share the cores: compare variants, not absolutes.

    python benchmarks/web_app.py [--engine postgres|mariadb|both] [--rounds 20] [--block 1]
                                 [--connections 16] [--pool-size 10]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import statistics
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, closing
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import arg_parser, aurora_props, engines, percentile, single_server

RAW, HOSTED, BARE, DEFAULT = (
    "raw",
    "psycopg_pool + wrapper",
    "wrapper pool, no plugins",
    "wrapper pool, default plugins",
)
ROWS = 1000


def variants(engine: str) -> list[str]:
    return [RAW, HOSTED, BARE, DEFAULT] if engine == "postgres" else [RAW, BARE, DEFAULT]


# --- the app (runs in the server processes) -------------------------------------------------------


async def open_pool(variant: str, target: dict[str, Any], size: int) -> tuple[Any, Any]:
    """(the variant's pool, its ``connection()``-style context manager factory), opened."""
    engine, props = target["engine"], {**target["props"], "autocommit": True}
    if variant == BARE:
        props["plugins"] = ""
    if engine == "postgres" and variant in (RAW, HOSTED):
        import psycopg
        from psycopg_pool import AsyncConnectionPool

        pool: Any = AsyncConnectionPool(
            target["dsn"],
            min_size=size,
            max_size=size,
            kwargs={"autocommit": True} if variant == RAW else props,
            connection_class=psycopg.AsyncConnection if variant == RAW else _hosted_class(),
            open=False,
        )
        await pool.open(wait=True)
        return pool, pool.connection
    if variant == RAW:
        import aiomysql

        pool = await aiomysql.create_pool(minsize=size, maxsize=size, autocommit=True, **target["kwargs"])
        return pool, pool.acquire
    from awsasyncwrap.pool import AsyncAwsConnectionPool

    if engine == "postgres":
        import psycopg

        pool = AsyncAwsConnectionPool(
            psycopg.AsyncConnection.connect, target["dsn"], min_size=size, max_size=size, **props
        )
    else:
        import aiomysql

        pool = AsyncAwsConnectionPool(
            aiomysql.connect, min_size=size, max_size=size, **target["kwargs"], **props
        )
    await pool.open()
    return pool, pool.connection


def _hosted_class() -> Any:
    from awsasyncwrap.pool import AwsPsycopgConnection

    return AwsPsycopgConnection


async def close_pool(pool: Any) -> None:
    if hasattr(pool, "wait_closed"):  # aiomysql
        pool.close()
        await pool.wait_closed()
    elif hasattr(pool, "aclose"):
        await pool.aclose()
    else:
        await pool.close()


def create_app(variant: str, target: dict[str, Any], size: int) -> Any:
    from fastapi import FastAPI, HTTPException

    from awsasyncwrap import FailoverSuccessError, release_resources

    state: dict[str, Any] = {}

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        pool, state["connection"] = await open_pool(variant, target, size)
        try:
            yield
        finally:
            await close_pool(pool)
            await release_resources()

    app = FastAPI(lifespan=lifespan)

    async def select(conn: Any, item_id: int) -> Any:
        async with conn.cursor() as cur:
            await cur.execute("SELECT id, name FROM bench_items WHERE id = %s", (item_id,))
            return await cur.fetchone()

    @app.get("/items/{item_id}")
    async def get_item(item_id: int) -> dict[str, Any]:
        async with state["connection"]() as conn:
            try:
                row = await select(conn, item_id)
            except FailoverSuccessError:
                row = await select(conn, item_id)
        if row is None:
            raise HTTPException(status_code=404)
        return {"id": row[0], "name": row[1]}

    return app


def serve(args: argparse.Namespace) -> None:
    import uvicorn

    target = json.loads(args.target)
    app = create_app(args.serve, target, args.pool_size)
    uvicorn.run(
        app, host="127.0.0.1", port=args.port, log_level="warning", access_log=False, timeout_keep_alive=3600
    )


# --- the load generator (its own process) ---------------------------------------------------------


async def read_response(reader: asyncio.StreamReader) -> int:
    """Read one HTTP/1.1 response with a Content-Length; its status code."""
    status = int((await reader.readline()).split(b" ", 2)[1])
    length = 0
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    await reader.readexactly(length)
    return status


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def block(
    conns: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]], pid: int, warmup: float, seconds: float
) -> dict[str, Any]:
    """Drive one server with its connections for ``warmup + seconds``; what the measured part saw."""
    cpu0 = cpu_seconds(pid)
    start = time.perf_counter() + warmup
    end = start + seconds
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    total = 0

    async def client(offset: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal total
        i = offset
        while (t0 := time.perf_counter()) < end:
            i = i % ROWS + 1
            writer.write(f"GET /items/{i} HTTP/1.1\r\nHost: bench\r\n\r\n".encode())
            status = await read_response(reader)
            t1 = time.perf_counter()
            total += 1
            if t0 >= start and t1 <= end:
                latencies.append(t1 - t0)
                statuses[status] = statuses.get(status, 0) + 1

    await asyncio.gather(*(client(k * ROWS // len(conns), r, w) for k, (r, w) in enumerate(conns)))
    return {
        "rps": len(latencies) / seconds,
        "p50_ms": percentile(latencies, 0.5) * 1000,
        "p99_ms": percentile(latencies, 0.99) * 1000,
        "cpu_us": (cpu_seconds(pid) - cpu0) / max(total, 1) * 1e6,
        "bad": sum(n for s, n in statuses.items() if s != 200),
    }


async def generate_load(
    servers: dict[str, tuple[int, int]], args: argparse.Namespace
) -> list[dict[str, Any]]:
    """Every round: each variant in a new random order for one block. One result dict per round."""
    conns = {
        variant: [await asyncio.open_connection("127.0.0.1", port) for _ in range(args.connections)]
        for variant, (port, _pid) in servers.items()
    }
    rounds: list[dict[str, Any]] = []
    try:
        for _ in range(args.rounds):
            order = list(servers)
            random.shuffle(order)
            rounds.append({v: await block(conns[v], servers[v][1], args.warmup, args.block) for v in order})
    finally:
        for pairs in conns.values():
            for _reader, writer in pairs:
                writer.close()
    return rounds


# --- the driver --------------------------------------------------------------------------------


def free_port() -> int:
    with closing(socket.socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def wait_ready(port: int, proc: asyncio.subprocess.Process, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if proc.returncode is not None:
            raise RuntimeError(f"server on port {port} exited with {proc.returncode}")
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"GET /items/1 HTTP/1.1\r\nHost: bench\r\n\r\n")
            status = await read_response(reader)
            writer.close()
            if status == 200:
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"server on port {port} not ready within {timeout} s")
        await asyncio.sleep(0.1)


async def seed(tb: Any) -> None:
    rows = [(i, f"item {i}") for i in range(1, ROWS + 1)]
    if tb.engine == "postgres":
        import psycopg

        async with await psycopg.AsyncConnection.connect(
            tb.dsn(tb.writer, direct=True), autocommit=True
        ) as c:
            await c.execute("DROP TABLE IF EXISTS bench_items")
            await c.execute("CREATE TABLE bench_items (id int PRIMARY KEY, name text NOT NULL)")
            async with c.cursor() as cur:
                await cur.executemany("INSERT INTO bench_items VALUES (%s, %s)", rows)
        return
    import aiomysql

    conn = await aiomysql.connect(**tb.connect_kwargs(tb.writer, direct=True), autocommit=True)
    try:
        async with conn.cursor() as cur:
            await cur.execute("CREATE TABLE bench_items (id INT PRIMARY KEY, name VARCHAR(50) NOT NULL)")
            await cur.executemany("INSERT INTO bench_items VALUES (%s, %s)", rows)
    finally:
        conn.close()


def _passthrough(args: argparse.Namespace, *names: str) -> list[str]:
    out: list[str] = []
    for name in names:
        out += [f"--{name.replace('_', '-')}", str(getattr(args, name))]
    return out


async def bench_engine(engine: str, args: argparse.Namespace) -> None:
    async with single_server(engine) as tb:
        await seed(tb)
        target: dict[str, Any] = {"engine": engine, "props": aurora_props(tb)}
        if engine == "postgres":
            target["dsn"] = tb.dsn(tb.writer, direct=True)
        else:
            target["kwargs"] = tb.connect_kwargs(tb.writer, direct=True)
        procs: dict[str, tuple[int, asyncio.subprocess.Process]] = {}
        try:
            for variant in variants(engine):
                http_port = free_port()
                procs[variant] = (
                    http_port,
                    await asyncio.create_subprocess_exec(
                        sys.executable,
                        __file__,
                        "--serve",
                        variant,
                        "--target",
                        json.dumps(target),
                        "--port",
                        str(http_port),
                        "--pool-size",
                        str(args.pool_size),
                    ),
                )
            for http_port, proc in procs.values():
                await wait_ready(http_port, proc)
            servers = {v: (p, proc.pid) for v, (p, proc) in procs.items()}
            loadgen = await asyncio.create_subprocess_exec(
                sys.executable,
                __file__,
                "--load",
                json.dumps(servers),
                *_passthrough(args, "connections", "rounds", "block", "warmup"),
                stdout=asyncio.subprocess.PIPE,
            )
            out, _ = await loadgen.communicate()
            if loadgen.returncode != 0:
                raise RuntimeError(f"load generator failed with {loadgen.returncode}")
            rounds: list[dict[str, dict[str, Any]]] = json.loads(out)
        finally:
            for _port, proc in procs.values():
                if proc.returncode is None:
                    proc.terminate()
            for _port, proc in procs.values():
                await proc.wait()
    report(engine, rounds, args)


def report(engine: str, rounds: list[dict[str, dict[str, Any]]], args: argparse.Namespace) -> None:
    print(
        f"\n{engine}: FastAPI + uvicorn (h11), GET /items/{{id}} = 1 pooled SELECT; "
        f"{args.connections} connections, pool {args.pool_size}, {len(rounds)} rounds x {args.block:g} s "
        f"per variant, {os.cpu_count()} CPUs; 1-min load average at the end {os.getloadavg()[0]:.1f}"
    )
    print(
        f"{'variant':<30} {'req/s':>7} {'(min..max)':>13} {'p50 ms':>7} {'p99 ms':>7} "
        f"{'CPU µs/req':>10} {'ratio':>6} {'(min..max)':>12}"
    )
    for variant in variants(engine):
        rps = [r[variant]["rps"] for r in rounds]
        ratios = [r[variant]["rps"] / r[RAW]["rps"] for r in rounds]
        bad = sum(r[variant]["bad"] for r in rounds)
        print(
            f"{variant:<30} {statistics.median(rps):>7.0f} {min(rps):>6.0f}..{max(rps):<6.0f} "
            f"{statistics.median(r[variant]['p50_ms'] for r in rounds):>7.2f} "
            f"{statistics.median(r[variant]['p99_ms'] for r in rounds):>7.2f} "
            f"{statistics.median(r[variant]['cpu_us'] for r in rounds):>10.0f} "
            f"{statistics.median(ratios):>6.3f} {min(ratios):>5.2f}..{max(ratios):<5.2f}"
            + (f"  ({bad} non-200 responses)" if bad else "")
        )


def main() -> None:
    parser = arg_parser(__doc__)
    parser.add_argument("--engine", choices=["postgres", "mariadb", "both"], default="postgres")
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--block", type=float, default=1.0, help="measured seconds per variant and round")
    parser.add_argument("--warmup", type=float, default=0.2, help="unmeasured seconds before each block")
    parser.add_argument("--connections", type=int, default=16, help="concurrent HTTP connections")
    parser.add_argument("--pool-size", type=int, default=10)
    # internal: the server and load generator processes
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    parser.add_argument("--target", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--load", metavar="SERVERS", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args)
    elif args.load:
        servers = {v: (int(p), int(pid)) for v, (p, pid) in json.loads(args.load).items()}
        print(json.dumps(asyncio.run(generate_load(servers, args))))
    else:
        for engine in engines(args.engine):
            asyncio.run(bench_engine(engine, args))


if __name__ == "__main__":
    main()
