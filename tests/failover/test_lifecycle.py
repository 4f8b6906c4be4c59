"""Lifecycle and honest errors: a closed connection stays closed, release_resources() ends a failover at
once without stalling the loop, a cancelled connect leaves no socket, and "run it again" is only said of a
call that never reached the server."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import psycopg
import pymysql
import pytest

from awsasyncwrap import (
    AsyncAwsConnection,
    FailoverError,
    FailoverFailedError,
    FailoverSuccessError,
    TransactionResolutionUnknownError,
    release_resources,
)
from awsasyncwrap.plugins.failover import FailoverPlugin

from ._helpers import Cluster, topology_monitors, until

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(90)]


def _failover(conn: AsyncAwsConnection) -> FailoverPlugin:
    return next(p for p in conn.plugin_service.plugins if isinstance(p, FailoverPlugin))


def _driver_error(c: Cluster) -> type[Exception]:
    return psycopg.Error if c.pg else pymysql.err.Error


def _operational_error(c: Cluster) -> type[Exception]:
    return psycopg.OperationalError if c.pg else pymysql.err.OperationalError


async def _sessions(c: Cluster) -> dict[tuple[str, int], str]:
    """Client sessions of the test user on every running instance (the caller's own excluded), described."""
    found: dict[tuple[str, int], str] = {}
    for inst in c.tb.instances:
        if not inst.running:
            continue
        conn = await c.direct(inst)
        try:
            if c.pg:
                sql = (
                    "SELECT pid, state, application_name, left(query, 60) FROM pg_stat_activity"
                    " WHERE usename = current_user AND backend_type = 'client backend'"
                    " AND pid <> pg_backend_pid() AND application_name <> 'awsasyncwrap-testbed'"
                )
                rows = await c.run(conn, sql)
            else:
                sql = (
                    "SELECT ID, COMMAND, TIME, HOST, LEFT(COALESCE(INFO, ''), 60)"
                    " FROM information_schema.PROCESSLIST WHERE USER = %s AND ID <> CONNECTION_ID()"
                )
                rows = await c.run(conn, sql, (c.tb.user,))
            found.update({(inst.id, int(r[0])): " ".join(str(v) for v in r[1:]) for r in rows})
        finally:
            if c.pg:
                await conn.close()
            else:
                conn.close()
    return found


async def _until_no_new_sessions(c: Cluster, before: dict[tuple[str, int], str], within: float = 8) -> None:
    """Poll until no session that was not there at ``before`` is left; name those left when time is up."""
    left: dict[tuple[str, int], str] = {}

    async def none_left() -> bool:
        nonlocal left
        now = await _sessions(c)
        left = {key: now[key] for key in now.keys() - before.keys()}
        return not left

    try:
        await until(none_left, timeout=within)
    except AssertionError:
        raise AssertionError(f"sessions left after {within} s: {left}") from None


class _Ticker:
    """Measures the longest stall of the event loop (the largest gap between 10 ms ticks)."""

    def __init__(self) -> None:
        self.max_gap = 0.0
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        last = time.monotonic()
        while True:
            await asyncio.sleep(0.01)
            now = time.monotonic()
            self.max_gap = max(self.max_gap, now - last - 0.01)
            last = now

    def __enter__(self) -> _Ticker:
        self._task = asyncio.get_running_loop().create_task(self._run())
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()


# --- 1. closed means closed ----------------------------------------------------------------------------


def _later_calls(c: Cluster, conn: AsyncAwsConnection) -> dict[str, Callable[[], Awaitable[Any]]]:
    calls: dict[str, Callable[[], Awaitable[Any]]] = {
        "cursor().execute": lambda: c.run(conn, "SELECT 1"),
        "commit": conn.commit,
        "rollback": conn.rollback,
        "set_autocommit": lambda: conn.set_autocommit(False),
    }
    if c.pg:
        calls["execute"] = lambda: conn.execute("SELECT 1")
    else:
        calls["ping"] = conn.ping
        calls["begin"] = conn.begin
    return calls


@pytest.mark.parametrize("plugins", [None, "failover"], ids=["default-plugins", "failover"])
async def test_close_during_a_query_ends_it_and_leaves_no_session(
    cluster: Cluster, plugins: str | None
) -> None:
    c = cluster
    before = await _sessions(c)
    conn = await c.connect(plugins=plugins)
    plugin = _failover(conn)
    await c.insert(conn, 1)  # with the default plugins, a host monitor starts here
    writer = await c.host_id(conn)
    sql = c.sleep_sql(3)
    query = asyncio.create_task(c.run(conn, sql))
    await c.wait_running(writer, sql)
    await conn.close()
    with anyio.fail_after(5), pytest.raises(Exception) as info:
        await query
    error = info.value
    assert isinstance(error, _operational_error(c)) and not isinstance(error, FailoverError), repr(error)
    assert "closed" in str(error), repr(error)
    assert plugin.failover_count == 0
    assert conn.closed
    for name, call in _later_calls(c, conn).items():
        started = time.monotonic()
        with anyio.fail_after(1), pytest.raises(_driver_error(c)) as later:
            await call()
        assert not isinstance(later.value, FailoverError), (name, repr(later.value))
        assert time.monotonic() - started < 0.5, name
    with pytest.raises(_driver_error(c)):
        conn.cursor()
    assert plugin.failover_count == 0

    await _until_no_new_sessions(c, before)  # the server ends the session once its sleep is over


async def test_close_during_a_failover_ends_it_and_revives_nothing(cluster: Cluster) -> None:
    """The writer is gone and none promoted: a close while the failover waits ends it; the call that hit
    the failure ends with the closed error and no session of the connection is left anywhere."""
    c = cluster
    before = await _sessions(c)
    conn = await c.connect(failover_timeout_sec=30)
    plugin = _failover(conn)
    await c.insert(conn, 1)
    await c.tb.kill(c.tb.writer)
    call = asyncio.create_task(c.insert(conn, 2))
    await until(lambda: plugin._running is not None, timeout=10)
    await conn.close()
    with anyio.fail_after(2), pytest.raises(Exception) as info:
        await call
    assert isinstance(info.value, _operational_error(c)) and not isinstance(info.value, FailoverError)
    assert plugin.failover_count == 0 and conn.closed
    await c.tb.heal()

    await _until_no_new_sessions(c, before)


# --- 3. release_resources() during a failover ----------------------------------------------------------


async def test_release_resources_ends_a_failover_at_once_without_stalling_the_loop(cluster: Cluster) -> None:
    c = cluster
    conn = await c.connect(failover_timeout_sec=30)
    try:
        plugin = _failover(conn)
        await c.insert(conn, 1)
        await c.tb.kill(c.tb.writer)  # and no one is promoted
        with _Ticker() as ticker:
            call = asyncio.create_task(c.insert(conn, 2))
            await until(lambda: plugin._running is not None, timeout=10)
            await asyncio.sleep(0.5)  # the scenario: the failover has been waiting for a while
            released = time.monotonic()
            await release_resources()
            with anyio.fail_after(5), pytest.raises(FailoverFailedError):
                await call
            to_error = time.monotonic() - released
        print(f"release -> FailoverFailedError {to_error:.3f} s, max loop stall {ticker.max_gap:.3f} s")
        assert to_error < 0.1
        assert ticker.max_gap < 0.1
    finally:
        await conn.close()


async def test_failover_after_release_resources_finds_the_new_writer(cluster: Cluster) -> None:
    """An open connection outlives release_resources(): its next failover gets a new monitor and does not
    wait its whole failover timeout."""
    c = cluster
    conn = await c.connect(failover_timeout_sec=20)
    try:
        await c.insert(conn, 1)
        await release_resources()
        report = await c.tb.failover()
        started = time.monotonic()
        with anyio.fail_after(30), pytest.raises((FailoverSuccessError, TransactionResolutionUnknownError)):
            await c.insert(conn, 2)
        took = time.monotonic() - started
        print(f"failover after release_resources(): {took:.3f} s")
        assert took < 5
        await c.insert(conn, 3)
        assert await c.host_id(conn) == report.new_writer
    finally:
        await conn.close()


async def test_release_resources_stops_monitors_without_cancellation_noise(
    pg_only: Cluster, caplog: pytest.LogCaptureFixture
) -> None:
    """release_resources() while the topology monitor waits for a query (blocked on the server by a lock):
    the monitors stop at once and psycopg logs nothing about cancelling that query. (PostgreSQL only:
    psycopg's cancel-on-interrupt is where the noise came from; aiomysql has none.)"""
    c = pg_only
    caplog.set_level(logging.INFO)
    conn = await c.connect(plugins=None, cluster_topology_refresh_rate_ms=100)
    locker = await c.direct()
    try:
        await c.insert(conn, 1)
        (monitor,) = topology_monitors()
        await until(lambda: monitor.monitoring_host is not None, timeout=10)
        await c.run(locker, "BEGIN")
        await c.run(locker, "LOCK TABLE aurora_emul.node_metrics IN ACCESS EXCLUSIVE MODE")
        await until(lambda: monitor._hurry_watch is not None, timeout=10)  # the monitor is in its query

        async def blocked() -> bool:
            rows = await c.run(
                locker,
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE wait_event_type = 'Lock' AND pid <> pg_backend_pid()",
            )
            return bool(rows[0][0])

        await until(blocked, timeout=10)
        started = time.monotonic()
        await release_resources()
        took = time.monotonic() - started
        noisy = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
        print(f"release_resources() {took:.3f} s; warnings: {noisy}")
        assert not noisy
        assert took < 1
    finally:
        await c.run(locker, "ROLLBACK")
        await locker.close()
        await conn.close()


# --- 4. honest retry errors ----------------------------------------------------------------------------


def _slow_insert(c: Cluster, value: int) -> str:
    if c.pg:
        return f"INSERT INTO {c.table} (id) SELECT {value} FROM pg_sleep(1)"
    return f"INSERT INTO {c.table} (id) SELECT {value} FROM (SELECT SLEEP(1)) AS s"


async def test_statement_in_flight_at_failover_has_an_unknown_outcome(cluster: Cluster) -> None:
    c = cluster
    conn = await c.connect()  # autocommit
    idle = await c.connect(plugins=None)
    try:
        await c.insert(conn, 1)
        await c.insert(idle, 2)
        writer = await c.host_id(conn)
        sql = _slow_insert(c, 3)
        task = asyncio.create_task(c.run(conn, sql))
        await c.wait_running(writer, sql)
        await c.tb.failover()
        with anyio.fail_after(30), pytest.raises(TransactionResolutionUnknownError) as info:
            await task
        assert not isinstance(info.value, FailoverSuccessError)
        assert "unknown" in str(info.value)
        # a call that never reached the server (its connection was known dead): safe to run again
        with anyio.fail_after(30), pytest.raises(FailoverSuccessError):
            await c.insert(idle, 4)
        await c.insert(idle, 4)
    finally:
        await conn.close()
        await idle.close()
    assert await c.ids() in ({1, 2, 4}, {1, 2, 3, 4})


@pytest.mark.parametrize("in_tx", [True, False], ids=["in-transaction", "no-transaction"])
async def test_rollback_after_the_session_was_killed_is_quiet(cluster: Cluster, in_tx: bool) -> None:
    """The server ended the session (and so the transaction): rollback() has nothing left to undo; it
    succeeds on the new connection, never asking to "run the statement again"."""
    c = cluster
    conn = await c.connect(plugins="failover", autocommit=False)
    try:
        if in_tx:
            await c.insert(conn, 1)
        pid_sql = "SELECT pg_backend_pid()" if c.pg else "SELECT CONNECTION_ID()"
        pid = int((await c.run(conn, pid_sql))[0][0])
        if not in_tx:
            await conn.commit()
        killer = await c.direct()
        try:
            await c.run(killer, f"SELECT pg_terminate_backend({pid})" if c.pg else f"KILL {pid}")
        finally:
            if c.pg:
                await killer.close()
            else:
                killer.close()
        with anyio.fail_after(30):
            await conn.rollback()
        assert not conn.get_transaction_status()
        try:
            await c.insert(conn, 2)
        except TransactionResolutionUnknownError:
            assert c.pg and not in_tx  # psycopg: a rollback without a transaction sends nothing
            await conn.rollback()
            await c.insert(conn, 2)
        await conn.commit()
    finally:
        await conn.close()
    assert await c.ids() == {2}


# --- 5. a cancelled connect closes what it opened -------------------------------------------------------


def _sockets_to(tb: Any) -> int:
    """Sockets of this process connected to the cluster endpoint of ``tb`` (IPv4 ``127.0.K.N:port``).

    Only that address: the cluster's monitors open and close connections to the instances in the
    background (spares), which a cancelled connect to the cluster endpoint has nothing to do with.
    """
    address = socket.inet_aton(tb.cluster_endpoint[0])[::-1].hex().upper()
    suffix = f":{tb.port:04X}"
    inodes = set()
    with open("/proc/net/tcp") as f:
        for line in list(f)[1:]:
            parts = line.split()
            remote, state = parts[2], parts[3]
            if remote[:8] == address and remote.endswith(suffix) and state != "0A":  # 0A: listening
                inodes.add(parts[9])
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            link = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if link.startswith("socket:[") and link[8:-1] in inodes:
            count += 1
    return count


@pytest.mark.parametrize("plugins", [None, "failover", ""], ids=["default-plugins", "failover", "none"])
@pytest.mark.parametrize("other", [False, True], ids=["alone", "with-another-connection"])
async def test_cancelled_connect_to_a_blackholed_endpoint_leaves_no_socket(
    cluster: Cluster, plugins: str | None, other: bool
) -> None:
    c = cluster
    others = [await c.connect(plugins=plugins)] if other else []  # the cluster's monitors run
    try:
        for conn in others:
            await c.insert(conn, 1)
        before = _sockets_to(c.tb)
        c.tb.net("cluster", "blackhole")
        after = []
        for _ in range(3):
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(0.5):  # type: ignore[attr-defined,unused-ignore]  # edge-triggered (3.11+)
                    await c.connect(plugins=plugins)
            after.append(_sockets_to(c.tb))  # at once: nothing is left to close later
        print(f"sockets to the testbed: {before} before, {after} after each cancelled connect")
        assert after == [before] * 3
    finally:
        c.tb.net("cluster", "pass")
        for conn in others:
            await conn.close()
