"""AsyncAwsConnectionPool stays within max_size at every instant: connections being opened, in use, idle
and being closed after a discard all count, also while 50 tasks start on a pool that is still opening and
through a writer failover."""

from __future__ import annotations

import asyncio
import os
import socket
from typing import Any

import aiomysql
import psycopg
import pytest

from awsasyncwrap.errors import FailoverError
from awsasyncwrap.pool import AsyncAwsConnectionPool
from awsasyncwrap.testbed import Testbed
from polling import until

pytestmark = [pytest.mark.timeout(120), pytest.mark.cluster]

MIN_SIZE, MAX_SIZE, TASKS = 10, 25, 50


def _pool(tb: Testbed, plugins: str | None) -> AsyncAwsConnectionPool:
    props: dict[str, Any] = {
        # without plugins, no topology either (no monitoring connection): every socket is a pooled one
        **(tb.wrapper_props() if plugins != "" else {}),
        "plugins": plugins,
        "failover_timeout_sec": 30,
        "monitor_disposal_time_ms": 0,
        "autocommit": True,
    }
    opts: dict[str, Any] = {"min_size": MIN_SIZE, "max_size": MAX_SIZE, "timeout": 60}
    if tb.engine == "postgres":
        return AsyncAwsConnectionPool(psycopg.AsyncConnection.connect, tb.dsn(), **opts, **props)
    return AsyncAwsConnectionPool(aiomysql.connect, **tb.connect_kwargs(), **opts, **props)


def _sockets_to(address: tuple[str, int]) -> int:
    """Open sockets of this process connected to ``address``."""
    host, port = address
    want = f"{socket.inet_aton(host)[::-1].hex().upper()}:{port:04X}"
    with open("/proc/net/tcp") as f:
        inodes = {parts[9] for parts in (line.split() for line in list(f)[1:]) if parts[2] == want}
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            link = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        count += link.startswith("socket:[") and link[8:-1] in inodes
    return count


async def _select_1(conn: Any, pg: bool) -> None:
    if pg:
        await conn.execute("SELECT 1")
    else:
        cur = await conn.cursor()
        await cur.execute("SELECT 1")
        await cur.close()


@pytest.mark.parametrize(
    ("plugins", "failover"),
    [("", False), (None, False), (None, True)],
    ids=["no-plugins", "default-plugins", "default-plugins-failover"],
)
async def test_pool_size_never_exceeds_max_size(
    cluster_testbed: Testbed, plugins: str | None, failover: bool
) -> None:
    tb = cluster_testbed
    pg = tb.engine == "postgres"
    pool = _pool(tb, plugins)
    stop = asyncio.Event()
    peak = {"size": 0, "held": 0, "sockets": 0}
    counts = {"queries": 0, "errors": 0, "samples": 0}

    async def sampler() -> None:
        while not stop.is_set():
            peak["size"] = max(peak["size"], pool.size)
            peak["held"] = max(peak["held"], pool.size + pool.closing)
            if plugins == "" and counts["samples"] % 20 == 0:  # no monitors: every socket is a pooled one
                peak["sockets"] = max(peak["sockets"], _sockets_to(tb.cluster_endpoint))
            counts["samples"] += 1
            await asyncio.sleep(0)

    async def worker() -> None:
        while not stop.is_set():
            try:
                async with pool.connection() as conn:
                    await _select_1(conn, pg)
                counts["queries"] += 1
            except FailoverError:
                counts["errors"] += 1

    sampling = asyncio.create_task(sampler())
    opening = asyncio.create_task(pool.open())  # the tasks start while the pool opens its min_size
    workers = [asyncio.create_task(worker()) for _ in range(TASKS)]

    async def progress(queries: int, samples: int) -> None:
        """Until the workers ran ``queries`` more queries and the sampler looked ``samples`` more times
        (progress, not wall time: a starved machine just takes longer)."""
        want_q, want_s = counts["queries"] + queries, counts["samples"] + samples
        await until(lambda: counts["queries"] >= want_q and counts["samples"] >= want_s, timeout=60)

    try:
        await progress(3 * TASKS, 200)
        if failover:
            await tb.failover()
            await progress(2 * TASKS, 200)
    finally:
        stop.set()
        await asyncio.wait_for(asyncio.gather(opening, *workers), 60)
        await sampling
        await pool.aclose()
    print(f"peak size {peak['size']}, with closing {peak['held']}, sockets {peak['sockets']}; {counts}")
    assert counts["queries"] > TASKS
    assert peak["size"] <= MAX_SIZE
    assert peak["held"] <= MAX_SIZE
    assert peak["sockets"] <= MAX_SIZE
