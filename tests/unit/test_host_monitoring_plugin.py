"""The host_monitoring plugin with a fake driver: subscriptions, sharing, release, cancellation, errors."""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import pytest

import awsasyncwrap
import polling
from awsasyncwrap import (
    AsyncAwsConnection,
    HostAvailability,
    Plugin,
    PluginFactory,
    PluginManager,
    Properties,
)
from awsasyncwrap.plugins.host_monitoring import (
    TASK_PREFIX,
    HostMonitor,
    HostMonitoringPlugin,
    host_monitors,
)

from .fakedriver import FakeConnection, FakeOperationalError, fake_connect

pytestmark = pytest.mark.timeout(20)

FAST: dict[str, Any] = {
    "failure_detection_time_ms": 50,
    "failure_detection_interval_ms": 30,
    "failure_detection_count": 2,
}


async def connect(host: str = "db1.example", **props: Any) -> AsyncAwsConnection:
    props.setdefault("plugins", "host_monitoring")
    return AsyncAwsConnection.of(
        await AsyncAwsConnection.connect(fake_connect, host=host, wrapper_dialect="pg", **props)
    )


def plugin_of(conn: AsyncAwsConnection) -> HostMonitoringPlugin:
    (plugin,) = conn.plugin_service.plugins
    assert isinstance(plugin, HostMonitoringPlugin)
    return plugin


def monitor_tasks() -> list[asyncio.Task[Any]]:
    return [t for t in asyncio.all_tasks() if t.get_name().startswith(TASK_PREFIX)]


until = functools.partial(polling.until, timeout=5.0, every=0.005)


@pytest.fixture(autouse=True)
async def _no_leftovers() -> Any:
    yield
    await awsasyncwrap.release_resources()
    assert monitor_tasks() == []


async def test_subscribes_to_network_bound_methods_except_close() -> None:
    conn = await connect()
    try:
        subs = plugin_of(conn).subscribed_methods
        assert "Cursor.execute" in subs and "Connection.commit" in subs
        assert "Connection.close" not in subs and "*" not in subs and "connect" not in subs
        assert conn.plugin_service.manager.chain("Cursor.fetchone") is None
    finally:
        await conn.close()


async def test_disabled_means_no_pipeline_at_all() -> None:
    conn = await connect(failure_detection_enabled=False)
    try:
        assert plugin_of(conn).subscribed_methods == set()
        assert conn.plugin_service.manager.chain("Cursor.execute") is None
        cur = conn.cursor()
        await cur.execute("SELECT 1")
        assert host_monitors() == []
    finally:
        await conn.close()


async def test_one_monitor_per_host_shared_by_connections() -> None:
    conns = [await connect("db1.example") for _ in range(5)] + [
        await connect("db2.example") for _ in range(3)
    ]
    try:
        for conn in conns:
            await conn.cursor().execute("SELECT 1")
        assert len(host_monitors()) == 2
        assert len({id(plugin_of(c).monitor) for c in conns[:5]}) == 1
        assert len(monitor_tasks()) == 2
        assert sorted(m.host.url for m in host_monitors()) == ["db1.example:5432", "db2.example:5432"]
        assert all(len(m.calls) == 0 for m in host_monitors())
    finally:
        for conn in conns:
            await conn.close()


async def test_monitor_stops_after_the_disposal_time_once_every_connection_closed() -> None:
    a = await connect(monitor_disposal_time_ms=50)
    b = await connect(monitor_disposal_time_ms=50)
    await a.cursor().execute("SELECT 1")
    await b.cursor().execute("SELECT 1")
    (monitor,) = host_monitors()
    await a.close()
    await asyncio.sleep(0.15)
    assert not monitor.closed  # b still holds it
    await b.close()
    await until(lambda: monitor.closed and monitor.task.done())
    assert monitor_tasks() == []


async def test_release_resources_stops_monitors_and_connections_reacquire() -> None:
    conn = await connect()
    try:
        await conn.cursor().execute("SELECT 1")
        (first,) = host_monitors()
        await awsasyncwrap.release_resources()
        assert first.closed and monitor_tasks() == []
        await conn.cursor().execute("SELECT 1")
        (second,) = host_monitors()
        assert second is not first and not second.closed
    finally:
        await conn.close()


async def test_cancelled_call_unregisters_and_never_marks_the_host(monkeypatch: pytest.MonkeyPatch) -> None:
    conn = await connect(**FAST)
    try:
        plugin = plugin_of(conn)
        await conn.cursor().execute("SELECT 1")
        monitor = plugin.monitor
        assert monitor is not None
        started = asyncio.Event()

        async def forever() -> None:
            started.set()
            await asyncio.Event().wait()

        task = asyncio.create_task(plugin.execute(conn, "Cursor.execute", forever))
        await started.wait()
        assert len(monitor.calls) == 1
        await until(lambda: monitor.probes >= 1)  # overdue: probed (the fake host answers)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert len(monitor.calls) == 0
        assert monitor.declared_dead == 0
        assert all(h.availability is HostAvailability.AVAILABLE for h in conn.plugin_service.hosts)
    finally:
        await conn.close()


def _script_dead_host(conn: AsyncAwsConnection, error: Callable[[], BaseException]) -> asyncio.Future[None]:
    """Make probes fail, and make aborting ``conn`` end the returned future with ``error()``."""
    driver = conn.plugin_service.driver_dialect
    hung: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    async def failing_query(
        conn: Any, sql: str, params: Sequence[Any] | None = None
    ) -> list[tuple[Any, ...]]:
        raise FakeOperationalError("connection refused")

    proxy = conn

    def abort(conn: Any) -> None:  # named as DriverDialect.abort's parameter, which it replaces
        if conn is proxy.target_connection and not hung.done():
            hung.set_exception(error())

    driver.query = failing_query  # type: ignore[method-assign]
    driver.abort = abort  # type: ignore[method-assign]
    return hung


@pytest.mark.parametrize(
    "error",
    [lambda: FakeOperationalError("lost connection"), lambda: RuntimeError("some other failure")],
    ids=["driver-error", "other-error"],
)
async def test_aborted_call_raises_the_drivers_operational_error(error: Callable[[], BaseException]) -> None:
    conn = await connect(**FAST)
    try:
        plugin = plugin_of(conn)
        await conn.cursor().execute("SELECT 1")
        hung = _script_dead_host(conn, error)

        async def stuck() -> None:
            await hung

        start = time.monotonic()
        with pytest.raises(FakeOperationalError) as info:
            await plugin.execute(conn, "Cursor.execute", stuck)
        assert time.monotonic() - start < 0.05 + 0.03 * 2 + 0.3
        if isinstance(info.value.__cause__, RuntimeError):
            assert "aborted" in str(info.value)
        assert conn.plugin_service.is_network_error(info.value)
        host = conn.plugin_service.current_host_info
        assert host is not None
        assert host.url in awsasyncwrap.plugin_service._availability
        assert awsasyncwrap.plugin_service._availability[host.url][0] is HostAvailability.UNAVAILABLE
    finally:
        awsasyncwrap.plugin_service._availability.clear()
        await conn.close()


class _AuthPlugin(Plugin):
    """Stands for an auth plugin (iam, aws_secrets_manager): supplies the password when connecting."""

    subscribed_methods = {"connect", "force_connect"}
    refuse = False
    seen: ClassVar[list[str]] = []

    async def connect(
        self,
        target_driver_func: Any,
        driver_dialect: Any,
        host_info: Any,
        props: Properties,
        is_initial_connection: bool,
        connect_func: Any,
    ) -> Any:
        _AuthPlugin.seen.append("connect")
        props["password"] = "token-from-plugin"
        return await connect_func()

    async def force_connect(
        self,
        target_driver_func: Any,
        driver_dialect: Any,
        host_info: Any,
        props: Properties,
        is_initial_connection: bool,
        connect_func: Any,
    ) -> Any:
        _AuthPlugin.seen.append("force_connect")
        if _AuthPlugin.refuse:
            raise FakeOperationalError("password authentication failed", code="28P01")
        props["password"] = "token-from-plugin"
        return await connect_func()


class _AuthPluginFactory(PluginFactory):
    def get_instance(self, plugin_service: Any, props: Properties) -> Plugin:
        return _AuthPlugin()


PluginManager.register_plugin("efm_test_auth", _AuthPluginFactory, 800)

#: Probes at once, with room for a loaded machine: never declared dead, a probe times out after 200 ms.
PROBING: dict[str, Any] = {
    "failure_detection_time_ms": 20,
    "failure_detection_interval_ms": 200,
    "failure_detection_count": 1000,
}


async def _overdue_call(
    conn: AsyncAwsConnection, condition: Callable[[HostMonitor], bool]
) -> HostMonitoringPlugin:
    """Run a call until ``condition(monitor)`` holds (the monitor probes meanwhile); it then ends normally."""
    plugin = next(p for p in conn.plugin_service.plugins if isinstance(p, HostMonitoringPlugin))
    await conn.cursor().execute("SELECT 1")
    monitor = plugin.monitor
    assert monitor is not None
    done = asyncio.Event()

    async def long_call() -> None:
        await done.wait()

    task = asyncio.create_task(plugin.execute(conn, "Cursor.execute", long_call))
    await until(lambda: condition(monitor))
    done.set()
    await task
    return plugin


async def test_monitor_connects_through_the_force_connect_pipeline() -> None:
    _AuthPlugin.seen.clear()
    _AuthPlugin.refuse = False
    conn = await connect(plugins="efm_test_auth,host_monitoring", **PROBING)
    try:
        plugin = await _overdue_call(conn, lambda m: m.probes - m.failed_probes >= 2)
        monitor = plugin.monitor
        assert monitor is not None and monitor.failed_probes == 0
        assert "force_connect" in _AuthPlugin.seen  # the auth plugin ran for the monitor's connection
        probe_conns = [c for c in FakeConnection.instances if c.kwargs.get("connect_timeout") is not None]
        assert probe_conns and probe_conns[-1].kwargs["password"] == "token-from-plugin"
    finally:
        await conn.close()


async def test_refused_monitoring_login_means_the_host_is_up() -> None:
    _AuthPlugin.refuse = True
    conn = await connect(plugins="efm_test_auth,host_monitoring", **PROBING)
    try:
        plugin = await _overdue_call(conn, lambda m: m.login_errors >= 3)
        monitor = plugin.monitor
        assert monitor is not None
        # the server answered every probe (with a refusal): nothing failed, nothing was aborted
        assert monitor.login_errors >= 3 and monitor.failed_probes == 0 and monitor.declared_dead == 0
        assert all(h.availability is HostAvailability.AVAILABLE for h in conn.plugin_service.hosts)
    finally:
        _AuthPlugin.refuse = False
        await conn.close()
