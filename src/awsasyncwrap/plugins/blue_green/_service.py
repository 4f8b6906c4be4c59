"""The status service of one deployment: two monitor tasks (blue SOURCE, green TARGET) and the state.

One service per event loop and ``bg_id``, shared by every connection with the ``bg`` plugin (kept in the
loop's :func:`~awsasyncwrap._background.registry`, stopped when its last connection closed and
``monitor_disposal_time_ms`` passed, and by :func:`~awsasyncwrap.release_resources`). Each monitor
keeps one connection to a host of its side, polls the status metadata at the phase's rate, and, while
DNS still tells the truth, records the IP address of every endpoint. Waiters (suspended connects and
calls) await :meth:`BlueGreenStatusService.wait_change`: an event set on every change, no polling.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
import weakref
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import anyio

from ..._background import BackgroundService
from ...hostinfo import HostInfo
from ...properties import Properties, WrapperProperties, known_properties
from ..settings import blue_green as P
from ._state import Phase, Role, Row, SwitchoverState

if TYPE_CHECKING:
    from ...drivers import DriverDialect

__all__ = ["TASK_PREFIX", "BlueGreenStatusService", "Settings", "monitoring_props", "substitute"]

logger = logging.getLogger(__name__)

#: Name prefix of the monitor tasks: ``awsasyncwrap:bg_status:<bg_id>:<blue|green>``.
TASK_PREFIX = "awsasyncwrap:bg_status:"
_STEP_TIMEOUT = 5.0  # bound of one connect or one status query of a monitor

_PG_CHECK = "SELECT to_regproc('pg_catalog.get_blue_green_fast_switchover_metadata') IS NOT NULL"
_PG_QUERY = (
    "SELECT version, endpoint, port, role, status FROM pg_catalog.get_blue_green_fast_switchover_metadata(%s)"
)
_RDS_PG_CHECK = "SELECT to_regproc('rds_tools.show_topology') IS NOT NULL"
_RDS_PG_QUERY = "SELECT version, endpoint, port, role, status FROM rds_tools.show_topology(%s)"
_MYSQL_CHECK = (
    "SELECT 1 FROM information_schema.tables WHERE table_schema = 'mysql' AND table_name = 'rds_topology'"
)
_MYSQL_QUERY = "SELECT version, endpoint, port, role, status FROM mysql.rds_topology"


class Connector(Protocol):
    def __call__(self, host: HostInfo, props: Properties) -> Awaitable[Any]: ...


@dataclass(frozen=True)
class Settings:
    """The service's settings, taken from the first connection's properties."""

    baseline: float
    increased: float
    high: float
    switchover_timeout: float
    suspend_new_blue: bool
    disposal: float

    @classmethod
    def from_props(cls, props: Properties) -> Settings:
        return cls(
            baseline=P.BG_INTERVAL_BASELINE_MS.seconds(props),
            increased=P.BG_INTERVAL_INCREASED_MS.seconds(props),
            high=P.BG_INTERVAL_HIGH_MS.seconds(props),
            switchover_timeout=P.BG_SWITCHOVER_TIMEOUT_MS.seconds(props),
            suspend_new_blue=P.BG_SUSPEND_NEW_BLUE_CONNECTIONS.value(props),
            disposal=WrapperProperties.MONITOR_DISPOSAL_TIME_MS.seconds(props),
        )


def monitoring_props(props: Properties) -> Properties:
    """Properties of a monitor connection: ``blue-green-monitoring-X`` overrides ``X``; autocommit on."""
    out = Properties((k, v) for k, v in props.items() if not k.startswith(P.BG_MONITORING_PREFIX))
    for key, value in props.items():
        if key.startswith(P.BG_MONITORING_PREFIX):
            out[key[len(P.BG_MONITORING_PREFIX) :]] = value
    out["autocommit"] = True
    return out


def substitute(
    driver: DriverDialect, host: HostInfo, ip: str, props: Properties
) -> tuple[HostInfo, Properties]:
    """Aim a connect at ``ip`` while keeping ``host``'s name for IAM (and for TLS where the driver can)."""
    target, out = driver.aim_at(host, ip, props)
    if "iam_host" in known_properties():  # registered when an IAM plugin is in use
        out.setdefault("iam_host", host.host)
    return target, out


class BlueGreenStatusService(BackgroundService):
    """Monitors and state of one blue/green deployment, for every connection of one event loop."""

    name = "bg_status"

    def __init__(
        self, bg_id: str, settings: Settings, driver: DriverDialect, connector: Connector, props: Properties
    ) -> None:
        super().__init__()
        self.bg_id = bg_id
        self.settings = settings
        self.state = SwitchoverState(settings.switchover_timeout, settings.suspend_new_blue)
        self._driver = driver
        self._connector = connector
        self._props = monitoring_props(props)
        self._changed = asyncio.Event()
        self._wake = asyncio.Event()
        self._hosts: dict[Role, HostInfo | None] = {Role.SOURCE: None, Role.TARGET: None}
        self._conns: dict[Role, Any] = {}  # each monitor's connection
        self._listeners: weakref.WeakSet[Any] = weakref.WeakSet()
        self._client = f"awsasyncwrap-{_version()}"
        self.changes = 0  # how many routing changes were published (tests, logs)
        self._timeout_published: float | None = None

    # -- for plugins ---------------------------------------------------------------------------

    def start(self, blue_host: HostInfo) -> None:
        """Start both monitors (once); the blue one reads ``blue_host`` until the metadata names others."""
        if self.task_count or self.closed:
            return
        self._hosts[Role.SOURCE] = blue_host
        for role in Role:
            self.spawn(self._monitor(role), name=f"bg_status:{self.bg_id}:{role.value}")

    def listen(self, plugin: Any) -> None:
        """Call ``plugin.on_status_change()`` on every routing change (weakly held)."""
        self._listeners.add(plugin)

    async def wait_change(self, until: float | None) -> None:
        """Wait for the next routing change, at most until monotonic time ``until`` (None: no bound)."""
        event = self._changed
        limit = None if until is None else max(0.0, until - time.monotonic())
        with anyio.move_on_after(limit):
            await event.wait()

    # -- internals -----------------------------------------------------------------------------

    def _publish(self) -> None:
        self.changes += 1
        event, self._changed = self._changed, asyncio.Event()
        event.set()
        self._wake.set()
        for plugin in list(self._listeners):
            plugin.on_status_change()
        logger.debug(
            "blue/green %s: phase %s%s",
            self.bg_id,
            self.state.phase.name,
            " (rolled back)" * self.state.rolled_back,
        )

    def _interval(self) -> float:
        kind = self.state.interval_kind()
        s = self.settings
        return s.high if kind == "high" else s.increased if kind == "increased" else s.baseline

    def _monitor_host(self, role: Role) -> HostInfo | None:
        endpoint = self.state.monitor_endpoint(role)
        if endpoint is None:
            return self._hosts[role]
        current = self._hosts[role]
        port = self.state.ports.get(endpoint) or (current.port if current is not None else None)
        return HostInfo(endpoint, port)

    async def _connect(self, host: HostInfo) -> Any:
        ip = self.state.ips.get(host.host.lower())
        target, props = (host, self._props) if ip is None else substitute(self._driver, host, ip, self._props)
        with anyio.fail_after(_STEP_TIMEOUT):
            return await self._connector(target, props)

    async def _read(self, conn: Any) -> list[Row] | None:
        """The side's metadata rows ([] if the server has none); None if the query is unsupported."""
        driver = self._driver
        with anyio.fail_after(_STEP_TIMEOUT):
            if driver.engine == "pg":
                for check, query in ((_PG_CHECK, _PG_QUERY), (_RDS_PG_CHECK, _RDS_PG_QUERY)):
                    if (await driver.query(conn, check))[0][0]:
                        rows = await driver.query(conn, query, (self._client,))
                        break
                else:
                    return []
            else:
                if not await driver.query(conn, _MYSQL_CHECK):
                    return []
                rows = await driver.query(conn, _MYSQL_QUERY)
        return [Row.parse(str(v), str(e), int(p), str(r), str(s)) for v, e, p, r, s in rows]

    async def _snapshot_ips(self) -> None:
        """Record every endpoint's address (CREATED: DNS still points every name at its own side)."""
        loop = asyncio.get_running_loop()
        found: dict[str, str] = {}
        for endpoint in list(self.state.roles):
            if endpoint in self.state.ips:
                continue
            try:
                infos = await loop.getaddrinfo(endpoint, None, family=socket.AF_INET, type=socket.SOCK_STREAM)
            except OSError:
                continue
            if infos:
                found[endpoint] = str(infos[0][4][0])
        if found:
            self.state.record_ips(found)

    async def _green_dns_gone(self) -> bool:
        loop = asyncio.get_running_loop()
        for endpoint, role in list(self.state.roles.items()):
            if role is not Role.TARGET:
                continue
            try:
                await loop.getaddrinfo(endpoint, None, type=socket.SOCK_STREAM)
            except OSError:
                continue
            return False
        return True

    async def _poll(self, role: Role) -> None:
        """One round of one monitor (its connection is kept in ``self._conns``)."""
        host = self._monitor_host(role)
        if host is None:
            return
        conn = self._conns.get(role)
        if conn is None:
            conn = self._conns[role] = await self._connect(host)
        rows = await self._read(conn)
        state = self.state
        if rows is None:
            return
        changed = state.observe(role, rows, time.monotonic())
        if state.phase is Phase.CREATED or (state.phase is Phase.PREPARATION and not state.ips):
            await self._snapshot_ips()
        if (
            role is Role.TARGET
            and state.phase >= Phase.POST
            and not state.rolled_back
            and not state.green_dns_removed
            and await self._green_dns_gone()
        ):
            state.green_dns_removed = True
            changed = True
        if changed:
            self._publish()

    async def _monitor(self, role: Role) -> None:
        try:
            while True:
                if self._monitor_host(role) is None:  # the green host comes with the first metadata
                    self._wake.clear()
                    await self._wake.wait()
                    continue
                try:
                    await self._poll(role)
                except Exception as exc:  # a monitor survives its own errors
                    logger.debug("bg status monitor %s/%s failed: %r", self.bg_id, role.value, exc)
                    conn = self._conns.pop(role, None)
                    if conn is not None:
                        await self._close(conn)
                started = self.state.started_at
                if (
                    started is not None
                    and started != self._timeout_published
                    and self.state.timed_out(time.monotonic())
                ):
                    self._timeout_published = started  # once per switchover: plugins recompute their routes
                    self._publish()
                wake = self._wake
                wake.clear()
                with anyio.move_on_after(self._interval()):
                    await wake.wait()
        finally:
            conn = self._conns.pop(role, None)
            if conn is not None:
                await self._close(conn)

    async def _close(self, conn: Any) -> None:
        """Close a monitor connection, even while the monitor is being cancelled (bounded)."""
        driver = self._driver
        driver.abort(conn)
        with anyio.CancelScope(shield=True), anyio.move_on_after(_STEP_TIMEOUT):
            try:
                await driver.close(conn)
            except Exception as exc:
                logger.debug("closing a bg status monitor connection failed: %r", exc)


def _version() -> str:
    from ... import __version__

    return __version__
