"""The per-process caches of the connect path: same input, same result; anything that changes the input
(a newly registered property or plugin, another PG* environment) is seen at once."""

from __future__ import annotations

from typing import Any

import pytest

from awsasyncwrap import PluginFactory, PluginManager, Properties
from awsasyncwrap._opening import prepared_props as _prepared_props
from awsasyncwrap.drivers import PsycopgDriverDialect
from awsasyncwrap.drivers._libpq import effective_params
from awsasyncwrap.errors import ConfigurationError
from awsasyncwrap.properties import (
    _EXTRA,
    _KNOWN,
    WrapperProperty,
    _parse_str,
    known_properties,
    register_property,
)

pytestmark = pytest.mark.timeout(20)


def test_known_properties_sees_a_property_registered_later() -> None:
    before = known_properties()
    assert "cache_test_prop" not in before
    register_property(WrapperProperty("cache_test_prop", "for a test", None, _parse_str))
    try:
        assert "cache_test_prop" in known_properties()
    finally:
        _EXTRA.pop("cache_test_prop")
        _KNOWN.clear()
    assert "cache_test_prop" not in known_properties()


def test_plugin_order_is_cached_but_a_registered_code_is_never_served_stale() -> None:
    props = Properties({"plugins": "failover,host_monitoring"})
    assert (
        PluginManager.plugin_codes(props)
        == PluginManager.plugin_codes(props)
        == ["failover", "host_monitoring"]
    )

    class First(PluginFactory):
        def get_instance(self, service: Any, props: Properties) -> Any:
            raise NotImplementedError

    saved = dict(PluginManager._factories)
    try:
        PluginManager.register_plugin("cache_first", First, 10)
        custom = Properties({"plugins": "failover,cache_first"})
        assert PluginManager.plugin_codes(custom) == ["cache_first", "failover"]
        PluginManager.register_plugin("cache_first", First, 450)  # weight changed: the order follows
        assert PluginManager.plugin_codes(custom) == ["failover", "cache_first"]
    finally:
        PluginManager._factories = saved
    with pytest.raises(ConfigurationError):  # gone again: unknown
        PluginManager.plugin_codes(Properties({"plugins": "failover,cache_first"}))


def test_prepared_props_are_a_fresh_copy_each_time() -> None:
    driver = PsycopgDriverDialect()
    args: dict[str, Any] = {"host": "db.example", "failover_timeout_sec": 5}
    first = _prepared_props(driver, "", args, None)
    first["failover_timeout_sec"] = 99  # a connection changing its own copy
    second = _prepared_props(driver, "", args, None)
    assert second["failover_timeout_sec"] == 5 and second is not first
    with pytest.raises(ConfigurationError):  # errors are never cached
        _prepared_props(driver, "", {**args, "failover_timeout_sec": "nan"}, None)


def test_prepared_props_keys_separate_value_types_and_hide_secrets() -> None:
    from awsasyncwrap import _opening

    driver = PsycopgDriverDialect()
    args: dict[str, Any] = {"host": "db.example", "autocommit": True, "password": "hunter2"}
    assert type(_prepared_props(driver, "", args, None)["autocommit"]) is bool
    assert type(_prepared_props(driver, "", {**args, "autocommit": 1}, None)["autocommit"]) is int
    assert _prepared_props(driver, "", {**args, "password": "other"}, None)["password"] == "other"
    assert "hunter2" not in repr(_opening._PREPARED)
    for i in range(_opening._PREPARED_MAX * 2):
        _prepared_props(driver, "", {**args, "application_name": f"a{i}"}, None)
    assert len(_opening._PREPARED) <= _opening._PREPARED_MAX


def test_libpq_merge_follows_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    params = {"host": "db.example"}
    monkeypatch.setenv("PGPORT", "6001")
    assert effective_params(params)["port"] == "6001"
    monkeypatch.setenv("PGPORT", "6002")
    assert effective_params(params)["port"] == "6002"
    merged = effective_params(params)
    merged["port"] = "1"  # the caller's copy
    assert effective_params(params)["port"] == "6002"
    monkeypatch.delenv("PGPORT")
    assert effective_params(params)["port"] != "6002"
    monkeypatch.setenv("PGUSER", "someone")  # a variable not there before
    assert effective_params(params)["user"] == "someone"
    assert effective_params({"host": "db.example", "port": 6003})["port"] == "6003"  # other params
    assert effective_params({"host": "db.example", "port": "6003"})["port"] == "6003"


def test_libpq_merge_is_not_cached_with_a_service(monkeypatch: pytest.MonkeyPatch) -> None:
    from awsasyncwrap.drivers import _libpq

    _libpq._MERGED.clear()
    monkeypatch.setenv("PGSERVICE", "no_such_service")
    with pytest.raises(ConfigurationError):
        effective_params({"host": "db.example"})
    monkeypatch.delenv("PGSERVICE")
    effective_params({"host": "db.example"})
    assert len(_libpq._MERGED) == 1
    for port in range(_libpq._MERGED_MAX * 2):
        effective_params({"host": "db.example", "port": port})
    assert len(_libpq._MERGED) <= _libpq._MERGED_MAX


def _driver_kwargs(props: dict[str, Any]) -> dict[str, Any]:
    from awsasyncwrap.drivers import AiomysqlDriverDialect
    from awsasyncwrap.hostinfo import HostInfo

    return AiomysqlDriverDialect().connect_kwargs(HostInfo("db.example", 3306), Properties(props))


def test_driver_kwargs_cache_separates_values_and_their_types() -> None:
    base = {"host": "db.example", "user": "u", "password": "one", "autocommit": True}
    first = _driver_kwargs(base)
    assert first == _driver_kwargs(base)
    assert _driver_kwargs({**base, "password": "two"})["password"] == "two"
    as_int = _driver_kwargs({**base, "autocommit": 1})  # 1 == True, a different argument all the same
    assert as_int["autocommit"] == 1 and type(as_int["autocommit"]) is int
    assert type(_driver_kwargs(base)["autocommit"]) is bool
    without = _driver_kwargs({k: v for k, v in base.items() if k != "autocommit"})
    assert "autocommit" not in without
    # a fresh dict each time: the caller's changes never reach the cache
    first["user"] = "changed"
    assert _driver_kwargs(base)["user"] == "u"


def test_driver_kwargs_cache_is_bounded_and_shows_no_secret() -> None:
    from awsasyncwrap.drivers import _base

    for i in range(_base._DRIVER_KWARGS_MAX * 3):
        assert _driver_kwargs({"host": "h", "password": f"secret-{i}"})["password"] == f"secret-{i}"
    assert len(_base._DRIVER_KWARGS) <= _base._DRIVER_KWARGS_MAX
    assert "secret-" not in repr(_base._DRIVER_KWARGS)


def test_driver_kwargs_cache_sees_a_property_registered_later() -> None:
    props = {"host": "h", "kwargs_cache_test_prop": "x"}
    assert _driver_kwargs(props)["kwargs_cache_test_prop"] == "x"  # not a wrapper property: the driver's
    register_property(WrapperProperty("kwargs_cache_test_prop", "for a test", None, _parse_str))
    try:
        assert "kwargs_cache_test_prop" not in _driver_kwargs(props)
    finally:
        _EXTRA.pop("kwargs_cache_test_prop")
        _KNOWN.clear()
    assert _driver_kwargs(props)["kwargs_cache_test_prop"] == "x"


def test_driver_kwargs_unhashable_values_are_not_cached() -> None:
    from awsasyncwrap.drivers import _base

    conv: dict[int, Any] = {1: int}
    _base._DRIVER_KWARGS.clear()
    assert _driver_kwargs({"host": "h", "conv": conv})["conv"] is conv
    assert not _base._DRIVER_KWARGS


def test_pipeline_shapes_are_bounded_and_a_plugin_without_the_hook_is_not_called() -> None:
    import asyncio

    from awsasyncwrap import _pipeline
    from awsasyncwrap.plugin import Plugin

    calls: list[str] = []

    class Hooked(Plugin):
        subscribed_methods = frozenset({"*"})

        async def init_host_provider(self, props: Any, service: Any, func: Any) -> None:
            calls.append("hooked")
            await func()

    class Passing(Plugin):  # subscribed to everything, overrides nothing
        subscribed_methods = frozenset({"*"})

    class Service:
        driver_dialect = PsycopgDriverDialect()

    def manager(*plugins: Plugin) -> PluginManager:
        m = PluginManager(Service(), Properties({"plugins": ""}), frozenset())  # type: ignore[arg-type]
        m.plugins = list(plugins)
        m._subscriptions = [frozenset(p.subscribed_methods) for p in plugins]
        m._shape = _pipeline._shape(m.plugins, m._subscriptions)
        return m

    both = manager(Passing(), Hooked())
    assert [type(p) for p in both._pipeline("init_host_provider")] == [Hooked]
    assert both._pipeline("connect") == ()
    asyncio.run(both.init_host_provider(Properties(), None))  # type: ignore[arg-type]
    assert calls == ["hooked"]
    # another shape (other classes, other subscriptions) gets its own answer
    other = manager(Hooked(), Hooked())
    assert len(other._pipeline("init_host_provider")) == 2
    only_connect = Hooked()
    only_connect.subscribed_methods = frozenset({"connect"})
    assert manager(only_connect)._pipeline("init_host_provider") == ()
    for i in range(_pipeline._SHAPES_MAX * 2):
        _pipeline._shape([Hooked()], [frozenset({f"m{i}"})])
    assert len(_pipeline._SHAPES) <= _pipeline._SHAPES_MAX


def test_pg_environment_key_reads_os_environ_or_a_replacement(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    from awsasyncwrap.drivers import _libpq

    monkeypatch.setenv("PGAPPNAME", "x")
    names, _ = _libpq._pg_environment()
    assert os.environ.encodekey("PGAPPNAME") in names
    monkeypatch.setattr(os, "environ", {"PGHOST": "h", "HOME": "/"})
    assert _libpq._pg_environment() == ((os.fsencode("PGHOST") if os.name != "nt" else "PGHOST",), ("h",))


def test_split_hosts_cache_gives_each_setting_its_own_answer() -> None:
    from awsasyncwrap.drivers._libpq import split_hosts

    one = split_hosts({"host": "a,b", "port": "1,2", "default_host": "/tmp"})
    assert one == [("a", "", 1), ("b", "", 2)]
    one.append(("changed", "", 0))  # the caller's own list
    assert split_hosts({"host": "a,b", "port": "1,2", "default_host": "/tmp"}) == [("a", "", 1), ("b", "", 2)]
    assert split_hosts({"host": "a,b", "port": "3", "default_host": "/tmp"}) == [("a", "", 3), ("b", "", 3)]
    assert split_hosts({"hostaddr": "10.0.0.1", "default_host": "/tmp"}) == [("", "10.0.0.1", 5432)]
    assert split_hosts({"default_host": "/run"}) == [("/run", "", 5432)]
    for _ in range(2):  # an error each time, never a cached answer
        with pytest.raises(ConfigurationError):
            split_hosts({"host": "a,b", "port": "1,2,3"})
