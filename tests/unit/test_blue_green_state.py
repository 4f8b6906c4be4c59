"""The ``bg`` plugin's switchover state machine: status rows and time in, routing decisions out."""

from __future__ import annotations

import pytest

from awsasyncwrap.plugins.blue_green import Phase, Role, Row, SwitchoverState
from awsasyncwrap.plugins.blue_green._state import parse_phase, parse_role

DOMAIN = "abc123.us-east-1.rds.amazonaws.com"
BLUE = f"mydb.cluster-{DOMAIN}"
GREEN = f"mydb-green-x1y2z3.cluster-{DOMAIN}"
BLUE_I1 = f"mydb-instance-1.{DOMAIN}"
GREEN_I1 = f"mydb-instance-1-green-x1y2z3.{DOMAIN}"
STATUS = {
    Phase.CREATED: "AVAILABLE",
    Phase.PREPARATION: "SWITCHOVER_INITIATED",
    Phase.IN_PROGRESS: "SWITCHOVER_IN_PROGRESS",
    Phase.POST: "SWITCHOVER_IN_POST_PROCESSING",
    Phase.COMPLETED: "SWITCHOVER_COMPLETED",
}
IPS = {BLUE: "10.0.0.1", GREEN: "10.0.1.1", BLUE_I1: "10.0.0.11", GREEN_I1: "10.0.1.11"}


def rows(phase: Phase) -> list[Row]:
    status = STATUS[phase]
    return [
        Row.parse("1.0", BLUE, 5432, "BLUE_GREEN_DEPLOYMENT_SOURCE", status),
        Row.parse("1.0", BLUE_I1, 5432, "BLUE_GREEN_DEPLOYMENT_SOURCE", status),
        Row.parse("1.0", GREEN, 5432, "BLUE_GREEN_DEPLOYMENT_TARGET", status),
        Row.parse("1.0", GREEN_I1, 5432, "BLUE_GREEN_DEPLOYMENT_TARGET", status),
    ]


def state_at(phase: Phase, now: float = 0.0, **kwargs: object) -> SwitchoverState:
    state = SwitchoverState(**kwargs)  # type: ignore[arg-type]
    state.observe(Role.SOURCE, rows(Phase.CREATED), now)
    state.observe(Role.TARGET, rows(Phase.CREATED), now)
    state.record_ips(IPS)
    if phase is not Phase.CREATED:
        state.observe(Role.SOURCE, rows(phase), now)
        state.observe(Role.TARGET, rows(phase), now)
    return state


def test_status_to_phase() -> None:
    assert parse_phase(None) is Phase.NOT_CREATED
    assert parse_phase("") is Phase.NOT_CREATED
    for phase, status in STATUS.items():
        assert parse_phase(status) is phase
        assert parse_phase(status.lower()) is phase
    with pytest.raises(ValueError, match=r"SWITCHOVER_BOGUS.*valid: AVAILABLE"):
        parse_phase("SWITCHOVER_BOGUS")


def test_role_and_version() -> None:
    assert parse_role("BLUE_GREEN_DEPLOYMENT_SOURCE", "1.0") is Role.SOURCE
    assert parse_role("BLUE_GREEN_DEPLOYMENT_TARGET", "1.0") is Role.TARGET
    with pytest.raises(ValueError, match=r"'2\.0'.*valid: 1\.0"):
        parse_role("BLUE_GREEN_DEPLOYMENT_SOURCE", "2.0")
    with pytest.raises(ValueError, match="'OTHER'"):
        parse_role("OTHER", "1.0")


def test_no_deployment_passes_everything() -> None:
    state = SwitchoverState()
    state.observe(Role.SOURCE, [], 0.0)
    assert state.phase is Phase.NOT_CREATED
    assert state.connect_route(BLUE, 0.0).kind == "pass"
    assert state.execute_route(None, 0.0).kind == "pass"
    assert state.interval_kind() == "baseline"


def test_created_passes_and_polls_faster() -> None:
    state = state_at(Phase.CREATED)
    assert state.role_of(BLUE.upper()) is Role.SOURCE
    assert state.green_for(BLUE) == GREEN and state.green_for(BLUE_I1) == GREEN_I1
    assert state.monitor_endpoint(Role.TARGET) == GREEN
    assert state.connect_route(BLUE, 0.0).kind == "pass"
    assert state.execute_route(Role.SOURCE, 0.0).kind == "pass"
    assert state.interval_kind() == "increased"


def test_preparation_substitutes_recorded_ips() -> None:
    state = state_at(Phase.PREPARATION)
    route = state.connect_route(BLUE, 1.0)
    assert (route.kind, route.ip, route.side) == ("substitute", "10.0.0.1", Role.SOURCE)
    assert state.connect_route(GREEN, 1.0).ip == "10.0.1.1"
    assert state.connect_route("other.example.com", 1.0).kind == "pass"
    assert state.execute_route(Role.SOURCE, 1.0).kind == "pass"
    assert state.interval_kind() == "high"


def test_preparation_can_hold_new_blue_connects() -> None:
    state = state_at(Phase.PREPARATION, suspend_new_blue=True)
    assert state.connect_route(BLUE, 1.0).kind == "suspend"
    assert state.connect_route(GREEN, 1.0).kind == "substitute"


def test_in_progress_suspends_connects_and_calls_of_both_sides_only() -> None:
    state = state_at(Phase.IN_PROGRESS, now=10.0, switchover_timeout=180.0)
    for host in (BLUE, GREEN, BLUE_I1):
        route = state.connect_route(host, 11.0)
        assert route.kind == "suspend" and route.until == 190.0
    assert state.execute_route(Role.SOURCE, 11.0).kind == "suspend"
    assert state.execute_route(Role.TARGET, 11.0).kind == "suspend"
    assert state.execute_route(None, 11.0).kind == "pass"
    assert state.connect_route("other.example.com", 11.0).kind == "pass"


def test_post_routes_blue_to_green_and_rejects_green_until_its_dns_is_gone() -> None:
    state = state_at(Phase.POST)
    route = state.connect_route(BLUE_I1, 1.0)
    assert (route.kind, route.host, route.ip, route.side) == (
        "substitute",
        GREEN_I1,
        "10.0.1.11",
        Role.TARGET,
    )
    assert state.connect_route(GREEN, 1.0).kind == "reject"
    assert state.execute_route(Role.SOURCE, 1.0).kind == "move"
    assert state.execute_route(Role.TARGET, 1.0).kind == "pass"
    state.green_dns_removed = True
    assert state.connect_route(GREEN, 1.0).kind == "pass"


def test_completed_keeps_routing_until_green_dns_is_gone() -> None:
    state = state_at(Phase.COMPLETED)
    assert state.connect_route(BLUE, 1.0).host == GREEN
    assert state.interval_kind() == "increased"
    state.green_dns_removed = True
    assert state.interval_kind() == "baseline"


def test_combined_phase_is_the_furthest_side() -> None:
    state = state_at(Phase.PREPARATION)
    state.observe(Role.TARGET, rows(Phase.POST), 1.0)  # the blue monitor is stuck on a fenced host
    assert state.phase is Phase.POST


def test_rollback_is_detected_and_keeps_the_app_on_blue() -> None:
    state = state_at(Phase.IN_PROGRESS)
    changed = state.observe(Role.SOURCE, rows(Phase.CREATED), 2.0)
    assert changed and state.rolled_back and state.phase is Phase.CREATED
    assert state.connect_route(BLUE, 2.0).kind == "pass"
    assert state.execute_route(Role.SOURCE, 2.0).kind == "pass"
    state.observe(Role.TARGET, rows(Phase.IN_PROGRESS), 2.1)  # a stale answer of the other side
    assert state.rolled_back and state.execute_route(Role.SOURCE, 2.1).kind == "pass"
    state.observe(Role.TARGET, rows(Phase.CREATED), 2.2)
    assert state.rolled_back and state.phase is Phase.CREATED
    state.observe(Role.SOURCE, rows(Phase.PREPARATION), 3.0)  # a new switchover
    assert not state.rolled_back and state.connect_route(BLUE, 3.0).kind == "substitute"


def test_switchover_timeout_forces_completion() -> None:
    state = state_at(Phase.IN_PROGRESS, now=100.0, switchover_timeout=5.0)
    assert state.forced_at() == 105.0
    assert state.execute_route(Role.SOURCE, 104.9).kind == "suspend"
    assert state.execute_route(Role.SOURCE, 105.0).kind == "pass"
    assert state.connect_route(BLUE, 105.0).kind == "pass"


def test_deleted_deployment_forgets_its_hosts() -> None:
    state = state_at(Phase.COMPLETED)
    state.observe(Role.SOURCE, [], 5.0)
    state.observe(Role.TARGET, [], 5.0)
    assert state.phase is Phase.NOT_CREATED and state.roles == {}
    assert state.connect_route(BLUE, 5.0).kind == "pass"


def test_observe_reports_whether_routing_changed() -> None:
    state = state_at(Phase.CREATED)
    assert not state.observe(Role.SOURCE, rows(Phase.CREATED), 1.0)
    assert state.observe(Role.SOURCE, rows(Phase.PREPARATION), 1.0)


@pytest.mark.parametrize("code", ["psycopg", "aiomysql"])
def test_a_substituted_connect_keeps_the_name_for_tls_and_iam(code: str) -> None:
    """PREPARATION connects go to a recorded IP, but the IAM token stays signed for the host name."""
    import awsasyncwrap.plugins.iam  # noqa: F401  # registers iam_host, as connecting with the iam plugin does
    from awsasyncwrap import HostInfo
    from awsasyncwrap.drivers import AiomysqlDriverDialect, PsycopgDriverDialect
    from awsasyncwrap.plugins.blue_green._service import substitute
    from awsasyncwrap.properties import Properties

    driver = PsycopgDriverDialect() if code == "psycopg" else AiomysqlDriverDialect()
    name = "mydb.cluster-xyz.us-east-1.rds.amazonaws.com"
    host, props = substitute(driver, HostInfo(name, 5432), "10.0.0.7", Properties({"user": "app"}))
    assert props["iam_host"] == name
    if code == "psycopg":  # libpq: the name for TLS, hostaddr for the socket
        assert (host.host, props["hostaddr"]) == (name, "10.0.0.7")
    else:
        assert host.host == "10.0.0.7"
    explicit = Properties({"user": "app", "iam_host": "signed.example.com"})
    assert (
        substitute(driver, HostInfo(name, 5432), "10.0.0.7", explicit)[1]["iam_host"] == "signed.example.com"
    )
