"""gdb_failover / gdb_rw configuration: home region, modes, defaults, exclusivity (fake driver)."""

from __future__ import annotations

from typing import Any

import pytest

from awsasyncwrap import AsyncAwsConnection, ConfigurationError
from awsasyncwrap.hostinfo import HostInfo, HostRole
from awsasyncwrap.plugins.gdb_failover import GdbFailoverPlugin, GdbMode
from awsasyncwrap.plugins.gdb_rw import (
    GdbReadWriteSplittingPlugin,
    WriterVerdict,
    reader_hosts,
    writer_verdict,
)

from .fakedriver import fake_connect

pytestmark = pytest.mark.timeout(10)

CLUSTER = "mydb.cluster-abc123.us-east-1.rds.amazonaws.com"
INSTANCE = "db1.abc123.eu-west-1.rds.amazonaws.com"
GLOBAL = "mydb.global-abc123.global.rds.amazonaws.com"


async def connect(host: str, plugins: str, **props: Any) -> Any:
    target: Any = fake_connect
    return await AsyncAwsConnection.connect(target, host=host, wrapper_dialect="pg", plugins=plugins, **props)


def plugin_of(conn: Any, cls: Any) -> Any:
    return next(p for p in conn.plugin_service.plugins if isinstance(p, cls))


async def test_home_region_and_modes_default_from_a_writer_cluster_url() -> None:
    conn = await connect(CLUSTER, "gdb_failover")
    plugin = plugin_of(conn, GdbFailoverPlugin)
    assert plugin.home_region == "us-east-1"
    assert (plugin.active_mode, plugin.inactive_mode) == (GdbMode.STRICT_WRITER, GdbMode.STRICT_WRITER)
    await conn.close()


async def test_other_urls_default_to_home_reader_or_writer() -> None:
    conn = await connect(INSTANCE, "gdb_failover")
    plugin = plugin_of(conn, GdbFailoverPlugin)
    assert plugin.home_region == "eu-west-1"
    assert plugin.active_mode is plugin.inactive_mode is GdbMode.HOME_READER_OR_WRITER
    await conn.close()


@pytest.mark.parametrize("plugins", ["gdb_failover", "gdb_rw"])
@pytest.mark.parametrize("host", ["127.0.0.1", GLOBAL, "db.example.com"])
async def test_a_url_without_region_needs_the_home_region(plugins: str, host: str) -> None:
    prop = "failover_home_region" if plugins == "gdb_failover" else "gdb_rw_home_region"
    with pytest.raises(ConfigurationError, match=f"'{prop}' is required.*{host}"):
        await connect(host, plugins)
    conn = await connect(host, plugins, **{prop: "EU-West-1"})
    assert plugin_of(conn, (GdbFailoverPlugin, GdbReadWriteSplittingPlugin)).home_region == "eu-west-1"
    await conn.close()


async def test_global_writer_endpoint_defaults_to_strict_writer() -> None:
    conn = await connect(GLOBAL, "gdb_failover", failover_home_region="us-east-1")
    assert plugin_of(conn, GdbFailoverPlugin).active_mode is GdbMode.STRICT_WRITER
    await conn.close()


async def test_a_bad_mode_names_the_value_and_the_choices() -> None:
    with pytest.raises(ConfigurationError) as info:
        await connect(CLUSTER, "gdb_failover", active_home_failover_mode="home-reader")
    text = str(info.value)
    assert "'home-reader'" in text and "active_home_failover_mode" in text
    assert "home-reader-or-writer" in text and "strict-out-of-home-reader" in text


async def test_modes_take_either_spelling() -> None:
    conn = await connect(
        CLUSTER,
        "gdb_failover",
        active_home_failover_mode="STRICT_HOME_READER",
        inactive_home_failover_mode="any-reader-or-writer",
    )
    plugin = plugin_of(conn, GdbFailoverPlugin)
    assert (plugin.active_mode, plugin.inactive_mode) == (
        GdbMode.STRICT_HOME_READER,
        GdbMode.ANY_READER_OR_WRITER,
    )
    await conn.close()


@pytest.mark.parametrize(
    ("plugins", "names"),
    [
        ("failover,gdb_failover", "'failover' and 'gdb_failover'"),
        ("gdb_failover,failover_v2", "'failover' and 'gdb_failover'"),
        ("gdb_rw,read_write_splitting", "'read_write_splitting' and 'gdb_rw'"),
        ("srw,gdb_rw", "'srw' and 'gdb_rw'"),
    ],
)
async def test_exclusive_plugins_are_rejected(plugins: str, names: str) -> None:
    with pytest.raises(ConfigurationError, match=names):
        await connect(CLUSTER, plugins, gdb_rw_home_region="us-east-1")


async def test_home_region_outside_accessible_regions_is_refused() -> None:
    with pytest.raises(ConfigurationError, match=r"'us-east-1'.*accessible_regions='eu-west-1,us-west-2'"):
        await connect(CLUSTER, "gdb_failover", gdb_accessible_regions="eu-west-1, US-West-2")
    conn = await connect(CLUSTER, "gdb_rw,gdb_failover", gdb_accessible_regions="us-east-1,eu-west-1")
    await conn.close()


async def test_gdb_rw_defaults_are_the_aws_ones() -> None:
    conn = await connect(CLUSTER, "gdb_rw")
    plugin = plugin_of(conn, GdbReadWriteSplittingPlugin)
    assert plugin.home_region == "us-east-1"
    assert (plugin._restrict_writer, plugin._restrict_reader, plugin._forwarding) == (True, True, False)
    await conn.close()


async def test_aws_wrapper_names_are_accepted() -> None:
    conn = await connect(
        INSTANCE,
        "gdb_rw,gdb_failover",
        gdb_rw_restrict_writer_to_home_region="false",
        gdb_rw_restrict_reader_to_home_region="false",
        gdb_enable_global_write_forwarding="true",
    )
    plugin = plugin_of(conn, GdbReadWriteSplittingPlugin)
    assert (plugin._restrict_writer, plugin._restrict_reader, plugin._forwarding) == (False, False, True)
    await conn.close()


# --- gdb_rw's rules (pure) ---------------------------------------------------------------------

HOME, AWAY = "us-east-1", "eu-west-1"


def h(name: str, region: str | None, role: HostRole = HostRole.READER) -> HostInfo:
    return HostInfo(name, 5432, role, region=region)


HOSTS = [h("w", HOME, HostRole.WRITER), h("r1", HOME), h("r2", AWAY), h("r3", None)]


def test_readers_stay_home_when_restricted() -> None:
    assert [x.host for x in reader_hosts(HOSTS, HOME, True, None)] == ["r1"]
    assert [x.host for x in reader_hosts(HOSTS, AWAY, True, None)] == ["r2"]
    assert [x.host for x in reader_hosts(HOSTS, HOME, False, None)] == ["r1", "r2", "r3"]
    assert [x.host for x in reader_hosts(HOSTS, HOME, False, frozenset({HOME}))] == ["r1", "r3"]


@pytest.mark.parametrize(
    ("writer_region", "restrict", "forwarding", "expect"),
    [
        (HOME, True, False, WriterVerdict.SWITCH),
        (AWAY, True, False, WriterVerdict.REFUSE),
        (AWAY, True, True, WriterVerdict.STAY),
        (AWAY, False, False, WriterVerdict.SWITCH),
        (None, True, False, WriterVerdict.REFUSE),  # a writer of unknown region is not known to be home
    ],
)
def test_writer_verdict(
    writer_region: str | None, restrict: bool, forwarding: bool, expect: WriterVerdict
) -> None:
    writer = h("w", writer_region, HostRole.WRITER)
    assert writer_verdict(writer, HOME, restrict, forwarding, None) is expect


def test_writer_verdict_without_a_known_writer_and_accessible_regions() -> None:
    assert writer_verdict(None, HOME, True, False, None) is WriterVerdict.SWITCH
    away = h("w", AWAY, HostRole.WRITER)
    assert writer_verdict(away, HOME, False, False, frozenset({HOME})) is WriterVerdict.REFUSE
    assert writer_verdict(away, HOME, False, True, frozenset({HOME})) is WriterVerdict.STAY
