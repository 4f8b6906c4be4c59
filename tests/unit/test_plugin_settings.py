"""Each plugin's typed settings: the declared defaults, the given values parsed, bad values named."""

from __future__ import annotations

import pytest

from awsasyncwrap import ConfigurationError, Properties
from awsasyncwrap.plugins.settings.failover import FailoverSettings
from awsasyncwrap.plugins.settings.initial_connection import InitialConnectionSettings
from awsasyncwrap.plugins.settings.limitless import LimitlessSettings
from awsasyncwrap.plugins.settings.read_write_splitting import SwitchingSettings
from awsasyncwrap.plugins.settings.srw import SrwSettings

pytestmark = pytest.mark.timeout(10)


def test_defaults_are_the_declared_ones() -> None:
    failover = FailoverSettings.from_props(Properties())
    assert failover.enabled and failover.connect_failover and failover.mode is None
    assert failover.connect_timeout == 5.0
    limitless = LimitlessSettings.from_props(Properties())
    assert limitless.wait_for_router_info is True and limitless.monitor_interval > 0
    initial = InitialConnectionSettings.from_props(Properties())
    assert (initial.retry_timeout, initial.retry_interval, initial.wait_for_topology) == (30.0, 0.05, 0.0)
    assert initial.forced_role is None and initial.reader_strategy == "random"
    switching = SwitchingSettings.from_props(Properties())
    assert switching.connect_timeout is None  # declares no default: the connect bound applies


def test_given_values_are_parsed_once_into_their_types() -> None:
    failover = FailoverSettings.from_props(
        Properties(failover_timeout_sec="2.5", failover_mode="strict_reader", enable_failover="false")
    )
    assert (failover.timeout, failover.mode, failover.enabled) == (2.5, "strict_reader", False)
    srw = SrwSettings.from_props(
        Properties(
            srw_write_endpoint="w.example",
            srw_read_endpoint="r.example:3307",
            srw_connect_retry_timeout_ms="1500",
        )
    )
    assert (srw.write_endpoint, srw.read_endpoint, srw.retry_timeout) == ("w.example", "r.example:3307", 1.5)
    assert srw.verify_new_connections is True


def test_srw_names_the_missing_endpoint() -> None:
    with pytest.raises(ConfigurationError, match="srw_read_endpoint"):
        SrwSettings.from_props(Properties(srw_write_endpoint="w.example"))


def test_a_bad_value_names_the_property() -> None:
    with pytest.raises(ConfigurationError, match="limitless_max_retries"):
        LimitlessSettings.from_props(Properties(limitless_max_retries="many"))


def test_topology_monitor_settings() -> None:
    from awsasyncwrap.topology._settings import TopologySettings

    default = TopologySettings.from_props(Properties())
    assert default.connect_timeout is None and default.stuck_call_check_period == 0.5
    given = TopologySettings.from_props(Properties(cluster_topology_refresh_rate_ms="2000"))
    assert given.refresh_rate == 2.0
