"""The telemetry plugin against real servers, recorded by OpenTelemetry's in-memory exporters."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import aiomysql
import psycopg
import pytest
from opentelemetry.trace import SpanKind, StatusCode

from awsasyncwrap import AsyncAwsConnection, HostInfo, PluginManager
from awsasyncwrap.errors import FailoverFailedError, FailoverSuccessError
from awsasyncwrap.plugin import Plugin, PluginFactory
from awsasyncwrap.plugins.dev import DeveloperPlugin

from .conftest import Otel

pytestmark = pytest.mark.timeout(60)


async def pg_connect(dsn: str, otel: Otel, plugins: str = "telemetry", **props: Any) -> AsyncAwsConnection:
    # the suite's single server also answers Aurora's topology queries: keep it a plain server here
    return AsyncAwsConnection.of(
        await AsyncAwsConnection.connect(
            psycopg.AsyncConnection.connect, dsn, plugins=plugins, wrapper_dialect="pg", **otel.props(**props)
        )
    )


def flavoured(cls: type[Exception], message: str) -> Exception:
    flavour: type[Exception] = type(cls.__name__, (cls, psycopg.OperationalError), {})
    return flavour(message)


async def test_connect_and_refresh_spans_no_execute_spans_by_default(pg_dsn: str, otel: Otel) -> None:
    conn = await pg_connect(pg_dsn, otel)
    try:
        cur = await conn.execute("SELECT 1")
        assert await cur.fetchone() == (1,)
        await conn.plugin_service.force_refresh_host_list()
    finally:
        await conn.close()
    (connect,) = otel.finished("awsasyncwrap.connect")
    assert connect.attributes is not None
    assert connect.attributes["db.system.name"] == "postgresql"
    assert connect.attributes["server.address"] == "127.0.0.1"
    assert connect.attributes["awsasyncwrap.connect.initial"] is True
    refreshes = otel.finished("awsasyncwrap.topology.refresh")
    assert [r.attributes["awsasyncwrap.topology.forced"] for r in refreshes if r.attributes] == [False, True]
    assert not [s for s in otel.finished() if s.kind is SpanKind.CLIENT]  # statements are not ours to trace
    assert not otel.points("db.client.operation.duration")
    (point,) = otel.points("awsasyncwrap.connect.duration")
    assert point.count == 1 and point.attributes["awsasyncwrap.connect.outcome"] == "success"


async def test_execute_spans_and_operation_duration(pg_dsn: str, otel: Otel) -> None:
    conn = await pg_connect(pg_dsn, otel, telemetry_execute_spans=True, telemetry_execute_metrics=True)
    tracer = otel.tracer_provider.get_tracer("test")
    try:
        with tracer.start_as_current_span("request") as parent:
            cur = await conn.execute("SELECT %s::int", (1,))
            await cur.fetchone()
            with pytest.raises(psycopg.errors.UndefinedTable):
                await conn.execute("INSERT INTO no_such_table VALUES (1)")
            await conn.rollback()
    finally:
        await conn.close()
    select, insert = (s for s in otel.finished() if s.kind is SpanKind.CLIENT)
    assert select.name == "SELECT postgres"
    assert select.parent is not None and select.parent.span_id == parent.get_span_context().span_id
    attrs = dict(select.attributes or {})
    port = int(pg_dsn.split("port=")[1].split()[0])
    assert attrs == {
        "db.system.name": "postgresql",
        "db.namespace": "postgres",
        "db.operation.name": "SELECT",
        "server.address": "127.0.0.1",
        "server.port": port,
    }
    assert "db.query.text" not in attrs
    assert insert.name == "INSERT postgres"
    assert insert.status.status_code is StatusCode.ERROR
    assert (insert.attributes or {})["error.type"] == "42P01"
    points = otel.points("db.client.operation.duration")
    assert sorted(p.attributes["db.operation.name"] for p in points) == ["INSERT", "SELECT"]
    assert all(p.sum > 0 for p in points)


async def test_mysql_execute_spans(mysql_kwargs: dict[str, Any], otel: Otel) -> None:
    conn = await AsyncAwsConnection.connect(
        aiomysql.connect,
        plugins="telemetry",
        wrapper_dialect="mariadb",
        **mysql_kwargs,
        **otel.props(telemetry_execute_spans=True),
    )
    try:
        cur = await conn.cursor()
        await cur.execute("select 1")
    finally:
        await conn.close()
    (span,) = (s for s in otel.finished() if s.kind is SpanKind.CLIENT)
    assert span.name == "SELECT test"
    assert (span.attributes or {})["db.system.name"] == "mariadb"


async def test_failover_outcomes_are_recorded(pg_dsn: str, otel: Otel) -> None:
    conn = await pg_connect(pg_dsn, otel, plugins="telemetry,dev")
    try:
        dev = DeveloperPlugin.of(conn)
        dev.simulator.raise_on_next_call(flavoured(FailoverSuccessError, "moved"), "Cursor.execute")
        with pytest.raises(FailoverSuccessError):
            await conn.execute("SELECT 1")
        dev.simulator.raise_on_next_call(flavoured(FailoverFailedError, "gave up"), "Cursor.execute")
        with pytest.raises(FailoverFailedError):
            await conn.execute("SELECT 1")
    finally:
        await conn.close()
    success, failed = otel.finished("awsasyncwrap.failover")
    assert (success.attributes or {})["awsasyncwrap.failover.outcome"] == "success"
    assert (success.attributes or {})["awsasyncwrap.method"] == "Cursor.execute"
    assert success.status.status_code is StatusCode.UNSET
    assert [e.name for e in success.events] == ["exception"]
    assert (failed.attributes or {})["awsasyncwrap.failover.outcome"] == "failed"
    assert failed.status.status_code is StatusCode.ERROR
    counts = {
        p.attributes["awsasyncwrap.failover.outcome"]: p.value
        for p in otel.points("awsasyncwrap.failover.count")
    }
    assert counts == {"success": 1, "failed": 1}
    assert len(otel.points("awsasyncwrap.failover.duration")) == 2


class _SwitchOnReadOnly(Plugin):
    """Test plugin: set_read_only(True) moves the connection to a fresh driver connection."""

    subscribed_methods = {"Connection.set_read_only"}

    def __init__(self, service: Any) -> None:
        self._service = service

    async def execute(
        self, target: object, method_name: str, execute_func: Any, *args: Any, **kwargs: Any
    ) -> Any:
        service = self._service
        host: HostInfo = service.current_host_info
        new = await service.connect(host)
        await service.set_current_connection(new, host)
        return await execute_func()


class _SwitchFactory(PluginFactory):
    def get_instance(self, plugin_service: Any, props: Any) -> Plugin:
        return _SwitchOnReadOnly(plugin_service)


async def test_connection_switch_span_and_counter(pg_dsn: str, otel: Otel) -> None:
    PluginManager.register_plugin("test_switcher", _SwitchFactory, 300)
    conn = await pg_connect(pg_dsn, otel, plugins="telemetry,test_switcher")
    try:
        before = conn.target_connection
        await conn.set_read_only(True)
        assert conn.target_connection is not before
    finally:
        await conn.close()
    (switch,) = otel.finished("awsasyncwrap.connection.switch")
    assert (switch.attributes or {})["awsasyncwrap.method"] == "Connection.set_read_only"
    assert (switch.attributes or {})["awsasyncwrap.switch.to_role"] == "writer"
    (count,) = otel.points("awsasyncwrap.connection.switch.count")
    assert count.value == 1
    connects = otel.finished("awsasyncwrap.connect")
    assert [(s.attributes or {})["awsasyncwrap.connect.initial"] for s in connects] == [True, False]


def test_plugin_module_imports_and_costs_nothing_without_opentelemetry(pg_dsn: str) -> None:
    script = f"""
import asyncio, sys
sys.modules["opentelemetry"] = None  # make every opentelemetry import fail
import psycopg
import awsasyncwrap.plugins.telemetry as telemetry
from awsasyncwrap.plugins import _otel
from awsasyncwrap import AsyncAwsConnection
assert not _otel.available()

async def main():
    conn = await AsyncAwsConnection.connect(psycopg.AsyncConnection.connect, {pg_dsn!r},
        plugins="telemetry", wrapper_dialect="pg", telemetry_execute_spans=True)
    (plugin,) = conn.plugin_service.plugins
    assert plugin.subscribed_methods == set(), plugin.subscribed_methods
    assert conn.plugin_service.manager.chain("Cursor.execute") is None  # no pipeline step at all
    cur = await conn.execute("SELECT 1")
    assert await cur.fetchone() == (1,)
    await conn.close()
    print("ok")

asyncio.run(main())
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
    assert "needs opentelemetry-api" in result.stderr
