"""Session state: pristine values, transfer on a switch, reset before a pool gets a connection back,
rollback of the old connection of a switch, and the application's ``on_new_connection`` hook."""

from __future__ import annotations

import time
from typing import Any

import aiomysql
import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool

from awsasyncwrap import (
    AsyncAwsConnection,
    AwsWrapperError,
    ConfigurationError,
    FailoverFailedError,
    FailoverSuccessError,
    OldConnectionSuggestedAction,
    Plugin,
    PluginFactory,
    PluginManager,
    PluginService,
    Properties,
)
from awsasyncwrap._background import registry
from awsasyncwrap.plugins.read_write_splitting import HostPool
from awsasyncwrap.pool import AsyncAwsConnectionPool, AwsPsycopgConnection

from ._helpers import Cluster

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(90)]


def _serializable(c: Cluster) -> Any:
    return psycopg.IsolationLevel.SERIALIZABLE if c.pg else "SERIALIZABLE"


async def _settings(c: Cluster, conn: Any) -> tuple[Any, ...]:
    """(autocommit, read-only, isolation level[, database]) as the server / psycopg will apply them."""
    raw = conn.target_connection if isinstance(conn, AsyncAwsConnection) else conn
    if c.pg:  # psycopg keeps them on the client and sends them with each BEGIN
        return (raw.autocommit, raw.read_only, raw.isolation_level)
    async with raw.cursor() as cur:
        await cur.execute("SELECT @@autocommit, @@session.tx_read_only, @@session.tx_isolation, DATABASE()")
        row = await cur.fetchone()
    return (bool(row[0]), bool(row[1]), str(row[2]), row[3])


async def _change_everything(c: Cluster, conn: AsyncAwsConnection) -> None:
    await conn.set_isolation_level(_serializable(c))
    await conn.set_read_only(True)
    await conn.set_autocommit(False)
    if not c.pg:
        await conn.select_db("aurora_emul")


async def test_pristine_values_are_the_first_ones(cluster: Cluster) -> None:
    c = cluster
    conn = await c.connect()
    try:
        before = conn.read_only
        await conn.set_read_only(True)
        await conn.set_read_only(False)
        await conn.set_autocommit(False)
        state = conn.plugin_service.session_state
        assert state.pristine == {"read_only": before, "autocommit": True}
        assert (state.read_only, state.autocommit) == (False, False)
        await conn.reset_session_state()
        assert conn.get_autocommit() is True and not state.pristine and state.autocommit is None
    finally:
        await conn.close()


async def test_no_transfer_when_turned_off(cluster: Cluster) -> None:
    c = cluster
    conn = await c.connect(transfer_session_state_on_switch=False)
    try:
        pristine = await _settings(c, conn)
        await conn.set_isolation_level(_serializable(c))
        await c.tb.failover()
        with pytest.raises(FailoverSuccessError):
            await c.run(conn, "SELECT 1")
        assert await _settings(c, conn) == pristine  # a fresh connection's settings
    finally:
        await conn.close()


async def test_our_pool_gets_connections_back_pristine(cluster: Cluster) -> None:
    c = cluster
    props: dict[str, Any] = {**c.tb.wrapper_props(), "plugins": "failover", "autocommit": True}
    if c.pg:
        pool = AsyncAwsConnectionPool(psycopg.AsyncConnection.connect, c.tb.dsn(), max_size=1, **props)
    else:
        pool = AsyncAwsConnectionPool(aiomysql.connect, **c.tb.connect_kwargs(), max_size=1, **props)
    async with pool:
        async with pool.connection() as conn:
            pristine = await _settings(c, conn)
            await _change_everything(c, conn)
            assert await _settings(c, conn) != pristine
        async with pool.connection() as again:
            assert again is conn
            assert await _settings(c, again) == pristine
            assert not again.plugin_service.session_state.pristine


async def test_psycopg_pool_gets_connections_back_pristine(pg_only: Cluster) -> None:
    c = pg_only
    kwargs = {**c.tb.wrapper_props(), "plugins": "failover", "autocommit": True}
    pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
        c.tb.dsn(), connection_class=AwsPsycopgConnection, kwargs=kwargs, min_size=1, max_size=1, open=False
    )
    async with pool:
        async with pool.connection() as conn:
            pristine = await _settings(c, conn)
            await _change_everything(c, conn)
            await conn.rollback()
        async with pool.connection() as again:
            assert again is conn
            assert await _settings(c, again) == pristine


async def test_read_write_splitting_pools_get_connections_back_pristine(cluster: Cluster) -> None:
    c = cluster
    conn = await c.connect(plugins="read_write_splitting,failover", rw_internal_pools=True)
    try:
        pristine = await _settings(c, conn)  # the writer's, before the application changed anything
        await conn.set_read_only(True)
        reader = conn.target_connection
        await conn.set_isolation_level(_serializable(c))
        if not c.pg:
            await conn.select_db("aurora_emul")
        assert await _settings(c, reader) != pristine
        await conn.set_read_only(False)  # the reader goes back to its pool
        assert await c.run(conn, "SELECT 1") == [(1,)]
        pooled = [s for s in registry().services() if isinstance(s, HostPool) and s.idle_count]
        assert len(pooled) == 1
        reset = await _settings(c, reader)
        # read-only excepted: the switch sets it on every connection it takes from the pool
        assert reset[:1] + reset[2:] == pristine[:1] + pristine[2:]
        # and the writer got the settings the application made
        writer_settings = await _settings(c, conn)
        assert writer_settings[2] == (_serializable(c) if c.pg else "SERIALIZABLE")
    finally:
        await conn.close()


class _KeepOld(Plugin):
    """Keeps the replaced connection (as read/write splitting does with its cached ones)."""

    subscribed_methods = frozenset({"notify_connection_changed"})

    async def notify_connection_changed(self, changes: Any) -> OldConnectionSuggestedAction:
        return OldConnectionSuggestedAction.PRESERVE


class _KeepOldFactory(PluginFactory):
    def get_instance(self, plugin_service: PluginService, props: Properties) -> Plugin:
        return _KeepOld()


PluginManager.register_plugin("test_keep_old", _KeepOldFactory)


@pytest.mark.parametrize("rollback", [True, False])
async def test_rollback_on_switch(cluster: Cluster, rollback: bool) -> None:
    c = cluster
    conn = await c.connect(plugins="test_keep_old", autocommit=False, rollback_on_switch=rollback)
    service = conn.plugin_service
    old = conn.target_connection
    host = service.current_host_info
    assert host is not None
    new = await service.connect(host)
    try:
        await c.insert(conn, 1)
        assert conn.get_transaction_status()
        current = service.current_host_info
        assert current is not None
        await service.set_current_connection(new, current)
        assert conn.target_connection is new
        assert service.driver_dialect.is_in_transaction(old) is not rollback
        await service.driver_dialect.close(old)  # kept by the plugin: ours to close
    finally:
        await conn.close()
    assert await c.ids() == set()


async def test_on_new_connection_runs_on_every_driver_connection(cluster: Cluster) -> None:
    c = cluster
    calls: list[Any] = []
    marker = "SET application_name = 'marked'" if c.pg else "SET @marker = 'marked'"
    check = "SHOW application_name" if c.pg else "SELECT @marker"

    async def mark(raw: Any) -> None:
        calls.append(raw)
        if c.pg:
            await raw.execute(marker)
        else:
            async with raw.cursor() as cur:
                await cur.execute(marker)

    # non-autocommit: what the hook leaves open is committed for it
    conn = await c.connect(plugins="read_write_splitting,failover", autocommit=False)
    try:
        await conn.on_new_connection(mark)
        assert calls == [conn.target_connection]
        assert await c.run(conn, check) == [("marked",)]
        await conn.rollback()
        await conn.set_read_only(True)  # a reader connection: marked once
        assert await c.run(conn, check) == [("marked",)]
        await conn.rollback()
        await conn.set_read_only(False)
        await conn.set_read_only(True)
        await conn.set_read_only(False)
        assert len(calls) == 2
        await c.tb.failover()
        with pytest.raises(FailoverSuccessError):
            await c.run(conn, check)
        assert len(calls) == 3 and calls[-1] is conn.target_connection
        assert await c.run(conn, check) == [("marked",)]
        await conn.rollback()
    finally:
        await conn.close()


async def test_on_new_connection_property(cluster: Cluster) -> None:
    c = cluster
    seen: list[Any] = []
    conn = await c.connect(on_new_connection=seen.append)  # sync is fine too
    try:
        assert seen == [conn.target_connection]
    finally:
        await conn.close()
    with pytest.raises(ConfigurationError, match="on_new_connection"):
        await c.connect(on_new_connection="SET search_path TO app")


async def test_a_failing_callback_ends_failover_at_once(cluster: Cluster) -> None:
    c = cluster
    conn = await c.connect(failover_timeout_sec=60)
    state = {"fail": False}

    def hook(raw: Any) -> None:
        if state["fail"]:
            raise LookupError("no such role")

    try:
        await conn.on_new_connection(hook)
        state["fail"] = True
        await c.tb.failover()
        started = time.monotonic()
        with pytest.raises(FailoverFailedError, match="hook failed: LookupError: no such role"):
            await c.run(conn, "SELECT 1")
        assert time.monotonic() - started < 10  # not after failover_timeout_sec
    finally:
        await conn.close()
    with pytest.raises(AwsWrapperError, match="on_new_connection callback") as info:
        await c.connect(on_new_connection=hook)
    assert isinstance(info.value.__cause__, LookupError)
