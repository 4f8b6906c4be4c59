"""aws-advanced-python-wrapper 3.1.0 property names: each one is ours, translated, or rejected with advice."""

from __future__ import annotations

import logging
from typing import Any

import pytest

import awsasyncwrap.compat as compat
import awsasyncwrap.plugins.blue_green  # noqa: F401  (registers the bg_* properties)
from awsasyncwrap import ConfigurationError
from awsasyncwrap._compat_props import ALIASES, FIXED, NO_EFFECT, UNSUPPORTED, translate
from awsasyncwrap.drivers import driver_dialect_for
from awsasyncwrap.plugins.initial_connection import InitialConnectionPlugin
from awsasyncwrap.properties import known_properties

pytestmark = pytest.mark.timeout(20)

#: every property name in aws-advanced-python-wrapper 3.1.0 (utils/properties.py, the aio package and the
#: parameter tables of its docs/using-the-python-wrapper pages)
THEIR_NAMES = """
plugins profile_name user password database connect_timeout socket_timeout tcp_keepalive
tcp_keepalive_time tcp_keepalive_interval tcp_keepalive_probes transfer_session_state_on_switch
reset_session_state_on_close rollback_on_switch topology_refresh_ms cluster_id
cluster_instance_host_pattern iam_host iam_default_port iam_region iam_expiration
secrets_manager_secret_id secrets_manager_region secrets_manager_endpoint wrapper_dialect
auxiliary_query_timeout_sec failure_detection_enabled failure_detection_time_ms
failure_detection_interval_ms failure_detection_count monitor_disposal_time_ms enable_failover
failover_mode failover_timeout_sec failover_cluster_topology_refresh_rate_sec
failover_writer_reconnect_interval_sec failover_reader_connect_timeout_sec
cluster_topology_high_refresh_rate_ms failover_reader_host_selector_strategy enable_connect_failover
custom_endpoint_info_refresh_rate_ms custom_endpoint_idle_monitor_expiration_ms
wait_for_custom_endpoint_info wait_for_custom_endpoint_info_timeout_ms
default_host_availability_strategy host_availability_strategy_max_retries
host_availability_strategy_initial_backoff_time wrapper_driver_dialect reader_host_selector_strategy
auto_sort_wrapper_plugin_order round_robin_default_weight round_robin_host_weight_pairs
weighted_random_default_weight weighted_random_host_weight_pairs idp_endpoint idp_port rp_identifier
iam_role_arn iam_idp_arn iam_token_expiration idp_username idp_password http_request_connect_timeout
ssl_secure idp_name db_user app_id response_measurement_interval_ms enable_telemetry
telemetry_submit_toplevel telemetry_submit_top_level telemetry_traces_backend
telemetry_metrics_backend telemetry_failover_additional_top_trace
reader_initial_connection_host_selector_strategy initial_connection_host_selector_strategy
endpoint_substitution_role verify_opened_connection_type
inactive_cluster_writer_endpoint_substitution_role
verify_inactive_cluster_writer_endpoint_connection_type wait_for_initial_topology_ms
open_connection_retry_timeout_ms open_connection_retry_interval_ms srw_write_endpoint
srw_read_endpoint srw_verify_new_connections srw_verify_initial_connection_type
srw_connect_retry_timeout_ms srw_connect_retry_interval_ms gdb_rw_home_region
gdb_rw_restrict_writer_to_home_region gdb_rw_restrict_reader_to_home_region
gdb_enable_global_write_forwarding failover_home_region active_home_failover_mode
inactive_home_failover_mode global_cluster_instance_host_patterns monitoring_connection_priority
gdb_monitoring_connection_priority gdb_accessible_regions bg_id bg_connect_timeout_ms
bg_interval_baseline_ms bg_interval_increased_ms bg_interval_high_ms bg_switchover_timeout_ms
bg_suspend_new_blue_connections limitless_transaction_router_monitor_interval_ms
limitless_transaction_router_monitor_disposal_time_ms limitless_max_retries_ms
limitless_wait_for_transaction_router_info limitless_get_transaction_router_max_retries
limitless_get_transaction_router_retry_interval_ms
""".split()  # noqa: SIM905

#: a value each name accepts (strings otherwise)
SAMPLE: dict[str, Any] = {
    "plugins": "failover",
    "failover_mode": "strict_writer",
    "idp_name": "adfs",
    "wrapper_dialect": "aurora-pg",
    "wrapper_driver_dialect": "psycopg",
    "profile_name": None,
    "tcp_keepalive": True,
    "enable_telemetry": True,
    "srw_verify_initial_connection_type": "writer",
    "verify_opened_connection_type": "writer",
    "reader_host_selector_strategy": "random",
    "global_cluster_instance_host_patterns": "us-east-1:?.abc.us-east-1.rds.amazonaws.com",
    "failover_reader_host_selector_strategy": "random",
    **{name: value for name, (value, _) in FIXED.items()},
}

PG = driver_dialect_for(__import__("psycopg").AsyncConnection.connect)
MY = driver_dialect_for(__import__("aiomysql").connect)


def _translate(props: dict[str, Any], driver: Any = PG) -> dict[str, Any]:
    params = driver.driver_params() | set(driver.generic_names)
    return translate(props, driver, params.__contains__)


@pytest.mark.parametrize("name", THEIR_NAMES)
def test_every_name_is_accepted_or_rejected_with_advice(name: str) -> None:
    value = SAMPLE.get(name, "30")
    try:
        out = _translate({name: value})
    except ConfigurationError as exc:
        assert name in UNSUPPORTED, exc
        assert f"Property {name!r} of aws-advanced-python-wrapper is not supported by awsasyncwrap:" in str(
            exc
        )
        assert UNSUPPORTED[name] in str(exc)
        return
    known = set(known_properties()) | PG.driver_params() | set(PG.generic_names)
    assert set(out) <= known | {"keepalives", "keepalives_idle", "keepalives_interval", "keepalives_count"}
    assert name in known or name in ALIASES or name in NO_EFFECT or name in FIXED or name.startswith("tcp_")


def test_aliases_convert_units() -> None:
    out = _translate(
        {
            "topology_refresh_ms": "15000",
            "auxiliary_query_timeout_sec": 2,
            "failover_cluster_topology_refresh_rate_sec": "0.25",
            "failover_reader_connect_timeout_sec": 7,
            "iam_token_expiration": 600,
            "monitoring-auxiliary_query_timeout_sec": 1.5,
        }
    )
    assert out == {
        "cluster_topology_refresh_rate_ms": "15000",
        "cluster_topology_query_timeout_ms": 2000,
        "cluster_topology_high_refresh_rate_ms": 250,
        "failover_connect_timeout_sec": 7,
        "iam_expiration": 600,
        "monitoring-cluster_topology_query_timeout_ms": 1500,
    }
    with pytest.raises(ConfigurationError, match="Both 'topology_refresh_ms'"):
        _translate({"cluster_topology_refresh_rate_ms": 1, "topology_refresh_ms": 2})


def test_values_in_their_spelling() -> None:
    out = _translate({"failover_mode": "reader-or-writer", "wrapper_dialect": "rds-multi-az-pg-cluster"})
    assert out == {"failover_mode": "reader_or_writer", "wrapper_dialect": "multi-az-pg"}
    for code in ("global-aurora-pg", "global-aurora-mysql"):  # ours too
        assert _translate({"wrapper_dialect": code}) == {"wrapper_dialect": code}


def test_plugin_codes() -> None:
    assert _translate({"plugins": "failover_v2,efm"})["plugins"] == "failover_v2,host_monitoring"
    assert _translate({"plugins": "failover,bg"})["plugins"] == "failover,bg"
    assert _translate({"plugins": "customEndpoint,failover"})["plugins"] == "custom_endpoint,failover"
    assert _translate({"plugins": "limitless"})["plugins"] == "limitless"
    assert _translate({"plugins": "gdb_rw,gdb_failover"})["plugins"] == "gdb_rw,gdb_failover"
    # their idp_name picks the identity provider of federated_auth
    out = _translate({"plugins": "federated_auth", "idp_name": "okta"})
    assert out["plugins"] == "okta"
    with pytest.raises(ConfigurationError, match="'saml'"):
        _translate({"plugins": "federated_auth", "idp_name": "saml"})["plugins"]


def test_settings_that_add_plugins() -> None:
    assert _translate({"socket_timeout": 5})["plugins"] == (
        "aurora_connection_tracker,failover,host_monitoring,socket_timeout"
    )
    assert _translate({"socket_timeout": 5, "plugins": ""})["plugins"] == "socket_timeout"
    assert _translate({"enable_telemetry": "true", "plugins": "failover"})["plugins"] == "failover,telemetry"
    assert "plugins" not in _translate({"enable_telemetry": False})


def test_keepalive_goes_to_libpq_on_psycopg_and_stays_for_aiomysql() -> None:
    theirs = {"tcp_keepalive": True, "tcp_keepalive_time": 30, "tcp_keepalive_interval": "5"}
    assert _translate(theirs) == {"keepalives": 1, "keepalives_idle": 30, "keepalives_interval": 5}
    assert _translate({**theirs, "keepalives_idle": 9})["keepalives_idle"] == 9  # libpq's own name wins
    assert _translate(theirs, MY) == theirs


def test_fixed_and_no_effect(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, "awsasyncwrap._compat_props"):
        out = _translate({"rollback_on_switch": "true", "telemetry_traces_backend": "XRAY"})
    assert out == {"rollback_on_switch": "true"}  # ours too (session state), with their meaning
    assert not caplog.records or "no effect here" in caplog.records[0].getMessage()
    assert _translate({"rollback_on_switch": "false"}) == {"rollback_on_switch": "false"}
    with pytest.raises(ConfigurationError, match="only 'strict-writer' is accepted"):
        _translate({"monitoring_connection_priority": "strict-reader"})


def test_prefixes_of_unsupported_features() -> None:
    with pytest.raises(ConfigurationError, match="Global Databases"):
        _translate({"gdb_some_future_setting": 10})
    # blue/green monitoring connections take their prefixed properties (the bg plugin)
    assert _translate({"blue-green-monitoring-connect_timeout": 10}) == {
        "blue-green-monitoring-connect_timeout": 10
    }


def test_profiles() -> None:
    compat.register_profile(
        "docs-test", {"plugins": "failover", "topology_refresh_ms": 1000, "cluster_id": "a"}
    )
    out = _translate({"profile_name": "docs-test", "cluster_id": "b"})
    assert out == {
        "plugins": "failover",
        "cluster_topology_refresh_rate_ms": 1000,
        "cluster_id": "b",  # explicit properties win
        "profile_name": "docs-test",
    }
    with pytest.raises(ConfigurationError, match=r"Unknown profile_name 'SF_D0'; registered: .*docs-test"):
        _translate({"profile_name": "SF_D0"})


def test_open_connection_retry_interval() -> None:
    from awsasyncwrap.properties import Properties

    plugin = InitialConnectionPlugin(None, Properties({"open_connection_retry_interval_ms": 1000}))  # type: ignore[arg-type]
    assert plugin._interval == 1.0
    assert InitialConnectionPlugin(None, Properties())._interval == 0.05  # type: ignore[arg-type]


async def test_compat_entry_point_rejects_their_sync_drivers() -> None:
    import psycopg

    with pytest.raises(ConfigurationError, match=r"synchronous driver.*use psycopg.AsyncConnection.connect"):
        await compat.AwsWrapperConnection.connect(psycopg.Connection.connect, "host=x")
    with pytest.raises(ConfigurationError, match="keyword arguments"):
        await compat.AsyncAwsWrapperConnection.connect(psycopg.AsyncConnection.connect, "host=x", "extra")
    with pytest.raises(ConfigurationError, match="plugin codes"):
        await compat.AsyncAwsWrapperConnection.connect(psycopg.AsyncConnection.connect, plugins=[object()])  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="Bad target None"):
        await compat.AsyncAwsWrapperConnection.connect()


def test_the_migration_guide_lists_every_name() -> None:
    from pathlib import Path

    guide = (Path(__file__).resolve().parents[2] / "docs" / "migrating.md").read_text()
    listed = {*ALIASES, *NO_EFFECT, *FIXED, "socket_timeout", "profile_name", "idp_name", "enable_telemetry"}
    missing = [
        name
        for name in sorted(listed | set(UNSUPPORTED))
        if f"`{name}`" not in guide
        and f"`{name}=" not in guide
        and not name.startswith(("gdb_", "bg_", "limitless_"))
    ]
    assert not missing
