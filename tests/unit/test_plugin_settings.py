"""Each plugin's typed settings: the declared defaults, the given values parsed, bad values named."""

from __future__ import annotations

import pytest

from awsasyncwrap import ConfigurationError, Properties
from awsasyncwrap._session_state import SessionState
from awsasyncwrap._session_state import _configured as _session_configured
from awsasyncwrap.plugins.host_monitoring._monitor import MonitorSettings
from awsasyncwrap.plugins.host_monitoring._plugin import _disposal_and_enabled
from awsasyncwrap.plugins.settings.failover import FailoverSettings
from awsasyncwrap.plugins.settings.initial_connection import InitialConnectionSettings
from awsasyncwrap.plugins.settings.limitless import LimitlessSettings
from awsasyncwrap.plugins.settings.read_write_splitting import SwitchingSettings
from awsasyncwrap.plugins.settings.srw import SrwSettings
from awsasyncwrap.properties import _ParsedOnce

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


class _Reads(dict):  # type: ignore[type-arg]
    """Properties that record which names were read."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.read: set[str] = set()

    def get(self, key: str, default: object = None) -> object:
        self.read.add(key)
        return super().get(key, default)


@pytest.mark.parametrize(
    "parse",
    [
        FailoverSettings.from_props,
        MonitorSettings.from_props,
        _disposal_and_enabled,
        _session_configured,
    ],
)
def test_settings_parsed_once_declare_every_property_they_read(parse: _ParsedOnce[object]) -> None:
    props = _Reads()
    parse.__wrapped__(props)
    assert props.read <= set(parse.names)


def test_parsed_once_reuses_a_result_for_equal_values_of_equal_types_only() -> None:
    first = FailoverSettings.from_props(Properties(failover_timeout_sec="2.5"))
    assert FailoverSettings.from_props(Properties(failover_timeout_sec="2.5", user="other")) is first
    assert FailoverSettings.from_props(Properties(failover_timeout_sec=2.5)) is not first
    with pytest.raises(ConfigurationError, match="'nan'"):
        FailoverSettings.from_props(Properties(failover_timeout_sec="nan"))
    assert FailoverSettings.from_props(Properties(failover_timeout_sec=1)).timeout == 1
    with pytest.raises(ConfigurationError, match="True"):  # True == 1, but not a number of seconds
        FailoverSettings.from_props(Properties(failover_timeout_sec=True))


def test_parsed_once_parses_unhashable_values_each_time() -> None:
    def hook(conn: object) -> None:
        return None

    state = SessionState.from_props(Properties(on_new_connection=[hook]))
    other = SessionState.from_props(Properties(on_new_connection=[hook]))
    assert state.appliers == other.appliers == (hook,)
    state.add_applier(print)
    assert other.appliers == (hook,)  # each connection's own list
