"""Properties of the ``fastest_response_strategy`` plugin."""

from __future__ import annotations

from ...properties import WrapperProperty, _parse_int, register_property

__all__ = ["RESPONSE_MEASUREMENT_INTERVAL_MS"]

RESPONSE_MEASUREMENT_INTERVAL_MS: WrapperProperty[int] = register_property(
    WrapperProperty(
        "response_measurement_interval_ms",
        "fastest_response: time between two measurements of every host's response time.",
        30_000,
        _parse_int,
        min_value=1,
    )
)
