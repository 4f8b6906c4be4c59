"""An aws-advanced-python-wrapper configuration works as is, through its entry point (both engines)."""

from __future__ import annotations

import socket
import time
from typing import Any

import aiomysql
import anyio
import psycopg
import pytest

from awsasyncwrap import AsyncAwsConnection, FailoverError, release_resources
from awsasyncwrap.compat import AsyncAwsWrapperConnection, release_resources_async
from awsasyncwrap.testbed import Testbed
from wrapped import Db

pytestmark = pytest.mark.timeout(90)


def _driver_args(tb: Testbed, target: Any = "cluster") -> tuple[Any, str, dict[str, Any]]:
    """(connect function, conninfo, keyword arguments) as their docs write them, for ``tb``."""
    if tb.engine == "postgres":
        return psycopg.AsyncConnection.connect, tb.dsn(target), {}
    return aiomysql.connect, "", tb.connect_kwargs(target)


def _socket(conn: AsyncAwsConnection) -> socket.socket:
    raw = conn.target_connection
    if isinstance(raw, psycopg.AsyncConnection):
        return socket.socket(fileno=raw.pgconn.socket)  # a view on libpq's socket; detached below
    sock: socket.socket = raw._writer.get_extra_info("socket")
    return sock


async def test_a_config_from_their_docs_connects(cluster_testbed: Testbed) -> None:
    """Properties from their failover v2, host monitoring and "using the wrapper" pages; their codes."""
    tb = cluster_testbed
    func, conninfo, kwargs = _driver_args(tb)
    their_config: dict[str, Any] = {
        "plugins": "failover_v2,host_monitoring_v2",
        "failover_mode": "strict-writer",
        "failover_timeout_sec": 60,
        "topology_refresh_ms": 30000,
        "cluster_topology_high_refresh_rate_ms": 100,
        "failover_reader_host_selector_strategy": "random",
        "enable_connect_failover": True,
        "auxiliary_query_timeout_sec": 5,
        "failure_detection_time_ms": 30000,
        "failure_detection_interval_ms": 5000,
        "failure_detection_count": 3,
        "monitor_disposal_time_ms": 60000,
        "connect_timeout": 10,
        "socket_timeout": 30,
        "tcp_keepalive": True,
        "tcp_keepalive_time": 30,
        "tcp_keepalive_interval": 5,
        "tcp_keepalive_probes": 3,
        "monitoring-connect_timeout": 10,
        "monitoring-socket_timeout": 10,
        "transfer_session_state_on_switch": True,
        "reset_session_state_on_close": True,
        "rollback_on_switch": True,
        "autocommit": True,
    }
    conn = await AsyncAwsWrapperConnection.connect(
        func, conninfo, **kwargs, **tb.wrapper_props(), **their_config
    )
    try:
        db = Db(tb)
        assert await db.host_id(conn) == tb.writer.id
        props = conn.plugin_service.props
        assert props["cluster_topology_refresh_rate_ms"] == 30000
        assert props["cluster_topology_query_timeout_ms"] == 5000
        assert props["failover_mode"] == "strict_writer"
        codes = [type(p).__name__ for p in conn.plugin_service.manager.plugins]
        assert codes == ["FailoverPlugin", "HostMonitoringPlugin", "SocketTimeoutPlugin"], codes
        sock = _socket(conn)
        try:
            assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
            assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE) == 30
            assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL) == 5
            assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT) == 3
        finally:
            if tb.engine == "postgres":
                sock.detach()
        # and it fails over like a native configuration
        await tb.failover()
        with pytest.raises(FailoverError):
            await db.run(conn, "SELECT 1")
        assert await db.host_id(conn) == tb.writer.id
    finally:
        await conn.close()
        await release_resources_async()


@pytest.mark.parametrize("given", [None, 1.0])
async def test_socket_timeout_bounds_a_call_on_a_hung_server(
    server_testbed: Testbed, given: float | None
) -> None:
    """Their ``socket_timeout``: a call on a server that stopped answering fails after that long."""
    tb = server_testbed
    db = Db(tb)
    props = {} if given is None else {"socket_timeout": given}
    conn = await db.connect(tb.writer, aurora=False, plugins="", **props)
    try:
        assert await db.run(conn, "SELECT 1") == [(1,)]
        tb.net(tb.writer, "blackhole")
        start = time.monotonic()
        with anyio.move_on_after(4) as scope:
            with pytest.raises(Exception) as raised:
                await db.run(conn, "SELECT 2")
        if given is None:
            assert scope.cancelled_caught  # without it the call hangs (until the test gives up)
            return
        elapsed = time.monotonic() - start
        assert not scope.cancelled_caught and given <= elapsed < given + 1.5, elapsed
        operational = (
            psycopg.OperationalError if tb.engine == "postgres" else __import__("pymysql").OperationalError
        )
        assert isinstance(raised.value, operational), repr(raised.value)
        assert "socket_timeout (1 s) expired" in "".join(getattr(raised.value, "__notes__", []))
    finally:
        tb.net(tb.writer, "pass")
        await conn.close()
        await release_resources()


async def test_socket_timeout_leaves_fast_calls_alone(server_testbed: Testbed) -> None:
    tb = server_testbed
    db = Db(tb)
    conn = await db.connect(tb.writer, aurora=False, plugins="", socket_timeout=1)
    try:
        sleep = "SELECT pg_sleep(0.3)" if tb.engine == "postgres" else "SELECT SLEEP(0.3)"
        for _ in range(5):  # well within the bound each time: the timer never fires
            await db.run(conn, sleep)
        assert await db.run(conn, "SELECT 3") == [(3,)]
    finally:
        await conn.close()
        await release_resources()


@pytest.mark.parametrize("enabled", [False, True])
async def test_enable_connect_failover(cluster_testbed: Testbed, enabled: bool) -> None:
    """A first connect to a cluster endpoint still pointing at the dead writer: fails over when enabled."""
    tb = cluster_testbed
    db = Db(tb)
    keeper = await db.connect(monitor_disposal_time_ms=60_000)  # the cluster's monitor knows the topology
    try:
        tb.dns_lag = 30.0  # the cluster endpoint keeps sending new connections to the old writer
        old = tb.writer
        await tb.failover()
        with anyio.fail_after(30):
            if not enabled:
                with pytest.raises(Exception) as raised:
                    await db.connect(enable_connect_failover=False)
                assert not isinstance(raised.value, FailoverError)
                return
            conn = await db.connect(enable_connect_failover=True)
        try:
            assert await db.host_id(conn) == tb.writer.id != old.id
        finally:
            await conn.close()
    finally:
        await keeper.close()
        await release_resources()


async def test_their_connection_api(server_testbed: Testbed) -> None:
    """What their aio connection offers besides the driver's: ``is_closed``, ``await get_read_only()`` (a
    bool), ``await set_read_only()``, ``await set_autocommit()``, ``target_connection``."""
    tb = server_testbed
    func, conninfo, kwargs = _driver_args(tb, tb.writer)
    conn = await AsyncAwsWrapperConnection.connect(func, conninfo, **kwargs, plugins="")
    try:
        assert conn.is_closed is False
        assert await conn.get_read_only() is False
        await conn.set_read_only(True)
        assert await conn.get_read_only() is True
        await conn.set_read_only(False)
        await conn.set_autocommit(True)
        assert conn.target_connection is not None
    finally:
        await conn.close()
    assert conn.is_closed is True
