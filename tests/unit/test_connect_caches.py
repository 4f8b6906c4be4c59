"""The per-process caches of the connect path: same input, same result; anything that changes the input
(a newly registered property or plugin, another PG* environment) is seen at once."""

from __future__ import annotations

from typing import Any

import pytest

from awsasyncwrap import PluginFactory, PluginManager, Properties
from awsasyncwrap.connection import _prepared_props
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


def test_libpq_merge_follows_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    params = {"host": "db.example"}
    monkeypatch.setenv("PGPORT", "6001")
    assert effective_params(params)["port"] == "6001"
    monkeypatch.setenv("PGPORT", "6002")
    assert effective_params(params)["port"] == "6002"
    merged = effective_params(params)
    merged["port"] = "1"  # the caller's copy
    assert effective_params(params)["port"] == "6002"


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
