"""Connections that sat idle through several writer failovers: their next call either works or raises a
failover error, never a raw driver error (plain, pooled and SQLAlchemy connections, both engines)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import aiomysql
import anyio
import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from awsasyncwrap import AsyncAwsConnection, FailoverError, release_resources
from awsasyncwrap.pool import AsyncAwsConnectionPool
from awsasyncwrap.testbed import Testbed

from ._helpers import Cluster

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(120)]

#: what an application of the wrapper uses: the default plugins, default monitor lifetimes
_PROPS: dict[str, Any] = {"failover_timeout_sec": 20, "autocommit": True}


async def _plain(tb: Testbed) -> AsyncAwsConnection:
    props = {**tb.wrapper_props(), **_PROPS}
    if tb.engine == "postgres":
        return AsyncAwsConnection.of(
            await AsyncAwsConnection.connect(psycopg.AsyncConnection.connect, tb.dsn("cluster"), **props)
        )
    return AsyncAwsConnection.of(
        await AsyncAwsConnection.connect(aiomysql.connect, **tb.connect_kwargs("cluster"), **props)
    )


def _pool(tb: Testbed) -> AsyncAwsConnectionPool:
    props = {**tb.wrapper_props(), **_PROPS}
    if tb.engine == "postgres":
        return AsyncAwsConnectionPool(
            psycopg.AsyncConnection.connect, tb.dsn("cluster"), min_size=2, max_size=2, **props
        )
    return AsyncAwsConnectionPool(
        aiomysql.connect, **tb.connect_kwargs("cluster"), min_size=2, max_size=2, **props
    )


def _engine(tb: Testbed) -> AsyncEngine:
    host, port = tb.cluster_endpoint
    if tb.engine == "postgres":
        url = f"postgresql+awsasyncwrap_psycopg://{tb.user}@{host}:{port}/{tb.database}"
    else:
        url = f"mysql+awsasyncwrap_aiomysql://{tb.user}:{tb.password}@{host}:{port}/{tb.database}"
    props = {**tb.wrapper_props(), "failover_timeout_sec": 20}
    return create_async_engine(url, connect_args=props, pool_size=2, max_overflow=0)


def _failover_error(exc: BaseException) -> bool:
    if isinstance(exc, DBAPIError):
        exc = exc.orig  # type: ignore[assignment]
    return isinstance(exc, FailoverError)


async def _use(name: str, call: Callable[[], Awaitable[object]], raw: list[str]) -> None:
    """Run ``call``; a failover error is fine once (then it must work); anything else is recorded."""
    for attempt in range(2):
        try:
            with anyio.fail_after(30):
                await call()
            return
        except Exception as exc:
            if attempt == 0 and _failover_error(exc):
                continue
            raw.append(f"{name}: {type(exc).__module__}.{type(exc).__name__}: {exc}")
            return


async def _idle_through(tb: Testbed, failovers: int, rejoin: bool) -> list[str]:
    c = Cluster(tb)
    plain = await _plain(tb)
    tb.net(
        "cluster", "refuse"
    )  # one more opened while the cluster endpoint leads nowhere (failover rescues it)
    try:
        rescued = await _plain(tb)
    finally:
        tb.net("cluster", "pass")
    pool = _pool(tb)
    await pool.open()
    engine = _engine(tb)
    raw: list[str] = []
    try:
        await c.run(plain, "SELECT 1")
        async with pool.connection() as conn:
            await c.run(conn, "SELECT 1")
        async with engine.connect() as sconn:
            await sconn.execute(text("SELECT 1"))
        for _ in range(failovers):
            old = tb.writer
            await tb.failover()
            if rejoin:
                await tb.rejoin(old)

        async def plain_call() -> None:
            await c.run(plain, "SELECT 1")

        async def rescued_call() -> None:
            await c.run(rescued, "SELECT 1")

        async def pooled_call() -> None:
            async with pool.connection() as conn:
                await c.run(conn, "SELECT 1")

        async def engine_call() -> None:
            async with engine.connect() as sconn:
                await sconn.execute(text("SELECT 1"))

        calls = [
            ("plain", plain_call),
            ("rescued", rescued_call),
            ("pooled", pooled_call),
            ("sqlalchemy", engine_call),
        ]
        for name, call in calls:
            for _ in range(2):  # every pooled connection
                await _use(name, call, raw)
    finally:
        await plain.close()
        await rescued.close()
        await pool.aclose()
        await engine.dispose()
        await release_resources()
    return raw


@pytest.mark.parametrize("failovers", [1, 3, 8])
async def test_idle_through_failovers_with_rejoin(cluster_testbed: Testbed, failovers: int) -> None:
    raw = await _idle_through(cluster_testbed, failovers, rejoin=True)
    assert raw == []


@pytest.mark.parametrize("failovers", [1, 2])
async def test_idle_through_failovers_readers_gone(cluster_testbed: Testbed, failovers: int) -> None:
    # three instances: after two failovers without a rejoin only the writer is left
    raw = await _idle_through(cluster_testbed, failovers, rejoin=False)
    assert raw == []


async def test_connection_rescued_at_connect_survives_later_failovers(cluster_testbed: Testbed) -> None:
    """A connection whose first connect failed over (the cluster endpoint led nowhere) fails over later too.

    Such connections (the pool opens them right after a failover, while DNS still names the dead writer)
    used to keep the plain dialect, without topology: their next lost connection surfaced raw.
    """
    tb = cluster_testbed
    c = Cluster(tb)
    holder = await _plain(tb)  # the cluster's topology monitor runs
    tb.net("cluster", "refuse")
    try:
        rescued = await _plain(tb)
        pool = _pool(tb)
        await pool.open()
        engine = _engine(tb)
        async with engine.connect() as sconn:
            await sconn.execute(text("SELECT 1"))
    finally:
        tb.net("cluster", "pass")
    raw: list[str] = []
    try:
        old = tb.writer
        await tb.failover()
        await tb.rejoin(old)

        async def plain_call() -> None:
            await c.run(rescued, "SELECT 1")

        async def pooled_call() -> None:
            async with pool.connection() as conn:
                await c.run(conn, "SELECT 1")

        async def engine_call() -> None:
            async with engine.connect() as sconn:
                await sconn.execute(text("SELECT 1"))

        for name, call in (("plain", plain_call), ("pooled", pooled_call), ("sqlalchemy", engine_call)):
            await _use(name, call, raw)
    finally:
        await holder.close()
        await rescued.close()
        await pool.aclose()
        await engine.dispose()
        await release_resources()
    assert raw == []
