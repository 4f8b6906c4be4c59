"""Properties of the ``telemetry`` plugin (declared without importing OpenTelemetry)."""

from __future__ import annotations

from ...properties import WrapperProperty, _parse_bool, register_property

__all__ = [
    "TELEMETRY_EXECUTE_METRICS",
    "TELEMETRY_EXECUTE_SPANS",
    "TELEMETRY_METER_PROVIDER",
    "TELEMETRY_TRACER_PROVIDER",
]


def _as_is(value: object) -> object:
    return value


TELEMETRY_EXECUTE_SPANS = register_property(
    WrapperProperty(
        "telemetry_execute_spans",
        "One OpenTelemetry span per statement (off: leave statements to the driver's own instrumentation).",
        False,
        _parse_bool,
    )
)
TELEMETRY_EXECUTE_METRICS = register_property(
    WrapperProperty(
        "telemetry_execute_metrics",
        "Record the db.client.operation.duration histogram for statements.",
        False,
        _parse_bool,
    )
)
TELEMETRY_TRACER_PROVIDER = register_property(
    WrapperProperty(
        "telemetry_tracer_provider",
        "OpenTelemetry TracerProvider to use (default: the global one).",
        None,
        _as_is,
    )
)
TELEMETRY_METER_PROVIDER = register_property(
    WrapperProperty(
        "telemetry_meter_provider",
        "OpenTelemetry MeterProvider to use (default: the global one).",
        None,
        _as_is,
    )
)
