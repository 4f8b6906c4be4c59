"""``telemetry``: OpenTelemetry spans and metrics for what the wrapper itself does.

Recorded always (cheap; only when something happens):

- span ``awsasyncwrap.failover`` and metrics ``awsasyncwrap.failover.count`` /
  ``awsasyncwrap.failover.duration`` around a call that failed over (outcome
  ``success``, ``transaction_unknown`` or ``failed``);
- span ``awsasyncwrap.connection.switch`` around a call that moved the wrapped
  connection to another driver connection (read/write splitting) and metric
  ``awsasyncwrap.connection.switch.count`` for every switch;
- span ``awsasyncwrap.topology.refresh`` and metric
  ``awsasyncwrap.topology.refresh.duration`` for host list refreshes asked by
  the wrapper, metric ``awsasyncwrap.topology.change.count`` for changes seen;
- span ``awsasyncwrap.connect`` and metric ``awsasyncwrap.connect.duration``
  for every driver connection the wrapper opens for this connection.

Optional, off by default so as not to double what
``opentelemetry-instrumentation-psycopg`` (or another DB-API instrumentation)
already records: one CLIENT span per statement (``telemetry_execute_spans``)
and the ``db.client.operation.duration`` histogram
(``telemetry_execute_metrics``), with the semantic-convention attributes
``db.system.name``, ``db.namespace``, ``db.operation.name``,
``server.address``, ``server.port`` and ``error.type``. Query text is never
recorded.

The module imports without OpenTelemetry; without it the plugin subscribes
to nothing and costs nothing.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

from ..errors import FailoverError, FailoverFailedError, TransactionResolutionUnknownError
from ..events import ConnectionEvent, HostEvent, OldConnectionSuggestedAction
from ..plugin import ConnectFunc, ExecuteFunc, Plugin, PluginFactory
from . import _otel
from .settings.telemetry import (
    TELEMETRY_EXECUTE_METRICS,
    TELEMETRY_EXECUTE_SPANS,
    TELEMETRY_METER_PROVIDER,
    TELEMETRY_TRACER_PROVIDER,
)

if TYPE_CHECKING:
    from opentelemetry.trace import Span

    from ..drivers import DriverDialect
    from ..hostinfo import HostInfo
    from ..plugin_service import PluginService
    from ..properties import Properties

__all__ = [
    "TELEMETRY_EXECUTE_METRICS",
    "TELEMETRY_EXECUTE_SPANS",
    "TELEMETRY_METER_PROVIDER",
    "TELEMETRY_TRACER_PROVIDER",
    "TelemetryPlugin",
    "TelemetryPluginFactory",
]

logger = logging.getLogger(__name__)
T = TypeVar("T")


#: Methods that run a statement: the ones execute spans and db.client.operation.duration cover (all
#: network-bound, so subscribed with the rest).
_STATEMENT_METHODS = frozenset(
    {
        "Cursor.execute",
        "Cursor.executemany",
        "Cursor.callproc",
        "Cursor.copy",
        "Cursor.stream",
    }
)
_OUTCOMES: tuple[tuple[type[BaseException], str], ...] = (
    (FailoverFailedError, "failed"),
    (TransactionResolutionUnknownError, "transaction_unknown"),
    (FailoverError, "success"),
)
_warned_missing = False


class TelemetryPlugin(Plugin):
    """Records spans and metrics of one wrapped connection (see the module docs)."""

    def __init__(self, plugin_service: PluginService, props: Properties, otel: _otel.Instruments) -> None:
        self._service = plugin_service
        self._otel = otel
        self._execute_spans = bool(TELEMETRY_EXECUTE_SPANS.get(props))
        self._execute_metrics = bool(TELEMETRY_EXECUTE_METRICS.get(props))
        self._last_host: HostInfo | None = None
        self._system_of: tuple[object, str] = (None, "mysql")  # (driver connection, its db.system.name)
        self._subscribed = set(plugin_service.driver_dialect.network_bound_methods) | {
            "connect",
            "force_connect",
            "notify_connection_changed",
            "notify_host_list_changed",
            "refresh_host_list",
        }

    @property
    def subscribed_methods(self) -> set[str]:
        return self._subscribed

    # --- calls --------------------------------------------------------------------------------

    async def execute(
        self, target: object, method_name: str, execute_func: ExecuteFunc[T], *args: Any, **kwargs: Any
    ) -> T:
        # a statement's first step carries it (the later steps of a stream or a copy have no arguments)
        if method_name in _STATEMENT_METHODS and args and (self._execute_spans or self._execute_metrics):
            return await self._statement(method_name, execute_func, args)
        service = self._service
        before_conn, before_host = service.current_connection, service.current_host_info
        start = time.time_ns()
        try:
            result = await execute_func()
        except FailoverError as exc:
            self._record_failover(exc, method_name, start, before_host)
            raise
        if service.current_connection is not before_conn:
            self._record_switch_span(method_name, start, before_host)
        return result

    async def _statement(self, method_name: str, execute_func: ExecuteFunc[T], args: tuple[Any, ...]) -> T:
        from opentelemetry.trace import SpanKind, Status, StatusCode

        attrs = self._db_attributes()
        operation = _operation_name(args[0]) if args and method_name != "Cursor.callproc" else None
        if method_name == "Cursor.callproc":
            operation = "CALL"
        if operation:
            attrs["db.operation.name"] = operation
        namespace = attrs.get("db.namespace")
        name = " ".join(str(p) for p in (operation, namespace) if p) or str(attrs["db.system.name"])
        before_host = self._service.current_host_info
        start = time.time_ns()
        span = (
            self._otel.tracer.start_span(name, kind=SpanKind.CLIENT, attributes=attrs, start_time=start)
            if (self._execute_spans)
            else None
        )
        error: BaseException | None = None
        try:
            return await execute_func()
        except BaseException as exc:
            error = exc
            if isinstance(exc, FailoverError):
                self._record_failover(exc, method_name, start, before_host)
            raise
        finally:
            end = time.time_ns()
            if error is not None and isinstance(error, Exception):
                attrs["error.type"] = _error_type(error)
            if self._execute_metrics:
                self._otel.operation_duration.record((end - start) / 1e9, attrs)
            if span is not None:
                if "error.type" in attrs:
                    span.set_attribute("error.type", attrs["error.type"])
                    span.set_status(Status(StatusCode.ERROR, type(error).__name__))
                span.end(end)

    # --- connects -----------------------------------------------------------------------------

    async def connect(
        self,
        target_driver_func: Callable[..., Awaitable[Any]],
        driver_dialect: DriverDialect,
        host_info: HostInfo,
        props: Properties,
        is_initial_connection: bool,
        connect_func: ConnectFunc,
    ) -> Any:
        return await self._traced_connect(host_info, is_initial_connection, False, connect_func)

    async def force_connect(
        self,
        target_driver_func: Callable[..., Awaitable[Any]],
        driver_dialect: DriverDialect,
        host_info: HostInfo,
        props: Properties,
        is_initial_connection: bool,
        connect_func: ConnectFunc,
    ) -> Any:
        return await self._traced_connect(host_info, is_initial_connection, True, connect_func)

    async def _traced_connect(
        self, host: HostInfo, initial: bool, forced: bool, connect_func: ConnectFunc
    ) -> Any:
        attrs: dict[str, Any] = {
            "db.system.name": self._db_system(),
            "server.address": host.host,
            "awsasyncwrap.connect.initial": initial,
            "awsasyncwrap.connect.forced": forced,
        }
        if host.port is not None:
            attrs["server.port"] = host.port
        with self._otel.tracer.start_as_current_span(
            "awsasyncwrap.connect", attributes=attrs, record_exception=True, set_status_on_exception=True
        ) as span:
            start = time.perf_counter()
            outcome = "error"
            try:
                conn = await connect_func()
                outcome = "success"
                return conn
            except BaseException as exc:
                if not isinstance(exc, Exception):
                    outcome = "cancelled"
                    span.set_attribute("awsasyncwrap.connect.outcome", outcome)
                raise
            finally:
                self._otel.connect_duration.record(
                    time.perf_counter() - start,
                    {"db.system.name": attrs["db.system.name"], "awsasyncwrap.connect.outcome": outcome},
                )

    # --- notifications ------------------------------------------------------------------------

    async def notify_connection_changed(self, changes: set[ConnectionEvent]) -> OldConnectionSuggestedAction:
        new = self._service.current_host_info
        old, self._last_host = self._last_host, new
        if ConnectionEvent.CONNECTION_OBJECT_CHANGED in changes:
            attrs = _switch_attributes(old, new)
            metric_attrs = {"db.system.name": self._db_system()}
            if new is not None:
                metric_attrs["awsasyncwrap.switch.to_role"] = new.role.value
            self._otel.switches.add(1, metric_attrs)
            _current_span_event("awsasyncwrap.connection.switch", attrs)
        return OldConnectionSuggestedAction.NO_OPINION

    async def notify_host_list_changed(self, changes: dict[str, set[HostEvent]]) -> None:
        counts: dict[str, int] = {}
        for events in changes.values():
            for event in events:
                if event is not HostEvent.HOST_CHANGED:
                    counts[event.value] = counts.get(event.value, 0) + 1
        for kind, count in counts.items():
            self._otel.topology_changes.add(count, {"awsasyncwrap.topology.change": kind})
        _current_span_event(
            "awsasyncwrap.topology.changed", {"awsasyncwrap.topology.hosts_changed": len(changes)}
        )

    # --- recording ----------------------------------------------------------------------------

    def _record_failover(
        self, exc: BaseException, method_name: str, start: int, before: HostInfo | None
    ) -> None:
        from opentelemetry.trace import Status, StatusCode

        outcome = next(label for cls, label in _OUTCOMES if isinstance(exc, cls))
        end = time.time_ns()
        after = self._service.current_host_info
        attrs: dict[str, Any] = {
            "db.system.name": self._db_system(),
            "awsasyncwrap.failover.outcome": outcome,
            "awsasyncwrap.method": method_name,
        }
        span_attrs = dict(attrs)
        if before is not None:
            span_attrs["awsasyncwrap.failover.from"] = before.url
        if after is not None and outcome != "failed":
            span_attrs["awsasyncwrap.failover.to"] = after.url
            span_attrs["server.address"] = after.host
        span = self._otel.tracer.start_span("awsasyncwrap.failover", attributes=span_attrs, start_time=start)
        span.record_exception(exc, timestamp=end)
        if outcome == "failed":
            span.set_status(Status(StatusCode.ERROR, "failover failed"))
        span.end(end)
        self._otel.failovers.add(1, attrs)
        self._otel.failover_duration.record((end - start) / 1e9, attrs)
        logger.debug("failover recorded: %s after %s", outcome, method_name)

    def _record_switch_span(self, method_name: str, start: int, before: HostInfo | None) -> None:
        attrs = _switch_attributes(before, self._service.current_host_info)
        attrs["awsasyncwrap.method"] = method_name
        span = self._otel.tracer.start_span(
            "awsasyncwrap.connection.switch", attributes=attrs, start_time=start
        )
        span.end()

    async def refresh_host_list(self, forced: bool, refresh_func: Callable[[], Awaitable[None]]) -> None:
        """Trace the host list refreshes plugins ask the service for."""
        otel = self._otel
        attrs: dict[str, Any] = {"db.system.name": self._db_system(), "awsasyncwrap.topology.forced": forced}
        start = time.perf_counter()
        with otel.tracer.start_as_current_span(
            "awsasyncwrap.topology.refresh", attributes=attrs, record_exception=True
        ) as span:
            try:
                await refresh_func()
            finally:
                otel.topology_refresh_duration.record(time.perf_counter() - start, attrs)
            span.set_attribute("awsasyncwrap.topology.hosts", len(self._service.hosts))

    # --- attributes ---------------------------------------------------------------------------

    def _db_system(self) -> str:
        """``db.system.name``: postgresql, mysql or mariadb (also when a MySQL dialect was forced)."""
        service = self._service
        dialect = service.database_dialect
        if dialect.engine == "postgres":
            return "postgresql"
        if "mariadb" in dialect.code:
            return "mariadb"
        conn = service.current_connection
        if conn is None:
            return "mysql"
        known, system = self._system_of
        if known is not conn:
            system = "mariadb" if _is_mariadb(conn) else "mysql"
            self._system_of = (conn, system)
        return system

    def _db_attributes(self) -> dict[str, Any]:
        service = self._service
        attrs: dict[str, Any] = {"db.system.name": self._db_system()}
        database = service.session_state.database or service.props.get("database")
        if database:
            attrs["db.namespace"] = str(database)
        host = service.current_host_info
        if host is not None:
            attrs["server.address"] = host.host
            if host.port is not None:
                attrs["server.port"] = host.port
        return attrs


class _NullTelemetryPlugin(Plugin):
    """Stands in when OpenTelemetry is not installed: subscribes to nothing."""


class TelemetryPluginFactory(PluginFactory):
    """Creates :class:`TelemetryPlugin` (a do-nothing plugin when OpenTelemetry is missing)."""

    def get_instance(self, plugin_service: PluginService, props: Properties) -> Plugin:
        if not _otel.available():
            global _warned_missing
            if not _warned_missing:
                _warned_missing = True
                logger.warning("the telemetry plugin needs opentelemetry-api; it records nothing")
            return _NullTelemetryPlugin()
        otel = _otel.instruments(TELEMETRY_TRACER_PROVIDER.get(props), TELEMETRY_METER_PROVIDER.get(props))
        return TelemetryPlugin(plugin_service, props, otel)


def _operation_name(query: Any) -> str | None:
    """The statement's first keyword (``SELECT``, ``INSERT`` ...), if the query is plain text."""
    if isinstance(query, bytes):
        query = query[:64].decode("utf-8", "replace")
    if not isinstance(query, str):
        return None
    words = query.lstrip(" \t\r\n(").split(None, 1)
    return words[0].upper() if words and words[0].isalpha() else None


def _is_mariadb(conn: Any) -> bool:
    """Whether an aiomysql connection is to MariaDB (from the version its server announced)."""
    server_info = getattr(conn, "get_server_info", None)
    return callable(server_info) and "mariadb" in str(server_info()).lower()


def _error_type(exc: BaseException) -> str:
    code = getattr(exc, "sqlstate", None)
    if code:
        return str(code)
    if exc.args and isinstance(exc.args[0], int):  # pymysql: (errno, message)
        return str(exc.args[0])
    return type(exc).__qualname__


def _switch_attributes(old: HostInfo | None, new: HostInfo | None) -> dict[str, Any]:
    attrs: dict[str, Any] = {}
    if old is not None:
        attrs["awsasyncwrap.switch.from"] = old.url
    if new is not None:
        attrs["awsasyncwrap.switch.to"] = new.url
        attrs["awsasyncwrap.switch.to_role"] = new.role.value
    return attrs


def _current_span_event(name: str, attrs: dict[str, Any]) -> None:
    from opentelemetry import trace

    span: Span = trace.get_current_span()
    if span.is_recording():
        span.add_event(name, attrs)
