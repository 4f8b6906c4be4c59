"""The ``bg`` plugin by phase: rollback, held and rejected connects, monitors and their lifecycle."""

from __future__ import annotations

import asyncio
import socket
import time
from typing import Any

import anyio
import pytest

from awsasyncwrap import AsyncAwsConnection, FailoverSuccessError, release_resources
from awsasyncwrap.plugins.blue_green import (
    BlueGreenConnectTimeoutError,
    BlueGreenRejectedError,
    Phase,
    status_services,
)
from awsasyncwrap.testbed import BlueGreenDeployment, PhaseSeconds
from polling import until

from ._app import WriterApp, rows_on, wait_phase

pytestmark = pytest.mark.timeout(180)


async def _connect(bg: BlueGreenDeployment, side: str = "blue", **props: Any) -> Any:
    extra = {"plugins": "bg", "autocommit": True, **props}
    if bg.blue.engine == "postgres":
        import psycopg

        return await AsyncAwsConnection.connect(psycopg.AsyncConnection.connect, bg.dsn(side=side), **extra)  # type: ignore[arg-type]
    import aiomysql

    return await AsyncAwsConnection.connect(aiomysql.connect, **bg.connect_kwargs(side=side), **extra)  # type: ignore[arg-type]


async def _instance_id(bg: BlueGreenDeployment, conn: Any) -> str:
    if bg.blue.engine == "postgres":
        cur = conn.cursor()
        await cur.execute("SELECT aurora_db_instance_identifier()")
    else:
        cur = await conn.cursor()
        await cur.execute("SELECT @@report_host")
    return str((await cur.fetchone())[0])


async def _rollback_keeps_app_on_blue(bg: BlueGreenDeployment) -> None:
    # PREPARATION (0.5 s) must outlast one CREATED poll for the monitors to see the switchover at all
    app = WriterApp(bg, workers=3, props={"bg_interval_increased_ms": 200})
    await app.prepare()
    try:
        async with app.running():
            await wait_phase(Phase.CREATED)
            await app.wait_rows(20)
            report = await bg.switchover(PhaseSeconds(preparation=0.5, notice=0.3), rollback=True)
            await wait_phase(Phase.CREATED)
            assert status_services()[0].state.rolled_back
            await app.wait_rows(20)
    finally:
        await app.aclose()
    assert app.errors == []
    blue_rows = await rows_on(bg, bg.blue.writer)
    assert app.acknowledged <= blue_rows
    assert {c.row for c in app.calls if c.start > report.completed_at and c.end} & blue_rows
    assert not bg.switched


async def test_postgres_rollback_keeps_app_on_blue(pg_bluegreen: BlueGreenDeployment) -> None:
    await _rollback_keeps_app_on_blue(pg_bluegreen)


async def test_mariadb_rollback_keeps_app_on_blue(mariadb_bluegreen: BlueGreenDeployment) -> None:
    await _rollback_keeps_app_on_blue(mariadb_bluegreen)


async def _connects_during_switchover(bg: BlueGreenDeployment) -> None:
    first = await _connect(bg, monitor_disposal_time_ms=100, bg_interval_increased_ms=200)
    await wait_phase(Phase.CREATED)
    chains = AsyncAwsConnection.of(first).plugin_service.manager
    assert chains.chain("Cursor.execute") is None  # outside a switchover bg is in no call chain
    async with anyio.create_task_group() as tg:
        tg.start_soon(bg.switchover, PhaseSeconds(preparation=0.3, notice=1.5, post=2.0))
        await wait_phase(Phase.IN_PROGRESS)
        assert chains.chain("Cursor.execute") is not None  # now it holds this connection's calls
        with anyio.move_on_after(0.2) as scope:  # a held call can be cancelled; nothing breaks
            await _instance_id(bg, first)
        assert scope.cancelled_caught
        t0 = time.monotonic()
        with pytest.raises(BlueGreenConnectTimeoutError, match="bg_connect_timeout_ms=300"):
            await _connect(bg, bg_connect_timeout_ms=300)
        assert 0.25 < time.monotonic() - t0 < 1.5
        held = await _connect(bg)  # waits for the switch, then goes to green
        assert status_services()[0].state.phase >= Phase.POST
        assert await _instance_id(bg, held) == bg.green.writer.id
        with pytest.raises(BlueGreenRejectedError, match="green host name"):
            await _connect(bg, side="green")
        await held.close()
    await wait_phase(Phase.COMPLETED, with_ips=True)
    assert bg.green_dns_removed
    # the connection opened on blue moves to green on its next call: the documented retry, then green
    with pytest.raises(FailoverSuccessError, match="moved this connection to the green cluster"):
        await _instance_id(bg, first)
    assert await _instance_id(bg, first) == bg.green.writer.id
    await first.close()


async def test_postgres_connects_held_then_routed_to_green(pg_bluegreen: BlueGreenDeployment) -> None:
    await _connects_during_switchover(pg_bluegreen)


async def test_mariadb_connects_held_then_routed_to_green(mariadb_bluegreen: BlueGreenDeployment) -> None:
    await _connects_during_switchover(mariadb_bluegreen)


async def test_two_monitor_tasks_however_many_connections(pg_bluegreen: BlueGreenDeployment) -> None:
    bg = pg_bluegreen
    conns = [await _connect(bg, monitor_disposal_time_ms=200) for _ in range(20)]
    await wait_phase(Phase.CREATED)
    services = status_services()
    assert len(services) == 1 and services[0].task_count == 2
    tasks = [t.get_name() for t in asyncio.all_tasks() if t.get_name().startswith("awsasyncwrap:bg_status:")]
    assert sorted(tasks) == ["awsasyncwrap:bg_status:1:blue", "awsasyncwrap:bg_status:1:green"]
    for conn in conns:
        await conn.close()
    await until(lambda: not status_services(), timeout=5.0)  # stopped once idle for monitor_disposal_time_ms
    conn = await _connect(bg)
    assert status_services()[0].task_count == 2
    await release_resources()
    assert status_services() == []
    assert not [t for t in asyncio.all_tasks() if t.get_name().startswith("awsasyncwrap:bg_status:")]
    await conn.close()


async def test_blue_green_monitoring_props_reach_only_the_monitors(pg_bluegreen: BlueGreenDeployment) -> None:
    bg = pg_bluegreen
    conn = await _connect(bg, **{"blue-green-monitoring-application_name": "bg-monitor"})
    await wait_phase(Phase.CREATED)
    import psycopg

    async with await psycopg.AsyncConnection.connect(bg.blue.dsn(bg.blue.writer, direct=True)) as raw:
        cur = await raw.execute(
            "SELECT application_name FROM pg_stat_activity WHERE application_name = 'bg-monitor'"
        )
        assert await cur.fetchall()
    cur = conn.cursor()
    await cur.execute("SELECT current_setting('application_name')")
    assert (await cur.fetchone())[0] != "bg-monitor"
    await conn.close()


async def _stale_dns(bg: BlueGreenDeployment) -> None:
    first = await _connect(bg, bg_interval_increased_ms=200)
    await wait_phase(Phase.CREATED)
    await bg.switchover(PhaseSeconds(preparation=0.5, notice=0.1, post=0.2), dns_lag=10.0)
    blue_ip = bg.blue.cluster_endpoint[0]
    infos = await asyncio.get_running_loop().getaddrinfo(bg.host(), None, type=socket.SOCK_STREAM)
    assert infos[0][4][0] == blue_ip  # the name still answers old blue (cached DNS)
    plain = await _connect(bg, plugins="")
    assert await _instance_id(bg, plain) == bg.blue.writer.id  # without the plugin: the old blue
    await plain.close()
    routed = await _connect(bg)
    assert await _instance_id(bg, routed) == bg.green.writer.id  # with it: green, by the recorded IP
    await routed.close()
    await first.close()


async def test_postgres_stale_dns_after_the_switch(pg_bluegreen: BlueGreenDeployment) -> None:
    await _stale_dns(pg_bluegreen)


async def test_mariadb_stale_dns_after_the_switch(mariadb_bluegreen: BlueGreenDeployment) -> None:
    await _stale_dns(mariadb_bluegreen)


async def _idle_commit_moves_quietly(bg: BlueGreenDeployment) -> None:
    """A commit with nothing to commit (autocommit: a pool's or an ``async with`` block's end-of-use call)
    on a blue connection after the switch moves it to green without asking to run anything again."""
    conn = await _connect(bg, monitor_disposal_time_ms=100, bg_interval_increased_ms=200)
    try:
        await wait_phase(Phase.CREATED)
        await bg.switchover(PhaseSeconds(preparation=0.3, notice=0.3, post=0.5))
        await wait_phase(Phase.COMPLETED, with_ips=True)
        await conn.commit()  # raised FailoverSuccessError ("run it again") before
        assert await _instance_id(bg, conn) == bg.green.writer.id
    finally:
        await conn.close()


async def test_postgres_idle_commit_after_the_switch_moves_quietly(pg_bluegreen: BlueGreenDeployment) -> None:
    await _idle_commit_moves_quietly(pg_bluegreen)


async def test_mariadb_idle_commit_after_the_switch_moves_quietly(
    mariadb_bluegreen: BlueGreenDeployment,
) -> None:
    await _idle_commit_moves_quietly(mariadb_bluegreen)
