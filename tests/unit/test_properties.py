"""Property parsing, validation and secret masking (pure logic, fake driver)."""

from __future__ import annotations

import logging
import subprocess
import sys
from typing import Any

import pytest

from awsasyncwrap import (
    AsyncAwsConnection,
    ConfigurationError,
    Properties,
    WrapperProperties,
    WrapperProperty,
)
from awsasyncwrap.drivers import PsycopgDriverDialect

from .fakedriver import fake_connect

pytestmark = pytest.mark.timeout(10)

SECRET = "s3cr3t-Pa55"


async def connect(**props: Any) -> AsyncAwsConnection:
    return AsyncAwsConnection.of(
        await AsyncAwsConnection.connect(
            fake_connect, host="db.example", wrapper_dialect="pg", plugins="", **props
        )
    )


async def test_unknown_property_names_it_and_suggests() -> None:
    with pytest.raises(ConfigurationError) as info:
        await connect(failover_timout_sec=3)
    text = str(info.value)
    assert "'failover_timout_sec'" in text
    assert "Did you mean 'failover_timeout_sec'" in text


async def test_driver_keywords_and_monitoring_prefix_are_accepted() -> None:
    conn = await connect(sslmode="disable", **{"monitoring-connect_timeout": 3})
    assert conn.target_connection.kwargs["sslmode"] == "disable"
    assert "monitoring-connect_timeout" not in conn.target_connection.kwargs


async def test_bad_choice_lists_the_valid_values() -> None:
    with pytest.raises(ConfigurationError) as info:
        await connect(failover_mode="writer-only")  # (strict-writer: the AWS wrapper's spelling, valid)
    text = str(info.value)
    assert "'writer-only'" in text and "strict_writer" in text and "reader_or_writer" in text


async def test_bad_number_names_property_and_value() -> None:
    with pytest.raises(ConfigurationError, match=r"Bad value 'soon' for property 'failover_timeout_sec'"):
        await connect(failover_timeout_sec="soon")
    with pytest.raises(ConfigurationError, match="must be >= 1"):
        await connect(failure_detection_count=0)


async def test_generic_names_become_driver_keywords() -> None:
    conn = await connect(database="app", user="u", password=SECRET, port=6543)
    kwargs = conn.target_connection.kwargs
    assert kwargs["dbname"] == "app" and kwargs["user"] == "u" and kwargs["port"] == 6543
    assert kwargs["host"] == "db.example"
    assert "plugins" not in kwargs and "wrapper_dialect" not in kwargs


async def test_secrets_never_in_repr_or_errors(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="awsasyncwrap")
    conn = await connect(password=SECRET)
    assert SECRET not in repr(conn)
    assert SECRET not in repr(conn.plugin_service.props)
    assert SECRET not in str(conn.plugin_service.props)
    pin = WrapperProperty("idp_password_pin", "a secret number", None, int)
    with pytest.raises(ConfigurationError) as info:
        pin.convert(SECRET)
    assert "***" in str(info.value) and SECRET not in str(info.value)
    assert SECRET not in caplog.text


def test_properties_mask_every_secret_like_name() -> None:
    props = Properties(password="a", idp_password="b", secret_value="c", token="d", user="visible")
    shown = repr(props)
    assert "visible" in shown
    for hidden in ("'a'", "'b'", "'c'", "'d'"):
        assert hidden not in shown


def test_monitoring_props_override_plain_ones() -> None:
    props = Properties({"connect_timeout": 10, "monitoring-connect_timeout": 2, "user": "u"})
    assert props.monitoring_props() == {"connect_timeout": 2, "user": "u", "autocommit": True}


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ({"autocommit": False}, True),  # the app's transactions are not the monitor's
        ({}, True),
        ({"monitoring-autocommit": False}, False),  # said explicitly
    ],
)
def test_monitoring_connections_are_in_autocommit_mode_unless_told_otherwise(
    given: dict[str, object], expected: bool
) -> None:
    assert Properties({"user": "u", **given}).monitoring_props()["autocommit"] is expected


@pytest.mark.parametrize(
    ("conninfo", "expected"),
    [
        (
            "host=h port=5 dbname=d plugins=failover,dev",
            {"host": "h", "port": "5", "dbname": "d", "plugins": "failover,dev"},
        ),
        ("password='it''s' user = 'a b'", None),
        (r"password='x\'y' user=u", {"password": "x'y", "user": "u"}),
        (
            "postgresql://us%40r:p%3Aw@h1:5432,h2:5433/db?sslmode=disable&plugins=dev",
            {
                "user": "us@r",
                "password": "p:w",
                "host": "h1,h2",
                "port": "5432,5433",
                "dbname": "db",
                "sslmode": "disable",
                "plugins": "dev",
            },
        ),
    ],
)
def test_conninfo_parser(conninfo: str, expected: dict[str, str] | None) -> None:
    if expected is None:
        with pytest.raises(ConfigurationError):
            parse_conninfo(conninfo)
    else:
        assert parse_conninfo(conninfo) == expected


def test_conninfo_parser_errors() -> None:
    with pytest.raises(ConfigurationError, match='missing "="'):
        parse_conninfo("host")
    with pytest.raises(ConfigurationError, match="unterminated"):
        parse_conninfo("password='abc")


@pytest.mark.parametrize("raw", ["nan", "NaN", "inf", "-inf", float("nan"), float("inf")])
@pytest.mark.parametrize(
    "name", ["failover_timeout_sec", "wrapper_connect_timeout_sec", "failover_connect_timeout_sec"]
)
async def test_non_finite_durations_are_rejected(name: str, raw: object) -> None:
    with pytest.raises(ConfigurationError, match=rf"Bad value .* for property '{name}': expected a finite"):
        await connect(**{name: raw})


@pytest.mark.parametrize("raw", ["nan", "inf", float("inf")])
async def test_non_finite_millisecond_settings_are_rejected(raw: object) -> None:
    expected = r"Bad value .* for property 'failure_detection_time_ms': expected a whole number"
    with pytest.raises(ConfigurationError, match=expected):
        await connect(failure_detection_time_ms=raw)


@pytest.mark.parametrize("raw", [",,", ",", "failover,,host_monitoring", "failover,", " , "])
async def test_plugins_with_an_empty_item_are_rejected(raw: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        await AsyncAwsConnection.connect(fake_connect, host="db.example", wrapper_dialect="pg", plugins=raw)
    text = str(info.value)
    assert repr(raw) in text and "empty plugin code" in text and "failover" in text


@pytest.mark.parametrize("raw", ["", "   "])
async def test_blank_plugins_means_none(raw: str) -> None:
    conn = await AsyncAwsConnection.connect(
        fake_connect, host="db.example", wrapper_dialect="pg", plugins=raw
    )
    assert conn.plugin_service.plugins == []  # type: ignore[attr-defined]


async def test_read_write_splitting_and_srw_together_are_rejected() -> None:
    with pytest.raises(ConfigurationError, match="'read_write_splitting' and 'srw'"):
        await AsyncAwsConnection.connect(
            fake_connect, host="db.example", wrapper_dialect="pg", plugins="read_write_splitting,srw"
        )


def parse_conninfo(conninfo: str) -> dict[str, str]:
    """libpq's parse of ``conninfo`` plus the wrapper's keys in it."""
    return PsycopgDriverDialect().collect_props(conninfo, {})


def test_value_and_seconds_use_the_declared_default() -> None:
    rate = WrapperProperties.CLUSTER_TOPOLOGY_REFRESH_RATE_MS
    assert rate.value({}) == rate.default
    assert rate.seconds({rate.name: "1500"}) == 1.5
    with pytest.raises(ConfigurationError, match="'soon'"):
        rate.seconds({rate.name: "soon"})


def test_value_of_a_property_without_a_default_is_a_programming_error() -> None:
    no_default = WrapperProperty("some_name", "a setting with no default", None, str)
    with pytest.raises(LookupError, match="some_name"):
        no_default.value({})
    assert no_default.get({}) is None


def test_plugin_properties_are_known_without_importing_any_plugin() -> None:
    """Validation knows every built-in plugin's properties before any plugin module is imported."""
    script = """
import importlib, sys
import awsasyncwrap
from awsasyncwrap.plugins import BUILTIN_PLUGINS
from awsasyncwrap.properties import known_properties

loaded = sorted(m for m, _, _ in BUILTIN_PLUGINS.values() if m in sys.modules)
before = set(known_properties())
for module, _, _ in BUILTIN_PLUGINS.values():
    importlib.import_module(module)
print(loaded, sorted(set(known_properties()) - before))
"""
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    # read_write_splitting is imported for ReadWriteSplittingError (the package exports it), not to validate
    assert out.stdout.split() == ["['awsasyncwrap.plugins.read_write_splitting']", "[]"]
