"""Properties of the ``bg`` plugin (names and defaults as in the AWS wrappers)."""

from __future__ import annotations

from ...properties import WrapperProperty, _parse_bool, _parse_int, _parse_str, register_property

__all__ = [
    "BG_CONNECT_TIMEOUT_MS",
    "BG_ID",
    "BG_INTERVAL_BASELINE_MS",
    "BG_INTERVAL_HIGH_MS",
    "BG_INTERVAL_INCREASED_MS",
    "BG_MONITORING_PREFIX",
    "BG_SUSPEND_NEW_BLUE_CONNECTIONS",
    "BG_SWITCHOVER_TIMEOUT_MS",
]

#: Properties starting with this prefix configure the status monitors' connections only.
BG_MONITORING_PREFIX = "blue-green-monitoring-"


def _ms(name: str, default: int, description: str) -> WrapperProperty[int]:
    return register_property(WrapperProperty(name, description, default, _parse_int, min_value=1))


BG_ID = register_property(
    WrapperProperty(
        "bg_id", "Blue/green deployment id: connections with one id share its monitors.", "1", _parse_str
    )
)
BG_CONNECT_TIMEOUT_MS = _ms(
    "bg_connect_timeout_ms", 30_000, "How long a connect waits while a switchover is in progress."
)
BG_INTERVAL_BASELINE_MS = _ms(
    "bg_interval_baseline_ms",
    60_000,
    "Status poll period when no switchover is near (no deployment, completed).",
)
BG_INTERVAL_INCREASED_MS = _ms(
    "bg_interval_increased_ms", 1_000, "Status poll period while a deployment exists (CREATED)."
)
BG_INTERVAL_HIGH_MS = _ms("bg_interval_high_ms", 100, "Status poll period during a switchover.")
BG_SWITCHOVER_TIMEOUT_MS = _ms(
    "bg_switchover_timeout_ms",
    180_000,
    "After this long a switchover counts as completed, whatever it reports.",
)
BG_SUSPEND_NEW_BLUE_CONNECTIONS = register_property(
    WrapperProperty(
        "bg_suspend_new_blue_connections",
        "Also hold new connects to blue host names from the start of the switchover (PREPARATION).",
        False,
        _parse_bool,
    )
)
