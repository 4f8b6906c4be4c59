"""OpenTelemetry access for the ``telemetry`` plugin: tracer, meter and instruments, created lazily.

Only imported once a ``telemetry`` plugin is created and OpenTelemetry is
importable; :func:`available` tells without importing it.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from opentelemetry.metrics import Counter, Histogram
    from opentelemetry.trace import Tracer

__all__ = ["Instruments", "available", "instruments"]

#: Bucket boundaries (seconds) the OpenTelemetry semantic conventions advise for db.client.operation.duration.
_DB_DURATION_BUCKETS = (0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0)
#: Failovers and topology reads take longer: seconds up to the default failover timeout.
_LONG_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)

_cache: dict[tuple[int, int], tuple[Any, Any, Instruments]] = {}


@cache
def available() -> bool:
    """Whether the OpenTelemetry API can be imported."""
    return importlib.util.find_spec("opentelemetry") is not None


@dataclass(frozen=True)
class Instruments:
    """The tracer and the metric instruments the plugin records to."""

    tracer: Tracer
    failovers: Counter
    failover_duration: Histogram
    switches: Counter
    topology_refresh_duration: Histogram
    topology_changes: Counter
    connect_duration: Histogram
    operation_duration: Histogram


def instruments(tracer_provider: Any = None, meter_provider: Any = None) -> Instruments:
    """Instruments on the given providers (None: the global ones), created once per provider pair."""
    key = (id(tracer_provider), id(meter_provider))
    found = _cache.get(key)
    if found is not None:
        return found[2]
    from opentelemetry import metrics, trace

    from .. import __version__

    tracer = trace.get_tracer("awsasyncwrap", __version__, tracer_provider=tracer_provider)
    meter = metrics.get_meter("awsasyncwrap", __version__, meter_provider=meter_provider)
    made = Instruments(
        tracer=tracer,
        failovers=meter.create_counter(
            "awsasyncwrap.failover.count", "{failover}", "Failovers, by outcome (success, failed, ...)."
        ),
        failover_duration=_histogram(
            meter,
            "awsasyncwrap.failover.duration",
            "Time from the failing call to the failover's end.",
            _LONG_BUCKETS,
        ),
        switches=meter.create_counter(
            "awsasyncwrap.connection.switch.count",
            "{switch}",
            "Times a wrapped connection moved to another driver connection (failover, read/write splitting).",
        ),
        topology_refresh_duration=_histogram(
            meter, "awsasyncwrap.topology.refresh.duration", "Time to refresh the host list.", _LONG_BUCKETS
        ),
        topology_changes=meter.create_counter(
            "awsasyncwrap.topology.change.count", "{change}", "Host list changes seen, by kind of change."
        ),
        connect_duration=_histogram(
            meter, "awsasyncwrap.connect.duration", "Time to open a driver connection.", _LONG_BUCKETS
        ),
        operation_duration=_histogram(
            meter,
            "db.client.operation.duration",
            "Duration of database client operations.",
            _DB_DURATION_BUCKETS,
        ),
    )
    _cache[key] = (tracer_provider, meter_provider, made)  # keeps the providers alive with their id
    return made


def _histogram(meter: Any, name: str, description: str, buckets: tuple[float, ...]) -> Histogram:
    try:
        histogram: Histogram = meter.create_histogram(
            name, "s", description, explicit_bucket_boundaries_advisory=list(buckets)
        )
    except TypeError:  # API older than 1.23: no bucket advice
        histogram = meter.create_histogram(name, "s", description)
    return histogram
