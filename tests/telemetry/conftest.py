"""In-memory OpenTelemetry providers for the telemetry tests (passed per connection, not global)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from awsasyncwrap.testbed import Testbed


@dataclass
class Otel:
    tracer_provider: TracerProvider
    meter_provider: MeterProvider
    spans: InMemorySpanExporter
    metrics: InMemoryMetricReader

    def props(self, **extra: Any) -> dict[str, Any]:
        return {
            "telemetry_tracer_provider": self.tracer_provider,
            "telemetry_meter_provider": self.meter_provider,
            **extra,
        }

    def finished(self, name: str | None = None) -> list[ReadableSpan]:
        return [s for s in self.spans.get_finished_spans() if name is None or s.name == name]

    def points(self, metric: str) -> list[Any]:
        data = self.metrics.get_metrics_data()
        out: list[Any] = []
        if data is None:
            return out
        for resource in data.resource_metrics:
            for scope in resource.scope_metrics:
                for m in scope.metrics:
                    if m.name == metric:
                        out.extend(m.data.data_points)
        return out


@pytest.fixture
def otel() -> Otel:
    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    reader = InMemoryMetricReader()
    return Otel(tracer_provider, MeterProvider(metric_readers=[reader]), exporter, reader)


@pytest.fixture
def pg_dsn(pg_server: Testbed) -> str:
    return pg_server.dsn(pg_server.writer, direct=True)


@pytest.fixture
def mysql_kwargs(mariadb_server: Testbed) -> dict[str, Any]:
    return mariadb_server.connect_kwargs(mariadb_server.writer, direct=True)
