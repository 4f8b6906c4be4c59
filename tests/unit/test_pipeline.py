"""Chain building, ordering by weight and subscription matching (pure logic, fake driver)."""

from __future__ import annotations

import asyncio
import inspect
import sys
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from awsasyncwrap import (
    AsyncAwsConnection,
    ConfigurationError,
    ConnectionEvent,
    HostInfo,
    HostRole,
    OldConnectionSuggestedAction,
    Plugin,
    PluginFactory,
    PluginManager,
)
from awsasyncwrap.plugin import ConnectFunc, ExecuteFunc

from .fakedriver import FakeConnection, fake_connect

pytestmark = pytest.mark.timeout(10)

CALLS: list[tuple[str, str]] = []


class RecordingPlugin(Plugin):
    name = "base"

    def __init__(self, subscribed: set[str]) -> None:
        self._subscribed = subscribed

    @property
    def subscribed_methods(self) -> set[str]:
        return self._subscribed

    async def execute(
        self, target: object, method_name: str, execute_func: ExecuteFunc[Any], *args: Any, **kwargs: Any
    ) -> Any:
        CALLS.append((self.name, method_name))
        return await execute_func()

    async def connect(
        self,
        target_driver_func: Callable[..., Awaitable[Any]],
        driver_dialect: Any,
        host_info: Any,
        props: Any,
        is_initial_connection: bool,
        connect_func: ConnectFunc,
    ) -> Any:
        CALLS.append((self.name, "connect"))
        return await connect_func()

    async def notify_connection_changed(self, changes: set[ConnectionEvent]) -> OldConnectionSuggestedAction:
        CALLS.append((self.name, "notify_connection_changed"))
        return OldConnectionSuggestedAction.NO_OPINION


def make_factory(name: str, subscribed: set[str]) -> type[PluginFactory]:
    class Named(RecordingPlugin):
        pass

    Named.name = name

    class Factory(PluginFactory):
        def get_instance(self, plugin_service: Any, props: Any) -> Plugin:
            return Named(subscribed)

    return Factory


@pytest.fixture(autouse=True)
def _registry() -> Any:
    saved = dict(PluginManager._factories)
    CALLS.clear()
    PluginManager.register_plugin("all", make_factory("all", {"*"}), 100)
    PluginManager.register_plugin("exec_only", make_factory("exec_only", {"Cursor.execute"}), 200)
    PluginManager.register_plugin("fetch", make_factory("fetch", {"Cursor.fetchone"}), 300)
    PluginManager.register_plugin("rel", make_factory("rel", {"*"}))
    yield
    PluginManager._factories = saved


async def connect(plugins: str, **props: Any) -> AsyncAwsConnection:
    return AsyncAwsConnection.of(
        await AsyncAwsConnection.connect(
            fake_connect, host="db.example", plugins=plugins, wrapper_dialect="pg", **props
        )
    )


async def test_no_plugins_means_no_chain_and_direct_calls() -> None:
    conn = await connect("")
    manager = conn.plugin_service.manager
    for name in ("Cursor.execute", "Connection.commit", "Cursor.fetchone", "connect"):
        assert manager.chain(name) is None
    cur = conn.cursor()
    assert await cur.execute("SELECT 1") is cur
    assert await cur.fetchone() == ("SELECT 1",)
    assert CALLS == []


async def test_subscriptions_select_the_plugins_of_each_method() -> None:
    conn = await connect("all,exec_only,fetch")
    CALLS.clear()
    cur = conn.cursor()
    await cur.execute("SELECT 1")
    await cur.fetchone()
    await conn.commit()
    assert CALLS == [
        ("all", "Cursor.execute"),
        ("exec_only", "Cursor.execute"),
        # fetchone reads a buffered result: only the plugin naming it explicitly runs, not "*"
        ("fetch", "Cursor.fetchone"),
        ("all", "Connection.commit"),
    ]


async def test_chain_is_built_once_and_reused() -> None:
    conn = await connect("all,exec_only")
    manager = conn.plugin_service.manager
    first = manager.chain("Cursor.execute")
    assert first is not None
    assert manager.chain("Cursor.execute") is first


async def test_a_plugin_that_changes_its_subscriptions_is_rechained_open_cursors_included() -> None:
    conn = await connect("all,exec_only")
    manager = conn.plugin_service.manager
    toggling = manager.plugins[1]
    cur = conn.cursor()
    await cur.execute("SELECT 1")
    assert ("exec_only", "Cursor.execute") in CALLS
    toggling._subscribed = {"Cursor.fetchone"}  # type: ignore[attr-defined]
    manager.resubscribe(toggling)
    CALLS.clear()
    await cur.execute("SELECT 2")  # the cursor opened before the change
    await cur.fetchone()
    await conn.commit()
    seen = [("all", "Cursor.execute"), ("exec_only", "Cursor.fetchone"), ("all", "Connection.commit")]
    assert seen == CALLS
    await conn.close()
    manager.resubscribe(toggling)  # after close: nothing is rebuilt, calls still raise the closed error
    with pytest.raises(Exception, match="closed"):
        await cur.execute("SELECT 3")


async def test_weights_order_the_chain_regardless_of_listing() -> None:
    conn = await connect("fetch,exec_only,all")
    assert [type(p).name for p in conn.plugin_service.plugins] == ["all", "exec_only", "fetch"]  # type: ignore[attr-defined]


async def test_listing_order_kept_when_auto_sort_is_off() -> None:
    conn = await connect("fetch,exec_only,all", auto_sort_wrapper_plugin_order=False)
    assert [type(p).name for p in conn.plugin_service.plugins] == ["fetch", "exec_only", "all"]  # type: ignore[attr-defined]


def test_relative_weight_follows_the_prior_plugin() -> None:
    from awsasyncwrap.properties import Properties

    # "rel" has no weight: it stays right after the plugin listed before it
    assert PluginManager.plugin_codes(Properties(plugins="exec_only,rel,all")) == ["all", "exec_only", "rel"]
    assert PluginManager.plugin_codes(Properties(plugins="rel,fetch")) == ["rel", "fetch"]


async def test_connect_pipeline_runs_outer_to_inner_and_notifies_initial_connection() -> None:
    await connect("exec_only,all")
    assert CALLS == [("all", "connect"), ("all", "notify_connection_changed")]


async def test_plugin_sees_call_arguments() -> None:
    seen: list[tuple[Any, ...]] = []

    class ArgsPlugin(Plugin):
        subscribed_methods = {"Cursor.execute"}

        async def execute(
            self, target: object, method_name: str, execute_func: ExecuteFunc[Any], *args: Any, **kwargs: Any
        ) -> Any:
            seen.append(args)
            return await execute_func()

    class ArgsFactory(PluginFactory):
        def get_instance(self, plugin_service: Any, props: Any) -> Plugin:
            return ArgsPlugin()

    PluginManager.register_plugin("args", ArgsFactory)
    conn = await connect("args")
    await conn.cursor().execute("SELECT %s", (5,))
    assert seen == [("SELECT %s", (5,))]


@pytest.mark.parametrize(
    ("code", "factory", "weight", "message"),
    [
        ("", PluginFactory, 1, "Bad plugin code ''"),
        ("has space", PluginFactory, 1, "Bad plugin code 'has space'"),
        ("ok", PluginFactory(), 1, "pass a PluginFactory subclass"),
        ("ok", int, 1, "pass a PluginFactory subclass"),
        ("ok", PluginFactory, -5, "Bad weight -5"),
    ],
)
def test_register_plugin_rejects_bad_arguments(code: str, factory: Any, weight: int, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        PluginManager.register_plugin(code, factory, weight)


async def test_unknown_plugin_code_names_it_and_lists_valid_codes() -> None:
    with pytest.raises(ConfigurationError) as info:
        await connect("exec_onyl")
    text = str(info.value)
    assert "'exec_onyl'" in text and "Did you mean 'exec_only'" in text and "execute_time" in text


async def test_unknown_plugin_code_fails_before_any_connection() -> None:
    before = len(FakeConnection.instances)
    with pytest.raises(ConfigurationError):
        await connect("nope")
    assert len(FakeConnection.instances) == before


async def test_duplicate_plugin_code_is_an_error() -> None:
    with pytest.raises(ConfigurationError, match="listed twice"):
        await connect("all,all")


async def test_simple_strategies_need_no_plugin_and_unknown_ones_fail_clearly() -> None:
    conn = await connect("")
    service = conn.plugin_service
    readers = [HostInfo(f"r{i}.example", 5432, HostRole.READER) for i in range(3)]
    writer = HostInfo("w.example", 5432, HostRole.WRITER)
    for strategy in ("random", "round_robin", "weighted_random", "highest_weight"):
        assert service.accepts_strategy(HostRole.READER, strategy)
        assert service.get_host_info_by_strategy(HostRole.READER, strategy, [writer, *readers]) in readers
    picked = {
        service.get_host_info_by_strategy(HostRole.READER, "round_robin", readers).host for _ in range(3)
    }
    assert picked == {h.host for h in readers}
    assert not service.accepts_strategy(HostRole.READER, "least_connections")  # needs the R/W plugin's counts
    with pytest.raises(ConfigurationError, match="'fastest'"):
        service.get_host_info_by_strategy(HostRole.READER, "fastest", readers)


class _FailsAfterConnecting(Plugin):
    subscribed_methods = {"connect"}

    def __init__(self, error: BaseException) -> None:
        self._error = error

    async def connect(
        self,
        target_driver_func: Callable[..., Awaitable[Any]],
        driver_dialect: Any,
        host_info: Any,
        props: Any,
        is_initial_connection: bool,
        connect_func: ConnectFunc,
    ) -> Any:
        await connect_func()
        raise self._error


@pytest.mark.parametrize("error", [RuntimeError("plugin failed"), asyncio.CancelledError()])
async def test_connection_that_fails_on_its_way_up_the_chain_is_closed(error: BaseException) -> None:
    class Factory(PluginFactory):
        def get_instance(self, plugin_service: Any, props: Any) -> Plugin:
            return _FailsAfterConnecting(error)

    PluginManager.register_plugin("fails_after_connecting", Factory, 10)
    before = len(FakeConnection.instances)
    with pytest.raises(type(error)):
        await connect("fails_after_connecting")
    opened = FakeConnection.instances[before:]
    assert len(opened) == 1 and opened[0].closed


@pytest.mark.parametrize("driver_code", ["psycopg", "aiomysql"])
def test_every_network_bound_name_is_dispatched_by_a_proxy_method(driver_code: str) -> None:
    """The dialect's table lists only names a proxy method really sends through the pipeline."""
    from awsasyncwrap import AsyncAwsCursor, AsyncAwsMysqlConnection, AsyncAwsMysqlCursor
    from awsasyncwrap.drivers import AiomysqlDriverDialect, PsycopgDriverDialect

    dialect = PsycopgDriverDialect if driver_code == "psycopg" else AiomysqlDriverDialect
    conn_cls = AsyncAwsConnection if driver_code == "psycopg" else AsyncAwsMysqlConnection
    cur_cls = AsyncAwsCursor if driver_code == "psycopg" else AsyncAwsMysqlCursor
    for name in dialect.network_bound_methods:
        owner, method = name.split(".")
        cls = conn_cls if owner == "Connection" else cur_cls
        assert any(method in vars(k) for k in cls.__mro__ if k is not object), name
        modules = ("connection", "_mysql_connection") if owner == "Connection" else ("cursor",)
        source = "".join(
            inspect.getsource(sys.modules[f"awsasyncwrap.{module}"]) for module in (*modules, "_pipeline")
        )
        assert f'"{name}"' in source, f"{name} is never dispatched"


async def test_telemetry_does_not_patch_the_plugin_service() -> None:
    conn = AsyncAwsConnection.of(
        await AsyncAwsConnection.connect(fake_connect, plugins="telemetry", host="h")
    )
    try:
        service = conn.plugin_service
        assert not {"refresh_host_list", "force_refresh_host_list"} & set(vars(service))
    finally:
        await conn.close()


async def test_telemetry_subscribes_only_to_methods_that_reach_the_pipeline() -> None:
    from awsasyncwrap._pipeline import PIPELINES
    from awsasyncwrap.plugins.telemetry import TelemetryPlugin

    conn = AsyncAwsConnection.of(
        await AsyncAwsConnection.connect(
            fake_connect,
            plugins="telemetry",
            host="h",
            telemetry_execute_spans=True,
            telemetry_execute_metrics=True,
        )
    )
    try:
        (plugin,) = conn.plugin_service.plugins
        assert isinstance(plugin, TelemetryPlugin)
        network = conn.plugin_service.driver_dialect.network_bound_methods
        assert set(plugin.subscribed_methods) - PIPELINES == set(network)
    finally:
        await conn.close()
